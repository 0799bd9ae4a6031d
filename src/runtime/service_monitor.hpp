#pragma once
// Tells the service manager how the gateway is doing while it runs: a
// "WATCHDOG=1" ping at half of WatchdogSec= as long as every pipeline worker
// keeps turning (a hung worker stops the pings, so systemd restarts the
// service), and a "STATUS=" line with the record rate every few seconds.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/sd_notify.hpp"

namespace sluice {

// The figures behind one report, taken from the running pipelines.
struct ServiceSample {
    bool available = false;     // false: the pipelines are being stopped or rebuilt right now
    std::size_t pipelines = 0;
    std::uint64_t records_in = 0;    // committed to the buffers since the process started
    std::uint64_t buffered = 0;      // rows in the buffers
    std::size_t sinks = 0;
    std::size_t sinks_retrying = 0;
    std::size_t quarantined = 0;     // damaged databases moved aside since start
    std::string stalled;             // a pipeline whose worker has not turned for longer than allowed
    std::int64_t stalled_for_ns = 0;
};

// "3 pipelines, 1520 records/s in, 0 buffered, sinks ok"
std::string service_status_line(const ServiceSample& s, double records_per_second);

class ServiceMonitor {
public:
    // `sample(stale_after_ns, figures)` runs on the monitor's thread; it
    // reports in `stalled` a pipeline whose worker's last turn is older than
    // that, and fills in the figures (records, buffered rows, sinks) only
    // when `figures` is true, since they cost a buffer query.
    using Sampler = std::function<ServiceSample(std::int64_t stale_after_ns, bool figures)>;

    ServiceMonitor(sd::Notifier& notifier, Sampler sample,
                   std::chrono::milliseconds status_every = std::chrono::seconds(5));
    ~ServiceMonitor();
    ServiceMonitor(const ServiceMonitor&) = delete;
    ServiceMonitor& operator=(const ServiceMonitor&) = delete;

    // No thread at all when there is nothing to notify.
    void start();
    void stop();

    // A reload or a stop holds the pipelines for a while; the pings go on
    // meanwhile, but for at most `grace` (a reload that hangs is a hang too).
    void busy(std::chrono::nanoseconds grace);
    void idle();

    // How long a worker may go without a turn before the pings stop.
    std::chrono::nanoseconds stale_after() const;

private:
    void run();

    sd::Notifier& notifier_;
    Sampler sample_;
    std::chrono::milliseconds status_every_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::int64_t busy_until_ns_ = 0;  // 0: not busy
};

}  // namespace sluice
