#pragma once
// One sink's delivery loop, on its own thread: read a batch through the
// sink's buffer cursor, send it, dead-letter what the far side refused, move
// the cursor past what it confirmed, and back off after failures.
//
// The thread boundary: nothing a sink or the buffer throws or reports ends
// the loop. A failure of the sink (open, send, close) or of the buffer (a
// read, a dead letter, a cursor commit: SQLITE_FULL on a full disk) is
// counted in the sink's sluice_component_errors_total, logged once per
// condition, and retried after Backoff. A confirmed batch whose cursor could
// not be stored is not sent again: only the commit is retried.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "buffer/buffer.hpp"
#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/metrics.hpp"
#include "core/backoff.hpp"
#include "stats/hub.hpp"

namespace sluice {

// What /ready and the status line read about a sink (under `mu`).
struct SinkStatus {
    mutable std::mutex mu;
    bool healthy = true;
    std::string last_error;
    std::chrono::nanoseconds backoff{};  // the current retry step
};

struct SinkRunnerOptions {
    std::string id;     // the sink's buffer cursor
    std::string label;  // "<pipeline>/<id>", the metrics label and log prefix
    std::size_t batch_size = 1000;
    std::chrono::nanoseconds retry_initial = std::chrono::seconds(1);
    std::chrono::nanoseconds retry_max = std::chrono::seconds(60);
};

class SinkRunner {
public:
    // `stop`: give up now (shutdown or its deadline). `input_done`: nothing
    // more will be appended; the runner returns once it delivered everything.
    // `status` is updated as the sink fails and recovers.
    SinkRunner(SinkRunnerOptions options, Sink& sink, Buffer& buffer, SinkStatus& status,
               const std::atomic<bool>& stop, const std::atomic<bool>& input_done, Clock& clock);
    ~SinkRunner();

    // The thread's body. Never throws.
    void run();
    // Closes the sink after run() returned; a throwing close() is counted and logged.
    void close();

    bool caught_up() const { return caught_up_.load(); }
    // /stats: observe each send's latency and, as the cursor moves, the
    // end-to-end latency of the rows confirmed, as sink `index` of `p`.
    // Before run().
    void set_stats(stats::PipelineStats* p, std::size_t index) {
        stats_ = p;
        stats_index_ = index;
    }
    ComponentMetrics& metrics() { return metrics_; }

private:
    bool turn();  // one read-send-commit round; false: return from run()
    bool open_reader();
    bool retry_pending_commit();
    ReaderResult commit(std::uint64_t last_id, const std::optional<std::string>& state, bool keep_rows);
    bool dead_letter_rejected(const SendResult& result, std::size_t confirmed);
    void failed(const std::string& error);
    void delivering();

    SinkRunnerOptions opts_;
    Sink& sink_;
    Buffer& buffer_;
    SinkStatus& status_;
    const std::atomic<bool>& stop_;
    const std::atomic<bool>& input_done_;
    Clock& clock_;
    Backoff backoff_;

    ComponentMetrics metrics_;
    Counter* retries_ = nullptr;
    Counter* dead_lettered_ = nullptr;
    Histogram* batch_seconds_ = nullptr;
    Gauge* backoff_seconds_ = nullptr;
    Gauge* up_ = nullptr;
    std::atomic<bool> caught_up_{false};
    stats::PipelineStats* stats_ = nullptr;
    std::size_t stats_index_ = 0;

    // The runner's thread only.
    std::unique_ptr<BufferReader> reader_;
    SinkContext ctx_;
    bool opened_ = false;
    std::vector<StoredRecord> batch_;
    std::vector<StoredRecord> next_;  // read ahead while `batch_` is sent
    bool have_next_ = false;
    std::vector<Record> records_;
    std::uint64_t tapped_through_ = 0;  // the last row id shown to the tap
    // A confirmed batch whose cursor move failed: retried before anything
    // else is read, so what was delivered is not sent again.
    bool commit_pending_ = false;
    std::uint64_t pending_id_ = 0;
    std::optional<std::string> pending_state_;
    bool pending_keep_rows_ = false;
};

}  // namespace sluice
