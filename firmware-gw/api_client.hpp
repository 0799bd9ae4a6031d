#pragma once
// The client side of the commands that talk to a running gateway over its
// HTTP API (status, ping, send, tap, top): where the gateway is (--url), the
// token (--token), and requests with clear errors.
//
// Where: --url, else $SLUICE_URL, else the [http] listen address of the
// config file (-c, or /etc/sluice/sluice.toml when it exists), else
// http://127.0.0.1:6666. Token: --token, else $SLUICE_TOKEN, else the
// config file's [http] token; each accepts "@/path" (the file's contents).

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "net/http_client.hpp"

namespace sluice::cli {

struct ApiArgs {
    std::string url;
    std::string token;
    std::string config;
    double timeout_seconds = 5;
};

// Adds --url, --token, -c/--config and --timeout to `cmd`.
void add_api_args(CLI::App* cmd, ApiArgs& args);

struct ApiTarget {
    std::string url;  // "http://127.0.0.1:6666", for messages
    std::string host;
    int port = 0;
    bool tls = false;
    std::string token;  // empty: none
};

// Resolves the arguments as described above. nullopt with `error` set when
// the URL or the token file is wrong.
std::optional<ApiTarget> resolve_api_target(const ApiArgs& args, std::string* error);

class ApiClient {
public:
    ApiClient(ApiTarget target, double timeout_seconds);
    // One request; the token is sent when there is one. Transport failures
    // return nullopt with `error` naming the URL ("cannot reach the gateway at
    // http://127.0.0.1:6666: connection refused").
    std::optional<net::HttpClientResponse> request(std::string_view method, std::string_view path,
                                                   std::string_view body, std::string_view content_type,
                                                   std::string* error);
    std::optional<net::HttpClientResponse> get(std::string_view path, std::string* error) {
        return request("GET", path, {}, {}, error);
    }
    // GET of a streamed response (Server-Sent Events): the body is handed to
    // `on_body` as it arrives; it returns false to stop. `idle_seconds`
    // bounds each wait for more bytes (above the server's 15 s heartbeat).
    std::optional<net::HttpClientResponse> stream(std::string_view path, const net::HttpClient::BodyChunkFn& on_body,
                                                  double idle_seconds, std::string* error);
    const ApiTarget& target() const { return target_; }

private:
    ApiTarget target_;
    double timeout_seconds_;
    net::HttpClient http_;
};

// The client for a command's --url/--token/-c: nullptr after printing why
// on stderr (a wrong URL or token file: the command exits 2).
std::unique_ptr<ApiClient> open_api_client(const ApiArgs& args);

// A non-2xx answer as one line: "401 Unauthorized: <first line of body>"
// plus a hint for 401/403 about --token / $SLUICE_TOKEN.
std::string describe_failure(const net::HttpClientResponse& resp);

}  // namespace sluice::cli
