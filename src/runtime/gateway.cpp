#include "runtime/gateway.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <mutex>
#include <thread>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "buffer/dead_letters.hpp"
#include "buffer/quarantine.hpp"
#include "buffer/table_store.hpp"
#include "core/clock.hpp"
#include "core/identity.hpp"
#include "core/ioloop.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/record_json.hpp"
#include "core/resources.hpp"
#include "core/stop_request.hpp"
#include "tables/tables.hpp"
#include "http/api.hpp"
#include "http/keys_api.hpp"
#include "http/process_metrics.hpp"
#include "http/send_api.hpp"
#include "http/table_api.hpp"
#include "stats/hub.hpp"
#include "stats/routes.hpp"
#include "http/ui_assets.hpp"
#include "runtime/lifecycle.hpp"
#include "runtime/replay_api.hpp"
#include "runtime/sd_notify.hpp"
#include "runtime/service_monitor.hpp"

namespace sluice {
namespace {

void set_option(Options& opts, const std::string& name, std::string value, const char* where) {
    Options::Entry e;
    e.type = OptionType::String;
    e.value = std::move(value);
    e.pos = SourcePos{where, 0, 0};
    e.explicit_ = true;
    opts.set(name, std::move(e));
}

net::HttpResponse json_answer(int status, std::string body) {
    net::HttpResponse r{status, "application/json", {}, std::move(body)};
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

// GET /api/dead-letters?pipeline=P&limit=N (see docs/operations.md, "Web UI").
net::HttpResponse dead_letters_route(http::Api& api, const std::filesystem::path& data_dir,
                                     const net::HttpRequest& req) {
    if (auto refused = http::require_token(req, api.token())) {
        return *refused;
    }
    const std::string pipeline = req.query_param("pipeline").value_or("");
    const bool name_ok = !pipeline.empty() && pipeline.size() <= 128 && pipeline.front() != '.' &&
                         pipeline.find_first_of("/\\") == std::string::npos;
    if (!name_ok) {
        return json_answer(400, "{\"error\":\"name a pipeline: ?pipeline=NAME\"}\n");
    }
    std::size_t limit = 50;
    if (const auto l = req.query_param("limit"); l && !l->empty()) {
        const auto res = std::from_chars(l->data(), l->data() + l->size(), limit);
        if (res.ec != std::errc() || res.ptr != l->data() + l->size() || limit < 1 || limit > 1000) {
            return json_answer(400, "{\"error\":\"'limit' must be a whole number from 1 to 1000\"}\n");
        }
    }
    const auto db = data_dir / (pipeline + ".sqlite");
    return api.off_loop([db, pipeline, limit] {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(db, ec)) {
            std::string body = "{\"error\":";
            append_json_string(body, fmt::format("no pipeline '{}'", pipeline));
            return json_answer(404, body + "}\n");
        }
        std::string body = latest_dead_letters_json(db, limit);
        std::string out = "{\"pipeline\":";
        append_json_string(out, pipeline);
        out += ',';
        out.append(body, 1);  // after its '{'
        return json_answer(200, std::move(out));
    });
}

// Text set on the main thread (start, reload) and read on the I/O loop.
class SharedText {
public:
    void set(std::string text) {
        std::lock_guard lk(mu_);
        text_ = std::move(text);
    }
    std::string get() const {
        std::lock_guard lk(mu_);
        return text_;
    }

private:
    mutable std::mutex mu_;
    std::string text_;
};

// Watchdog pings go on during a reload for this long at most: stopping the
// old pipelines may take shutdown_timeout, building the new ones a little.
std::chrono::nanoseconds reload_grace(const GatewayConfig& config) {
    return config.gateway.duration("shutdown_timeout") + std::chrono::seconds(30);
}

net::HttpServerLimits http_limits(const Options& http) {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    net::HttpServerLimits limits;
    limits.max_connections = static_cast<std::size_t>(http.integer("max_connections"));
    limits.max_connections_per_address = static_cast<std::size_t>(http.integer("max_connections_per_address"));
    limits.header_timeout = duration_cast<milliseconds>(http.duration("header_timeout"));
    limits.body_timeout = duration_cast<milliseconds>(http.duration("body_timeout"));
    limits.idle_timeout = duration_cast<milliseconds>(http.duration("idle_timeout"));
    return limits;
}

// A data directory the buffers cannot be written in (a read-only mount, the
// wrong owner): said once, with the fix, instead of an SQLite error per file.
std::string data_dir_unwritable(const std::filesystem::path& dir) {
    const std::string probe = (dir / ".sluice-write-test").string();
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) {
        if (::write(fd, "x", 1) != 1) {
            err = errno;
        }
        ::close(fd);
        ::unlink(probe.c_str());
    }
    if (err == 0) {
        return {};
    }
    return fmt::format("data directory {} is not writable: {}; sluice keeps its buffers there. Fix: make it "
                       "writable by the user sluice runs as (chown/chmod), remount it read-write, or point "
                       "[gateway] data_dir or --data-dir at a writable directory",
                       dir.string(), std::strerror(err));
}

std::string started_status(std::size_t pipelines) {
    std::string out = fmt::format("{} pipeline{} running", pipelines, pipelines == 1 ? "" : "s");
    if (const auto n = quarantine_events().size(); n > 0) {
        out += fmt::format(", {} damaged database{} moved aside (see the log)", n, n == 1 ? "" : "s");
    }
    return out;
}

// glibc gives each thread that contends for malloc an arena of its own, up
// to 8 per core it sees, and it sees the host's cores, not the cgroup's
// cpu.max: on a board with a CPU quota that is memory held for nothing.
void fit_malloc_arenas(double cpus) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
        mallopt(M_ARENA_MAX, std::max(2, 2 * static_cast<int>(std::ceil(cpus))));
    }
