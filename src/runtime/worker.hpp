#pragma once
// The pipeline worker, on one thread: takes frames from the ingest queue,
// decodes them (per source: decoder chain, topology, default measurement),
// runs the batch through the stages, and commits records, dead letters,
// source checkpoints and stage state in one buffer transaction (group
// commit); then publishes the stages' stream records.
//
// The thread boundary: a decoder or stage that throws, or a buffer commit
// that fails, never ends the worker.
// - A decoder that throws: the frame becomes a dead letter (stage "decode").
// - A stage whose process() throws: the records of the batch, as the stage
//   left them, become dead letters (stage = the stage's name, reason = what it
//   threw); its state changes and stream records of that batch are dropped;
//   later stages see an empty batch. Counted in the stage's
//   sluice_component_errors_total and logged once per condition. The stage's
//   own memory may have moved on: a stage throws only on a bug.
// - A stage whose after_commit() throws: counted and logged, nothing else.
// - A failed commit (disk full, I/O error): the batch is kept and retried
//   after Backoff (100 ms doubling to 10 s) until it is stored or the
//   pipeline gives up at shutdown; the ingest queue fills meanwhile, so the
//   sources slow down.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "buffer/buffer.hpp"
#include "core/backoff.hpp"
#include "core/bounded_queue.hpp"
#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/topology.hpp"
#include "stats/hub.hpp"

namespace sluice {

class DecoderChain;

struct FrameBytes {
    std::size_t operator()(const Frame& f) const { return f.payload.size() + f.origin.size() + 64; }
};
using FrameQueue = BoundedQueue<Frame, FrameBytes>;

// What the worker needs of a source (indexed by Frame::source).
struct WorkerSource {
    std::string id;
    std::unique_ptr<DecoderChain> chain;
    std::string measurement;  // default for records without one
    Topology topology;
    std::size_t max_origin = 1024;
    ComponentMetrics* metrics = nullptr;
    // The source's SourceContext::checkpoint_key (set by the source).
    const std::string* checkpoint_key = nullptr;
    // The source's SourceContext::position_per_epoch.
    const bool* position_per_epoch = nullptr;
    // The source's SourceContext::committed (may be empty).
    const std::function<void(std::size_t)>* committed = nullptr;
    // Worker thread only.
    log::OnceLog origin_log;
    log::OnceLog decode_log;
    // Frames whose origin did not fit the topology (optional counter); the
    // first one is warned about with the origin and the expected layout.
    Counter* topology_mismatches = nullptr;
    log::OnceLog topology_log;
    bool position_pending = false;  // the newest Frame::position of the batch
    std::uint64_t position_epoch = 0;
    std::uint64_t position = 0;
    // position_per_epoch: the newest position of each epoch in the batch.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> epoch_positions;
    std::size_t batch_frames = 0;  // frames of this source in the batch
};

struct WorkerStage {
    std::string id;
    std::string label;  // "<pipeline>/<id>"
    std::unique_ptr<Stage> stage;
    ComponentMetrics metrics;
    stats::StageStats* stats = nullptr;  // the time process() takes, per batch (optional)
    // Worker thread only.
    std::vector<StateChange> state;  // reused per batch
    log::OnceLog fail_log;
};

struct WorkerOptions {
    std::string pipeline;  // name, for logs
    std::size_t batch_max = 1000;
    std::chrono::nanoseconds batch_delay{};
    // Adaptive batching: when the batch is full and the queue still holds
    // frames (a backlog), the worker keeps taking what is already queued, up
    // to batch_grow_max frames and batch_grow_bytes of frames (FrameBytes),
    // so the commit and fsync cost per record falls under load. It never
    // waits for more: without a backlog a batch is committed as before.
    // 0: batch_max (no growth).
    std::size_t batch_grow_max = 0;
    std::size_t batch_grow_bytes = 0;
    std::chrono::nanoseconds commit_retry_initial = std::chrono::milliseconds(100);
    std::chrono::nanoseconds commit_retry_max = std::chrono::seconds(10);
    // `sluice test`: once the queue is closed and drained, one more stage
    // turn with StageBatch::end_of_input (windows close), committed like any.
    bool end_of_input_turn = false;
};

struct WorkerCounters {
    Counter* records_in = nullptr;
    Counter* dead_letters = nullptr;
    Counter* commit_errors = nullptr;
    Counter* buffer_dropped = nullptr;
    Counter* stream_dropped = nullptr;
    // /stats (optional): commit latency, row arrivals, per-topic counts.
    stats::PipelineStats* stats = nullptr;
    // Frames per committed batch (optional): shows the adaptive batching.
    Histogram* batch_frames = nullptr;
};

class Worker {
public:
    // `give_up`: stop retrying a commit or waiting for room (shutdown
    // deadline). `done` is set when run() returns. `on_space`: called after
    // taking frames (the pipeline wakes sources waiting for room).
    // `before_turn`: called at the start of each turn (a test hook).
    Worker(WorkerOptions options, FrameQueue& queue, Buffer& buffer, std::vector<WorkerSource*> sources,
           std::vector<WorkerStage*> stages, WorkerCounters counters, const std::atomic<bool>& give_up,
           std::atomic<bool>& done, Clock& clock, std::function<void()> on_space = {},
           std::function<void()> before_turn = {});

