#pragma once
// Process-wide metrics in the Prometheus text format 0.0.4. Counters and
// gauges are looked up once (at component start) and then updated lock-free.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
public:
    void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

class Gauge {
public:
    void set(double v) { v_.store(v, std::memory_order_relaxed); }
    void add(double d);
    double value() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> v_{0};
};

// Cumulative buckets in the Prometheus sense: observations <= each bound.
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    // `n` observations of `v` (rows of one batch, which share an age).
    void observe(double v, std::uint64_t n = 1);
    const std::vector<double>& bounds() const { return bounds_; }
    std::uint64_t bucket(std::size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
    std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
    double sum() const { return sum_.load(std::memory_order_relaxed); }

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // one per bound (not cumulative)
    std::atomic<std::uint64_t> count_{0};
    std::atomic<double> sum_{0};
};

// Keeps a computed gauge registered while alive.
class GaugeFnHandle {
public:
    GaugeFnHandle() = default;
    explicit GaugeFnHandle(std::uint64_t id) : id_(id) {}
    GaugeFnHandle(GaugeFnHandle&& o) noexcept : id_(std::exchange(o.id_, 0)) {}
    GaugeFnHandle& operator=(GaugeFnHandle&& o) noexcept;
    ~GaugeFnHandle();

private:
    std::uint64_t id_ = 0;
};

class MetricsRegistry {
public:
    MetricsRegistry();
    ~MetricsRegistry();
    MetricsRegistry(const MetricsRegistry&) = delete;
    MetricsRegistry& operator=(const MetricsRegistry&) = delete;

    // The same name and labels always give the same object, so counters stay
    // monotonic across config reloads.
    Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
    Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
    // Seconds-scale buckets by default (1 ms … 60 s), for latencies.
    Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels = {},
                         std::vector<double> bounds = {});
    // A gauge computed when scraped; unregistered when the handle dies.
    [[nodiscard]] GaugeFnHandle gauge_fn(std::string_view name, std::string_view help, const Labels& labels,
                                         std::function<double()> fn);
    // The same for a value that only grows (TYPE counter), such as CPU seconds.
    [[nodiscard]] GaugeFnHandle counter_fn(std::string_view name, std::string_view help, const Labels& labels,
                                           std::function<double()> fn);
    void remove_fn(std::uint64_t id);

    std::string render() const;  // Prometheus text format 0.0.4
    // Sum of every counter named `name` (tests and status lines).
    std::uint64_t counter_total(std::string_view name) const;

private:
    struct Series;
    GaugeFnHandle computed(std::string_view name, std::string_view help, const Labels& labels,
                           std::function<double()> fn, bool counter);
    mutable std::mutex mu_;
    std::vector<std::unique_ptr<Series>> series_;
    std::uint64_t next_fn_id_ = 1;
};

MetricsRegistry& metrics();

// The metric set of a component, labelled component="<pipeline>/<id>" and
// kind. Each kind registers only the families that mean something for it;
// the others point to a counter that is never rendered (never null):
//   source: received (frames), received_bytes, last_seen, reconnects, dropped, errors
//   stage:  received, sent, dropped, errors
//   sink:   sent (confirmed), reconnects, errors
struct ComponentMetrics {
    Counter* received = nullptr;  // sluice_component_received_records_total
    Counter* sent = nullptr;      // sluice_component_sent_records_total
    Counter* errors = nullptr;    // sluice_component_errors_total
    Counter* dropped = nullptr;   // sluice_component_dropped_records_total
    Counter* received_bytes = nullptr;  // sluice_component_received_bytes_total
    Counter* reconnects = nullptr;      // sluice_component_reconnects_total
    Gauge* last_seen = nullptr;         // sluice_component_last_seen_seconds (Unix time of the last frame)

    // A frame of `bytes` arrived now: counts it and stamps last_seen.
    void frame_in(std::uint64_t bytes, double now_unix_seconds) {
        received->inc();
        received_bytes->inc(bytes);
        last_seen->set(now_unix_seconds);
    }

    static ComponentMetrics for_component(const std::string& component, std::string_view kind);
};

}  // namespace sluice