#else
    (void)cpus;
#endif
}

// After start-up: give back what only start-up used. Freed heap goes back
// to the kernel (malloc_trim), and the read-only, never-written segments of
// the program and its libraries (code, constants) are dropped from this
// process's page tables (MADV_DONTNEED): configuration parsing, schema
// set-up and the component registry ran once, and the kernel mapped whole
// 64 KiB windows around each page they touched. Those pages stay in the page
// cache; what an idle gateway touches again comes back on a minor fault,
// exactly as after the kernel reclaimed it. Writable segments (relocated
// data, RELRO) are never touched here: their private copies would be lost.
void trim_start_up_memory() {
#if defined(__GLIBC__)
    malloc_trim(0);
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void*) -> int {
            // The program itself ("") and libraries loaded from a file; not the vDSO.
            const bool from_file = info->dlpi_name == nullptr || info->dlpi_name[0] == '\0' ||
                                   info->dlpi_name[0] == '/';
            if (!from_file) {
                return 0;
            }
            const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0) {
                    continue;
                }
                // Whole pages inside the segment only: never a page shared with a writable one.
                const std::uintptr_t from = (info->dlpi_addr + ph.p_vaddr + page - 1) & ~(page - 1);
                const std::uintptr_t to = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz) & ~(page - 1);
                if (to > from) {
                    madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
                }
            }
            return 0;
        },
        nullptr);
#endif
}

}  // namespace

std::uint64_t fit_to_memory_limit(GatewayConfig& config, std::uint64_t memory_limit) {
    if (memory_limit == 0 || config.pipelines.empty()) {
        return 0;
    }
    constexpr std::uint64_t kFloor = 256 * 1024;
    const std::uint64_t cap = std::max(kFloor, memory_limit / 16 / config.pipelines.size());
    std::uint64_t applied = 0;
    for (auto& p : config.pipelines) {
        if (p.options.is_explicit("queue_max_bytes") || p.options.size("queue_max_bytes") <= cap) {
            continue;
        }
        Options::Entry e;
        e.type = OptionType::Size;
        e.value = static_cast<std::int64_t>(cap);
        e.pos = SourcePos{"cgroup memory.max", 0, 0};
        p.options.set("queue_max_bytes", std::move(e));
        applied = cap;
    }
    return applied;
}

