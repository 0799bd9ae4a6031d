#include "api_client.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/resolve.hpp"
#include "core/registry.hpp"
#include "core/url.hpp"
#include "net/http_server.hpp"

namespace sluice::cli {

namespace {

constexpr std::string_view kDefaultUrl = "http://127.0.0.1:6666";

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

// The URL a client uses for a listen address: wildcard hosts become loopback.
std::string url_for_listen(std::string_view listen) {
    std::string host(listen.substr(0, listen.rfind(':')));
    const std::string port(listen.substr(listen.rfind(':') + 1));
    if (host.empty() || host == "0.0.0.0" || host == "localhost") {
        host = "127.0.0.1";
    } else if (host == "[::]") {
        host = "[::1]";
    }
    return fmt::format("http://{}:{}", host, port);
}

}  // namespace

void add_api_args(CLI::App* cmd, ApiArgs& a) {
    cmd->add_option("--url", a.url,
                    "The gateway's HTTP API (default: $SLUICE_URL, else [http] listen of the config file, else " +
                        std::string(kDefaultUrl) + ")");
    cmd->add_option("--token", a.token,
                    "Bearer token for writes and live records; \"@/path\" reads it from a file (default: "
                    "$SLUICE_TOKEN, else [http] token of the config file)");
    cmd->add_option("-c,--config", a.config,
                    "Configuration file to take the address and token from (default: /etc/sluice/sluice.toml if "
                    "it exists)");
    cmd->add_option("--timeout", a.timeout_seconds, "Seconds to wait for the gateway's answer")
        ->check(CLI::PositiveNumber);
}

std::optional<ApiTarget> resolve_api_target(const ApiArgs& a, std::string* error) {
    std::string url = !a.url.empty() ? a.url : env("SLUICE_URL");
    std::string token = !a.token.empty() ? a.token : env("SLUICE_TOKEN");
    if (url.empty() || token.empty()) {
        const std::string file = !a.config.empty() ? a.config
                                 : std::filesystem::exists(kDefaultConfigPath) ? std::string(kDefaultConfigPath)
                                                                               : std::string();
        if (!file.empty()) {
            Diagnostics diag;
            auto cfg = load_config_file(file, builtin_registry(), diag);
            if (!cfg) {
                *error = fmt::format("cannot read {} for the gateway's address:\n{}", file, diag.str());
                return std::nullopt;
            }
            const auto& listen = cfg->http.str("listen");
            if (url.empty()) {
                if (listen == "off") {
                    *error = fmt::format("the HTTP API is off in {} ([http] listen = \"off\"): nothing to talk to",
                                         file);
                    return std::nullopt;
                }
                url = url_for_listen(listen);
            }
            if (token.empty()) {
                token = cfg->http.str("token");
            }
        }
    }
    if (url.empty()) {
        url = kDefaultUrl;
    }
    if (url.find("://") == std::string::npos) {
        url = "http://" + url;
    }
    auto parsed = parse_url(url, error);
    if (!parsed) {
        *error = fmt::format("--url {}: {}", url, *error);
        return std::nullopt;
    }
    if (parsed->scheme != "http" && parsed->scheme != "https") {
        *error = fmt::format("--url {}: use http:// or https://", url);
        return std::nullopt;
    }
    ApiTarget t;
    t.tls = parsed->scheme == "https";
    t.host = parsed->host;
    t.port = parsed->port != 0 ? parsed->port : (t.tls ? 443 : 80);
    t.url = fmt::format("{}://{}:{}", parsed->scheme, t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host,
                        t.port);
    if (!token.empty()) {
        std::string why;
        auto secret = resolve_secret(token, &why);
        if (!secret) {
            *error = fmt::format("--token: {}", why);
            return std::nullopt;
        }
        t.token = std::move(*secret);
    }
    return t;
}

namespace {

net::HttpClientOptions client_options(const ApiTarget& t, double timeout_seconds) {
    net::HttpClientOptions o;
    o.host = t.host;
    o.port = t.port;
    o.tls.enabled = t.tls;
    const auto ms = std::chrono::milliseconds(static_cast<long long>(timeout_seconds * 1000));
    o.connect_timeout = ms;
    o.read_timeout = ms;
    return o;
}

}  // namespace

ApiClient::ApiClient(ApiTarget target, double timeout_seconds)
    : target_(std::move(target)), timeout_seconds_(timeout_seconds), http_(client_options(target_, timeout_seconds)) {}

std::optional<net::HttpClientResponse> ApiClient::stream(std::string_view path,
                                                         const net::HttpClient::BodyChunkFn& on_body,
                                                         double idle_seconds, std::string* error) {
    auto options = client_options(target_, timeout_seconds_);
    options.read_timeout = std::chrono::milliseconds(static_cast<long long>(idle_seconds * 1000));
    net::HttpClient client(options);
    net::HttpHeaders headers{{"Accept", "text/event-stream"}};
    if (!target_.token.empty()) {
        headers.emplace_back("Authorization", "Bearer " + target_.token);
    }
    std::string why;
    auto resp = client.request_stream("GET", path, headers, on_body, &why);
    if (!resp) {
        *error = fmt::format("cannot reach the gateway at {}: {}", target_.url, why);
    }
    return resp;
}

std::optional<net::HttpClientResponse> ApiClient::request(std::string_view method, std::string_view path,
                                                          std::string_view body, std::string_view content_type,
                                                          std::string* error) {
    net::HttpHeaders headers;
    if (!target_.token.empty()) {
        headers.emplace_back("Authorization", "Bearer " + target_.token);
    }
    if (!content_type.empty()) {
        headers.emplace_back("Content-Type", std::string(content_type));
    }
    std::string why;
    auto resp = http_.request(method, path, headers, body, &why);
    if (!resp) {
        *error = fmt::format("cannot reach the gateway at {}: {}", target_.url, why);
    }
    return resp;
}

std::unique_ptr<ApiClient> open_api_client(const ApiArgs& args) {
    std::string error;
    auto target = resolve_api_target(args, &error);
    if (!target) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return nullptr;
    }
    return std::make_unique<ApiClient>(std::move(*target), args.timeout_seconds);
}

std::string describe_failure(const net::HttpClientResponse& resp) {
    std::string first = resp.body.substr(0, resp.body.find('\n'));
    if (first.size() > 200) {
        first.resize(200);
    }
    std::string out = fmt::format("{} {}", resp.status, net::reason_phrase(resp.status));
    if (!first.empty()) {
        out += ": " + first;
    }
    if (resp.status == 401) {
        out += " (give the [http] token with --token, or set $SLUICE_TOKEN)";
    } else if (resp.status == 403) {
        out += " (the gateway has no [http] token configured, so this endpoint is disabled)";
    }
    return out;
}

}  // namespace sluice::cli
