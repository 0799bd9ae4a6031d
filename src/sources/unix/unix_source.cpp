// Listens on a Unix domain socket: a stream socket with several clients at
// once (newline or length-prefix framing) or a datagram socket (one datagram,
// one frame). Everything runs on the I/O loop. When the ingest queue is full
// the source stops reading from every fd until the worker has made room, so
// stream writers block on a full socket buffer and datagram senders block or
// get EAGAIN; nothing already read is dropped.

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/ioloop.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/url.hpp"
#include "text/stream_framing.hpp"
#include "sources/unix/socket.hpp"
#include "core/guard.hpp"

namespace sluice::components {
namespace {

using framing::Framer;
using framing::Framing;
using unixsock::SocketType;

constexpr std::size_t kReadSize = 64 * 1024;
// Per readiness event, so that one busy client cannot starve the others.
constexpr int kDatagramsPerEvent = 64;
constexpr int kAcceptsPerEvent = 16;
constexpr auto kAcceptRetry = std::chrono::seconds(1);

// Logs the first of a run of the same error and only counts the rest, until
// clear() says the condition is over.
struct Client {
    int fd = -1;
    std::uint64_t id = 0;
    Framer framer;
};

class UnixSource final : public Source {
public:
    explicit UnixSource(const Options& o)
        : path_(o.str("path")),
          type_(o.str("socket") == "datagram" ? SocketType::Datagram : SocketType::Stream),
          framing_(o.str("framing") == "length" ? Framing::Length : Framing::Line),
          max_clients_(static_cast<std::size_t>(o.integer("max_clients"))),
          max_frame_(o.memory_size("max_frame_bytes")) {
        unixsock::BindOptions b;
        b.path = path_;
        b.type = type_;
        const auto mode = unixsock::parse_mode(o.str("mode"));
        if (!mode) {
            throw ConfigError(fmt::format("option 'mode' must be an octal file mode such as \"0660\", not \"{}\"",
                                          o.str("mode")));
        }
        b.mode = *mode;
        if (o.has("group")) {
            auto g = unixsock::parse_group(o.str("group"));
            if (!g.gid) {
                throw ConfigError(fmt::format("option 'group': {}", g.error));
            }
            b.group = g.gid;
        }
        // Bound here rather than in start() so that a path in use stops the
        // gateway at start-up with this message instead of leaving a source
        // that silently never receives anything.
        auto r = unixsock::bind_socket(b);
        if (!r.socket) {
            throw std::runtime_error(fmt::format("unix source: {}", r.error));
        }
        sock_ = std::move(r.socket);
        buf_.resize(type_ == SocketType::Datagram ? max_frame_ : kReadSize);
    }

    ~UnixSource() override {
        *alive_ = false;
        for (auto& [fd, c] : clients_) {
            ::close(fd);
        }
        clients_.clear();
        sock_->close();
    }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        started_ = true;
        log::info("{}: listening on {} ({}{})", ctx.name, path_,
                  type_ == SocketType::Stream ? "stream, " : "datagram",
                  type_ == SocketType::Stream ? (framing_ == Framing::Line ? "line framing" : "length framing") : "");
        watch_all();
    }

    void stop() override {
        if (stopped_) {
            return;
        }
        stopped_ = true;
        if (!started_) {
            return;
        }
        unwatch_all();
        if (retry_timer_ != 0) {
            ctx_->loop->cancel_timer(retry_timer_);
            retry_timer_ = 0;
        }
        for (auto& [fd, c] : clients_) {
            ::close(fd);
        }
        clients_.clear();
        sock_->close();
        if (!pending_.empty()) {
            ctx_->metrics->dropped->inc(pending_.size());
            log::warn("{}: {} frames read but not queued when stopping were dropped", ctx_->name, pending_.size());
            pending_.clear();
        }
    }

private:
    // ------------------------------------------------------------ fds on the loop

