// libsluice's public API (include/sluice/sluice.hpp) over the gateway the
// executable runs: runtime::GatewayHost for the loop, tables, API and
// pipelines; core/push_endpoints for the `callback` sources and
// core/callback_sinks for the `callback` sinks.

#include "sluice/sluice.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "config/config.hpp"
#include "core/callback_sinks.hpp"
#include "core/ioloop.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/push_endpoints.hpp"
#include "core/registry.hpp"
#include "decoders/record/record_decoder.hpp"
#include "runtime/gateway.hpp"

namespace sluice::embed {

int api_version() noexcept { return SLUICE_EMBED_API_VERSION; }

std::string_view library_version() noexcept { return SLUICE_VERSION; }

const Value* Record::field(std::string_view name) const {
    for (const auto& [n, v] : fields) {
        if (n == name) {
            return &v;
        }
    }
    return nullptr;
}

const std::string* Record::tag(std::string_view name) const {
    for (const auto& [n, v] : tags) {
        if (n == name) {
            return &v;
        }
    }
    return nullptr;
}

namespace {

// The one gateway a process may run (the stats hub, the gateway id and the
// data directory are the process's).
std::atomic<bool> g_running{false};

Record to_public(const sluice::Record& r) {
    Record out;
    out.time_ns = r.time_ns;
    out.measurement = r.measurement;
    out.origin = r.origin;
    out.tags.reserve(r.tags.size());
    for (const auto& t : r.tags) {
        out.tags.emplace_back(t.name, t.value);
    }
    out.fields.reserve(r.fields.size());
    for (const auto& f : r.fields) {
        out.fields.emplace_back(f.name, std::visit([](const auto& v) { return Value(v); }, f.value));
    }
    return out;
}

sluice::Record to_internal(const Record& r) {
    sluice::Record out;
    out.time_ns = r.time_ns;
    out.measurement = r.measurement;
    out.origin = r.origin;
    for (const auto& [n, v] : r.tags) {
        out.tags.push_back(Tag{n, v});
    }
    for (const auto& [n, v] : r.fields) {
        out.fields.push_back(Field{n, std::visit([](const auto& x) { return FieldValue(x); }, v)});
    }
    return out;
}

std::optional<GatewayConfig> load_text(std::string_view toml, std::string_view origin, Diagnostics& diag) {
    return load_config_text(toml, origin, builtin_registry(), diag);
}

GatewayConfig checked(std::optional<GatewayConfig> config, const Diagnostics& diag) {
    if (!config || !diag.empty()) {
        throw Error(diag.empty() ? std::string("the configuration cannot be read") : diag.str());
    }
    return std::move(*config);
}

// The embedding program's HTTP API is off unless its configuration asks.
void api_off_unless_asked(GatewayConfig& config) {
    if (!config.http.is_explicit("listen")) {
        Options::Entry e;
        e.type = OptionType::String;
        e.value = std::string("off");
        e.pos = SourcePos{"libsluice default", 0, 0};
        config.http.set("listen", std::move(e));
    }
}

}  // namespace

// Set on a sink's thread while it runs the program's handler: start, reload
// and stop from there would wait for that very thread.
thread_local bool t_in_handler = false;

void refuse_in_handler(std::string_view what) {
    if (t_in_handler) {
        throw Error(fmt::format("{} cannot be called from an on_batch handler: it waits for the sink threads, "
                                "the handler's own among them",
                                what));
    }
}

struct Gateway::Impl {
    // Locks, in this order where both are held:
    //   life_mu  start, reload, stop and the housekeeper's restarts: one at a time
    //   host_mu  the `host` pointer, briefly: pushes and stats never wait for a stop or a reload
    std::mutex life_mu;
    mutable std::mutex host_mu;
    std::unique_ptr<GatewayHost> host;
    // How the configuration is read (again, for reload()). Under life_mu.
    std::function<std::optional<GatewayConfig>(Diagnostics&)> load;
    RunOverrides overrides;  // under life_mu
    std::atomic<bool> stopping{false};       // a stop is under way
    std::atomic<bool> reconfiguring{false};  // a reload or a restart of a damaged pipeline is under way
    std::chrono::milliseconds push_timeout{0};  // 0: wait for the answer

    // The callback sinks' handlers of this gateway. They are in the
    // process's table (core/callback_sinks) only while it runs, so a gateway
    // that does not run never takes the place of one that does.
    std::mutex handlers_mu;
    std::map<std::string, CallbackSinks::Handler> handlers;
    bool handlers_active = false;

