#pragma once
// A source that reads on a thread of its own (stdin, exec): the thread, its
// stop flag and the eventfd that wakes its poll, the body run under
// run_restarting (started again with back-off after an exception); and how
// such a thread hands its frames on.

#include <atomic>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/guard.hpp"
#include "core/metrics.hpp"
#include "core/wake_fd.hpp"

namespace sluice {

class SourceThread {
public:
    SourceThread() = default;
    SourceThread(const SourceThread&) = delete;
    SourceThread& operator=(const SourceThread&) = delete;
    ~SourceThread() { stop(); }

    // Runs `body` on the thread until it returns (or the source stops).
    template <class Body>
    void start(SourceContext& ctx, Body body) {
        wake_.drain();  // a stop() before this start
        thread_ = std::thread([this, &ctx, body = std::move(body)]() mutable {
            run_restarting(ctx.name, ctx.metrics->errors, [this](auto d) { return wait_unless(stopping_, d); }, body);
        });
    }
    // Sets the flag, wakes the poll and joins the thread.
    void stop() {
        stopping_ = true;
        wake_.wake();
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    bool stopping() const { return stopping_.load(); }
    // For pollfd{wake().fd(), POLLIN, 0} beside the descriptor read.
    const WakeFd& wake() const { return wake_; }

private:
    std::atomic<bool> stopping_{false};
    WakeFd wake_;
    std::thread thread_;
};

// Hands frames read now to the pipeline: stamps their arrival, counts them,
// and waits while the ingest queue is full (so the reader stops reading and
// its peer is held back). False once the pipeline is stopping.
inline bool deliver_frames(SourceContext& ctx, std::vector<Frame>& frames) {
    if (frames.empty()) {
        return true;
    }
    const TimeNs now = wall_now_ns();
    for (auto& f : frames) {
        f.arrival_ns = now;
    }
    ctx.metrics->received->inc(frames.size());
    ctx.metrics->last_seen->set(static_cast<double>(now) / 1e9);
    return ctx.ingest->push_all_wait(frames);
}

}  // namespace sluice