    // The thread's body: returns once the queue is closed and drained. Never throws.
    void run();
    // Time of the last turn (mono ns), for the watchdog: now while the
    // worker waits for input (it is idle, not stuck); one that waits on
    // purpose (a full buffer with overflow=block, a commit retry) turns
    // while it waits.
    std::int64_t last_turn_ns() const {
        return waiting_for_input_.load() ? clock_.mono_ns() : last_turn_ns_.load();
    }
    void mark_turn() { last_turn_ns_ = clock_.mono_ns(); }
    // Before run(): see WorkerOptions::end_of_input_turn.
    void set_end_of_input_turn(bool on) { opts_.end_of_input_turn = on; }
    // Why buffer commits are failing right now (disk full, I/O error), or
    // empty while they succeed. Nothing is acknowledged meanwhile, so /ready
    // says the pipeline is not ready. Any thread.
    std::string commit_failure() const {
        std::lock_guard lk(failure_mu_);
        return commit_failure_;
    }
    // Ends the gathering of the current batch: it is committed now rather
    // than after batch_max_delay (a source waits for its frames to be
    // stored). Any thread.
    void commit_soon() {
        commit_soon_ = true;
        queue_.wake();
    }

private:
    bool turn();
    void grow_batch();
    void decode(const std::vector<Frame>& frames);
    void run_stages(bool tick);
    void stage_failed(WorkerStage& slot, std::size_t streams_before, const std::string& what);
    bool commit();
    void note_commit(const AppendResult& res, double seconds);
    // Tells the sources that wait for it how many of their frames are stored.
    void tell_sources(bool committed);
    void publish_streams();
    void signal_space();

    WorkerOptions opts_;
    FrameQueue& queue_;
    Buffer& buffer_;
    std::vector<WorkerSource*> sources_;
    std::vector<WorkerStage*> stages_;
    WorkerCounters counters_;
    const std::atomic<bool>& give_up_;
    std::atomic<bool>& done_;
    Clock& clock_;
    std::function<void()> on_space_;
    std::function<void()> before_turn_;
    std::chrono::nanoseconds tick_interval_{};  // smallest non-zero stage tick; 0: none
    std::atomic<std::int64_t> last_turn_ns_{0};
    std::atomic<bool> waiting_for_input_{false};
    std::atomic<bool> commit_soon_{false};
    // Made once: a Backoff seeds a std::mt19937 from std::random_device,
    // too dear for every batch. Reset after each stored batch.
    Backoff commit_backoff_;

    // Worker thread: the current batch.
    std::vector<Frame> frames_;
    std::vector<const Frame*> prefetch_;  // one source's frames of the batch (Decoder::prefetch)
    std::vector<Record> records_;
    // Without stages nothing needs the Record objects after decoding: each
    // frame's records are encoded at once into encoded_ and records_ is
    // emptied again, so a batch costs its rows' bytes, not its Records.
    bool encode_early_ = false;
    EncodedRecords encoded_;
    std::size_t batch_records() const { return encode_early_ ? encoded_.size() : records_.size(); }
    std::vector<DeadLetter> dead_;
    std::vector<std::pair<std::string, std::string>> checkpoints_;
    std::vector<std::pair<std::string, StateChange>> state_;
    std::vector<std::pair<std::string, Record>> streams_;
    // /stats of the batch: frames per origin, and their mean arrival time.
    std::unordered_map<std::string, stats::TopicDelta> topics_;
    std::int64_t arrival_base_ns_ = 0;
    std::int64_t arrival_offset_sum_ = 0;
    std::uint64_t arrival_count_ = 0;
    std::int64_t last_stage_turn_ = 0;
    // When the last batch with frames was committed (mono ns): a frame that
    // finds the worker idle for batch_max_delay is committed at once.
    std::int64_t last_batch_ns_ = 0;
    bool end_turn_ = false;  // this turn is the end-of-input turn
    bool end_done_ = false;
    log::OnceLog commit_log_;
    log::OnceLog no_stream_log_;
    mutable std::mutex failure_mu_;
    std::string commit_failure_;  // guarded by failure_mu_
};

}  // namespace sluice
