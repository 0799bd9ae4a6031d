#include "net/http_server.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <iterator>
#include <optional>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace sluice::net {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr int kAcceptBatch = 64;  // per wake-up, so a connect storm cannot starve the loop
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::chrono::milliseconds kAcceptRetry{100};
constexpr std::size_t kKeepBufferCapacity = 64 * 1024;

std::string errno_text(int err) { return std::strerror(err); }

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// RFC 9110 §5.6.7 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". Built by
// hand because strftime's %a/%b follow the locale. Cached per second.
std::string_view http_date() {
    thread_local std::time_t cached_sec = -1;
    thread_local char buf[32];
    thread_local std::size_t len = 0;
    const std::time_t now = std::time(nullptr);
    if (now != cached_sec) {
        static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        std::tm tm{};
        gmtime_r(&now, &tm);
        const auto r = fmt::format_to_n(buf, sizeof buf, "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", days[tm.tm_wday % 7],
                                        tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                                        tm.tm_sec);
        len = std::min(r.size, sizeof buf);
        cached_sec = now;
    }
    return {buf, len};
}

bool header_is_safe(std::string_view name, std::string_view value) {
    if (name.empty()) {
        return false;
    }
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == ':') {
            return false;
        }
    }
    for (char c : value) {
        if (c == '\r' || c == '\n' || c == '\0') {
            return false;  // would let a handler split the response
        }
    }
    return true;
}

bool body_allowed(int status) { return status >= 200 && status != 204 && status != 304; }

struct ParsedAddress {
    sockaddr_storage addr{};
    socklen_t len = 0;
};

std::optional<ParsedAddress> parse_listen_address(std::string_view address, std::string* error) {
    auto fail = [&](std::string msg) -> std::optional<ParsedAddress> {
        if (error != nullptr) {
            *error = std::move(msg);
        }
        return std::nullopt;
    };
    std::string_view host;
    std::string_view port_text;
    bool bracketed = false;
    if (!address.empty() && address.front() == '[') {
        const auto close = address.find(']');
        if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':') {
            return fail(fmt::format("invalid listen address '{}': expected [IPv6]:port, e.g. [::1]:8080", address));
        }
        host = address.substr(1, close - 1);
        port_text = address.substr(close + 2);
        bracketed = true;
    } else {
        const auto colon = address.rfind(':');
        if (colon == std::string_view::npos) {
            return fail(fmt::format("invalid listen address '{}': expected host:port, e.g. 127.0.0.1:8080", address));
        }
        host = address.substr(0, colon);
        port_text = address.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return fail(fmt::format("invalid listen address '{}': put IPv6 addresses in brackets, e.g. [::1]:8080",
                                    address));
        }
    }
    unsigned port = 0;
    if (port_text.empty() || port_text.size() > 5) {
        return fail(fmt::format("invalid port in listen address '{}'", address));
    }
    for (char c : port_text) {
        if (c < '0' || c > '9') {
            return fail(fmt::format("invalid port in listen address '{}'", address));
        }
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port > 65535) {
        return fail(fmt::format("port out of range in listen address '{}'", address));
    }

    ParsedAddress out;
    const std::string host_str = (host.empty() || host == "*")  ? std::string("0.0.0.0")
                                 : (host == "localhost")         ? std::string("127.0.0.1")
                                                                 : std::string(host);
    if (!bracketed) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&out.addr);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(static_cast<std::uint16_t>(port));
        if (inet_pton(AF_INET, host_str.c_str(), &sin->sin_addr) != 1) {
            return fail(fmt::format("invalid listen address '{}': '{}' is not a numeric IPv4 address (host names "
                                    "are not resolved; use e.g. 127.0.0.1, 0.0.0.0 or [::1])",
                                    address, host));
        }
        out.len = sizeof(sockaddr_in);
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(static_cast<std::uint16_t>(port));
        if (inet_pton(AF_INET6, host_str.c_str(), &sin6->sin6_addr) != 1) {
            return fail(fmt::format("invalid listen address '{}': '{}' is not a numeric IPv6 address", address, host));
        }
        out.len = sizeof(sockaddr_in6);
    }
    return out;
}

}  // namespace

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 417: return "Expectation Failed";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

void serialize_response(const HttpResponse& resp, bool head_only, bool keep_alive, int version_minor,
                        std::string& out) {
    const int status = (resp.status >= 100 && resp.status <= 999) ? resp.status : 500;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "HTTP/1.1 {} {}\r\nDate: {}\r\n", status, reason_phrase(status), http_date());
    const bool with_body = body_allowed(status);
    if (with_body && !resp.content_type.empty() && header_is_safe("Content-Type", resp.content_type)) {
        fmt::format_to(it, "Content-Type: {}\r\n", resp.content_type);
    }
    for (const auto& [name, value] : resp.headers) {
        if (!header_is_safe(name, value) || iequals(name, "content-length") || iequals(name, "connection") ||
            iequals(name, "transfer-encoding") || iequals(name, "date") ||
            (iequals(name, "content-type") && with_body && !resp.content_type.empty())) {
            continue;
        }
        fmt::format_to(it, "{}: {}\r\n", name, value);
    }
    if (with_body) {
        fmt::format_to(it, "Content-Length: {}\r\n", resp.body.size());
    }
    if (!keep_alive) {
        out += "Connection: close\r\n";
    } else if (version_minor == 0) {
        out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    if (with_body && !head_only) {
        out += resp.body;
    }
}

