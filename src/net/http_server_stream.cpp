// Streamed responses (Server-Sent Events): the producer's bounded queue
// (HttpStream), and the server's side: the head, moving queued events into
// the output while the client keeps up, the heartbeat (in the sweep).

#include <utility>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "net/http_server.hpp"
#include "net/http_server_internal.hpp"

namespace sluice::net {

using namespace http_server_detail;

namespace {

// Events are taken from the queue only while less than this waits for the
// client; beyond it they stay queued and, once the queue is full, are dropped.
constexpr std::size_t kStreamOutputRoom = 64 * 1024;

// The longest frame a WebSocket client may send: it is only read to answer
// pings and notice a close.
constexpr std::size_t kWebSocketMaxFrame = 64 * 1024;

Counter& dropped_counter() {
    static Counter& c = metrics().counter(kStreamDroppedName, kStreamDroppedHelp);
    return c;
}

void append_chunk(std::string& out, std::string_view data, bool chunked) {
    if (data.empty()) {
        return;
    }
    if (chunked) {
        fmt::format_to(std::back_inserter(out), "{:x}\r\n", data.size());
        out.append(data);
        out += "\r\n";
    } else {
        out.append(data);
    }
}

}  // namespace

HttpStream::HttpStream(HttpStreamLimits limits) : limits_(limits) { dropped_counter(); }

bool HttpStream::push(std::string event) {
    std::function<void()> wake;
    {
        std::lock_guard lk(mu_);
        if (closed_.load(std::memory_order_relaxed)) {
            return false;
        }
        if (queue_.size() >= limits_.max_events || queue_bytes_ + event.size() > limits_.max_bytes) {
            ++unannounced_;
            dropped_total_.fetch_add(1, std::memory_order_relaxed);
            dropped_counter().inc();
            return false;
        }
        queue_bytes_ += event.size();
        queue_.push_back(std::move(event));
        if (!wake_pending_ && wake_) {
            wake_pending_ = true;
            wake = wake_;
        }
    }
    if (wake) {
        wake();
    }
    return true;
}

bool HttpStream::full() const {
    std::lock_guard lk(mu_);
    return queue_.size() >= limits_.max_events || queue_bytes_ >= limits_.max_bytes;
}

void HttpStream::drop(std::uint64_t n) {
    std::lock_guard lk(mu_);
    if (closed_.load(std::memory_order_relaxed)) {
        return;
    }
    unannounced_ += n;
    dropped_total_.fetch_add(n, std::memory_order_relaxed);
    dropped_counter().inc(n);
}

void HttpStream::close() {
    std::function<void()> wake;
    {
        std::lock_guard lk(mu_);
        if (closed_.exchange(true)) {
            return;
        }
        if (!wake_pending_ && wake_) {
            wake_pending_ = true;
            wake = wake_;
        }
    }
    if (wake) {
        wake();
    }
}

void HttpStream::on_end(std::function<void()> fn) {
    std::lock_guard lk(mu_);
    on_end_ = std::move(fn);
}

HttpStream::Taken HttpStream::take() {
    Taken t;
    std::lock_guard lk(mu_);
    wake_pending_ = false;
    t.events.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    queue_bytes_ = 0;
    t.dropped = std::exchange(unannounced_, 0);
    t.closed = closed_.load(std::memory_order_relaxed);
    return t;
}

void HttpStream::attach(std::function<void()> wake) {
    bool now = false;
    {
        std::lock_guard lk(mu_);
        wake_ = std::move(wake);
        now = !queue_.empty() || closed_.load(std::memory_order_relaxed);
        wake_pending_ = now;
    }
    if (now) {
        wake_();
    }
}

void HttpStream::detach() {
    std::function<void()> end;
    {
        std::lock_guard lk(mu_);
        if (detached_) {
            return;
        }
        detached_ = true;
        closed_ = true;
        wake_ = nullptr;
        queue_.clear();
        queue_bytes_ = 0;
        end = std::move(on_end_);
    }
    if (end) {
        end();
    }
}

std::string sse_event(std::string_view data, std::string_view event) {
    std::string out;
    out.reserve(data.size() + event.size() + 16);
    if (!event.empty()) {
        out += "event: ";
        out.append(event);
        out += '\n';
    }
    // A newline inside the data would end the field: each line is its own
    // `data:` line, which the client joins with newlines again.
    std::size_t pos = 0;
    for (;;) {
        const std::size_t nl = data.find('\n', pos);
        out += "data: ";
        out.append(data.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
        out += '\n';
        if (nl == std::string_view::npos) {
            break;
        }
        pos = nl + 1;
    }
    out += '\n';
    return out;
}

HttpResponse HttpResponse::event_stream(std::function<void(HttpStreamHandle)> start, HttpStreamLimits limits) {
    HttpResponse r;
    r.content_type = "text/event-stream; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-store");
    r.stream = std::move(start);
    r.stream_limits = limits;
    return r;
}

HttpResponse HttpResponse::websocket_stream(std::function<void(HttpStreamHandle)> start, HttpStreamLimits limits) {
    HttpResponse r;
    r.stream = std::move(start);
    r.stream_limits = limits;
    r.websocket = true;
    return r;
}

void HttpServer::start_stream(Conn& c, HttpResponse& resp, const HttpRequest& req) {
    if (resp.websocket) {
        std::string why;
        if (auto status = websocket_refusal(req, &why)) {
            log::debug("http: {} {} -> {} ({})", req.method, logged_path(req), *status, why);
            HttpResponse refusal{*status, "text/plain; charset=utf-8", {}, why + "\n"};
            if (*status == 426) {
                refusal.headers.emplace_back("Sec-WebSocket-Version", "13");
                refusal.headers.emplace_back("Upgrade", "websocket");
            } else if (*status == 405) {
                refusal.headers.emplace_back("Allow", "GET");
            }
            serialize_response(refusal, req.method == "HEAD", false, req.version_minor, c.out);
            c.close_after_flush = true;
            return;
        }
        log::debug("http: {} {} -> websocket", req.method, logged_path(req));
        append_websocket_handshake(c.out, *req.header("Sec-WebSocket-Key"));
        c.websocket = std::make_unique<WsFrameReader>(kWebSocketMaxFrame);
        c.ws_last_in_ns = mono_now_ns();
    } else if (req.method == "HEAD") {
        HttpResponse head = resp;
        head.stream = nullptr;
        const bool keep_alive = req.keep_alive && listen_fd_ >= 0;
        serialize_response(head, true, keep_alive, req.version_minor, c.out);
        if (!keep_alive) {
            c.close_after_flush = true;
        }
        return;
    }
    if (!c.websocket) {
        log::debug("http: {} {} -> stream", req.method, logged_path(req));
        serialize_stream_head(resp, req.version_minor, c.out);
    }
    auto stream = std::make_shared<HttpStream>(resp.stream_limits);
    c.stream = stream;
    c.chunked = !c.websocket && req.version_minor >= 1;
    const std::int64_t now = mono_now_ns();
    c.stream_started_ns = now;
    c.stream_last_out_ns = now;
    ++stats_.streams_started;
    counters_->streams_started.inc();
    stream->attach([this, loop = &loop_, alive = std::weak_ptr<int>(alive_), id = c.id] {
        loop->post([this, alive, id] {
            if (alive.lock()) {
                on_stream_ready(id);
            }
        });
    });
    try {
        resp.stream(stream);
    } catch (const std::exception& e) {
        log::error("http: stream handler for {} failed: {}", logged_path(req), e.what());
        stream->close();
    } catch (...) {
        log::error("http: stream handler for {} failed", logged_path(req));
        stream->close();
    }
}

void HttpServer::pump_stream(Conn& c) {
    if (!c.stream || c.close_after_flush || c.pending_output() >= kStreamOutputRoom) {
        return;
    }
    HttpStream::Taken t = c.stream->take();
    if (c.websocket) {
        for (const auto& e : t.events) {
            append_ws_frame(c.out, WsOpcode::Text, e);
        }
        if (t.dropped > 0) {
            append_ws_frame(c.out, WsOpcode::Text, fmt::format("{{\"dropped\":{}}}", t.dropped));
        }
    } else {
        for (const auto& e : t.events) {
            append_chunk(c.out, e, c.chunked);
        }
        if (t.dropped > 0) {
            append_chunk(c.out, sse_event(fmt::format("{{\"dropped\":{}}}", t.dropped), "dropped"), c.chunked);
        }
    }
    if (!t.events.empty() || t.dropped > 0) {
        c.stream_last_out_ns = mono_now_ns();
    }
    if (t.closed) {
        if (c.websocket) {
            append_ws_close(c.out, kWsNormalClose);
        } else if (c.chunked) {
            c.out += "0\r\n\r\n";
        }
        c.close_after_flush = true;
    }
}

void HttpServer::websocket_input(Conn& c, std::string_view data) {
    c.ws_last_in_ns = mono_now_ns();
    std::vector<WsFrame> frames;
    const bool ok = c.websocket->feed(data, frames);
    for (auto& f : frames) {
        switch (f.opcode) {
            case WsOpcode::Ping:
                append_ws_frame(c.out, WsOpcode::Pong, f.payload);
                break;
            case WsOpcode::Close: {
                // Echo the client's code (none: none) and end the stream.
                if (f.payload.empty()) {
                    append_ws_frame(c.out, WsOpcode::Close, {});
                } else {
                    append_ws_close(c.out, ws_close_reply(f.payload));
                }
                c.stream->detach();
                c.close_after_flush = true;
                return;
            }
            default:
                break;  // data frames and pongs: nothing is read from the client
        }
    }
    if (!ok) {
        log::debug("http: closing a WebSocket from {}: {}", c.address, c.websocket->error());
        append_ws_close(c.out, c.websocket->close_code(), c.websocket->error());
        c.stream->detach();
        c.close_after_flush = true;
    }
}

void HttpServer::on_stream_ready(std::uint64_t id) {
    Conn* c = find(id);
    if (c == nullptr || !c->stream) {
        return;
    }
    dispatching_ = true;
    settle(*c);
    dispatching_ = false;
    if (close_pending_) {
        close_pending_ = false;
        drop_connections();
    }
}

}  // namespace sluice::net
