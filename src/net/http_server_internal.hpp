#pragma once
// Private to the HTTP server's source files: a connection's state
// (HttpServer::Conn), the server's metrics (HttpServer::Counters) and the
// helpers more than one of them needs. The files:
//
//   http_server.cpp             listening, accepting, closing the server
//   http_server_connection.cpp  a connection's events: reading, parsing,
//                               calling the handler, writing, lingering
//   http_server_limits.cpp      room for new connections (eviction, 503)
//                               and the deadlines (the periodic sweep)
//   http_server_response.cpp    responses on the wire, reason phrases

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "net/http_server.hpp"
#include "net/websocket.hpp"

namespace sluice::net {

namespace http_server_detail {

inline constexpr std::chrono::milliseconds kLingerTime{2000};

inline std::int64_t to_ns(std::chrono::nanoseconds d) { return d.count(); }

inline bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

inline constexpr const char* kStreamDroppedName = "sluice_http_stream_dropped_events_total";
inline constexpr const char* kStreamDroppedHelp =
    "Events of streamed HTTP responses (live records, live stats) dropped because the client read too slowly";

}  // namespace http_server_detail

struct HttpServer::Conn {
    Conn(std::uint64_t id_, int fd_, HttpParserLimits limits, std::string address_)
        : id(id_), fd(fd_), parser(limits), address(std::move(address_)) {}

    std::size_t pending_output() const { return out.size() - out_off; }

    // Its place in the line to be closed for a newcomer (see make_room,
    // http_server_limits.cpp): the lowest goes first.
    std::tuple<int, int, std::int64_t> eviction_rank(std::int64_t now) const;

    std::uint64_t id;
    int fd;
    HttpRequestParser parser;
    std::string address;  // address_key() of the peer
    std::string in;  // input held back while a slow reader has too much output queued
    std::string out;
    std::size_t out_off = 0;
    std::int64_t accepted_ns = 0;
    std::int64_t last_activity_ns = 0;  // last byte either way: the idle timeout
    // When the request being received began (accept for the first one, its
    // first byte for later ones); 0 between requests. The header deadline.
    std::int64_t request_start_ns = 0;
    std::int64_t body_start_ns = 0;  // when its head was complete; 0 if not in a body
    std::int64_t close_at_ns = 0;    // lingering or doomed: closed by the sweep then
    std::uint64_t requests_done = 0;
    std::uint64_t bytes_in = 0;
    std::uint32_t interest = 0;
    bool close_after_flush = false;  // no more requests: answer what is queued, then close
    bool peer_closed = false;        // read EOF
    bool lingering = false;          // write side shut, draining input so our last response is not reset
    bool doomed = false;             // closes at close_at_ns, whatever state it is in
    bool continue_sent = false;
    bool dead = false;
    // A deferred response is on its way: input is held and the connection
    // stays open (and free of timeouts) until it arrives.
    bool waiting = false;
    bool deferred_head = false;  // the request it answers was a HEAD
    bool deferred_keep_alive = false;
    int deferred_version_minor = 1;
    // A streamed response: events come from `stream`; `chunked` frames
    // them (HTTP/1.1). Ends when the producer closes it or the client goes.
    HttpStreamHandle stream;
    bool chunked = false;
    // The stream is a WebSocket: events go out as text frames, and input is
    // the client's frames (pings answered, a close echoed).
    std::unique_ptr<WsFrameReader> websocket;
    std::int64_t ws_last_in_ns = 0;  // the client's last byte: it answers our pings
    std::int64_t stream_started_ns = 0;
    std::int64_t stream_last_out_ns = 0;  // last event or heartbeat queued
};

struct HttpServer::Counters {
    Counter& evicted_table_full = metrics().counter(
        "sluice_http_evictions_total", "HTTP connections closed to make room for a new one", {{"reason", "table_full"}});
    Counter& evicted_address_limit =
        metrics().counter("sluice_http_evictions_total", "HTTP connections closed to make room for a new one",
                          {{"reason", "address_limit"}});
    Counter& refused = metrics().counter("sluice_http_refused_connections_total",
                                         "HTTP connections refused with 503: every open one was busy answering");
    Counter& header_timeouts = metrics().counter(
        "sluice_http_timeouts_total", "HTTP connections closed for a deadline", {{"phase", "headers"}});
    Counter& body_timeouts =
        metrics().counter("sluice_http_timeouts_total", "HTTP connections closed for a deadline", {{"phase", "body"}});
    Counter& idle_timeouts =
        metrics().counter("sluice_http_timeouts_total", "HTTP connections closed for a deadline", {{"phase", "idle"}});
    Counter& streams_started = metrics().counter("sluice_http_streams_started_total",
                                                 "HTTP streamed responses (Server-Sent Events) started");
    // Counted by HttpStream::push; registered here so /metrics shows it from the start.
    Counter& stream_dropped = metrics().counter(http_server_detail::kStreamDroppedName,
                                                http_server_detail::kStreamDroppedHelp);
    log::OnceLog evict_log;
    log::OnceLog timeout_log;
    std::int64_t last_evict_ns = 0;
    std::int64_t last_timeout_ns = 0;
};

}  // namespace sluice::net
