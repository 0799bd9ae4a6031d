#include "runtime/service_monitor.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/options.hpp"

namespace sluice {

std::string service_status_line(const ServiceSample& s, double records_per_second) {
    std::string line = fmt::format("{} pipeline{}, {:.0f} records/s in, {} buffered", s.pipelines,
                                   s.pipelines == 1 ? "" : "s", std::max(0.0, records_per_second), s.buffered);
    if (s.sinks_retrying == 0) {
        line += ", sinks ok";
    } else {
        line += fmt::format(", {} of {} sink{} retrying", s.sinks_retrying, s.sinks, s.sinks == 1 ? "" : "s");
    }
    if (s.quarantined > 0) {
        line += fmt::format(", {} damaged database{} moved aside (see the log)", s.quarantined,
                            s.quarantined == 1 ? "" : "s");
    }
    return line;
}

ServiceMonitor::ServiceMonitor(sd::Notifier& notifier, Sampler sample, std::chrono::milliseconds status_every)
    : notifier_(notifier), sample_(std::move(sample)), status_every_(status_every) {}

ServiceMonitor::~ServiceMonitor() { stop(); }

std::chrono::nanoseconds ServiceMonitor::stale_after() const {
    // A worker waiting for input counts as turning; a busy one turns after
    // each batch commit (slow flash can take seconds). Below a second a
    // watchdog would fire on an ordinary slow commit.
    const auto wd = std::chrono::duration_cast<std::chrono::nanoseconds>(notifier_.watchdog_interval());
    return std::max<std::chrono::nanoseconds>(wd, std::chrono::seconds(1));
}

void ServiceMonitor::start() {
    if (!notifier_.enabled() || thread_.joinable()) {
        return;
    }
    {
        std::lock_guard lk(mu_);
        stop_ = false;
    }
    thread_ = std::thread([this] { run(); });
}

void ServiceMonitor::stop() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void ServiceMonitor::busy(std::chrono::nanoseconds grace) {
    std::lock_guard lk(mu_);
    busy_until_ns_ = mono_now_ns() + grace.count();
}

void ServiceMonitor::idle() {
    std::lock_guard lk(mu_);
    busy_until_ns_ = 0;
}

void ServiceMonitor::run() {
    using clock = std::chrono::steady_clock;
    const auto watchdog = notifier_.watchdog_interval();
    const auto ping_every = std::chrono::duration_cast<clock::duration>(watchdog / 2);
    const std::int64_t stale_ns = stale_after().count();

    auto next_ping = clock::now();
    auto next_status = clock::now() + status_every_;
    std::uint64_t last_records = 0;
    auto last_records_at = clock::now();
    bool have_records = false;
    bool withholding = false;

    std::unique_lock lk(mu_);
    for (;;) {
        const auto wake = watchdog.count() > 0 ? std::min(next_ping, next_status) : next_status;
        if (cv_.wait_until(lk, wake, [&] { return stop_; })) {
            return;
        }
        const std::int64_t busy_until = busy_until_ns_;
        lk.unlock();

        const auto now = clock::now();
        const bool want_status = now >= next_status;
        const ServiceSample s = sample_(stale_ns, want_status || !have_records);

        if (watchdog.count() > 0 && now >= next_ping) {
            bool alive = true;
            std::string why;
            if (!s.available) {
                // Held by a reload or a stop (bounded by busy()), or for a
                // moment by the HTTP thread's /ready.
                alive = busy_until == 0 || mono_now_ns() < busy_until;
                why = "a reload or stop is taking too long";
            } else if (!s.stalled.empty()) {
                alive = false;
                why = fmt::format("pipeline {}: worker stuck for {}", s.stalled,
                                  format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::nanoseconds(s.stalled_for_ns))));
            }
            if (alive) {
                notifier_.watchdog();
                if (withholding) {
                    log::info("pipeline workers turn again: watchdog pings resumed");
                    withholding = false;
                }
            } else if (!withholding) {
                withholding = true;
                log::error("{}; withholding watchdog pings so that the service manager restarts sluice", why);
                notifier_.status(why);
            }
            next_ping = now + ping_every;
        }

        if (!have_records && s.available) {
            last_records = s.records_in;
            last_records_at = now;
            have_records = true;
        }
        if (want_status) {
            if (s.available && !withholding) {
                double rate = 0;
                if (have_records && s.records_in >= last_records) {
                    const double dt = std::chrono::duration<double>(now - last_records_at).count();
                    rate = dt > 0 ? static_cast<double>(s.records_in - last_records) / dt : 0;
                }
                notifier_.status(service_status_line(s, rate));
            }
            if (s.available) {
                last_records = s.records_in;
                last_records_at = now;
                have_records = true;
            }
            next_status = now + status_every_;
        }
        lk.lock();
    }
}

}  // namespace sluice
