#pragma once
// The stats hub: what /stats answers. Pipelines register what they count
// (PipelineStats); a one-second timer on the I/O loop samples every total
// into rate windows, summarises the latencies of the last minute, and keeps
// 15 minutes of history points (900, at 1 s). The handlers of /stats and the
// timer run on the loop and read only atomics and memory, never SQLite.
//
// Data-path cost: the worker counts per batch (topics in a batch-local map,
// one lock per batch to merge them; one commit-latency observation; one
// arrival range), the sink runner observes per batch. Frames and records are
// already counted by the metrics counters, which the hub reads.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/metrics.hpp"
#include "stats/rate.hpp"

namespace sluice {
class IoLoop;
struct BufferStats;
}  // namespace sluice

namespace sluice::stats {

// Rates of one total, filled by the hub's timer.
struct Rates {
    RateWindow window;
    void sample(double now, std::uint64_t total) { window.sample(now, total); }
};

struct SourceStats {
    std::string id;
    std::string type;
    const Counter* frames = nullptr;  // sluice_component_received_records_total
    const Counter* bytes = nullptr;
    const Counter* errors = nullptr;
    std::function<bool()> up;  // empty: a source that is always up
    RateWindow events;         // timer thread
};

struct StageStats {
    std::string id;
    std::string type;
    const Counter* in = nullptr;
    const Counter* out = nullptr;
    const Counter* errors = nullptr;
    const Counter* dropped = nullptr;
    LatencyHistogram process_latency;  // one observation per batch
    RateWindow in_rate, out_rate;      // timer thread
    LatencyWindow process_window;
};

struct SinkStats {
    std::string id;
    std::string type;
    const Counter* sent = nullptr;
    const Counter* errors = nullptr;
    // up and the last error, read under the runner's status lock.
    std::function<void(bool& up, std::string& last_error)> status;
    LatencyHistogram send_latency;  // one observation per send (the whole batch)
    LatencyHistogram end_to_end;    // frame receipt -> this sink's confirmation, per row
    RateWindow sent_rate;           // timer thread
    LatencyWindow send_window, e2e_window;
};

// One pipeline's figures. Built by the Pipeline, registered with the hub
// for its lifetime.
class PipelineStats {
public:
    explicit PipelineStats(std::string name) : name_(std::move(name)) {}
    const std::string& name() const { return name_; }

    // Set before registering.
    const Counter* records = nullptr;       // sluice_pipeline_records_total
    const Counter* dead_letters = nullptr;  // sluice_pipeline_dead_letters_total
    std::function<std::shared_ptr<const BufferStats>()> buffer;
    std::uint64_t buffer_max_bytes = 0;
    std::vector<std::unique_ptr<SourceStats>> sources;
    std::vector<std::unique_ptr<StageStats>> stages;
    std::vector<std::unique_ptr<SinkStats>> sinks;

    LatencyHistogram commit_latency;
    LatencyHistogram end_to_end;
    // The same observations for /metrics (optional).
    Histogram* commit_metric = nullptr;
    Histogram* end_to_end_metric = nullptr;

    // Worker thread, after a batch was committed: rows first..last (none if
    // last < first) came from frames that arrived at `arrival_ns` on average
    // (wall clock), and the commit took `commit_seconds`.
    void committed(std::uint64_t first_id, std::uint64_t last_id, std::int64_t arrival_ns, double commit_seconds);
    // A sink runner: sink `index` confirmed every row up to `upto_id`.
    // Observes the end-to-end latency of the rows it newly covers.
    void sink_confirmed(std::size_t index, std::uint64_t upto_id, std::int64_t now_ns);

