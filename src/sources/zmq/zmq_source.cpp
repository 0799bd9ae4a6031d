// Receives ZeroMQ messages on a SUB or PULL socket. ZeroMQ sockets are not
// thread-safe, so the socket lives on a receive thread of its own that polls
// it (with a timeout, so stop() is noticed) and hands frames over in batches
// with push_all_wait(). When the ingest queue is full the thread stops
// reading; ZeroMQ's high-water marks then apply on the sending side: a PUB
// drops messages for this subscriber, a PUSH blocks (or fails with EAGAIN).

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/log.hpp"
#include "core/wake_fd.hpp"
#include "core/metrics.hpp"
#include "core/source_health.hpp"
#include "core/tcp_probe.hpp"
#include "core/url.hpp"
#include "core/guard.hpp"

namespace sluice::components {
namespace {

constexpr std::size_t kBatchMax = 256;  // messages per hand-over
constexpr long kPollMs = 100;           // how soon stop() is noticed if the wake-up fd could not be made

bool is_z85_key(const std::string& key) {
    if (key.size() != 40) {
        return false;
    }
    static constexpr std::string_view kAlphabet =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (!std::all_of(key.begin(), key.end(), [](char c) { return kAlphabet.find(c) != std::string_view::npos; })) {
        return false;
    }
    std::uint8_t out[32];
    return zmq_z85_decode(out, key.c_str()) != nullptr;
}

// Logs the first of a run of the same error and only counts the rest, until
// clear() says the condition is over.
struct Curve {
    bool enabled = false;
    bool server = false;
    std::string server_key;  // Z85 public key of the server (client role)
    std::string public_key;  // Z85, ours (client role)
    std::string secret_key;  // Z85, ours
};

// Checks the CURVE options together; ConfigError with the reason.
Curve curve_options(const Options& o) {
    Curve c;
    c.server = o.boolean("curve_server");
    const bool any_key = o.has("curve_server_key") || o.has("curve_public_key") || o.has("curve_secret_key");
    if (!c.server && !any_key) {
        return c;
    }
    if (zmq_has("curve") == 0) {
        throw ConfigError("CURVE options are set, but this build's libzmq has no CURVE support (built without "
                          "libsodium or tweetnacl)");
    }
    c.enabled = true;
    auto key = [&](std::string_view name) -> std::string {
        if (!o.has(name)) {
            return {};
        }
        std::string k = o.str(name);
        if (!is_z85_key(k)) {
            // Never echo the value: it may be a secret.
            throw ConfigError(fmt::format("option '{}' must be a 40-character Z85 key (as printed by "
                                          "zmq_curve_keypair / curve_keygen)",
                                          name));
        }
        return k;
    };
    c.server_key = key("curve_server_key");
    c.public_key = key("curve_public_key");
    c.secret_key = key("curve_secret_key");
    if (c.secret_key.empty()) {
        throw ConfigError(c.server ? "curve_server = true needs curve_secret_key (the server's secret key)"
                                   : "CURVE needs curve_secret_key (this client's secret key)");
    }
    char derived[41] = {};
    if (zmq_curve_public(derived, c.secret_key.c_str()) != 0) {
        throw ConfigError("curve_secret_key is not a valid CURVE secret key");
    }
    if (!c.public_key.empty() && c.public_key != derived) {
        throw ConfigError("curve_public_key does not belong to curve_secret_key");
    }
    c.public_key = derived;
    if (c.server && !c.server_key.empty()) {
        throw ConfigError("curve_server_key is the key of the server to connect to; a CURVE server "
                          "(curve_server = true) has none");
    }
    if (!c.server && c.server_key.empty()) {
        throw ConfigError("CURVE as a client needs curve_server_key (the server's public key)");
    }
    return c;
}

std::string describe_zmq_error(const zmq::error_t& e) { return fmt::format("{} (errno {})", e.what(), e.num()); }

class ZmqSource final : public Source {
public:
    explicit ZmqSource(const Options& o)
        : pull_(o.str("socket") == "pull"),
          bind_(o.str("mode") == "bind"),
          endpoints_(o.list("endpoints")),
          topic_frame_(o.has("topic_frame") ? o.boolean("topic_frame") : !pull_),
          reconnect_ivl_(o.duration("reconnect_interval")),
          reconnect_max_(o.duration("reconnect_interval_max")),
          ctx_zmq_(1),
          socket_(ctx_zmq_, pull_ ? zmq::socket_type::pull : zmq::socket_type::sub) {
        std::vector<std::string> topics;
        if (o.has("topics")) {
            topics = o.list("topics");
        }
        if (pull_ && !topics.empty()) {
            throw ConfigError("option 'topics' only applies to socket = \"sub\"");
        }
        const Curve curve = curve_options(o);
        for (std::size_t i = 0; i < endpoints_.size(); ++i) {
            origin_ += (i ? "," : "") + endpoints_[i];
        }
        try {
            socket_.set(zmq::sockopt::linger, 0);
            socket_.set(zmq::sockopt::rcvhwm, static_cast<int>(o.integer("rcvhwm")));
            socket_.set(zmq::sockopt::reconnect_ivl,
                        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(reconnect_ivl_).count()));
            socket_.set(zmq::sockopt::reconnect_ivl_max,
                        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             o.duration("reconnect_interval_max"))
                                             .count()));
            socket_.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(o.size("max_frame_bytes")));
            if (const auto rcvbuf = o.size("receive_buffer"); rcvbuf > 0) {
                socket_.set(zmq::sockopt::rcvbuf, static_cast<int>(rcvbuf));
            }
            if (curve.enabled) {
                socket_.set(zmq::sockopt::curve_server, curve.server);
                socket_.set(zmq::sockopt::curve_secretkey, curve.secret_key);
                socket_.set(zmq::sockopt::curve_publickey, curve.public_key);
                if (!curve.server) {
                    socket_.set(zmq::sockopt::curve_serverkey, curve.server_key);
                }
            }
            if (!pull_) {
                if (topics.empty()) {
                    socket_.set(zmq::sockopt::subscribe, "");
                }
                for (const auto& t : topics) {
                    socket_.set(zmq::sockopt::subscribe, t);
                }
            }
        } catch (const zmq::error_t& e) {
            throw ConfigError(fmt::format("cannot set up the ZeroMQ socket: {}", describe_zmq_error(e)));
        }
        // The monitor reports connects and disconnects (the reconnects metric)
        // and failed CURVE handshakes, which ZeroMQ otherwise keeps to itself.
        static std::atomic<std::uint64_t> next_monitor{0};
        const std::string monitor_ep = fmt::format("inproc://sluice-zmq-monitor-{}", next_monitor++);
        if (zmq_socket_monitor(socket_.handle(), monitor_ep.c_str(), ZMQ_EVENT_ALL) == 0) {
            monitor_ = zmq::socket_t(ctx_zmq_, zmq::socket_type::pair);
            monitor_.set(zmq::sockopt::linger, 0);
            monitor_.connect(monitor_ep);
        }
        for (const auto& ep : endpoints_) {
            try {
                if (bind_) {
                    socket_.bind(ep);
                } else {
                    socket_.connect(ep);
                }
            } catch (const zmq::error_t& e) {
                const int n = e.num();
                const std::string msg = fmt::format("cannot {} {}: {}", bind_ ? "bind" : "connect", ep, e.what());
                if (n == EINVAL || n == EPROTONOSUPPORT || n == ENOCOMPATPROTO) {
                    throw ConfigError(msg + " (endpoints look like tcp://host:5556 or ipc:///run/x.sock)");
                }
                throw std::runtime_error("zmq source: " + msg);
            }
        }
    }

    ~ZmqSource() override {
        stop();
        // Stop the monitor and close the monitored socket before the
        // monitor's reader: closed the other way round (the members' order),
        // the events the closing socket still sends (endpoint in a heap
        // message) land in a pipe nobody reads and libzmq leaks them
        // (LeakSanitizer, zmq_source_test, 77 bytes about every second run).
        if (monitor_) {
            zmq_socket_monitor(socket_.handle(), nullptr, 0);
        }
        socket_.close();
        monitor_.close();
    }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        log::info("{}: {} {} {}{}", ctx.name, pull_ ? "PULL" : "SUB", bind_ ? "bound to" : "connecting to", origin_,
                  topic_frame_ ? " (first message part is the topic)" : "");
        // Bound endpoints are up once bound (the constructor did that);
        // connected ones when every endpoint has connected.
        if (ctx.health != nullptr) {
            if (bind_) {
                ctx.health->up();
            } else {
                ctx.health->down(fmt::format("connecting to {}", origin_));
            }
        }
        thread_ = std::thread([this] {
            run_restarting(ctx_->name, ctx_->metrics->errors, [this](auto d) { return wait_unless(stopping_, d); },
                           [this] { run(); });
        });
    }

    void stop() override {
        stopping_ = true;
        wake_.wake();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    void run() {
        std::vector<Frame> frames;
        Backoff backoff(kRestartInitial, kRestartMax);  // between failures that repeat
        while (!stopping_) {
            try {
                if (!step(frames)) {
                    return;
                }
                backoff.reset();
                continue;
            } catch (const zmq::error_t& e) {
                if (e.num() == ETERM) {
                    return;
                }
                ctx_->metrics->errors->inc();
                recv_log_.warn("{}: receiving failed: {}", ctx_->name, describe_zmq_error(e));
            } catch (const std::exception& e) {
                ctx_->metrics->errors->inc();
                recv_log_.warn("{}: receiving failed: {}", ctx_->name, e.what());
            }
            if (!wait_unless(stopping_, backoff.next())) {
                return;
            }
        }
    }

    // One poll and what it brought. False once the pipeline is stopping.
    bool step(std::vector<Frame>& frames) {
        // The socket, stop()'s wake-up and (if on) the monitor: the thread
        // sleeps until one of them has something.
        zmq_pollitem_t items[3] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
        int nitems = 1;
        if (wake_.valid()) {
            items[nitems++] = {nullptr, wake_.fd(), ZMQ_POLLIN, 0};
        }
        const int monitor_at = monitor_ ? nitems : -1;
        if (monitor_) {
            items[nitems++] = {monitor_.handle(), 0, ZMQ_POLLIN, 0};
        }
        if (zmq_poll(items, nitems, wake_.valid() ? -1 : kPollMs) < 0) {
            if (zmq_errno() == EINTR) {
                return true;
            }
            throw zmq::error_t();
        }
        if (stopping_) {
            return true;
        }
        if (monitor_at >= 0 && (items[monitor_at].revents & ZMQ_POLLIN) != 0) {
            drain_monitor();
        }
        if ((items[0].revents & ZMQ_POLLIN) == 0) {
            return true;
        }
        std::vector<zmq::message_t> parts;
        for (std::size_t n = 0; n < kBatchMax; ++n) {
            parts.clear();
            if (!zmq::recv_multipart(socket_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
                break;
            }
            add_message(parts, frames);
        }
        recv_log_.clear();
        if (frames.empty()) {
            return true;
        }
        return ctx_->ingest->push_all_wait(frames);
    }

    void add_message(std::vector<zmq::message_t>& parts, std::vector<Frame>& frames) {
        std::size_t first = 0;
        std::string origin;
        if (topic_frame_) {
            if (parts.size() < 2) {
                ctx_->metrics->errors->inc();
                ctx_->metrics->dropped->inc();
                shape_log_.warn("{}: dropped a {}-part message: with topic_frame = true the first part is the "
                                "topic and the payload follows (set topic_frame = false for single-part messages)",
                                ctx_->name, parts.size());
                return;
            }
            origin = parts[0].to_string();
            first = 1;
        } else {
            origin = origin_;
        }
        shape_log_.clear();
        const TimeNs now = wall_now_ns();
        const double now_s = static_cast<double>(now) / 1e9;
        for (std::size_t i = first; i < parts.size(); ++i) {
            if (parts[i].size() == 0) {
                continue;  // nothing to decode
            }
            ctx_->metrics->frame_in(parts[i].size(), now_s);
            Frame f;
            f.payload = parts[i].to_string();
            f.origin = origin;
            f.arrival_ns = now;
            f.source = ctx_->index;
            frames.push_back(std::move(f));
        }
    }

    enum class PeerState { New, Up, Down };

    void drain_monitor() {
        for (;;) {
            std::vector<zmq::message_t> ev;
            if (!zmq::recv_multipart(monitor_, std::back_inserter(ev), zmq::recv_flags::dontwait)) {
                return;
            }
            if (ev.size() < 2 || ev[0].size() < 6) {
                continue;
            }
            std::uint16_t event = 0;
            std::memcpy(&event, ev[0].data(), sizeof event);
            on_event(event, ev[1].to_string());
        }
    }

    void on_event(std::uint16_t event, const std::string& endpoint) {
        auto& state = peers_[endpoint];
        switch (event) {
            case ZMQ_EVENT_CONNECTED:
                if (state == PeerState::Down) {
                    ctx_->metrics->reconnects->inc();
                    log::info("{}: reconnected to {}", ctx_->name, endpoint);
                } else {
                    log::info("{}: connected to {}", ctx_->name, endpoint);
                }
                state = PeerState::Up;
                break;
            case ZMQ_EVENT_CONNECT_RETRIED:
                if (state == PeerState::New) {
                    log::warn("{}: cannot connect to {} yet; retrying (every {}, backing off to {})", ctx_->name,
                              endpoint, format_duration(reconnect_ivl_), format_duration(reconnect_max_));
                    state = PeerState::Down;
                }
                break;
            case ZMQ_EVENT_DISCONNECTED:
                if (bind_) {
                    log::debug("{}: a peer disconnected from {}", ctx_->name, endpoint);
                } else if (state != PeerState::Down) {
                    log::warn("{}: disconnected from {}; reconnecting", ctx_->name, endpoint);
                    state = PeerState::Down;
                }
                break;
            case ZMQ_EVENT_ACCEPTED:
                log::debug("{}: a peer connected to {}", ctx_->name, endpoint);
                break;
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                handshake_log_.clear();
                break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                ctx_->metrics->errors->inc();
                handshake_log_.warn("{}: handshake with {} failed{}", ctx_->name, endpoint,
                                    event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                        ? " (authentication: check the CURVE keys)"
                                        : " (the peer speaks another protocol or security mechanism)");
                break;
            default:
                break;
        }
        report_health();
    }

    // Up while every endpoint this source connects to is connected.
    void report_health() {
        if (bind_ || ctx_->health == nullptr) {
            return;
        }
        std::string down;
        std::size_t up = 0;
        for (const auto& [ep, st] : peers_) {
            if (st == PeerState::Up) {
                ++up;
            } else {
                down += down.empty() ? ep : ", " + ep;
            }
        }
        if (up >= endpoints_.size()) {
            ctx_->health->up();
        } else {
            ctx_->health->down(down.empty() ? fmt::format("connecting to {}", origin_)
                                            : fmt::format("not connected to {}", down));
        }
    }

    bool pull_;
    bool bind_;
    std::vector<std::string> endpoints_;
    bool topic_frame_;
    std::chrono::nanoseconds reconnect_ivl_;
    std::chrono::nanoseconds reconnect_max_;
    std::string origin_;
    zmq::context_t ctx_zmq_;
    zmq::socket_t socket_;
    zmq::socket_t monitor_;
    SourceContext* ctx_ = nullptr;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    WakeFd wake_;  // stop() ends the wait in step()
    std::map<std::string, PeerState> peers_;
    log::OnceLog recv_log_;
    log::OnceLog shape_log_;
    log::OnceLog handshake_log_;
};

void zmq_from_url(const Url& url, RawTable& out) {
    const std::string_view kind = url.scheme == "zmq+pull" ? "pull" : "sub";
    std::string endpoint;
    if (!url.host.empty()) {
        if (url.port == 0) {
            throw std::runtime_error(fmt::format("{} URLs need a port: {}://host:5556", url.scheme, url.scheme));
        }
        if (!url.path.empty() && url.path != "/") {
            throw std::runtime_error(fmt::format("{}://host:port URLs take no path (for an ipc socket write "
                                                 "{}:///run/x.sock)",
                                                 url.scheme, url.scheme));
        }
        const bool v6 = url.host.find(':') != std::string::npos;
        endpoint = fmt::format("tcp://{}{}{}:{}", v6 ? "[" : "", url.host, v6 ? "]" : "", url.port);
    } else if (!url.path.empty() && url.path != "/") {
        endpoint = "ipc://" + url.path;
    } else {
        throw std::runtime_error(fmt::format("{} URLs name a TCP endpoint ({}://host:5556) or an ipc socket "
                                             "({}:///run/x.sock)",
                                             url.scheme, url.scheme, url.scheme));
    }
    out.push_back(text_entry("socket", std::string(kind)));
    out.push_back(text_entry("endpoints", endpoint));
    RawArray topics;
    for (const auto& [k, v] : url.query) {
        if (k == "topic") {
            std::string_view rest = v;
            while (!rest.empty()) {
                const auto comma = rest.find(',');
                RawValue t;
                t.v = std::string(rest.substr(0, comma));
                t.from_text = true;
                topics.push_back(std::move(t));
                rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            }
        } else if (k == "bind") {
            if (v == "true" || v == "1" || v.empty()) {
                out.push_back(text_entry("mode", "bind"));
            } else if (v != "false" && v != "0") {
                throw std::runtime_error(fmt::format("bind= takes true or false, not '{}'", v));
            }
        } else {
            out.push_back(text_entry(k, v));
        }
    }
    if (!topics.empty()) {
        RawEntry e;
        e.key = "topics";
        e.value.v = std::move(topics);
        out.push_back(std::move(e));
    }
}

// validate --healthcheck: connected endpoints must accept a TCP connection
// (tcp://) or exist as a socket (ipc://); a bound ipc endpoint's directory
// must exist. Bound tcp endpoints are checked when they are bound.
bool probe_zmq(const Options& o, std::string& detail) {
    const bool bind = o.str("mode") == "bind";
    bool ok = true;
    for (const auto& ep : o.list("endpoints")) {
        std::string verdict;
        if (ep.starts_with("tcp://") && !bind) {
            std::string error;
            const auto url = parse_url(ep, &error);
            if (!url) {
                verdict = error;
            } else if (url->port == 0) {
                verdict = "no port";
            } else {
                verdict = probe_tcp(url->host, url->port, std::chrono::seconds(3));
            }
        } else if (ep.starts_with("ipc://")) {
            const std::filesystem::path path(ep.substr(6));
            std::error_code ec;
            if (bind) {
                const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
                if (!std::filesystem::is_directory(dir, ec)) {
                    verdict = fmt::format("directory {} does not exist", dir.string());
                }
            } else if (!std::filesystem::is_socket(path, ec)) {
                verdict = "no socket there (is the publisher running?)";
            }
        }
        detail += fmt::format("{}{} {}", detail.empty() ? "" : "; ", ep, verdict.empty() ? "ok" : verdict);
        ok = ok && verdict.empty();
    }
    return ok;
}

}  // namespace