    void watch_all() {
        if (!listener_watched_ && retry_timer_ == 0) {
            const bool ok = ctx_->loop->add_fd(sock_->fd(), EPOLLIN, [this](std::uint32_t) {
                guarded(ctx_->name, ctx_->metrics->errors, callback_log_, [this] {
                    if (type_ == SocketType::Stream) {
                        on_accept();
                    } else {
                        on_datagrams();
                    }
                });
            });
            listener_watched_ = ok;
            if (!ok) {
                ctx_->metrics->errors->inc();
                log::error("{}: cannot watch {}: {}", ctx_->name, path_, std::strerror(errno));
            }
        }
        for (auto& [fd, c] : clients_) {
            watch_client(fd);
        }
    }

    void unwatch_all() {
        if (listener_watched_) {
            ctx_->loop->remove_fd(sock_->fd());
            listener_watched_ = false;
        }
        for (auto& [fd, c] : clients_) {
            ctx_->loop->remove_fd(fd);
        }
    }

    void watch_client(int fd) {
        if (!ctx_->loop->add_fd(fd, EPOLLIN | EPOLLRDHUP, [this, fd](std::uint32_t ev) {
                if (!guarded(ctx_->name, ctx_->metrics->errors, callback_log_, [&] { on_client(fd, ev); }) &&
                    clients_.count(fd) != 0) {
                    close_client(fd);  // its frames so far may be lost; the others go on
                }
            })) {
            ctx_->metrics->errors->inc();
            log::error("{}: cannot watch a client socket: {}", ctx_->name, std::strerror(errno));
        }
    }

    // ------------------------------------------------------------ stream

    void on_accept() {
        for (int i = 0; i < kAcceptsPerEvent && !paused_; ++i) {
            const int fd = ::accept4(sock_->fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
                    return;
                }
                // Out of fds (EMFILE/ENFILE): the pending connection stays
                // readable, so stop watching for a while instead of spinning.
                ctx_->metrics->errors->inc();
                accept_log_.warn("{}: accept failed: {}; retrying in {}s", ctx_->name, std::strerror(errno),
                                 kAcceptRetry.count());
                ctx_->loop->remove_fd(sock_->fd());
                listener_watched_ = false;
                auto alive = alive_;
                retry_timer_ = ctx_->loop->add_timer(kAcceptRetry, std::chrono::nanoseconds(0), [this, alive] {
                    if (!*alive || stopped_) {
                        return;
                    }
                    retry_timer_ = 0;
                    if (!paused_) {
                        watch_all();
                    }
                });
                return;
            }
            accept_log_.clear();
            if (clients_.size() >= max_clients_) {
                ::close(fd);
                ctx_->metrics->errors->inc();
                refuse_log_.warn("{}: refused a client: already {} connected (max_clients)", ctx_->name,
                                 clients_.size());
                continue;
            }
            refuse_log_.clear();
            const std::uint64_t id = ++next_client_;
            clients_.emplace(fd, Client{fd, id, Framer(framing_, max_frame_)});
            log::debug("{}: client #{} connected ({} now)", ctx_->name, id, clients_.size());
            watch_client(fd);
        }
    }