    // Timer thread.
    RateWindow events, records_rate, dead_rate;
    LatencyWindow commit_window, e2e_window;

private:
    struct Range {
        std::uint64_t first = 0;
        std::uint64_t last = 0;
        std::int64_t arrival_ns = 0;
    };
    static constexpr std::size_t kMaxRanges = 20000;  // ~ a backlog of 20k batches, then the oldest go
    std::string name_;
    std::mutex arrivals_mu_;
    std::deque<Range> arrivals_;
    std::vector<std::uint64_t> sink_pos_;  // last id each sink confirmed (0: none yet)
};

// One origin topic's counts (the "other" bucket too).
struct TopicCounts {
    std::uint64_t events = 0;
    std::uint64_t bytes = 0;
    std::uint64_t dead_letters = 0;
    double last_seen = 0;  // Unix seconds
    RateWindow rate;       // timer thread
};

// What the worker counted of one topic in one batch.
struct TopicDelta {
    std::uint64_t events = 0;
    std::uint64_t bytes = 0;
    std::uint64_t dead_letters = 0;
};

class StatsHub {
public:
    StatsHub();
    ~StatsHub();
    StatsHub(const StatsHub&) = delete;
    StatsHub& operator=(const StatsHub&) = delete;

    // Starts the one-second timer on `loop` (history from now on); stop()
    // cancels it (from any thread; waits for the loop).
    void start(IoLoop& loop);
    void stop();
    // [http] max_stats_topics: topics tracked one by one; the rest are
    // counted under "other". Takes effect for topics not yet seen.
    void set_max_topics(std::size_t n);

    // Thread-safe; the stats stay registered until removed.
    void add_pipeline(std::shared_ptr<PipelineStats> p);
    void remove_pipeline(const PipelineStats* p);

    // Worker thread, once per committed batch: the batch's frames per origin.
    void add_topics(const std::string& pipeline,
                    const std::unordered_map<std::string, TopicDelta>& batch, double now_unix);

    // One sample (the timer calls it each second; tests call it with their
    // own clock). `mono` in seconds, `unix_now` for the history's times.
    void tick(double mono, double unix_now);

    // The JSON bodies of the /stats routes (loop thread). Empty: no such name (404).
    std::string stats_json() const;
    std::string topics_json() const;
    std::string topic_json(std::string_view topic) const;
    std::string task_json(std::string_view pipeline, std::string_view component) const;
    std::string history_json(double since) const;

    // The newest history point as JSON ("{}" before the first tick), for
    // /stats/stream. Thread-safe.
    std::string latest_point_json() const;
    // `fn(point_json)` is called on the loop after every tick (each second)
    // with the new history point. Returns an id for unsubscribe(). Thread-safe.
    std::uint64_t subscribe(std::function<void(const std::string&)> fn);
    void unsubscribe(std::uint64_t id);

    std::size_t history_size() const;

private:
    void append_rates(std::string& out, const RateWindow& w) const;
    void append_topic(std::string& out, const std::string& pipeline, const std::string& topic,
                      const TopicCounts& t) const;
    void append_pipeline(std::string& out, PipelineStats& p, double unix_now) const;

    mutable std::mutex mu_;  // everything below but the subscribers
    IoLoop* loop_ = nullptr;
    std::uint64_t timer_ = 0;
    double started_mono_ = 0;
    std::vector<std::shared_ptr<PipelineStats>> pipelines_;
    std::size_t max_topics_ = 1000;
    // (pipeline, topic) -> counts; bounded by max_topics_.
    std::map<std::string, std::map<std::string, TopicCounts, std::less<>>, std::less<>> topics_;
    std::size_t topic_count_ = 0;
    TopicCounts other_;
    // Across pipelines.
    RateWindow events_, records_, dead_;
    LatencyWindow e2e_window_, commit_window_;  // the pipelines' histograms summed at each tick
    struct Point {
        double time = 0;
        std::string json;
    };
    std::deque<Point> history_;  // at most kHistory
    static constexpr std::size_t kHistory = 900;

    mutable std::mutex sub_mu_;
    std::vector<std::pair<std::uint64_t, std::function<void(const std::string&)>>> subscribers_;
    std::uint64_t next_sub_ = 1;
};

// The process's hub (like metrics()): pipelines register here.
StatsHub& hub();

}  // namespace sluice::stats
