// HttpServer itself: the listening socket (numeric addresses only),
// accepting connections, closing. A connection's own events are in
// http_server_connection.cpp, room for newcomers and deadlines in
// http_server_limits.cpp, the wire format of responses in
// http_server_response.cpp (see http_server_internal.hpp).

#include "net/http_server.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <optional>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/http_server_internal.hpp"

namespace sluice::net {

using namespace http_server_detail;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr int kAcceptBatch = 64;  // per wake-up, so a connect storm cannot starve the loop
constexpr std::chrono::milliseconds kAcceptRetry{100};

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

std::string errno_text(int err) { return std::strerror(err); }

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
    for (auto t : {limits_.header_timeout, limits_.body_timeout, limits_.idle_timeout, limits_.stream_heartbeat}) {
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
        if (c->stream) {
            c->stream->detach();
        }
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

}  // namespace sluice::net