void apply_overrides(GatewayConfig& config, const RunOverrides& overrides) {
    if (overrides.data_dir) {
        set_option(config.gateway, "data_dir", *overrides.data_dir, "--data-dir");
    }
    if (config.gateway.str_or("data_dir", "").empty()) {
        set_option(config.gateway, "data_dir", default_data_dir().string(), "default");
    }
    if (overrides.http) {
        set_option(config.http, "listen", *overrides.http, "--http");
    }
    if (overrides.log_level) {
        set_option(config.gateway, "log_level", *overrides.log_level, "--log-level");
    }
    if (overrides.log_format) {
        set_option(config.gateway, "log_format", *overrides.log_format, "--log-format");
    }
    if (config.gateway.str_or("id", "").empty()) {
        set_option(config.gateway, "id", host_name(), "default");
    }
    set_gateway_id(config.gateway.str("id"));
    set_data_dir(config.gateway.str("data_dir"));
}

struct GatewayHost::Parts {
    IoLoop loop;
    http::ProcessMetrics process_metrics;
    std::uint64_t stats_sub = 0;
    bool stats_started = false;
    // Named tables outlive reloads (and every pipeline, whose stages use
    // them); their store is opened with the first declared table.
    Tables tables;
    std::unique_ptr<GatewayLifecycle> life;
    http::ApiHooks hooks;
    std::unique_ptr<http::Api> api;
    SharedText describe_json;
    bool pipelines_running = false;
};

GatewayHost::GatewayHost(RunOverrides overrides) : overrides_(std::move(overrides)) {}

GatewayHost::~GatewayHost() { stop(std::chrono::steady_clock::now()); }

GatewayLifecycle& GatewayHost::life() { return *parts_->life; }

IoLoop& GatewayHost::loop() { return parts_->loop; }

int GatewayHost::api_port() const { return parts_ && parts_->api ? parts_->api->port() : 0; }

