#pragma once
// One HTTP/1.1 client for every HTTP sink (CrateDB, pushgateway, ...), on
// mbedTLS: keep-alive, connect/read timeouts, chunked and content-length
// responses, optional gzip request bodies, TLS 1.2+ with CA and host-name
// verification on by default, client certificates, and certificate files
// re-read when they change (checked before each new connection).
//
// Blocking: use it from a sink's own thread.

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/options.hpp"
#include "core/tls_options.hpp"

namespace sluice::net {

// The shared TLS vocabulary (core/tls_options.hpp: files, server_name,
// verify_hostname; ca_file and ca_path empty: the system bundle
// /etc/ssl/certs/ca-certificates.crt), plus what the client adds.
struct TlsOptions : TlsConfig {
    bool enabled = false;
    bool verify = true;  // verify the server's certificate chain (false with insecure_skip_verify)
};

struct HttpClientOptions {
    std::string host;
    int port = 80;
    TlsOptions tls;
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds read_timeout{10000};
    bool gzip_requests = false;          // Content-Encoding: gzip for bodies >= 1 KiB
    std::size_t max_response_bytes = 16u << 20;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpClientResponse {
    int status = 0;
    HttpHeaders headers;
    std::string body;
    const std::string* header(std::string_view name) const;  // case-insensitive
};

class HttpClient {
public:
    explicit HttpClient(HttpClientOptions options);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Sends one request on the kept-alive connection, connecting (and
    // reconnecting once if a kept-alive connection turned out closed) as
    // needed. Transport and TLS failures return nullopt with a clear reason in
    // `error` (e.g. "TLS handshake with 127.0.0.1:4200 failed: the certificate
    // is not trusted (check ca_file)"). Any HTTP status is a response.
    std::optional<HttpClientResponse> request(std::string_view method, std::string_view target,
                                              const HttpHeaders& headers, std::string_view body,
                                              std::string* error);
    // The same for a streamed response (Server-Sent Events, a long
    // download): a 2xx response's body is handed to `on_body` piece by piece
    // as it arrives (chunked encoding undone), with no max_response_bytes
    // limit; returning false stops reading and closes the connection. The
    // result carries the status and headers (and, for other statuses, the
    // whole body as with request()). read_timeout bounds each wait for more
    // bytes, so set it above the server's heartbeat interval.
    using BodyChunkFn = std::function<bool(std::string_view chunk)>;
    std::optional<HttpClientResponse> request_stream(std::string_view method, std::string_view target,
                                                     const HttpHeaders& headers, const BodyChunkFn& on_body,
                                                     std::string* error);
    void close();
    const HttpClientOptions& options() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// The TLS settings of an HTTP sink from its options: tls (Bool) and the
// shared TLS group (core/tls_options.hpp: ca_file, ca_path, cert_file,
// key_file, key_password, server_name, verify_hostname, and
// insecure_skip_verify, which turns every check off). Throws ConfigError for
// the group's bad combinations (tls_config_from).
TlsOptions tls_options_from(const Options& o);

// "Basic base64(user:password)"
std::string basic_auth(std::string_view user, std::string_view password);
std::string base64_encode(std::string_view data);

}  // namespace sluice::net
