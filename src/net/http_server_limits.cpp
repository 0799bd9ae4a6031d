// Room and time: which connection is closed so a new one fits
// (max_connections, max_connections_per_address), the 503 when none may be,
// and the periodic sweep that enforces the header, body and idle deadlines.

#include <algorithm>
#include <arpa/inet.h>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/http_server.hpp"
#include "net/http_server_internal.hpp"

namespace sluice::net {

using namespace http_server_detail;

namespace {

// Connections a new one may give a last read (to answer a request that has
// already arrived rather than cut it off) before one is closed for it.
constexpr int kMakeRoomAttempts = 24;
// A connection that has not sent a byte yet is closed for room only after
// those that have: its request may still be on its way (a client that was
// descheduled between connect and send, in the middle of a connect flood
// from its own address); among such, the newest is closed first. Past this
// age it is as suspect as any other.
constexpr std::int64_t kSilentGrace_ns = 1'000'000'000;
// A condition logged once is logged again after this long without it.
constexpr std::int64_t kQuietBeforeRelog_ns = 60'000'000'000;

std::string address_text(const std::string& key) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (key.size() == 4 && inet_ntop(AF_INET, key.data(), buf, sizeof buf) != nullptr) {
        return buf;
    }
    if (key.size() == 16 && inet_ntop(AF_INET6, key.data(), buf, sizeof buf) != nullptr) {
        return buf;
    }
    return "unknown address";
}

// Which connection makes room for a new one: the lowest rank, then the
// lowest sub-rank, then the smallest time (the oldest). Answering
// connections are never closed.
enum Rank : int {
    kClosing = 0,         // lingering or timed out: on its way out anyway
    kNeverCompleted = 1,  // no request completed yet: what slow clients look like
    kIdleKeepAlive = 2,   // completed requests, waiting for the next: the client can reconnect
    kMidRequest = 3,      // completed requests before, now half-way through another
    kAnswering = 4,       // a response is being written
};

}  // namespace

std::tuple<int, int, std::int64_t> HttpServer::Conn::eviction_rank(std::int64_t now) const {
    if (lingering || doomed) {
        return {kClosing, 0, close_at_ns};
    }
    if (stream && !close_after_flush) {
        // A live stream (a dashboard, a tap) goes after idle keep-alive
        // connections, the oldest first; its client can reconnect.
        return {kIdleKeepAlive, 1, stream_started_ns};
    }
    if (pending_output() > 0 || close_after_flush || !in.empty() || waiting) {
        return {kAnswering, 0, last_activity_ns};
    }
    if (requests_done == 0) {
        // Among those still in their grace, the newest goes first: in a
        // connect burst, one that came earlier (a probe whose request is
        // a moment behind its connect) keeps its place.
        if (bytes_in == 0 && now - accepted_ns < kSilentGrace_ns) {
            return {kNeverCompleted, 1, -accepted_ns};
        }
        return {kNeverCompleted, 0, accepted_ns};
    }
    if (request_start_ns == 0) {
        return {kIdleKeepAlive, 0, last_activity_ns};
    }
    return {kMidRequest, 0, request_start_ns};
}

void HttpServer::refuse(int fd) {
    ++stats_.refused;
    counters_->refused.inc();
    // Best effort: the socket buffer of a fresh connection has room.
    std::string resp;
    serialize_response(HttpResponse{503, "text/plain; charset=utf-8", {}, "too many connections\n"}, false, false, 1,
                       resp);
    [[maybe_unused]] auto sent = ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    log::debug("http: refused a connection: {} connections open, all answering", conns_.size());
}

