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
//
// With a backlog (a read filled the whole batch) the next batch is read, and
// the rows confirmed before trimmed, on a side thread while this one is
// sent. A sink that overlaps batches (Sink::overlaps: Kafka) is handed that
// next batch before this one's confirmations are in, as long as the batch
// before went through; the cursor still moves over one batch at a time, in
// order, and a batch that is not wholly confirmed takes the one started
// after it back to the cursor.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "buffer/buffer.hpp"
#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/metrics.hpp"
#include "runtime/side_thread.hpp"
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
    // Records per send while the sink keeps up. With a backlog (a read
    // filled the whole batch) the next batch doubles, up to batch_max, so
    // the per-send costs (an fsync, a request, the cursor update) fall
    // under load; it is back to batch_size as soon as a read comes back
    // short. batch_max <= batch_size: fixed batches. The first read after
    // the runner (re)opened its reader asks for batch_max (see open_reader).
    // Changing batch_max to a smaller value across a crash can make the
    // file sink write its last unconfirmed batch twice.
    std::size_t batch_size = 1000;
    std::size_t batch_max = 0;
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

    // Any thread: the records from `from_id` on are to be delivered again
    // (a replay; Buffer::plan_replay checks the point first). The runner
    // moves its cursor back between two batches and calls `done` with the
    // outcome, from its own thread; a runner that stops first calls it with
    // an error. A newer request replaces one not yet applied (which is
    // answered as replaced).
    using ReplayDone = std::function<void(const ReaderResult&, std::uint64_t records)>;
    void request_replay(std::uint64_t from_id, ReplayDone done);

private:
    // Applies a requested replay, if any (the runner's thread, between batches).
    void apply_replay();
    void answer_replay(const std::string& error);
    bool turn();  // one read-send-commit round; false: return from run()
    bool open_reader();
    bool retry_pending_commit();
    ReaderResult commit(std::uint64_t last_id, const std::optional<std::string>& state, bool keep_rows);
    bool dead_letter_rejected(const SendResult& result, std::size_t confirmed);
    // Counts, logs once per condition and waits the back-off, or `asked`
    // (the far side's Retry-After) when that is longer, up to retry_max.
    void failed(const std::string& error, std::chrono::nanoseconds asked = std::chrono::nanoseconds(0));
    // Forgets the batch read ahead; batches started and not finished are
    // finished and their results ignored (Sink::overlaps).
    void drop_next();
    void delivering();
    // After a read that asked for `asked` records and got `got`: grows the
    // target while reads come back full, back to batch_size when short.
    void adapt(std::size_t asked, std::size_t got);

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
    Gauge* batch_target_ = nullptr;
    std::atomic<bool> caught_up_{false};
    stats::PipelineStats* stats_ = nullptr;
    std::size_t stats_index_ = 0;

    Counter* replays_ = nullptr;
    std::mutex replay_mu_;
    std::optional<std::pair<std::uint64_t, ReplayDone>> replay_;  // replay_mu_
    std::atomic<bool> replay_asked_{false};
    bool finished_ = false;     // replay_mu_: run() returned
    bool replay_mark_ = false;  // the stored state holds offline_replay's mark: cleared by the next commit

    // The runner's thread only.
    std::unique_ptr<BufferReader> reader_;
    SinkContext ctx_;
    bool opened_ = false;
    // The batch in hand as the sink gets it, and its rows' ids.
    std::vector<Record> batch_;
    std::vector<std::uint64_t> batch_ids_;
    std::vector<Record> next_;  // read ahead while `batch_` is sent
    std::vector<std::uint64_t> next_ids_;
    bool have_next_ = false;
    // Sink::overlaps(): next_ was handed to the sink (start) while batch_
    // waited for its confirmations, and batch_ was started a turn before.
    bool next_started_ = false;
    bool batch_started_ = false;
    std::int64_t next_started_at_ = 0;  // mono ns, for the send latency
    std::int64_t batch_started_at_ = 0;
    // The last batch went through: only then is the next one started early.
    bool delivering_ = true;
    // The next batch is read (and the rows confirmed before trimmed) on a
    // thread of the runner's own while `batch_` is sent.
    SideThread ahead_thread_;
    std::uint64_t ahead_after_ = 0;
    ReaderResult ahead_;
    std::size_t target_ = 0;       // records the next read asks for (adaptive)
    std::size_t batch_asked_ = 0;  // what the read of batch_ asked for
    std::size_t next_asked_ = 0;   // what the read of next_ asked for
    std::uint64_t tapped_through_ = 0;  // the last row id shown to the tap
    // A confirmed batch whose cursor move failed: retried before anything
    // else is read, so what was delivered is not sent again.
    bool commit_pending_ = false;
    std::uint64_t pending_id_ = 0;
    std::optional<std::string> pending_state_;
    bool pending_keep_rows_ = false;
};

}  // namespace sluice
