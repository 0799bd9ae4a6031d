#pragma once
// A small HTTP/1.1 server on sluice's I/O loop: keep-alive, pipelining,
// Content-Length bodies, hard limits. Handlers run on the loop thread and
// must answer quickly (no blocking I/O); they return the whole response.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ioloop.hpp"
#include "net/http_parser.hpp"

namespace sluice::net {

struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    // Extra headers. Content-Length, Connection and Transfer-Encoding are
    // the server's to set and are dropped here; so is any header with CR/LF.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerLimits {
    std::size_t max_header_bytes = 16 * 1024;  // → 431 (414 for the request line alone)
    std::size_t max_body_bytes = 1024 * 1024;  // → 413
    std::size_t max_connections = 64;          // → 503 and close
    std::chrono::milliseconds idle_timeout{30'000};  // → 408 if a request was half sent, else a quiet close
    // While this much response data waits for a slow reader, pipelined
    // requests are not read, so one client cannot grow our memory.
    std::size_t max_pending_output = 1024 * 1024;
};

class HttpServer {
public:
    HttpServer(IoLoop& loop, HttpHandler handler, HttpServerLimits limits = {});
    // Closes everything; call on the loop thread or after the loop stopped.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // "127.0.0.1:6666", "[::1]:8080", "0.0.0.0:0", ":9100" (all IPv4
    // interfaces), "localhost:0" (127.0.0.1). Hosts must be numeric: name
    // resolution could block. Port 0 picks a free port (see port()).
    // Thread-safe: runs on the loop thread via IoLoop::call.
    bool listen(std::string_view address, std::string* error);
    std::uint16_t port() const { return port_; }

    // Closes the listener and every connection. Thread-safe like listen();
    // from inside a handler the connections close once that handler returned.
    void close();

    std::size_t connection_count() const { return conns_.size(); }  // loop thread only

private:
    struct Conn;

    bool listen_on_loop(std::string_view address, std::string* error);
    void close_on_loop();
    void drop_connections();
    void on_accept();
    void on_conn_event(std::uint64_t id, std::uint32_t events);
    void on_idle_timer(std::uint64_t id);
    void on_resume_accept();

    void read_some(Conn& c);
    // Runs the parser over `data` and answers complete requests; input it
    // cannot take yet (output backed up) is held in the connection.
    void process_input(Conn& c, std::string_view data);
    void handle_request(Conn& c, HttpRequest req);
    void queue_error(Conn& c, int status, std::string_view why);
    void flush(Conn& c);
    // After any event: writes what it can, closes or lingers when done,
    // resumes held-back input, and sets the epoll interest to match.
    void settle(Conn& c);
    void update_interest(Conn& c);
    void begin_linger(Conn& c);
    void destroy(std::uint64_t id);
    Conn* find(std::uint64_t id);
    void arm_idle_timer(Conn& c, std::chrono::nanoseconds delay);

    IoLoop& loop_;
    HttpHandler handler_;
    HttpServerLimits limits_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    bool accept_paused_ = false;
    bool dispatching_ = false;   // inside a connection's event (and so maybe a handler)
    bool close_pending_ = false; // close() was called from a handler
    IoLoop::TimerId resume_timer_ = 0;
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns_;
    std::vector<char> read_buf_;  // shared by all connections: the loop is single-threaded
};

// Formats a response ready for the wire. With `head_only` the body is left
// out but Content-Length still gives its size. Exposed for tests.
void serialize_response(const HttpResponse& resp, bool head_only, bool keep_alive, int version_minor,
                        std::string& out);

std::string_view reason_phrase(int status);

}  // namespace sluice::net
