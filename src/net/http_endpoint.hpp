#pragma once
// What the HTTP(S) sinks (cratedb, pushgateway) share: the connection
// settings read from their declared options, one client made on first use,
// basic auth, and the health check.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "net/http_client.hpp"

namespace sluice::net {

class HttpEndpoint {
public:
    // Reads host, port (absent: 80, or 443 with TLS), the TLS options
    // (tls_options_from), connect_timeout, timeout, user and password, and
    // gzip where the sink declares it.
    // `peer` names the far side in messages ("CrateDB", "the pushgateway").
    HttpEndpoint(const Options& o, std::string peer);

    // Warns once if certificates go unchecked, and makes the client.
    void open(std::string_view sink_name);
    // The Authorization header when basic auth is configured.
    HttpHeaders headers() const;
    const HttpClientOptions& settings() const { return http_; }
    // One exchange. After a transport failure the connection is closed: a
    // half-done exchange leaves it in an unknown state.
    std::optional<HttpClientResponse> request(std::string_view method, std::string_view target,
                                              const HttpHeaders& headers, std::string_view body, std::string* error);
    // GET `target` answers 200, else `reason` says what happened.
    bool healthy(std::string_view target, std::string& reason);
    // Whether a client was made (open() or a request ran).
    bool opened() const { return client_ != nullptr; }
    void close();

private:
    HttpClient& client();

    HttpClientOptions http_;
    std::string auth_;
    std::string peer_;
    std::unique_ptr<HttpClient> client_;
};

// `own` with the options every HTTP sink takes inserted before `tail`: user,
// password, the TLS files and checks, and connect_timeout.
std::vector<OptionSpec> http_sink_options(std::vector<OptionSpec> own, const std::vector<OptionSpec>& tail);

}  // namespace sluice::net