bool HttpServer::make_room(RoomFor why, const std::string& address) {
    std::vector<std::uint64_t> given_last_read;
    for (int attempt = 0; attempt < kMakeRoomAttempts; ++attempt) {
        const std::int64_t ranked_at = mono_now_ns();
        Conn* victim = nullptr;
        std::tuple<int, int, std::int64_t> best{kAnswering, 0, 0};
        for (auto& [id, cp] : conns_) {
            if (why == RoomFor::Address && cp->address != address) {
                continue;
            }
            const auto rank = cp->eviction_rank(ranked_at);
            if (std::get<0>(rank) < kAnswering &&
                (victim == nullptr || rank < best || (rank == best && id < victim->id))) {
                victim = cp.get();
                best = rank;
            }
        }
        if (victim == nullptr) {
            return false;
        }
        const std::uint64_t id = victim->id;
        const bool mid_request = std::get<0>(best) == kNeverCompleted || std::get<0>(best) == kMidRequest;
        if (mid_request && std::find(given_last_read.begin(), given_last_read.end(), id) == given_last_read.end()) {
            // Its request may be waiting in the socket (a probe that
            // connected just before a burst): answer it rather than cut it off.
            given_last_read.push_back(id);
            const std::uint64_t bytes_before = victim->bytes_in;
            on_conn_event(id, EPOLLIN);
            if (listen_fd_ < 0) {
                return true;  // the handler closed the server; the caller sees it
            }
            Conn* again = find(id);
            if (again == nullptr) {
                return true;  // it closed on its own
            }
            if (again->bytes_in != bytes_before) {
                continue;  // answered, or no longer silent: rank again
            }
            victim = again;
        }
        const std::int64_t now = mono_now_ns();
        if (why == RoomFor::Table) {
            ++stats_.evicted_table_full;
            counters_->evicted_table_full.inc();
        } else {
            ++stats_.evicted_address_limit;
            counters_->evicted_address_limit.inc();
        }
        counters_->last_evict_ns = now;
        if (why == RoomFor::Table) {
            counters_->evict_log.warn(
                "http: {} connections open (max_connections); closing the oldest that have not completed a request "
                "to let new ones in (counted in sluice_http_evictions_total)",
                conns_.size());
        } else {
            counters_->evict_log.warn(
                "http: {} connections open from {} (max_connections_per_address); closing the oldest that have not "
                "completed a request to let new ones in (counted in sluice_http_evictions_total)",
                limits_.max_connections_per_address, address_text(address));
        }
        if (mid_request) {
            // Best effort, nothing waits for it: say why before closing.
            std::string resp;
            serialize_response(HttpResponse{503, "text/plain; charset=utf-8", {}, "too many connections\n"}, false,
                               false, 1, resp);
            [[maybe_unused]] auto sent = ::send(victim->fd, resp.data(), resp.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        destroy(id);
        return true;
    }
    return false;
}

void HttpServer::ensure_sweep() {
    if (sweep_timer_ == 0) {
        sweep_timer_ = loop_.add_timer(sweep_period_, sweep_period_, [this] { sweep(); });
    }
}

void HttpServer::sweep() {
    const std::int64_t now = mono_now_ns();
    const std::int64_t header_ns = to_ns(limits_.header_timeout);
    const std::int64_t body_ns = to_ns(limits_.body_timeout);
    const std::int64_t idle_ns = to_ns(limits_.idle_timeout);
    std::vector<std::uint64_t> ids;
    ids.reserve(conns_.size());
    for (const auto& [id, c] : conns_) {
        ids.push_back(id);
    }
    for (const std::uint64_t id : ids) {
        Conn* c = find(id);
        if (c == nullptr) {
            continue;
        }
        if (c->lingering || c->doomed) {
            if (now >= c->close_at_ns) {
                destroy(id);
            }
            continue;
        }
        if (c->waiting) {
            continue;  // the server is answering: no clock is the client's fault
        }
        if (c->stream && !c->close_after_flush) {
            // Exempt from the idle timeout while the client reads; a client
            // that stopped reading for idle_timeout is closed.
            if (c->pending_output() > 0) {
                if (idle_ns > 0 && now - c->last_activity_ns >= idle_ns) {
                    ++stats_.idle_timeouts;
                    counters_->idle_timeouts.inc();
                    destroy(id);
                }
                continue;
            }
            const std::int64_t beat_ns = to_ns(limits_.stream_heartbeat);
            // A WebSocket client answers pings: one silent through three
            // heartbeats is gone (a dropped Wi-Fi sends no RST), and its
            // place goes to the next.
            if (c->websocket && beat_ns > 0 && now - c->ws_last_in_ns >= 3 * beat_ns) {
                ++stats_.idle_timeouts;
                counters_->idle_timeouts.inc();
                append_ws_close(c->out, kWsGoingAway, "no answer to pings");
                c->stream->detach();
                c->close_after_flush = true;
                settle(*c);
                continue;
            }
            if (beat_ns > 0 && now - c->stream_last_out_ns >= beat_ns) {
                if (c->websocket) {
                    append_ws_frame(c->out, WsOpcode::Ping, {});
                } else {
                    c->out += c->chunked ? "d\r\n: keepalive\n\n\r\n" : ": keepalive\n\n";
                }
                c->stream_last_out_ns = now;
                settle(*c);
            }
            continue;
        }
        // While the server holds input back for a slow reader, the request
        // clocks are not the client's fault; the idle timeout still runs.
        const bool reading =
            c->in.empty() && c->pending_output() <= limits_.max_pending_output && !c->close_after_flush;
        if (reading && body_ns > 0 && c->parser.in_body() && c->body_start_ns != 0 && now - c->body_start_ns >= body_ns) {
            ++stats_.body_timeouts;
            counters_->body_timeouts.inc();
            counters_->last_timeout_ns = now;
            counters_->timeout_log.warn("http: closing a connection from {}: request body not complete within {} ms "
                                        "(body_timeout; counted in sluice_http_timeouts_total)",
                                        address_text(c->address), limits_.body_timeout.count());
            time_out(*c, 408, "request body not received within body_timeout", now);
            continue;
        }
        if (reading && header_ns > 0 && !c->parser.in_body() && c->request_start_ns != 0 &&
            now - c->request_start_ns >= header_ns) {
            ++stats_.header_timeouts;
            counters_->header_timeouts.inc();
            counters_->last_timeout_ns = now;
            counters_->timeout_log.warn("http: closing a connection from {}: request head not complete within {} ms "
                                        "(header_timeout; counted in sluice_http_timeouts_total)",
                                        address_text(c->address), limits_.header_timeout.count());
            if (c->parser.idle() && c->pending_output() == 0) {
                destroy(id);  // not a byte of a request: nobody to answer
            } else {
                time_out(*c, 408, "request head not received within header_timeout", now);
            }
            continue;
        }
        if (idle_ns > 0 && now - c->last_activity_ns >= idle_ns) {
            if (c->parser.idle() || c->pending_output() > 0 || c->close_after_flush) {
                // Idle keep-alive connection, or a peer that stopped reading: a
                // response now could be mistaken for the answer to a next request.
                if (!c->parser.idle() || c->pending_output() > 0) {
                    ++stats_.idle_timeouts;
                    counters_->idle_timeouts.inc();
                }
                destroy(id);
                continue;
            }
            ++stats_.idle_timeouts;
            counters_->idle_timeouts.inc();
            time_out(*c, 408, "no complete request within the idle timeout", now);
        }
    }
    if (counters_->evict_log.active() && now - counters_->last_evict_ns > kQuietBeforeRelog_ns) {
        counters_->evict_log.clear();
    }
    if (counters_->timeout_log.active() && now - counters_->last_timeout_ns > kQuietBeforeRelog_ns) {
        counters_->timeout_log.clear();
    }
    if (conns_.empty() && sweep_timer_ != 0) {
        loop_.cancel_timer(sweep_timer_);  // nothing to watch: an idle server does not wake up
        sweep_timer_ = 0;
    }
}

void HttpServer::time_out(Conn& c, int status, std::string_view why, std::int64_t now) {
    queue_error(c, status, why);
    c.doomed = true;
    c.close_at_ns = now + to_ns(kLingerTime);
    settle(c);
}

}  // namespace sluice::net
