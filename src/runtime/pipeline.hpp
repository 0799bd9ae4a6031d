#pragma once
// One running pipeline: sources → bounded ingest queue → worker (decode,
// stages, group commit into the buffer) → one thread per sink reading
// through its own cursor. The Pipeline builds and wires the parts, starts
// and stops them and answers /ready; the worker (runtime/worker.hpp) and the
// sink runners (runtime/sink_runner.hpp) do the work.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "buffer/buffer.hpp"
#include "config/config.hpp"
#include "core/bounded_queue.hpp"
#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "runtime/sink_runner.hpp"
#include "runtime/worker.hpp"

namespace sluice {

class Pipeline final : public Ingest {
public:
    // Builds every component, opens the buffer and the stages (which load
    // their state). Throws ConfigError (with
    // the component's position in the message) or std::runtime_error.
    // `tables`: the gateway's named tables for the stages (may be null).
    Pipeline(const PipelineSpec& spec, const std::filesystem::path& data_dir, IoLoop& loop,
             TableDirectory* tables = nullptr);
    ~Pipeline() override;

    // Before start(), for a finite run (`sluice test`): when the queue is
    // drained at stop(), the stages get one end-of-input turn (every window
    // closes) before the sinks deliver the rest.
    void close_windows_at_end() { worker_->set_end_of_input_turn(true); }

    void start();
    // Stops sources, commits what was queued, lets sinks deliver until
    // `deadline`, then stops them; what is left stays in the buffer.
    void stop(std::chrono::steady_clock::time_point deadline);
    // Thread-safe, during stop(): gives up delivering now (as if the
    // deadline had passed). Undelivered rows stay in the buffer.
    void cut_short();

    bool sources_finished() const;
    // /ready: every sink healthy or buffering within its limits.
    bool ready(std::string& detail) const;
    const std::string& name() const { return name_; }
    // Time of the worker loop's last turn (mono ns), for the watchdog. A
    // worker waiting for input counts as turning; so does one that waits on
    // purpose (a full buffer with overflow=block, a commit retry).
    std::int64_t last_worker_turn_ns() const { return worker_->last_turn_ns(); }
    // For the service manager's status line.
    std::uint64_t records_committed() const { return records_in_->value(); }
    std::uint64_t buffered_rows() const;
    std::size_t sink_count() const { return sinks_.size(); }
    std::size_t sinks_retrying() const;
    // SQLite reported the buffer damaged since it was opened (any thread).
    bool buffer_damaged() const;

    // Any thread, without blocking: sink `sink` delivers its records from
    // `from_id` on again (a point plan_replay_file checked). `done` gets the
    // outcome once the sink's runner moved its cursor back (from the
    // runner's thread), or at once when there is no such sink or it stopped.
    void replay(const std::string& sink, std::uint64_t from_id, std::function<void(ReplayOutcome)> done);

    // Ingest
    std::size_t try_push(std::vector<Frame>& frames) override;
    bool push_wait(Frame&& frame) override;
    bool push_all_wait(std::vector<Frame>& frames) override;
    void when_space(std::uint32_t source, std::function<void()> fn) override;

private:
    // What a decoder or stage that waits for a command's answer gets: the
    // pipeline's give-up flag and the worker's "waiting on purpose" mark.
    WaitHooks worker_wait_hooks();
    struct SourceSlot;
    using StageSlot = WorkerStage;
    struct SinkSlot;

    // Cuts origins longer than their source's max_origin_bytes before they
    // take room in the queue (the worker dead-letters those frames).
    void bound_origin(Frame& f) const;
    void maybe_signal_space();
    void stall_if_asked(std::int64_t started_ns);
    static std::chrono::milliseconds drain_report_interval();
    void report_drain() const;

    std::string name_;
    IoLoop& loop_;
    std::size_t batch_max_;
    std::chrono::nanoseconds batch_delay_;
    BoundedQueue<Frame, FrameBytes> queue_;
    std::unique_ptr<Buffer> buffer_;
    std::vector<std::unique_ptr<SourceSlot>> sources_;
    std::vector<std::unique_ptr<StageSlot>> stages_;
    TableDirectory* tables_ = nullptr;
    Counter* stream_dropped_ = nullptr;
    std::vector<std::unique_ptr<SinkSlot>> sinks_;
    Clock clock_;
    std::unique_ptr<Worker> worker_;

    std::thread worker_thread_;
    std::atomic<bool> stop_sources_{false};
    std::atomic<bool> worker_done_{false};
    std::atomic<bool> stop_sinks_{false};
    std::atomic<int> sources_running_{0};

    std::mutex space_mu_;
    std::vector<std::pair<std::uint32_t, std::function<void()>>> space_waiters_;

    Counter* records_in_ = nullptr;
    Counter* dead_letters_ = nullptr;
    Counter* commit_errors_ = nullptr;
    Counter* buffer_dropped_ = nullptr;
    std::vector<GaugeFnHandle> gauges_;
    // What /stats reads; registered with the hub from the end of the
    // constructor until stop().
    std::shared_ptr<stats::PipelineStats> stats_;
    bool stats_registered_ = false;
};

}  // namespace sluice