struct HttpServer::Conn {
    Conn(std::uint64_t id_, int fd_, HttpParserLimits limits) : id(id_), fd(fd_), parser(limits) {}

    std::size_t pending_output() const { return out.size() - out_off; }

    std::uint64_t id;
    int fd;
    HttpRequestParser parser;
    std::string in;  // input held back while a slow reader has too much output queued
    std::string out;
    std::size_t out_off = 0;
    std::int64_t last_activity_ns = 0;
    IoLoop::TimerId timer = 0;
    std::uint32_t interest = 0;
    bool close_after_flush = false;  // no more requests: answer what is queued, then close
    bool peer_closed = false;        // read EOF
    bool lingering = false;          // write side shut, draining input so our last response is not reset
    bool doomed = false;             // closes when its timer fires, whatever state it is in
    bool continue_sent = false;
    bool dead = false;
};

HttpServer::HttpServer(IoLoop& loop, HttpHandler handler, HttpServerLimits limits)
    : loop_(loop), handler_(std::move(handler)), limits_(limits), read_buf_(kReadChunk) {}

HttpServer::~HttpServer() { close(); }

bool HttpServer::listen(std::string_view address, std::string* error) {
    bool ok = false;
    loop_.call([&] { ok = listen_on_loop(address, error); });
    return ok;
}

void HttpServer::close() {
    loop_.call([this] { close_on_loop(); });
}

bool HttpServer::listen_on_loop(std::string_view address, std::string* error) {
    auto fail = [&](std::string msg) {
        if (error != nullptr) {
            *error = std::move(msg);
        }
        return false;
    };
    if (listen_fd_ >= 0) {
        return fail("HTTP server is already listening");
    }
    auto parsed = parse_listen_address(address, error);
    if (!parsed) {
        return false;
    }
    const int fd = ::socket(parsed->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fail(fmt::format("cannot create a socket for {}: {}", address, errno_text(errno)));
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&parsed->addr), parsed->len) != 0) {
        const int err = errno;
        ::close(fd);
        return fail(fmt::format("cannot bind {}: {}", address, errno_text(err)));
    }
    if (::listen(fd, SOMAXCONN) != 0) {
        const int err = errno;
        ::close(fd);
        return fail(fmt::format("cannot listen on {}: {}", address, errno_text(err)));
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
        const int err = errno;
        ::close(fd);
        return fail(fmt::format("getsockname on {}: {}", address, errno_text(err)));
    }
    if (!loop_.add_fd(fd, EPOLLIN, [this](std::uint32_t) { on_accept(); })) {
        const int err = errno;
        ::close(fd);
        return fail(fmt::format("cannot watch the listening socket {}: {}", address, errno_text(err)));
    }
    listen_fd_ = fd;
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    log::debug("http: listening on {} (port {})", address, port_);
    return true;
}

void HttpServer::close_on_loop() {
    if (resume_timer_ != 0) {
        loop_.cancel_timer(resume_timer_);
        resume_timer_ = 0;
    }
    if (listen_fd_ >= 0) {
        loop_.remove_fd(listen_fd_);
        ::close(listen_fd_);
        listen_fd_ = -1;
    }
    accept_paused_ = false;
    if (dispatching_) {
        // Called from a handler: the connection being served is still in
        // use up the stack, so drop the connections once its event is done.
        close_pending_ = true;
        return;
    }
    drop_connections();
}

void HttpServer::drop_connections() {
    for (auto& [id, c] : conns_) {
        if (c->timer != 0) {
            loop_.cancel_timer(c->timer);
        }
        loop_.remove_fd(c->fd);
        ::close(c->fd);
    }
    conns_.clear();
}

void HttpServer::on_resume_accept() {
    resume_timer_ = 0;
    if (listen_fd_ >= 0 && accept_paused_) {
        accept_paused_ = false;
        loop_.modify_fd(listen_fd_, EPOLLIN);
    }
}