    // Restarts the pipelines whose buffer SQLite found damaged (the
    // executable's main thread does it when woken; here a thread looks
    // every second).
    std::mutex house_mu;
    std::condition_variable house_cv;
    bool house_stop = false;
    std::thread housekeeper;

    ~Impl() {
        std::lock_guard lk(life_mu);
        stop_locked(std::chrono::steady_clock::time_point{});
    }

    GatewayConfig load_now() {
        Diagnostics diag;
        auto config = load(diag);
        GatewayConfig c = checked(std::move(config), diag);
        api_off_unless_asked(c);
        return c;
    }

    void activate_handlers(bool on) {
        std::lock_guard lk(handlers_mu);
        handlers_active = on;
        for (const auto& [name, fn] : handlers) {
            if (on) {
                callback_sinks().set(name, fn);
            } else {
                callback_sinks().remove(name);
            }
        }
    }

    void set_handler(const std::string& name, CallbackSinks::Handler fn) {
        std::lock_guard lk(handlers_mu);
        if (fn) {
            handlers[name] = fn;
        } else {
            handlers.erase(name);
        }
        if (handlers_active) {
            if (fn) {
                callback_sinks().set(name, std::move(fn));
            } else {
                callback_sinks().remove(name);
            }
        }
    }

    void start() {
        refuse_in_handler("Gateway::start");
        std::lock_guard lk(life_mu);
        if (host) {
            throw Error("the gateway is already running");
        }
        GatewayConfig config = load_now();
        if (g_running.exchange(true)) {
            throw Error("another sluice gateway is running in this process: stop it first (one per process)");
        }
        // A peer that closes its end must not end the program (the
        // executable ignores SIGPIPE for the same reason).
        struct sigaction old {};
        if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
            std::signal(SIGPIPE, SIG_IGN);
        }
        activate_handlers(true);
        std::string error;
        int status = 1;
        auto h = std::make_unique<GatewayHost>(overrides);
        try {
            status = h->start(std::move(config), error);
        } catch (const std::exception& e) {
            error = fmt::format("cannot start: {}", e.what());
        }
        if (status != 0) {
            h.reset();
            activate_handlers(false);
            g_running = false;
            throw Error(error);
        }
        {
            std::lock_guard hl(host_mu);
            host = std::move(h);
        }
        {
            std::lock_guard hl(house_mu);
            house_stop = false;
        }
        housekeeper = std::thread([this] { housekeeping(); });
    }

    void housekeeping() {
        std::unique_lock lk(house_mu);
        while (!house_stop) {
            house_cv.wait_for(lk, std::chrono::seconds(1));
            if (house_stop) {
                break;
            }
            lk.unlock();
            // Never waits for a start, reload or stop (which waits for this
            // thread): a turn that finds one under way is skipped.
            if (life_mu.try_lock()) {
                std::lock_guard life(life_mu, std::adopt_lock);
                if (host) {
                    reconfiguring = true;
                    try {
                        host->life().restart_damaged();
                    } catch (const std::exception& e) {
                        log::error("restarting a pipeline on a damaged buffer failed: {}", e.what());
                    }
                    reconfiguring = false;
                }
            }
            lk.lock();
        }
    }

    void stop(std::chrono::steady_clock::time_point deadline) {
        refuse_in_handler("Gateway::stop");
        std::lock_guard lk(life_mu);
        stop_locked(deadline);
    }

    // Under life_mu. time_point{}: the configuration's shutdown_timeout from now.
    void stop_locked(std::chrono::steady_clock::time_point deadline) {
        {
            std::lock_guard lk(house_mu);
            house_stop = true;
        }
        house_cv.notify_all();
        if (housekeeper.joinable()) {
            housekeeper.join();
        }
        if (!host) {
            return;
        }
        stopping = true;
        if (deadline == std::chrono::steady_clock::time_point{}) {
            deadline = host->life().deadline();
        }
        host->stop_pipelines(deadline);
        {
            std::lock_guard hl(host_mu);
            host->stop(deadline);
            host.reset();
        }
        activate_handlers(false);
        stopping = false;
        g_running = false;
    }

