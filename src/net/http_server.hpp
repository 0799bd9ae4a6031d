#pragma once
// A small HTTP/1.1 server on sluice's I/O loop: keep-alive, pipelining,
// Content-Length bodies, hard limits. Handlers run on the loop thread and
// must answer quickly (no blocking I/O); they return the whole response, or
// a deferred one whose work runs elsewhere (see HttpResponse::deferred).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ioloop.hpp"
#include "net/http_parser.hpp"

namespace sluice::net {

// How much a streamed response may hold for its client before new events are
// dropped (newest first): a slow or stalled client never holds back the
// producer or the loop.
struct HttpStreamLimits {
    std::size_t max_events = 256;
    std::size_t max_bytes = 256 * 1024;
};

// The producer's end of a streamed response (text/event-stream): events are
// pushed from any thread and written by the loop as the client reads them.
// When the queue is full the event is dropped and counted (also in
// sluice_http_stream_dropped_events_total); the client is then sent an
// `event: dropped` / `data: {"dropped":N}` once there is room again.
class HttpStream {
public:
    explicit HttpStream(HttpStreamLimits limits = {});
    HttpStream(const HttpStream&) = delete;
    HttpStream& operator=(const HttpStream&) = delete;

    // Queues one event, already on the wire format (see sse_event()).
    // Thread-safe and never blocks. False if it was dropped (queue full) or
    // the stream is closed.
    bool push(std::string event);
    // Whether a push now would be dropped (queue full): a producer may skip
    // building an event nobody can take, and count it with drop().
    bool full() const;
    // Counts `n` events dropped without being built (as a failed push does).
    void drop(std::uint64_t n = 1);
    // Ends the response once what is queued has been written. Thread-safe.
    void close();
    // Closed by the producer, or the connection is gone (client left, server
    // closed, eviction): the producer may forget the stream.
    bool closed() const { return closed_.load(std::memory_order_relaxed); }
    std::uint64_t dropped() const { return dropped_total_.load(std::memory_order_relaxed); }
    // Called once, on the loop thread, when the connection ends for any
    // reason (set it before handing the stream out; not called if it never
    // reaches a connection).
    void on_end(std::function<void()> fn);

    // The server's side.
    struct Taken {
        std::vector<std::string> events;
        std::uint64_t dropped = 0;  // dropped since the last take, to announce
        bool closed = false;        // nothing more will come
    };
    Taken take();
    // `wake` is called (from the pushing thread) when events wait and the
    // server has not been told yet; at most once per take().
    void attach(std::function<void()> wake);
    void detach();  // the connection ended: calls on_end

private:
    const HttpStreamLimits limits_;
    mutable std::mutex mu_;
    std::deque<std::string> queue_;
    std::size_t queue_bytes_ = 0;
    std::uint64_t unannounced_ = 0;
    bool wake_pending_ = false;
    bool detached_ = false;
    std::function<void()> wake_;
    std::function<void()> on_end_;
    std::atomic<bool> closed_{false};
    std::atomic<std::uint64_t> dropped_total_{0};
};
using HttpStreamHandle = std::shared_ptr<HttpStream>;

// One Server-Sent Event: `event: <name>` (if any), one `data:` line per line
// of `data`, and the blank line that ends it.
std::string sse_event(std::string_view data, std::string_view event = {});

// Answers a deferred request: callable from any thread, once. After the
// server or the connection is gone it does nothing.
struct HttpResponse;
using HttpRespond = std::function<void(HttpResponse)>;

struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    // Extra headers. Content-Length, Connection and Transfer-Encoding are
    // the server's to set and are dropped here; so is any header with CR/LF.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // Set by a handler whose answer needs blocking work (a disk write): the
    // server calls it on the loop with a `respond` to call when done, from
    // any thread (e.g. after handing the work to a writer thread). Until
    // then the connection answers nothing else; pipelined requests wait.
    // The other fields of this response are not used.
    std::function<void(HttpRespond respond)> deferred;
    // Set by a handler that answers with a long-lived stream (Server-Sent
    // Events): the server sends the head (status, content_type, headers;
    // chunked for HTTP/1.1, read-until-close for 1.0), then calls this on
    // the loop with the stream the producer keeps and pushes to. `body` is
    // not used. The connection reads no more requests; it is exempt from the
    // idle timeout while the client reads, gets a `: keepalive` comment when
    // nothing was sent for `stream_heartbeat`, and counts against
    // max_connections (streams are evicted after idle keep-alive ones). A
    // HEAD request gets the head only.
    std::function<void(HttpStreamHandle stream)> stream;
    HttpStreamLimits stream_limits;
    // With `stream`: the events go to a WebSocket (RFC 6455, net/websocket.hpp)
    // instead, one text frame each. The request must be a valid opening
    // handshake (else 400/426 with the reason); the server answers 101,
    // answers the client's pings, echoes its close, pings it when nothing
    // was sent for `stream_heartbeat`, and ignores its data frames. A
    // dropped run of events is announced as a text frame {"dropped":N}.
    bool websocket = false;