void HttpServer::on_accept() {
    for (int n = 0; n < kAcceptBatch && listen_fd_ >= 0; ++n) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            if (err == EINTR || err == ECONNABORTED || err == EPROTO) {
                continue;
            }
            if (would_block(err)) {
                return;
            }
            // Out of descriptors or memory: the listener would stay readable
            // and spin the loop, so stop accepting for a moment.
            log::warn("http: accept failed: {}; pausing new connections", errno_text(err));
            if (!accept_paused_) {
                accept_paused_ = true;
                loop_.modify_fd(listen_fd_, 0);
                resume_timer_ = loop_.add_timer(kAcceptRetry, std::chrono::nanoseconds(0), [this] { on_resume_accept(); });
            }
            return;
        }
        if (conns_.size() >= limits_.max_connections) {
            // Best effort: the socket buffer of a fresh connection has room.
            std::string resp;
            serialize_response(HttpResponse{503, "text/plain; charset=utf-8", {}, "too many connections\n"}, false,
                               false, 1, resp);
            [[maybe_unused]] auto sent = ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            ::close(fd);
            log::debug("http: refused a connection: {} connections open", conns_.size());
            continue;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const std::uint64_t id = next_id_++;
        HttpParserLimits plimits;
        plimits.max_header_bytes = limits_.max_header_bytes;
        plimits.max_body_bytes = limits_.max_body_bytes;
        auto conn = std::make_unique<Conn>(id, fd, plimits);
        conn->last_activity_ns = mono_now_ns();
        conn->interest = EPOLLIN | EPOLLRDHUP;
        if (!loop_.add_fd(fd, conn->interest, [this, id](std::uint32_t ev) { on_conn_event(id, ev); })) {
            log::warn("http: cannot watch a new connection: {}", errno_text(errno));
            ::close(fd);
            continue;
        }
        Conn& c = *conn;
        conns_.emplace(id, std::move(conn));
        if (limits_.idle_timeout.count() > 0) {
            arm_idle_timer(c, limits_.idle_timeout);
        }
    }
}

HttpServer::Conn* HttpServer::find(std::uint64_t id) {
    auto it = conns_.find(id);
    return it == conns_.end() ? nullptr : it->second.get();
}

void HttpServer::arm_idle_timer(Conn& c, std::chrono::nanoseconds delay) {
    if (c.timer != 0) {
        loop_.cancel_timer(c.timer);
    }
    const std::uint64_t id = c.id;
    c.timer = loop_.add_timer(delay, std::chrono::nanoseconds(0), [this, id] { on_idle_timer(id); });
}

void HttpServer::destroy(std::uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) {
        return;
    }
    Conn& c = *it->second;
    if (c.timer != 0) {
        loop_.cancel_timer(c.timer);
    }
    loop_.remove_fd(c.fd);
    ::close(c.fd);
    conns_.erase(it);
}

void HttpServer::on_idle_timer(std::uint64_t id) {
    Conn* c = find(id);
    if (c == nullptr) {
        return;
    }
    c->timer = 0;
    if (c->lingering || c->doomed) {
        destroy(id);
        return;
    }
    // The timer is not re-armed on every byte: it fires once per period and
    // checks how long the connection has really been quiet.
    const std::int64_t deadline =
        c->last_activity_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(limits_.idle_timeout).count();
    const std::int64_t now = mono_now_ns();
    if (now < deadline) {
        arm_idle_timer(*c, std::chrono::nanoseconds(deadline - now));
        return;
    }
    if (c->parser.idle() || c->pending_output() > 0 || c->close_after_flush) {
        // Idle keep-alive connection, or a peer that stopped reading: a
        // response now could be mistaken for the answer to a next request.
        destroy(id);
        return;
    }
    queue_error(*c, 408, "no complete request within the idle timeout");
    c->doomed = true;
    arm_idle_timer(*c, kLingerTime);
    settle(*c);
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
    if ((events & EPOLLERR) != 0) {
        destroy(id);
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
    while (!c.dead && !c.close_after_flush) {
        if (c.pending_output() > limits_.max_pending_output) {
            c.in.assign(data);
            return;
        }
        const ParseResult r = c.parser.feed(data);
        data.remove_prefix(r.consumed);
        if (r.status == ParseStatus::Complete) {
            c.continue_sent = false;
            handle_request(c, c.parser.take());
            continue;
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
        log::error("http: handler for {} {} failed: {}", req.method, req.path, e.what());
        resp = HttpResponse{500, "text/plain; charset=utf-8", {}, "internal error\n"};
    } catch (...) {
        log::error("http: handler for {} {} failed", req.method, req.path);
        resp = HttpResponse{500, "text/plain; charset=utf-8", {}, "internal error\n"};
    }
    log::debug("http: {} {} -> {}", req.method, req.path, resp.status);
    const bool keep_alive = req.keep_alive && listen_fd_ >= 0;
    serialize_response(resp, req.method == "HEAD", keep_alive, req.version_minor, c.out);
    if (!keep_alive) {
        c.close_after_flush = true;
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
    arm_idle_timer(c, kLingerTime);
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
        flush(c);
        if (c.dead) {
            destroy(c.id);
            return;
        }
        if (c.pending_output() == 0 && c.close_after_flush) {
            if (c.peer_closed) {
                destroy(c.id);
            } else {
                begin_linger(c);
            }
            return;
        }
        if (!c.in.empty() && !c.close_after_flush && c.pending_output() <= limits_.max_pending_output) {
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
    const bool backed_up = !c.in.empty() || c.pending_output() > limits_.max_pending_output;
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