    void reload(std::function<std::optional<GatewayConfig>(Diagnostics&)> next) {
        refuse_in_handler("Gateway::reload");
        std::lock_guard lk(life_mu);
        if (!next) {
            next = load;  // reload(): the same file again
        }
        if (!host) {
            // Not running: the next start() uses it, once it reads well.
            Diagnostics diag;
            checked(next(diag), diag);
            load = std::move(next);
            return;
        }
        reconfiguring = true;
        struct Done {
            std::atomic<bool>& flag;
            ~Done() { flag = false; }
        } done{reconfiguring};
        const ReloadReport report = host->reload([&next](Diagnostics& diag) {
            auto c = next(diag);
            if (c) {
                api_off_unless_asked(*c);
            }
            return c;
        });
        switch (report.outcome) {
        case ReloadReport::Outcome::Applied:
            load = std::move(next);
            return;
        case ReloadReport::Outcome::Rejected:
            throw Error(report.error.empty() ? std::string("the new configuration has errors") : report.error);
        case ReloadReport::Outcome::Reverted:
            throw Error(fmt::format("the new configuration could not be started ({}); the previous one runs again",
                                    report.error));
        case ReloadReport::Outcome::Failed:
            stop_locked(std::chrono::steady_clock::now());
            throw Error(fmt::format("the previous configuration could not be restarted either ({}); the gateway "
                                    "stopped",
                                    report.error));
        }
    }

