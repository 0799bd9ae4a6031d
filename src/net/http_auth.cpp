// HTTP basic auth, base64, and the TLS options of the HTTP sinks
// (declared in http_client.hpp).

#include <string>
#include <string_view>

#include "core/tls_options.hpp"
#include "text/base64.hpp"
#include "net/http_client.hpp"

namespace sluice::net {

std::string base64_encode(std::string_view data) { return base64(data); }

std::string basic_auth(std::string_view user, std::string_view password) {
    std::string creds;
    creds.reserve(user.size() + 1 + password.size());
    creds.append(user).append(":").append(password);
    return "Basic " + base64_encode(creds);
}

TlsOptions tls_options_from(const Options& o) {
    TlsOptions tls;
    static_cast<TlsConfig&>(tls) = tls_config_from(o);  // the shared checks (core/tls_options.hpp)
    tls.enabled = o.boolean("tls");
    if (tls.insecure_skip_verify) {
        tls.verify = false;
        tls.verify_hostname = false;
    }
    return tls;
}

}  // namespace sluice::net
