#include "net/http_server.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <iterator>
#include <optional>
#include <tuple>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace sluice::net {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr int kAcceptBatch = 64;  // per wake-up, so a connect storm cannot starve the loop
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::chrono::milliseconds kAcceptRetry{100};
constexpr std::size_t kKeepBufferCapacity = 64 * 1024;
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

std::int64_t to_ns(std::chrono::nanoseconds d) { return d.count(); }

// Connections from one client address share a limit; an IPv4-mapped IPv6
// peer counts as its IPv4 address. The key is the raw address bytes.
std::string address_key(const sockaddr_storage& peer) {
    if (peer.ss_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(&peer);
        return std::string(reinterpret_cast<const char*>(&sin->sin_addr), 4);
    }
    if (peer.ss_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&peer);
        const auto* bytes = reinterpret_cast<const char*>(&sin6->sin6_addr);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            return std::string(bytes + 12, 4);
        }
        return std::string(bytes, 16);
    }
    return {};
}

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
    Conn(std::uint64_t id_, int fd_, HttpParserLimits limits, std::string address_)
        : id(id_), fd(fd_), parser(limits), address(std::move(address_)) {}

    std::size_t pending_output() const { return out.size() - out_off; }

    std::tuple<int, int, std::int64_t> eviction_rank(std::int64_t now) const {
        if (lingering || doomed) {
            return {kClosing, 0, close_at_ns};
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
    log::OnceLog evict_log;
    log::OnceLog timeout_log;
    std::int64_t last_evict_ns = 0;
    std::int64_t last_timeout_ns = 0;
};

HttpServer::HttpServer(IoLoop& loop, HttpHandler handler, HttpServerLimits limits)
    : loop_(loop),
      handler_(std::move(handler)),
      limits_(limits),
      read_buf_(kReadChunk),
      counters_(std::make_unique<Counters>()) {
    // Deadlines are checked by one sweep over all connections, not by a
    // timer per connection that every byte would move: an eighth of the
    // shortest timeout, so one fires at most 12.5% late, and at most once a
    // second, so an idle server costs nothing and a busy one little.
    std::chrono::nanoseconds shortest = std::chrono::seconds(8);
    for (auto t : {limits_.header_timeout, limits_.body_timeout, limits_.idle_timeout}) {
        if (t.count() > 0) {
            shortest = std::min<std::chrono::nanoseconds>(shortest, t);
        }
    }
    sweep_period_ = std::clamp<std::chrono::nanoseconds>(shortest / 8, std::chrono::milliseconds(5),
                                                         std::chrono::seconds(1));
}

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
    // Deferred responses still on their way are dropped (their posts find
    // this token expired), also once the object is gone.
    alive_ = std::make_shared<int>(0);
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
        loop_.remove_fd(c->fd);
        ::close(c->fd);
    }
    conns_.clear();
    per_address_.clear();
    if (sweep_timer_ != 0) {
        loop_.cancel_timer(sweep_timer_);
        sweep_timer_ = 0;
    }
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
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        const int fd =
            ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
        std::string address = address_key(peer);
        // A newcomer is let in by closing a connection that is doing least
        // with its slot, so slow clients cannot lock everyone else out.
        if (limits_.max_connections_per_address > 0) {
            const auto it = per_address_.find(address);
            if (it != per_address_.end() && it->second >= limits_.max_connections_per_address &&
                !make_room(RoomFor::Address, address)) {
                refuse(fd);
                continue;
            }
        }
        if (conns_.size() >= limits_.max_connections && !make_room(RoomFor::Table, address)) {
            refuse(fd);
            continue;
        }
        if (listen_fd_ < 0) {
            ::close(fd);  // a handler run while making room closed the server
            return;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const std::uint64_t id = next_id_++;
        HttpParserLimits plimits;
        plimits.max_header_bytes = limits_.max_header_bytes;
        plimits.max_body_bytes = limits_.max_body_bytes;
        auto conn = std::make_unique<Conn>(id, fd, plimits, address);
        const std::int64_t now = mono_now_ns();
        conn->accepted_ns = now;
        conn->last_activity_ns = now;
        conn->request_start_ns = now;  // a client that connects and says nothing is on the header clock too
        conn->interest = EPOLLIN | EPOLLRDHUP;
        if (!loop_.add_fd(fd, conn->interest, [this, id](std::uint32_t ev) { on_conn_event(id, ev); })) {
            log::warn("http: cannot watch a new connection: {}", errno_text(errno));
            ::close(fd);
            continue;
        }
        conns_.emplace(id, std::move(conn));
        ++per_address_[address];
        ensure_sweep();
    }
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
    while (!c.dead && !c.close_after_flush) {
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
        log::error("http: handler for {} {} failed: {}", req.method, req.path, e.what());
        resp = HttpResponse{500, "text/plain; charset=utf-8", {}, "internal error\n"};
    } catch (...) {
        log::error("http: handler for {} {} failed", req.method, req.path);
        resp = HttpResponse{500, "text/plain; charset=utf-8", {}, "internal error\n"};
    }
    if (resp.deferred) {
        c.waiting = true;
        c.deferred_head = req.method == "HEAD";
        c.deferred_keep_alive = req.keep_alive;
        c.deferred_version_minor = req.version_minor;
        log::debug("http: {} {} -> deferred", req.method, req.path);
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
            log::error("http: handler for {} {} failed: {}", req.method, req.path, e.what());
        } catch (...) {
            log::error("http: handler for {} {} failed", req.method, req.path);
        }
        c.waiting = false;
        resp = HttpResponse{500, "text/plain; charset=utf-8", {}, "internal error\n"};
    }
    log::debug("http: {} {} -> {}", req.method, req.path, resp.status);
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
