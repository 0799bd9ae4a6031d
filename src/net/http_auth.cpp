// HTTP basic auth, base64, and the TLS options of the HTTP sinks
// (declared in http_client.hpp).

#include <string>
#include <string_view>

#include "core/tls_options.hpp"
#include "net/http_client.hpp"

namespace sluice::net {

std::string base64_encode(std::string_view data) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                                (static_cast<unsigned char>(data[i + 1]) << 8) | static_cast<unsigned char>(data[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    const std::size_t rest = data.size() - i;
    if (rest == 1) {
        const std::uint32_t v = static_cast<unsigned char>(data[i]) << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        const std::uint32_t v =
            (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

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
