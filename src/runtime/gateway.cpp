#include "runtime/gateway.hpp"

#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <mutex>
#include <thread>
#include <pthread.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/identity.hpp"
#include "core/ioloop.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/resources.hpp"
#include "http/api.hpp"
#include "http/process_metrics.hpp"
#include "runtime/pipeline.hpp"

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

std::vector<std::unique_ptr<Pipeline>> build_pipelines(const GatewayConfig& config, IoLoop& loop) {
    const std::filesystem::path data_dir = config.gateway.str("data_dir");
    std::vector<std::unique_ptr<Pipeline>> out;
    for (const auto& spec : config.pipelines) {
        out.push_back(std::make_unique<Pipeline>(spec, data_dir, loop));
    }
    return out;
}

void stop_all(std::vector<std::unique_ptr<Pipeline>>& pipelines, std::mutex& mu,
              std::chrono::steady_clock::time_point deadline) {
    std::lock_guard lk(mu);
    for (auto& p : pipelines) {
        p->stop(deadline);
    }
    pipelines.clear();
}

std::chrono::steady_clock::time_point deadline_from(const GatewayConfig& config) {
    return std::chrono::steady_clock::now() + config.gateway.duration("shutdown_timeout");
}

}  // namespace

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
    if (config.gateway.str_or("id", "").empty()) {
        set_option(config.gateway, "id", host_name(), "default");
    }
    set_gateway_id(config.gateway.str("id"));
}

