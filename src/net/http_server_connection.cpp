// A connection's life on the loop: its events, reading and parsing
// requests (pipelined ones in order, held back while output is backed up),
// calling the handler (deferred answers too), writing the responses, and the
// linger before an error close.

#include <cerrno>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/http_server.hpp"
#include "net/http_server_internal.hpp"

namespace sluice::net {

using namespace http_server_detail;

namespace {

constexpr std::size_t kKeepBufferCapacity = 64 * 1024;

}  // namespace

HttpServer::Conn* HttpServer::find(std::uint64_t id) {
    auto it = conns_.find(id);
    return it == conns_.end() ? nullptr : it->second.get();
}

void HttpServer::destroy(std::uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) {
        return;
    }
    Conn& c = *it->second;
    if (c.stream) {
        c.stream->detach();  // the producer learns the client is gone
    }
    loop_.remove_fd(c.fd);
    ::close(c.fd);
    if (auto a = per_address_.find(c.address); a != per_address_.end() && --a->second == 0) {
        per_address_.erase(a);
    }
    conns_.erase(it);
}

void HttpServer::on_conn_event(std::uint64_t id, std::uint32_t events) {
    Conn* c = find(id);
    if (c == nullptr) {
        return;
    }
    if (c->lingering) {
        const ssize_t n = ::recv(c->fd, read_buf_.data(), read_buf_.size(), 0);
        if (n == 0 || (n < 0 && !would_block(errno) && errno != EINTR) || (events & EPOLLERR) != 0) {
            destroy(id);
        }
        return;
    }
    if ((events & EPOLLERR) != 0 || (c->waiting && (events & EPOLLHUP) != 0)) {
        destroy(id);  // (a hung-up peer of a deferred request: its answer is dropped)
        return;
    }
    dispatching_ = true;
    if ((events & EPOLLOUT) != 0) {
        flush(*c);
    }
    if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) != 0 && !c->close_after_flush && c->in.empty()) {
        read_some(*c);
    }
    settle(*c);
    dispatching_ = false;
    if (close_pending_) {
        close_pending_ = false;
        drop_connections();
    }
}

void HttpServer::read_some(Conn& c) {
    const ssize_t n = ::recv(c.fd, read_buf_.data(), read_buf_.size(), 0);
    if (n > 0) {
        c.bytes_in += static_cast<std::uint64_t>(n);
        c.last_activity_ns = mono_now_ns();
        process_input(c, std::string_view(read_buf_.data(), static_cast<std::size_t>(n)));
        return;
    }
    if (n == 0) {
        // A half-sent request can never complete; whole ones are answered.
        c.peer_closed = true;
        c.close_after_flush = true;
        return;
    }
    if (!would_block(errno) && errno != EINTR) {
        c.dead = true;
    }
}

void HttpServer::process_input(Conn& c, std::string_view data) {
    if (c.websocket && !c.dead && !c.close_after_flush) {
        // Pongs queue output too: held back like requests while it is backed up.
        if (c.pending_output() > limits_.max_pending_output) {
            c.in.assign(data);
            return;
        }
        websocket_input(c, data);
        return;
    }
    // A streaming connection reads only to notice the client leaving: it
    // answers no further requests.
    while (!c.dead && !c.close_after_flush && !c.stream) {
        if (c.waiting || c.pending_output() > limits_.max_pending_output) {
            c.in.assign(data);
            return;
        }
        const ParseResult r = c.parser.feed(data);
        data.remove_prefix(r.consumed);
        if (r.status == ParseStatus::Complete) {
            c.continue_sent = false;
            c.request_start_ns = 0;
            c.body_start_ns = 0;
            ++c.requests_done;
            handle_request(c, c.parser.take());
            continue;
        }
        // Any byte starts the header clock, even the blank lines the parser
        // skips, so a client cannot trickle those forever either.
        if (r.consumed > 0 && c.request_start_ns == 0) {
            c.request_start_ns = mono_now_ns();
        }
        if (c.parser.in_body() && c.body_start_ns == 0) {
            c.body_start_ns = mono_now_ns();
        }
        if (r.status == ParseStatus::Error) {
            queue_error(c, r.error_status, r.error);
            return;
        }
        if (c.parser.expects_continue() && !c.continue_sent) {
            c.out += "HTTP/1.1 100 Continue\r\n\r\n";
            c.continue_sent = true;
        }
        return;
    }
}