    // A text/event-stream response whose stream is handed to `start`.
    static HttpResponse event_stream(std::function<void(HttpStreamHandle)> start, HttpStreamLimits limits = {});
    // A WebSocket whose stream is handed to `start` (see `websocket`).
    static HttpResponse websocket_stream(std::function<void(HttpStreamHandle)> start, HttpStreamLimits limits = {});
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerLimits {
    std::size_t max_header_bytes = 16 * 1024;  // → 431 (414 for the request line alone)
    std::size_t max_body_bytes = 1024 * 1024;  // → 413
    // When the table is full, or a client address has this many open, a new
    // connection closes the least useful one (see README) instead of being
    // refused; 503 only if every connection is busy answering. 0 per address:
    // no limit.
    std::size_t max_connections = 64;
    std::size_t max_connections_per_address = 16;
    // Total time for a request's head, from the connection's accept (first
    // request) or the request's first byte (later ones), however slowly the
    // bytes trickle in → 408. Then the body has `body_timeout` → 408. 0: off.
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds body_timeout{30'000};
    // No byte either way for this long → 408 if a request was half sent,
    // else a quiet close (idle keep-alive). 0: off.
    std::chrono::milliseconds idle_timeout{30'000};
    // While this much response data waits for a slow reader, pipelined
    // requests are not read, so one client cannot grow our memory.
    std::size_t max_pending_output = 1024 * 1024;
    // A streamed response with nothing written for this long gets a comment
    // line, so proxies and clients see it is alive. 0: off.
    std::chrono::milliseconds stream_heartbeat{15'000};
};

// What the server closed and why, since it started. Also exported as
// sluice_http_evictions_total and sluice_http_timeouts_total.
struct HttpServerStats {
    std::uint64_t evicted_table_full = 0;     // closed to make room: max_connections reached
    std::uint64_t evicted_address_limit = 0;  // closed to make room: max_connections_per_address reached
    std::uint64_t refused = 0;                // 503: no connection could be closed
    std::uint64_t header_timeouts = 0;
    std::uint64_t body_timeouts = 0;
    std::uint64_t idle_timeouts = 0;
    std::uint64_t streams_started = 0;
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
    const HttpServerStats& stats() const { return stats_; }          // loop thread only

private:
    struct Conn;
    struct Counters;
    enum class RoomFor { Table, Address };

    bool listen_on_loop(std::string_view address, std::string* error);
    void close_on_loop();
    void drop_connections();
    void on_accept();
    void on_conn_event(std::uint64_t id, std::uint32_t events);
    void on_resume_accept();
    // The periodic check of every connection's deadlines; runs only while
    // connections are open.
    void sweep();
    void ensure_sweep();
    // Closes one connection so a new one fits: the oldest that has not
    // completed a request first. False if none may be closed.
    bool make_room(RoomFor why, const std::string& address);
    void refuse(int fd);

    void read_some(Conn& c);
    // Runs the parser over `data` and answers complete requests; input it
    // cannot take yet (output backed up) is held in the connection.
    void process_input(Conn& c, std::string_view data);
    void handle_request(Conn& c, HttpRequest req);
    // Sends a stream response's head and hands the stream to the handler.
    void start_stream(Conn& c, HttpResponse& resp, const HttpRequest& req);
    // Moves queued stream events into the output while the client keeps up.
    void pump_stream(Conn& c);
    // The client's frames on a WebSocket: pings answered, a close echoed.
    void websocket_input(Conn& c, std::string_view data);
    void on_stream_ready(std::uint64_t id);
    // A deferred request's response arrived (on the loop).
    void finish_deferred(std::uint64_t id, HttpResponse resp);
    void queue_error(Conn& c, int status, std::string_view why);
    // Answers `status` and closes after a short linger.
    void time_out(Conn& c, int status, std::string_view why, std::int64_t now);
    void flush(Conn& c);
    // After any event: writes what it can, closes or lingers when done,
    // resumes held-back input, and sets the epoll interest to match.
    void settle(Conn& c);
    void update_interest(Conn& c);
    void begin_linger(Conn& c);
    void destroy(std::uint64_t id);
    Conn* find(std::uint64_t id);

    IoLoop& loop_;
    HttpHandler handler_;
    HttpServerLimits limits_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    bool accept_paused_ = false;
    bool dispatching_ = false;   // inside a connection's event (and so maybe a handler)
    bool close_pending_ = false; // close() was called from a handler
    IoLoop::TimerId resume_timer_ = 0;
    IoLoop::TimerId sweep_timer_ = 0;
    std::chrono::nanoseconds sweep_period_{0};
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns_;
    std::vector<char> read_buf_;  // shared by all connections: the loop is single-threaded
    std::unordered_map<std::string, std::size_t> per_address_;  // open connections per client address
    HttpServerStats stats_;
    std::unique_ptr<Counters> counters_;
    // Deferred responses posted back after the server died find it expired.
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// Formats a response ready for the wire. With `head_only` the body is left
// out but Content-Length still gives its size. Exposed for tests.
void serialize_response(const HttpResponse& resp, bool head_only, bool keep_alive, int version_minor,
                        std::string& out);

// The head of a streamed response: chunked for HTTP/1.1, read-until-close
// (Connection: close) for HTTP/1.0.
void serialize_stream_head(const HttpResponse& resp, int version_minor, std::string& out);

std::string_view reason_phrase(int status);

}  // namespace sluice::net