int run_gateway(GatewayConfig config, const RunOverrides& overrides, ConfigLoader reload) {
    apply_overrides(config, overrides);
    log::Level level;
    if (log::parse_level(config.gateway.str("log_level"), level)) {
        log::set_level(level);
    }

    // Signals are taken synchronously by this thread; every thread started
    // from here on inherits the mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    const std::filesystem::path data_dir = config.gateway.str("data_dir");
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) {
        log::error("cannot create data directory {}: {}", data_dir.string(), ec.message());
        return 1;
    }

    IoLoop loop;
    loop.start();
    http::ProcessMetrics process_metrics;
    std::vector<std::unique_ptr<Pipeline>> pipelines;

    // The HTTP thread's /ready hook and this thread both touch `pipelines`;
    // while a stop or reload holds the lock, /ready answers "not ready".
    std::mutex pipelines_mu;
    http::ApiHooks hooks;
    hooks.token = config.http.str_or("token", "");
    hooks.ready = [&pipelines, &pipelines_mu](std::string& detail) {
        std::unique_lock lk(pipelines_mu, std::try_to_lock);
        if (!lk.owns_lock()) {
            detail = "starting, stopping or reloading\n";
            return false;
        }
        bool ok = true;
        for (const auto& p : pipelines) {
            ok = p->ready(detail) && ok;
        }
        return ok;
    };
    std::unique_ptr<http::Api> api;
    const std::string listen = config.http.str("listen");
    if (listen != "off") {
        api = std::make_unique<http::Api>(loop, hooks);
        std::string error;
        bool ok = false;
        loop.call([&] { ok = api->listen(listen, &error); });
        if (!ok) {
            log::error("HTTP API: cannot listen on {}: {}", listen, error);
            loop.stop();
            return 1;
        }
    }

    try {
        std::lock_guard lk(pipelines_mu);
        pipelines = build_pipelines(config, loop);
    } catch (const ConfigError& e) {
        log::error("{}", e.what());
        loop.stop();
        return 2;
    } catch (const std::exception& e) {
        log::error("cannot start: {}", e.what());
        loop.stop();
        return 1;
    }
    for (auto& p : pipelines) {
        p->start();
    }
    const double cpus = available_cpus();
    const std::uint64_t mem_limit = memory_limit_bytes();
    log::info("sluice {} running {} pipeline(s) from {}; data in {}; HTTP {}; {} CPU(s) available{}", SLUICE_VERSION,
              pipelines.size(),
              config.origin, data_dir.string(),
              api ? fmt::format("on {}:{}", listen.substr(0, listen.rfind(':')), api->port()) : std::string("off"),
              cpus, mem_limit ? fmt::format(", memory limit {}", format_size(mem_limit)) : std::string());

    int exit_code = 0;
    // Stops every pipeline on a helper thread while this thread keeps taking
    // signals. In a drain at end of input (unbounded) a SIGTERM starts the
    // shutdown_timeout clock; in a bounded shutdown a second signal exits at
    // once (everything accepted is already committed).
    auto shutdown = [&](bool bounded) {
        std::vector<Pipeline*> live;
        {
            std::lock_guard lk(pipelines_mu);
            for (auto& p : pipelines) {
                live.push_back(p.get());
            }
        }
        const auto deadline = bounded ? deadline_from(config) : std::chrono::steady_clock::time_point::max();
        std::atomic<bool> done{false};
        std::thread stopper([&] {
            for (auto* p : live) {
                p->stop(deadline);
            }
            done = true;
        });
        std::optional<std::chrono::steady_clock::time_point> cut_at;
        while (!done) {
            timespec t{0, 100'000'000};
            const int again = sigtimedwait(&sigs, nullptr, &t);
            if (again == SIGTERM || again == SIGINT) {
                if (!bounded) {
                    bounded = true;
                    cut_at = deadline_from(config);
                    log::info("received {}: delivering for up to {} more",
                              again == SIGTERM ? "SIGTERM" : "SIGINT",
                              format_duration(config.gateway.duration("shutdown_timeout")));
                } else {
                    log::warn("second signal: exiting now; undelivered records stay buffered");
                    std::_Exit(0);
                }
            }
            if (cut_at && std::chrono::steady_clock::now() >= *cut_at) {
                for (auto* p : live) {
                    p->cut_short();
                }
                cut_at.reset();
            }
        }
        stopper.join();
        std::lock_guard lk(pipelines_mu);
        pipelines.clear();
    };

    for (;;) {
        timespec timeout{0, 200'000'000};
        const int sig = sigtimedwait(&sigs, nullptr, &timeout);
        if (sig == SIGTERM || sig == SIGINT) {
            log::info("received {}: stopping (delivering for up to {})", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                      format_duration(config.gateway.duration("shutdown_timeout")));
            shutdown(true);
            break;
        }
        if (sig == SIGHUP) {
            if (!reload) {
                log::info("SIGHUP: nothing to reload (configured from {})", config.origin);
                continue;
            }
            Diagnostics diag;
            auto next = reload(diag);
            if (!next) {
                log::error("reload rejected, the running configuration stays:\n{}", diag.str());
                continue;
            }
            apply_overrides(*next, overrides);
            log::info("reloading configuration from {}", next->origin);
            stop_all(pipelines, pipelines_mu, deadline_from(config));
            try {
                std::lock_guard lk(pipelines_mu);
                pipelines = build_pipelines(*next, loop);
                config = std::move(*next);
            } catch (const std::exception& e) {
                log::error("reload failed, restarting the previous configuration: {}", e.what());
                try {
                    std::lock_guard lk(pipelines_mu);
                    pipelines = build_pipelines(config, loop);
                } catch (const std::exception& again) {
                    log::error("cannot restart the previous configuration either: {}", again.what());
                    exit_code = 1;
                    break;
                }
            }
            for (auto& p : pipelines) {
                p->start();
            }
            if (api) {
                http::ApiHooks h = hooks;
                h.token = config.http.str_or("token", "");
                api->set_hooks(h);
            }
            log::info("reload done: {} pipeline(s)", pipelines.size());
            continue;
        }
        bool all_finished = !pipelines.empty();
        for (const auto& p : pipelines) {
            all_finished = all_finished && p->sources_finished();
        }
        if (all_finished) {
            log::info("every source has finished: delivering what is buffered, then exiting");
            shutdown(false);
            break;
        }
    }
    if (api) {
        loop.call([&] { api->close(); });
    }
    loop.stop();
    log::info("stopped");
    return exit_code;
}

}  // namespace sluice