void HttpServer::handle_request(Conn& c, HttpRequest req) {
    HttpResponse resp;
    try {
        if (handler_) {
            resp = handler_(req);
        } else {
            resp = HttpResponse{404, "text/plain; charset=utf-8", {}, "not found\n"};
        }
    } catch (const std::exception& e) {
        log::error("http: handler for {} {} failed: {}", req.method, logged_path(req), e.what());
        resp = HttpResponse{500, "text/plain; charset=utf-8", {}, "internal error\n"};
    } catch (...) {
        log::error("http: handler for {} {} failed", req.method, logged_path(req));
        resp = HttpResponse{500, "text/plain; charset=utf-8", {}, "internal error\n"};
    }
    if (resp.deferred) {
        c.waiting = true;
        c.deferred_head = req.method == "HEAD";
        c.deferred_keep_alive = req.keep_alive;
        c.deferred_version_minor = req.version_minor;
        log::debug("http: {} {} -> deferred", req.method, logged_path(req));
        // Captures the loop itself: the server may be gone when this runs.
        HttpRespond respond = [this, loop = &loop_, alive = std::weak_ptr<int>(alive_), id = c.id](HttpResponse r) {
            loop->post([this, alive, id, r = std::move(r)]() mutable {
                if (alive.lock()) {  // on the loop, where the server is destroyed: no race
                    finish_deferred(id, std::move(r));
                }
            });
        };
        try {
            resp.deferred(std::move(respond));
            return;
        } catch (const std::exception& e) {
            log::error("http: handler for {} {} failed: {}", req.method, logged_path(req), e.what());
        } catch (...) {
            log::error("http: handler for {} {} failed", req.method, logged_path(req));
        }
        c.waiting = false;
        resp = HttpResponse{500, "text/plain; charset=utf-8", {}, "internal error\n"};
    }
    if (resp.stream) {
        start_stream(c, resp, req);
        return;
    }
    log::debug("http: {} {} -> {}", req.method, logged_path(req), resp.status);
    const bool keep_alive = req.keep_alive && listen_fd_ >= 0;
    serialize_response(resp, req.method == "HEAD", keep_alive, req.version_minor, c.out);
    if (!keep_alive) {
        c.close_after_flush = true;
    }
}

void HttpServer::finish_deferred(std::uint64_t id, HttpResponse resp) {
    Conn* c = find(id);
    if (c == nullptr || !c->waiting) {
        return;  // closed meanwhile (server close, peer hung up)
    }
    c->waiting = false;
    log::debug("http: deferred response -> {}", resp.status);
    const bool keep_alive = c->deferred_keep_alive && listen_fd_ >= 0;
    serialize_response(resp, c->deferred_head, keep_alive, c->deferred_version_minor, c->out);
    if (!keep_alive) {
        c->close_after_flush = true;
    }
    c->last_activity_ns = mono_now_ns();
    dispatching_ = true;
    settle(*c);  // sends it and goes on with held pipelined requests
    dispatching_ = false;
    if (close_pending_) {
        close_pending_ = false;
        drop_connections();
    }
}

void HttpServer::queue_error(Conn& c, int status, std::string_view why) {
    log::debug("http: refusing request: {} {}", status, why);
    HttpResponse resp{status, "text/plain; charset=utf-8", {}, fmt::format("{} {}: {}\n", status, reason_phrase(status), why)};
    serialize_response(resp, false, false, 1, c.out);
    c.close_after_flush = true;
}

void HttpServer::flush(Conn& c) {
    while (c.out_off < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_off += static_cast<std::size_t>(n);
            c.last_activity_ns = mono_now_ns();
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && would_block(errno)) {
            return;
        }
        c.dead = true;  // EPIPE, ECONNRESET: nobody left to answer
        return;
    }
    c.out.clear();
    c.out_off = 0;
    if (c.out.capacity() > kKeepBufferCapacity) {
        std::string().swap(c.out);  // one big response should not pin its memory for the connection's life
    }
}

void HttpServer::begin_linger(Conn& c) {
    // Closing with unread input makes the kernel send RST, which can destroy
    // our last response (a 413 or 431) before the client reads it. So shut
    // the write side and drain for a little while first.
    ::shutdown(c.fd, SHUT_WR);
    c.lingering = true;
    c.in.clear();
    c.interest = EPOLLIN | EPOLLRDHUP;
    loop_.modify_fd(c.fd, c.interest);
    c.close_at_ns = mono_now_ns() + to_ns(kLingerTime);
}

void HttpServer::settle(Conn& c) {
    for (;;) {
        if (c.dead) {
            destroy(c.id);
            return;
        }
        if (c.lingering) {
            return;
        }
        pump_stream(c);
        flush(c);
        if (c.dead) {
            destroy(c.id);
            return;
        }
        if (c.pending_output() == 0 && c.close_after_flush && !c.waiting) {
            if (c.peer_closed) {
                destroy(c.id);
            } else {
                begin_linger(c);
            }
            return;
        }
        if (!c.in.empty() && !c.close_after_flush && !c.waiting && c.pending_output() <= limits_.max_pending_output) {
            std::string held = std::move(c.in);
            c.in.clear();
            process_input(c, held);
            continue;
        }
        break;
    }
    update_interest(c);
}

void HttpServer::update_interest(Conn& c) {
    std::uint32_t want = 0;
    const bool backed_up = c.waiting || !c.in.empty() || c.pending_output() > limits_.max_pending_output;
    if (!c.close_after_flush && !c.peer_closed && !backed_up) {
        want |= EPOLLIN | EPOLLRDHUP;
    }
    if (c.pending_output() > 0) {
        want |= EPOLLOUT;
    }
    if (want != c.interest) {
        c.interest = want;
        loop_.modify_fd(c.fd, want);
    }
}

}  // namespace sluice::net
