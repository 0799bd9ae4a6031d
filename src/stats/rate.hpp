#pragma once
// The figures behind /stats: rates sampled from monotonic totals, and
// latency histograms with fixed log-spaced buckets.
//
// The data path only adds to atomic totals (mostly the metrics counters it
// already keeps, once per batch); the stats hub's one-second timer samples
// them into a RateWindow, which derives the rates. Latencies are observed
// into a LatencyHistogram (a few relaxed atomic adds, no lock), and the timer
// keeps a minute of its snapshots in a LatencyWindow, so the summaries cover
// the last 60 s.

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace sluice::stats {

// Rates over the last 1 s, 1 min and 15 min of a monotonic total. Sampled
// about once a second by one thread (the hub's timer) and read by the same
// thread; not thread-safe.
class RateWindow {
public:
    // `now` in seconds (monotonic), `total` the counter's value then.
    void sample(double now, std::uint64_t total);
    // Per second over the last `seconds` (≤ 900), or over what was sampled
    // when that is less (0 before two samples).
    double rate(double seconds) const;
    std::uint64_t total() const { return have_ ? secs_[newest_].total : 0; }

private:
    struct Point {
        double t = 0;
        std::uint64_t total = 0;
    };
    static constexpr std::size_t kSeconds = 62;  // a minute of 1 s samples, and the ends
    static constexpr std::size_t kMinutes = 17;  // 15 min of one sample a minute, and the ends
    std::array<Point, kSeconds> secs_{};
    std::array<Point, kMinutes> mins_{};
    std::size_t newest_ = 0, sec_count_ = 0;
    std::size_t min_newest_ = 0, min_count_ = 0;
    bool have_ = false;
};

// count / avg / p50 / p99 in seconds.
struct LatencySummary {
    std::uint64_t count = 0;
    double avg = 0;
    double p50 = 0;
    double p99 = 0;
};

// Observations in fixed buckets from 1 µs to ~100 s, four per factor of
// two (each bucket ±9 % wide); lock-free, any thread.
class LatencyHistogram {
public:
    static constexpr std::size_t kBuckets = 4 * 27 + 2;  // below 1 µs, 2^27 µs ≈ 134 s, above
    struct Snapshot {
        std::array<std::uint64_t, kBuckets> counts{};
        std::uint64_t count = 0;
        double sum = 0;
    };

    // `n` observations of `seconds` each (a batch of rows of one age).
    void observe(double seconds, std::uint64_t n = 1);
    Snapshot snapshot() const;
    static std::size_t bucket_of(double seconds);
    // A representative value of bucket `i` (its geometric middle).
    static double bucket_value(std::size_t i);
    // The summary of `now - before` (observations in between).
    static LatencySummary summarize(const Snapshot& now, const Snapshot* before);

private:
    std::array<std::atomic<std::uint64_t>, kBuckets> counts_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_ns_{0};
};

// The last minute of a LatencyHistogram: snapshots taken by the hub's timer
// once a second, of which every fifth is kept (the minute ends 60 to 65 s
// back; 14 snapshots of 0.9 KiB instead of 61); not thread-safe (the
// timer's thread).
class LatencyWindow {
public:
    void sample(const LatencyHistogram& h) { sample(h.snapshot()); }
    void sample(const LatencyHistogram::Snapshot& s);
    // Observations of the last minute (since the first sample, early on).
    LatencySummary last_minute() const;

private:
    static constexpr std::size_t kStep = 5;   // samples per kept snapshot
    static constexpr std::size_t kKeep = 13;  // kept snapshots: 60 s of steps
    std::vector<LatencyHistogram::Snapshot> ring_;
    std::size_t newest_ = 0;
    std::size_t samples_ = 0;
    LatencyHistogram::Snapshot latest_;
};

}  // namespace sluice::stats