const Descriptor& source_zmq() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "zmq",
        .summary = "Receives ZeroMQ messages on a SUB (topic prefixes) or PULL socket, connecting or binding",
        .delivery = Delivery::BestEffort,
        .loss_window = "Messages in ZeroMQ's queues, or read but not yet committed, when the process dies are lost: "
                       "ZeroMQ has no acknowledgements and nothing can be asked again.",
        .options =
            {
                {.name = "socket", .type = OptionType::Enum, .default_value = "sub",
                 .doc = "sub: subscribe to a PUB (or XPUB); pull: take work from PUSH sockets",
                 .choices = "sub|pull"},
                {.name = "endpoints", .type = OptionType::List,
                 .doc = "ZeroMQ endpoints, e.g. tcp://127.0.0.1:5556 or ipc:///run/sensors.zmq",
                 .required = true, .min = 1, .max = 64},
                {.name = "mode", .type = OptionType::Enum, .default_value = "connect",
                 .doc = "connect to the endpoints (the peers bind) or bind them (the peers connect)",
                 .choices = "connect|bind"},
                {.name = "topics", .type = OptionType::List,
                 .doc = "SUB: topic prefixes to subscribe to (unset: everything)", .max = 256},
                {.name = "topic_frame", .type = OptionType::Bool,
                 .doc = "The first message part is the topic (it becomes the frame's origin) and every later "
                        "part is a frame; false: every part is a frame, the origin is the endpoint (unset: true "
                        "for sub, false for pull)"},
                {.name = "rcvhwm", .type = OptionType::Int, .default_value = "1000",
                 .doc = "Receive high-water mark: messages ZeroMQ queues per peer before the sender's HWM "
                        "policy applies (PUB drops, PUSH blocks)",
                 .min = 1, .max = 10'000'000},
                {.name = "reconnect_interval", .type = OptionType::Duration, .default_value = "100ms",
                 .doc = "First wait before reconnecting to a lost peer (ZMQ_RECONNECT_IVL)", .min = 0.001,
                 .max = 3600},
                {.name = "reconnect_interval_max", .type = OptionType::Duration, .default_value = "30s",
                 .doc = "The wait doubles up to this (ZMQ_RECONNECT_IVL_MAX; 0: no doubling)", .min = 0,
                 .max = 3600},
                {.name = "receive_buffer", .type = OptionType::Size, .default_value = "0",
                 .doc = "Kernel receive buffer per connection (SO_RCVBUF; 0: the OS default)", .min = 0,
                 .max = 64 << 20},
                {.name = "max_frame_bytes", .type = OptionType::Size, .default_value = "1MiB",
                 .doc = "Largest message part accepted; a peer sending a larger one is disconnected by ZeroMQ "
                        "(ZMQ_MAXMSGSIZE)",
                 .min = 16, .max = 256 << 20},
                {.name = "curve_server_key", .type = OptionType::Secret,
                 .doc = "CURVE client: the server's public key (40-character Z85). Best read from a file with "
                        "'@/path': a key written inline needs '@@' for a leading '@' and '$${' for '${'",
                 .min = 40, .max = 40},
                {.name = "curve_public_key", .type = OptionType::String,
                 .doc = "CURVE: this socket's public key (Z85; derived from curve_secret_key when unset)",
                 .min = 40, .max = 40},
                {.name = "curve_secret_key", .type = OptionType::Secret,
                 .doc = "CURVE: this socket's secret key (Z85; best read from a file with '@/path'); with "
                        "curve_server, the server's secret key",
                 .min = 40, .max = 40},
                {.name = "curve_server", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Act as the CURVE server (usually with mode = \"bind\"); needs curve_secret_key"},
            },
        .url_schemes = {"zmq+sub", "zmq+pull"},
        .from_url = zmq_from_url,
        .url_example = "zmq+sub://127.0.0.1:5556?topic=sensors (zmq+pull://0.0.0.0:5557?bind=true, "
                       "zmq+sub:///run/x.sock for ipc)",
        .make_source = [](const Options& o) { return std::make_unique<ZmqSource>(o); },
        .watched = true,
        .probe = probe_zmq,
    };
    return d;
}

}  // namespace sluice::components
