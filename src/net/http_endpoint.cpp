#include "net/http_endpoint.hpp"

#include <chrono>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/tls_options.hpp"

namespace sluice::net {

HttpEndpoint::HttpEndpoint(const Options& o, std::string peer) : peer_(std::move(peer)) {
    http_.host = o.str("host");
    http_.tls = tls_options_from(o);
    // A sink may leave the port to the scheme: 80, or 443 with TLS.
    http_.port = o.has("port") ? static_cast<int>(o.integer("port")) : (http_.tls.enabled ? 443 : 80);
    http_.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.duration("connect_timeout"));
    http_.read_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.duration("timeout"));
    http_.gzip_requests = o.has("gzip") && o.boolean("gzip");
    const std::string user = o.str_or("user", "");
    if (!user.empty()) {
        auth_ = basic_auth(user, o.str_or("password", ""));
    } else if (!o.str_or("password", "").empty()) {
        throw ConfigError("password is set but user is not: HTTP basic auth sends both");
    }
}

void HttpEndpoint::open(std::string_view sink_name) {
    if (http_.tls.enabled && !http_.tls.verify) {
        log::warn("{}: insecure_skip_verify is on: {}'s certificate is NOT checked", sink_name, peer_);
    }
    client();
}

HttpHeaders HttpEndpoint::headers() const {
    HttpHeaders h;
    if (!auth_.empty()) {
        h.emplace_back("Authorization", auth_);
    }
    return h;
}

std::optional<HttpClientResponse> HttpEndpoint::request(std::string_view method, std::string_view target,
                                                        const HttpHeaders& headers, std::string_view body,
                                                        std::string* error) {
    auto resp = client().request(method, target, headers, body, error);
    if (!resp) {
        client().close();
    }
    return resp;
}

bool HttpEndpoint::healthy(std::string_view target, std::string& reason) {
    std::string err;
    auto resp = request("GET", target, headers(), "", &err);
    if (!resp) {
        reason = err;
        return false;
    }
    if (resp->status != 200) {
        reason = fmt::format("{} at {}:{} answered HTTP {}", peer_, http_.host, http_.port, resp->status);
        return false;
    }
    return true;
}

void HttpEndpoint::close() {
    if (client_) {
        client_->close();
    }
}

HttpClient& HttpEndpoint::client() {
    if (!client_) {
        client_ = std::make_unique<HttpClient>(http_);
    }
    return *client_;
}

std::vector<OptionSpec> http_sink_options(std::vector<OptionSpec> own, const std::vector<OptionSpec>& tail) {
    const OptionSpec common[] = {
        {.name = "user", .type = OptionType::String, .doc = "User for HTTP basic auth (empty: none)", .max = 255},
        {.name = "password", .type = OptionType::Secret, .doc = "Password for HTTP basic auth", .max = 4096},
        {.name = "connect_timeout", .type = OptionType::Duration, .default_value = "5s",
         .doc = "Connection (and TLS handshake) time limit", .min = 0.001, .max = 600},
    };
    own.insert(own.end(), std::begin(common), std::end(common) - 1);
    // The shared TLS options (core/tls_options.hpp), before connect_timeout.
    auto tls = tls_option_specs();
    for (auto& spec : tls) {
        if (spec.name == "ca_file") {
            spec.doc = "PEM CA bundle to verify the server (default: the system bundle); re-read when it changes";
        } else if (spec.name == "ca_path") {
            spec.doc = "Directory of PEM CA certificates to verify the server; re-read when it changes";
        }
    }
    own.insert(own.end(), tls.begin(), tls.end());
    own.push_back(std::end(common)[-1]);
    own.insert(own.end(), tail.begin(), tail.end());
    return own;
}

}  // namespace sluice::net