    void on_client(int fd, std::uint32_t events) {
        auto it = clients_.find(fd);
        if (it == clients_.end()) {
            return;
        }
        Client& c = it->second;
        const ssize_t n = ::recv(fd, buf_.data(), buf_.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if ((events & (EPOLLHUP | EPOLLERR)) == 0) {
                    return;
                }
            }
            ctx_->metrics->errors->inc();
            read_log_.warn("{}: client #{}: read failed: {}; closing it", ctx_->name, c.id, std::strerror(errno));
            close_client(fd);
            return;
        }
        if (n == 0) {
            auto r = c.framer.finish();
            deliver(r.frames);
            if (!r.error.empty()) {
                frame_error(c, r.error);
            }
            log::debug("{}: client #{} disconnected", ctx_->name, c.id);
            close_client(fd);
            flush();
            return;
        }
        auto r = c.framer.feed(std::string_view(buf_.data(), static_cast<std::size_t>(n)));
        deliver(r.frames);
        if (!r.error.empty()) {
            frame_error(c, r.error);
            close_client(fd);
        }
        flush();
    }

    void frame_error(const Client& c, const std::string& error) {
        ctx_->metrics->errors->inc();
        ctx_->metrics->dropped->inc();
        frame_log_.warn("{}: client #{}: {}; closing that client", ctx_->name, c.id, error);
    }

    void close_client(int fd) {
        ctx_->loop->remove_fd(fd);
        ::close(fd);
        clients_.erase(fd);
    }

    // ------------------------------------------------------------ datagram

    void on_datagrams() {
        for (int i = 0; i < kDatagramsPerEvent && !paused_; ++i) {
            // MSG_TRUNC: the return value is the datagram's real length, so a
            // cut-off one is noticed rather than decoded half.
            const ssize_t n = ::recv(sock_->fd(), buf_.data(), buf_.size(), MSG_DONTWAIT | MSG_TRUNC);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    ctx_->metrics->errors->inc();
                    read_log_.warn("{}: receive failed: {}", ctx_->name, std::strerror(errno));
                }
                break;
            }
            read_log_.clear();
            if (n == 0) {
                continue;  // empty datagram: nothing to decode
            }
            if (static_cast<std::size_t>(n) > buf_.size()) {
                ctx_->metrics->errors->inc();
                ctx_->metrics->dropped->inc();
                frame_log_.warn("{}: dropped a datagram of {} bytes (over max_frame_bytes, {} bytes)", ctx_->name,
                                n, max_frame_);
                continue;
            }
            std::vector<std::string> one;
            one.emplace_back(buf_.data(), static_cast<std::size_t>(n));
            deliver(one);
            flush();
        }
    }

    // ------------------------------------------------------------ ingest

    void deliver(std::vector<std::string>& payloads) {
        if (payloads.empty()) {
            return;
        }
        frame_log_.clear();
        const TimeNs now = wall_now_ns();
        const double now_s = static_cast<double>(now) / 1e9;
        for (auto& p : payloads) {
            ctx_->metrics->frame_in(p.size(), now_s);
            Frame f;
            f.payload = std::move(p);
            f.origin = path_;
            f.arrival_ns = now;
            f.source = ctx_->index;
            pending_.push_back(std::move(f));
        }
    }

    void flush() {
        if (pending_.empty() || paused_) {
            return;
        }
        ctx_->ingest->try_push(pending_);
        if (!pending_.empty()) {
            pause();
        }
    }

    // The queue is full: read nothing more (the kernel buffers fill and the
    // writers wait) until the worker has made room.
    void pause() {
        paused_ = true;
        unwatch_all();
        log::debug("{}: ingest queue full; pausing reads", ctx_->name);
        wait_for_space();
    }

    void wait_for_space() {
        auto alive = alive_;
        ctx_->ingest->when_space(ctx_->index, [this, alive] {
            if (!*alive || stopped_) {
                return;
            }
            ctx_->ingest->try_push(pending_);
            if (!pending_.empty()) {
                wait_for_space();
                return;
            }
            paused_ = false;
            watch_all();
        });
    }

    std::string path_;
    SocketType type_;
    Framing framing_;
    std::size_t max_clients_;
    std::size_t max_frame_;
    std::unique_ptr<unixsock::BoundSocket> sock_;
    std::vector<char> buf_;
    SourceContext* ctx_ = nullptr;
    std::map<int, Client> clients_;
    std::uint64_t next_client_ = 0;
    std::vector<Frame> pending_;
    bool started_ = false;
    bool stopped_ = false;
    bool paused_ = false;
    bool listener_watched_ = false;
    IoLoop::TimerId retry_timer_ = 0;
    // Callbacks queued on the loop may outlive the source.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    log::OnceLog frame_log_;
    log::OnceLog refuse_log_;
    log::OnceLog read_log_;
    log::OnceLog accept_log_;
    log::OnceLog callback_log_;  // what escapes a loop callback (core/guard.hpp)
};