int GatewayHost::start(GatewayConfig config, std::string& error) {
    if (parts_) {
        error = "the gateway is already running";
        return 1;
    }
    apply_overrides(config, overrides_);
    clear_stop_request();  // a stop asked of an earlier run in this process is not this run's
    log::Level level;
    if (log::parse_level(config.gateway.str("log_level"), level)) {
        log::set_level(level);
    }
    log::Format format;
    if (log::parse_format(config.gateway.str("log_format"), format)) {
        log::set_format(format);
    }
    // Size what depends on the machine by what the cgroup allows.
    cpus_ = available_cpus();
    mem_limit_ = memory_limit_bytes();
    fit_malloc_arenas(cpus_);
    if (const auto cap = fit_to_memory_limit(config, mem_limit_)) {
        log::info("memory limit {}: ingest queues capped at {} each", format_size(mem_limit_), format_size(cap));
    }

    data_dir_ = config.gateway.str("data_dir");
    std::error_code ec;
    std::filesystem::create_directories(data_dir_, ec);
    if (ec) {
        error = fmt::format("cannot create data directory {}: {}", data_dir_.string(), ec.message());
        log::error("{}", error);
        return 1;
    }
    if (std::string why = data_dir_unwritable(data_dir_); !why.empty()) {
        log::error("{}", why);
        error = std::move(why);
        return 1;
    }

    parts_ = std::make_unique<Parts>();
    Parts& p = *parts_;
    // On a failure below: everything started so far stops again.
    auto fail = [&](int status, std::string why) {
        log::error("{}", why);
        error = std::move(why);
        stop(std::chrono::steady_clock::now());
        return status;
    };
    p.loop.start();
    // /stats: one sample a second on the loop, history from start-up on.
    stats::hub().set_max_topics(static_cast<std::size_t>(config.http.integer("max_stats_topics")));
    stats::hub().start(p.loop);
    p.stats_started = true;
    const std::filesystem::path data_dir = data_dir_;
    p.tables.set_store_factory([data_dir] { return open_table_store(data_dir / "tables.db"); });
    // The pipelines over their lifetime: start, reload, stop.
    const std::uint64_t mem_limit = mem_limit_;
    p.life = std::make_unique<GatewayLifecycle>(p.loop, p.tables, [this, mem_limit](GatewayConfig& next) {
        apply_overrides(next, overrides_);
        fit_to_memory_limit(next, mem_limit);
    });
    GatewayLifecycle& life = *p.life;
    try {
        if (!life.configure_tables(config)) {
            return fail(1, "cannot start: a table could not be loaded (see the log)");
        }
    } catch (const std::exception& e) {
        return fail(1, fmt::format("cannot open the tables: {}", e.what()));
    }

    // The HTTP thread's /ready hook reads the pipelines; while a stop or
    // reload holds them, /ready answers "not ready".
    p.hooks.token = config.http.str_or("token", "");
    p.hooks.ready = [&life](std::string& detail) { return life.ready(detail); };
    listen_ = config.http.str("listen");
    if (listen_ != "off") {
        p.api = std::make_unique<http::Api>(p.loop, p.hooks, http_limits(config.http));
        http::Api& api = *p.api;
        http::add_table_routes(api, p.tables);
        p.stats_sub = stats::add_stats_routes(api, stats::hub(), &p.tables);
        http::add_tap_route(api);
        http::add_websocket_routes(api);
        http::add_send_routes(api);
        http::add_keys_routes(api);
        add_replay_route(api, life, data_dir_);
        http::add_ui_routes(api);
        // The pipeline graph for the web UI's overview: `describe --format
        // json`, computed here and after each reload (the loop only copies it).
        p.describe_json.set(describe_config(config, "json"));
        // The latest dead letters of one pipeline (they hold record contents:
        // token required), read on the API's writer thread through a
        // read-only connection to the pipeline's buffer.
        api.add_route("GET", "/api/dead-letters", [&api, data_dir](const net::HttpRequest& req) {
            return dead_letters_route(api, data_dir, req);
        });
        api.add_route("GET", "/api/describe", [&p](const net::HttpRequest&) {
            net::HttpResponse r{200, "application/json", {}, p.describe_json.get()};
            r.headers.emplace_back("Cache-Control", "no-store");
            return r;
        });
        std::string listen_error;
        bool ok = false;
        p.loop.call([&] { ok = api.listen(listen_, &listen_error); });
        if (!ok) {
            return fail(1, fmt::format("HTTP API: cannot listen on {}: {}", listen_, listen_error));
        }
    }

    try {
        life.start(std::move(config));
    } catch (const ConfigError& e) {
        log::error("{}", e.what());
        error = fmt::format("configuration error: {}", e.what());
        stop(std::chrono::steady_clock::now());
        return 2;
    } catch (const std::exception& e) {
        return fail(1, fmt::format("cannot start: {}", e.what()));
    }
    p.pipelines_running = true;
    return 0;
}

ReloadReport GatewayHost::reload(const GatewayLifecycle::Loader& load) {
    Parts& p = *parts_;
    ReloadReport report = p.life->reload(load);
    if (report.outcome == ReloadReport::Outcome::Applied || report.outcome == ReloadReport::Outcome::Reverted) {
        if (p.api) {
            http::ApiHooks h = p.hooks;
            h.token = p.life->config().http.str_or("token", "");
            p.api->set_hooks(h);
            p.describe_json.set(describe_config(p.life->config(), "json"));
        }
        stats::hub().set_max_topics(static_cast<std::size_t>(p.life->config().http.integer("max_stats_topics")));
    }
    return report;
}