    PushResult push(std::string_view source, PushRequest&& req) {
        // The endpoints' handlers run on the I/O loop: the push is posted
        // there, and this thread waits for the answer.
        struct Answer {
            std::mutex mu;
            std::condition_variable cv;
            bool done = false;
            PushResult result;
        };
        auto answer = std::make_shared<Answer>();
        auto finish = [answer](PushResult r) {
            std::lock_guard lk(answer->mu);
            if (!answer->done) {
                answer->result = std::move(r);
                answer->done = true;
                answer->cv.notify_all();
            }
        };
        {
            std::lock_guard lk(host_mu);
            if (!host || stopping) {
                return PushResult{PushStatus::Stopping, 0,
                                  host ? "the gateway is stopping" : "the gateway is not running"};
            }
            const auto slash = source.find('/');
            std::string pipeline(source.substr(0, slash));
            std::string id(slash == std::string_view::npos ? std::string_view{} : source.substr(slash + 1));
            host->loop().post([this, pipeline = std::move(pipeline), id = std::move(id), req = std::move(req),
                               finish]() mutable {
                PushReply reply = [this, finish](PushAnswer a) {
                    PushResult r;
                    r.frames = a.frames;
                    r.message = std::move(a.message);
                    if (a.status == 200) {
                        r.status = PushStatus::Committed;
                    } else if (a.status == 400) {
                        r.status = PushStatus::Invalid;
                    } else if (a.stopping && !stopping) {
                        // Its pipeline is being rebuilt (a reload, a damaged buffer).
                        r.status = PushStatus::Busy;
                        r.message = "the pipeline is restarting: push again";
                    } else if (a.stopping) {
                        r.status = PushStatus::Stopping;
                    } else {
                        r.status = PushStatus::Busy;
                    }
                    finish(std::move(r));
                };
                std::string error;
                if (!callback_endpoints().dispatch(pipeline, id, std::move(req), reply, &error)) {
                    if (stopping) {
                        finish(PushResult{PushStatus::Stopping, 0, "the gateway is stopping"});
                    } else if (reconfiguring) {
                        finish(PushResult{PushStatus::Busy, 0, "the gateway is reloading: push again"});
                    } else {
                        finish(PushResult{PushStatus::NoSource, 0, std::move(error)});
                    }
                }
            });
        }
        std::unique_lock lk(answer->mu);
        if (push_timeout.count() > 0) {
            if (!answer->cv.wait_for(lk, push_timeout, [&] { return answer->done; })) {
                return PushResult{PushStatus::TimedOut, 0,
                                  "no answer within the push timeout: the frames may still be committed"};
            }
        } else {
            answer->cv.wait(lk, [&] { return answer->done; });
        }
        return std::move(answer->result);
    }
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gateway::Gateway(Gateway&&) noexcept = default;
Gateway& Gateway::operator=(Gateway&&) noexcept = default;
Gateway::~Gateway() = default;

Gateway Gateway::from_toml(std::string_view toml, std::string_view origin) {
    auto impl = std::make_unique<Impl>();
    impl->load = [text = std::string(toml), name = std::string(origin)](Diagnostics& diag) {
        return load_text(text, name, diag);
    };
    impl->load_now();  // throws on errors now, not at start()
    return Gateway(std::move(impl));
}

Gateway Gateway::from_file(const std::string& path) {
    auto impl = std::make_unique<Impl>();
    impl->load = [path](Diagnostics& diag) { return load_config_file(path, builtin_registry(), diag); };
    impl->load_now();
    return Gateway(std::move(impl));
}

Gateway Gateway::from_config(const Config& config) { return from_toml(config.toml(), "sluice::embed::Config"); }

Gateway& Gateway::data_dir(std::string dir) {
    std::lock_guard lk(impl_->life_mu);
    impl_->overrides.data_dir = std::move(dir);
    return *this;
}

Gateway& Gateway::push_timeout(std::chrono::milliseconds timeout) {
    impl_->push_timeout = timeout;
    return *this;
}

void Gateway::on_batch(std::string_view sink, BatchHandler handler) {
    const std::string name(sink);
    if (!handler) {
        impl_->set_handler(name, nullptr);
        return;
    }
    // Records are converted once per batch; the conversion's buffer lives
    // with the handler (one sink thread calls it at a time).
    auto scratch = std::make_shared<std::vector<Record>>();
    impl_->set_handler(name, [handler = std::move(handler), scratch](std::span<const sluice::Record> batch) {
        scratch->clear();
        scratch->reserve(batch.size());
        for (const auto& r : batch) {
            scratch->push_back(to_public(r));
        }
        t_in_handler = true;
        struct Reset {
            ~Reset() { t_in_handler = false; }
        } reset;
        BatchResult r = handler(std::span<const Record>(*scratch));
        return SendResult{.confirmed = r.confirmed, .error = std::move(r.error)};
    });
}

void Gateway::start() { impl_->start(); }

bool Gateway::running() const {
    std::lock_guard lk(impl_->host_mu);
    return impl_->host != nullptr;
}

PushResult Gateway::push(std::string_view source, std::string_view payload, std::string_view key) {
    if (payload.empty()) {
        return PushResult{PushStatus::Invalid, 0, "an empty payload: nothing to push"};
    }
    PushRequest req;
    req.frames.emplace_back(payload);
    req.key = std::string(key);
    return impl_->push(source, std::move(req));
}

PushResult Gateway::push(std::string_view source, std::span<const std::string> payloads, std::string_view key) {
    PushRequest req;
    req.frames.assign(payloads.begin(), payloads.end());
    req.key = std::string(key);
    if (req.frames.empty()) {
        return PushResult{PushStatus::Invalid, 0, "nothing to push"};
    }
    return impl_->push(source, std::move(req));
}

PushResult Gateway::push_records(std::string_view source, std::span<const Record> records) {
    PushRequest req;
    req.frames.reserve(records.size());
    for (const auto& r : records) {
        std::string frame;
        decoders::encode_record_frame(to_internal(r), frame);
        req.frames.push_back(std::move(frame));
    }
    if (req.frames.empty()) {
        return PushResult{PushStatus::Invalid, 0, "nothing to push"};
    }
    return impl_->push(source, std::move(req));
}

void Gateway::reload() { impl_->reload(nullptr); }

void Gateway::reload_toml(std::string_view toml, std::string_view origin) {
    impl_->reload([text = std::string(toml), name = std::string(origin)](Diagnostics& diag) {
        return load_text(text, name, diag);
    });
}

void Gateway::reload(const Config& config) { reload_toml(config.toml(), "sluice::embed::Config"); }

void Gateway::stop() { impl_->stop(std::chrono::steady_clock::time_point{}); }

void Gateway::stop(std::chrono::milliseconds deliver_for) {
    impl_->stop(std::chrono::steady_clock::now() + deliver_for);
}

Stats Gateway::stats() const {
    Stats s;
    std::lock_guard lk(impl_->host_mu);
    if (!impl_->host) {
        return s;
    }
    GatewayLifecycle& life = impl_->host->life();
    const ServiceSample sample = life.sample(std::numeric_limits<std::int64_t>::max(), true);
    s.running = true;
    if (!sample.available) {
        return s;  // a reload or a stop holds the pipelines: no figures now
    }
    s.available = true;
    s.records_in = sample.records_in;
    s.buffered = sample.buffered;
    s.sinks = sample.sinks;
    s.sinks_retrying = sample.sinks_retrying;
    for (auto& name : life.names()) {
        const std::uint64_t n = life.records_committed(name);
        s.pipelines.push_back(PipelineStats{std::move(name), n});
    }
    return s;
}

std::string Gateway::metrics() const { return sluice::metrics().render(); }

}  // namespace sluice::embed