void unix_from_url(const Url& url, RawTable& out) {
    if (!url.host.empty()) {
        throw std::runtime_error(fmt::format("{} URLs have no host: write {}:///path/to.sock (three slashes)",
                                             url.scheme, url.scheme));
    }
    if (url.path.empty() || url.path == "/") {
        throw std::runtime_error(fmt::format("{} URLs need the socket path: {}:///run/sensors.sock", url.scheme,
                                             url.scheme));
    }
    auto add = [&](std::string key, std::string value) {
        RawEntry e;
        e.key = std::move(key);
        e.value.v = std::move(value);
        e.value.from_text = true;
        out.push_back(std::move(e));
    };
    add("path", url.path);
    if (url.scheme == "unixgram") {
        if (const auto* s = url.param("socket"); s != nullptr && *s != "datagram") {
            throw std::runtime_error("unixgram: URLs are datagram sockets; leave out socket=");
        }
        add("socket", "datagram");
    }
    for (const auto& [k, v] : url.query) {
        if (url.scheme == "unixgram" && k == "socket") {
            continue;
        }
        add(k, v);
    }
}

// validate --healthcheck: the socket's directory exists and is writable,
// and nothing but a socket (live or stale) is at the path.
bool probe_unix(const Options& o, std::string& detail) {
    const std::filesystem::path path(o.str("path"));
    const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        detail = fmt::format("directory {} does not exist", dir.string());
        return false;
    }
    if (::access(dir.c_str(), W_OK) != 0) {
        detail = fmt::format("cannot create the socket in {}: {}", dir.string(), std::strerror(errno));
        return false;
    }
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_socket(path, ec)) {
        detail = fmt::format("{} exists and is not a socket", path.string());
        return false;
    }
    detail = fmt::format("{} can be created", path.string());
    return true;
}

}  // namespace

const Descriptor& source_unix() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "unix",
        .summary = "Listens on a Unix domain socket: stream clients (line or length-prefix framing) or datagrams",
        .delivery = Delivery::BestEffort,
        .loss_window = "Frames in the kernel's socket buffer, in a partial frame, or read but not yet committed when "
                       "the process dies are lost: a socket cannot be asked again.",
        .options =
            {
                {.name = "path", .type = OptionType::String,
                 .doc = "Socket file to create. A stale one (nobody listening) is replaced; a live one or a "
                        "file that is not a socket stops start-up",
                 .required = true, .min = 1, .max = 107},
                {.name = "socket", .type = OptionType::Enum, .default_value = "stream",
                 .doc = "stream: clients connect and write a byte stream; datagram: each datagram is one frame",
                 .choices = "stream|datagram"},
                {.name = "framing", .type = OptionType::Enum, .default_value = "line",
                 .doc = "Stream framing: line (newline-terminated) or length (4-byte big-endian length, then "
                        "the payload)",
                 .choices = "line|length"},
                {.name = "mode", .type = OptionType::String, .default_value = "0660",
                 .doc = "Permissions of the socket file, octal", .min = 1, .max = 6},
                {.name = "group", .type = OptionType::String,
                 .doc = "Group of the socket file: a numeric gid or a name from /etc/group (unset: the "
                        "process's group)",
                 .min = 1, .max = 64},
                {.name = "max_clients", .type = OptionType::Int, .default_value = "64",
                 .doc = "Stream clients connected at once; further ones are closed at once and counted as errors",
                 .min = 1, .max = 4096},
                {.name = "max_frame_bytes", .type = OptionType::Size, .default_value = "1MiB",
                 .doc = "Largest frame: a longer line or length prefix closes that client, a longer datagram "
                        "is dropped (both counted as errors and dropped records)",
                 .min = 16, .max = 64 << 20},
            },
        .url_schemes = {"unix", "unixgram"},
        .from_url = unix_from_url,
        .url_example = "unix:///run/sensors.sock?framing=line (unixgram:///run/sensors.sock for datagrams)",
        .make_source = [](const Options& o) { return std::make_unique<UnixSource>(o); },
        .probe = probe_unix,
    };
    return d;
}

}  // namespace sluice::components