void GatewayHost::stop_pipelines(std::chrono::steady_clock::time_point deadline) {
    if (parts_ && parts_->pipelines_running) {
        parts_->life->stop(deadline);
        parts_->pipelines_running = false;
    }
}

void GatewayHost::stop(std::chrono::steady_clock::time_point deadline) {
    if (!parts_) {
        return;
    }
    stop_pipelines(deadline);
    Parts& p = *parts_;
    if (p.api) {
        p.loop.call([&] { p.api->close(); });
    }
    p.loop.stop();
    // The hub's timer and its table sampler go before the loop and the
    // tables do.
    if (p.stats_started) {
        stats::hub().unsubscribe(p.stats_sub);
        stats::hub().stop();
    }
    parts_.reset();
}

int run_gateway(GatewayConfig config, const RunOverrides& overrides, ConfigLoader reload) {
    // Signals are taken synchronously by this thread; every thread started
    // from here on inherits the mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, kWakeSignal);  // wake_main(): a source finished, a stop or a damaged buffer
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    arm_main_wake();
    struct Disarm {
        ~Disarm() { disarm_main_wake(); }
    } disarm;
    std::signal(SIGPIPE, SIG_IGN);

    // systemd's Type=notify: READY=1, STATUS=, RELOADING=1, STOPPING=1 and
    // watchdog pings; nothing at all outside a service.
    sd::Notifier notifier(sd::notify_env());

    const std::string origin = config.origin;
    GatewayHost host(overrides);
    std::string error;
    if (const int status = host.start(std::move(config), error); status != 0) {
        notifier.status(error);
        return status;
    }
    GatewayLifecycle& life = host.life();
    const std::filesystem::path data_dir = host.data_dir();
    const std::string listen = host.listen();
    const double cpus = host.cpus();
    const std::uint64_t mem_limit = host.memory_limit();
    auto timeout_text = [&life] { return format_duration(life.config().gateway.duration("shutdown_timeout")); };

    // Declared after `life`, so it stops before the pipelines go away.
    ServiceMonitor monitor(notifier, [&life](std::int64_t stale_after_ns, bool figures) {
        return life.sample(stale_after_ns, figures);
    });
    notifier.ready(started_status(life.size()));
    monitor.start();
    log::info("sluice {} running {} pipeline(s) from {}; data in {}; HTTP {}; {} CPU(s) available{}", SLUICE_VERSION,
              life.size(), origin, data_dir.string(),
              listen != "off" ? fmt::format("on {}:{}", listen.substr(0, listen.rfind(':')), host.api_port())
                              : std::string("off"),
              cpus, mem_limit ? fmt::format(", memory limit {}", format_size(mem_limit)) : std::string());

    trim_start_up_memory();

    int exit_code = 0;
    // `timeout`, a shell or a service manager may deliver one SIGTERM twice
    // (to the process and to its group): a repeat this soon after the signal
    // that began the shutdown is the same request, not a second signal.
    constexpr auto kSameSignal = std::chrono::seconds(1);
    std::chrono::steady_clock::time_point signalled_at{};
    // Stops every pipeline on a helper thread while this thread keeps taking
    // signals. In a drain at end of input (unbounded) a SIGTERM starts the
    // shutdown_timeout clock; in a bounded shutdown a second signal exits at
    // once (everything accepted is already committed).
    auto shutdown = [&](bool bounded) {
        const auto deadline = bounded ? life.deadline() : std::chrono::steady_clock::time_point::max();
        std::atomic<bool> done{false};
        std::thread stopper([&] {
            host.stop_pipelines(deadline);
            done = true;
            wake_main();  // exit now, not at the loop's next 100 ms look
        });
        std::optional<std::chrono::steady_clock::time_point> cut_at;
        bool quick = false;
        while (!done) {
            timespec t{0, 100'000'000};
            const int again = sigtimedwait(&sigs, nullptr, &t);
            const auto now = std::chrono::steady_clock::now();
            if (again == SIGTERM || again == SIGINT) {
                const char* name = again == SIGTERM ? "SIGTERM" : "SIGINT";
                if (bounded && now - signalled_at < kSameSignal) {
                    log::debug("received {} again within {}: the same request, still delivering", name,
                               format_duration(kSameSignal));
                } else if (!bounded) {
                    bounded = true;
                    signalled_at = now;
                    cut_at = life.deadline();
                    log::info("received {}: delivering for up to {} more", name, timeout_text());
                } else {
                    log::warn("second signal: exiting now; undelivered records stay buffered");
                    std::_Exit(0);
                }
            }
            if (!quick && stop_requested()) {
                log::info("standard output was closed by its reader: stopping now; undelivered records stay buffered");
                quick = true;
                cut_at = now;
            }
            if (cut_at && now >= *cut_at) {
                life.cut_short();
                cut_at.reset();
            }
        }
        stopper.join();
    };
    // Standard output was closed by its reader: stop now, quietly, status 0.
    auto stop_quietly = [&] {
        log::info("standard output was closed by its reader: stopping; undelivered records stay buffered");
        monitor.stop();
        notifier.stopping("standard output was closed");
        host.stop_pipelines(std::chrono::steady_clock::now());
    };

    // Event-driven: what this loop looks at wakes it (a signal, or
    // wake_main()), so an idle gateway's main thread sleeps; the long timeout
    // is only a safety net. The first turn looks at once (a pipeline without
    // sources has finished before it began).
    bool first_turn = true;
    for (;;) {
        timespec timeout{first_turn ? 0 : 5, 0};
        first_turn = false;
        const int sig = sigtimedwait(&sigs, nullptr, &timeout);
        if (stop_requested()) {
            stop_quietly();
            break;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            signalled_at = std::chrono::steady_clock::now();
            log::info("received {}: stopping (delivering for up to {})", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                      timeout_text());
            monitor.stop();
            notifier.stopping(fmt::format("stopping: delivering for up to {}", timeout_text()));
            shutdown(true);
            break;
        }
        if (sig == SIGHUP) {
            // The service manager waits for READY=1 after RELOADING=1, whatever the outcome.
            notifier.reloading("reloading the configuration");
            if (!reload) {
                log::info("SIGHUP: nothing to reload (configured from {})", life.config().origin);
                notifier.ready(started_status(life.size()));
                continue;
            }
            monitor.busy(reload_grace(life.config()));
            const ReloadReport report = host.reload(reload);
            monitor.idle();
            if (report.outcome == ReloadReport::Outcome::Rejected) {
                notifier.ready(fmt::format("{}; last reload rejected: {} error(s) in the configuration",
                                           started_status(life.size()), report.error_count));
                continue;
            }
            if (report.outcome == ReloadReport::Outcome::Failed) {
                monitor.stop();
                notifier.stopping(fmt::format("cannot restart the previous configuration: {}", report.error));
                host.stop_pipelines(life.deadline());
                exit_code = 1;
                break;
            }
            notifier.ready(started_status(life.size()));
            continue;
        }
        if (const auto restarted = life.restart_damaged(); !restarted.empty()) {
            notifier.status(fmt::format("{}; buffer of {} damaged, moved aside and restarted on a fresh one "
                                        "(see the log)",
                                        started_status(life.size()), fmt::join(restarted, ", ")));
        }
        if (life.all_sources_finished()) {
            log::info("every source has finished: delivering what is buffered, then exiting");
            monitor.stop();
            notifier.stopping("every source has finished: delivering what is buffered");
            shutdown(false);
            break;
        }
    }
    host.stop(std::chrono::steady_clock::now());
    log::info("stopped");
    return exit_code;
}

}  // namespace sluice
