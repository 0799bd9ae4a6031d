// Runs a command and reads frames from its standard output: lines or
// length-prefixed blobs (text/stream_framing.hpp). Long-running (restarted
// with the one back-off rule when it exits) or periodic (run every
// `interval`, killed after `timeout`). Its standard error is logged under
// the source's name. The child gets a reduced environment
// (core/child_process.hpp) and runs in a process group of its own, so
// stopping it stops what it started.

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "core/backoff.hpp"
#include "core/child_exchange.hpp"
#include "core/child_process.hpp"
#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/guard.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/source_thread.hpp"
#include "text/stream_framing.hpp"

namespace sluice::components {
namespace {

using Clock = std::chrono::steady_clock;

class ExecSource final : public Source {
public:
    explicit ExecSource(const Options& o)
        : cmd_(exec_command(o)),
          command_(cmd_.argv),
          interval_(o.duration("interval")),
          timeout_(o.duration("timeout")),
          framing_(o.str("framing") == "length" ? framing::Framing::Length : framing::Framing::Line),
          max_frame_(o.memory_size("max_frame_bytes")),
          restart_initial_(cmd_.restart_initial),
          restart_max_(cmd_.restart_max),
          stop_grace_(cmd_.stop_grace) {
        if (interval_.count() > 0 && interval_ < std::chrono::milliseconds(10)) {
            throw ConfigError("interval: 0 (long-running) or at least 10ms");
        }
        if (timeout_.count() == 0) {
            timeout_ = interval_;  // periodic: a run may take its interval; long-running: no limit
        }
    }
    ~ExecSource() override { stop(); }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        stderr_.emplace(ctx.name);
        auto& m = metrics();
        const auto exits = [&](std::string_view result) {
            return &m.counter("sluice_exec_exits_total", kExecExitsHelp,
                              {{"component", ctx.name}, {"result", std::string(result)}});
        };
        exits_ok_ = exits("ok");
        exits_failed_ = exits("failed");
        exits_timeout_ = exits("timeout");
        exits_not_started_ = exits("not_started");
        thread_.start(ctx, [this] { run(); });
    }

    void stop() override { thread_.stop(); }

private:
    bool periodic() const { return interval_.count() > 0; }

    // Sleeps until `until` or stop(); false when stopping.
    bool sleep_until(Clock::time_point until) {
        while (!thread_.stopping()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            if (left.count() <= 0) {
                return true;
            }
            pollfd p{thread_.wake().fd(), POLLIN, 0};
            const auto ms = thread_.wake().valid() ? std::min<std::int64_t>(left.count(), 60'000) : 20;
            ::poll(&p, 1, static_cast<int>(ms));
        }
        return false;
    }

    void run() {
        Backoff backoff(restart_initial_, restart_max_);
        auto next = Clock::now();
        while (!thread_.stopping()) {
            const auto started = Clock::now();
            const bool ok = run_once();
            if (thread_.stopping() || closed_) {
                return;  // the gateway stops (or the pipeline's queue is closed): no restart
            }
            if (periodic()) {
                next += interval_;
                if (next < Clock::now()) {
                    next = Clock::now();  // a run longer than its interval: the next one at once, no burst
                }
                if (!sleep_until(next)) {
                    return;
                }
                continue;
            }
            // Long-running: a child that ran for restart_max was fine; one
            // that keeps dying waits longer each time.
            if (ok || Clock::now() - started >= restart_max_) {
                backoff.reset();
            }
            const auto wait = backoff.next();
            log::info("{}: restarting '{}' in {}", ctx_->name, command_[0],
                      format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(wait)));
            if (!sleep_until(Clock::now() + wait)) {
                return;
            }
        }
    }

    // One run of the command, to its end (or a stop, or its timeout). True
    // when it exited with status 0.
    bool run_once() {
        ChildSpec spec;
        spec.argv = command_;
        spec.env = cmd_.env;
        std::string error;
        auto child = ChildProcess::spawn(spec, error);
        if (!child) {
            exits_not_started_->inc();
            ctx_->metrics->errors->inc();
            log::warn("{}: {}", ctx_->name, error);
            return false;
        }
        log::debug("{}: started '{}' (pid {})", ctx_->name, command_[0], child->pid());
        framing::Framer framer(framing_, max_frame_);
        const bool limited = timeout_.count() > 0;
        const auto deadline = Clock::now() + timeout_;
        bool timed_out = false;
        std::vector<Frame> frames;
        std::string buf(64 * 1024, '\0');
        std::string broken;
        std::optional<std::string> exited;  // how it ended, once it has
        while (!thread_.stopping() && (child->stdout_fd() >= 0 || child->stderr_fd() >= 0)) {
            if (exited) {
                // It has exited but something it started holds its output:
                // what is there now is read, then the run ends.
                drain(*child, framer, frames, buf, broken);
                if (!deliver(frames)) {
                    closed_ = !thread_.stopping();
                }
                break;
            }
            pollfd p[3] = {{child->stdout_fd(), POLLIN, 0},
                           {child->stderr_fd(), POLLIN, 0},
                           {thread_.wake().fd(), POLLIN, 0}};
            // Woken by output or stop(); every 200 ms it looks whether the
            // command has exited (no descriptor tells that).
            std::int64_t wait_ms = thread_.wake().valid() ? 200 : 20;
            if (limited) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
                if (left.count() <= 0) {
                    timed_out = true;
                    break;
                }
                wait_ms = std::min<std::int64_t>(wait_ms, left.count() + 1);
            }
            const int pr = ::poll(p, 3, static_cast<int>(wait_ms));
            if (pr == 0) {
                exited = child->poll_exit();
                continue;
            }
            if (pr < 0 && errno != EINTR) {
                broken = fmt::format("poll: {}", std::strerror(errno));
                break;
            }
            if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                const ssize_t n = ::read(child->stdout_fd(), buf.data(), buf.size());
                if (n > 0) {
                    ctx_->metrics->received_bytes->inc(static_cast<std::uint64_t>(n));
                    take(framer.feed(std::string_view(buf.data(), static_cast<std::size_t>(n))), frames, broken);
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    take(framer.finish(), frames, broken);
                    child->close_stdout();
                }
                if (!deliver(frames)) {
                    closed_ = !thread_.stopping();  // the pipeline's queue is closed: it is going away
                    break;
                }
                if (!broken.empty()) {
                    break;
                }
            }
            if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                const ssize_t n = ::read(child->stderr_fd(), buf.data(), buf.size());
                if (n > 0) {
                    stderr_->feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    stderr_->finish();
                    child->close_stderr();
                }
            }
        }
        stderr_->finish();  // a line the run left unfinished is its own, not the next run's
        stderr_->flush();
        if (!broken.empty()) {
            ctx_->metrics->errors->inc();
            log::warn("{}: {}; stopping '{}'", ctx_->name, broken, command_[0]);
        }
        if (timed_out) {
            exits_timeout_->inc();
            ctx_->metrics->errors->inc();
            const std::string how = child->stop(std::chrono::duration_cast<std::chrono::milliseconds>(stop_grace_));
            log::warn("{}: '{}' ran longer than its timeout ({}): stopped ({})", ctx_->name, command_[0],
                      format_duration(timeout_), how);
            return false;
        }
        // Its output is closed: it is ending, and gets stop_grace to do so
        // by itself (a tool closes its output just before it exits). When
        // stopping, or when something it started still holds its output
        // after it exited, it (or what is left of its group) is stopped.
        const auto grace = std::chrono::duration_cast<std::chrono::milliseconds>(stop_grace_);
        std::string how;
        if (exited) {
            how = *exited;
        } else if (auto done = thread_.stopping() || closed_ || !broken.empty() ? std::nullopt : child->wait_exit(grace)) {
            how = *done;
        } else {
            how = child->stop(grace);
        }
        if (thread_.stopping() || closed_) {
            return true;
        }
        if (how == "exit status 0" && broken.empty()) {
            exits_ok_->inc();
            log::debug("{}: '{}' ended ({})", ctx_->name, command_[0], how);
            return true;
        }
        exits_failed_->inc();
        ctx_->metrics->errors->inc();
        log::warn("{}: '{}' ended: {}", ctx_->name, command_[0], how);
        return false;
    }

    // Reads what the pipes hold now, without waiting. False when the output
    // broke the framing.
    bool drain(ChildProcess& child, framing::Framer& framer, std::vector<Frame>& frames, std::string& buf,
               std::string& broken) {
        for (int fd : {child.stdout_fd(), child.stderr_fd()}) {
            for (std::size_t total = 0; fd >= 0 && total < 16 * buf.size();) {
                const ssize_t n = ::read(fd, buf.data(), buf.size());
                if (n <= 0) {
                    break;
                }
                total += static_cast<std::size_t>(n);
                if (fd == child.stdout_fd()) {
                    take(framer.feed(std::string_view(buf.data(), static_cast<std::size_t>(n))), frames, broken);
                } else {
                    stderr_->feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
                }
            }
        }
        take(framer.finish(), frames, broken);
        stderr_->finish();
        child.close_stdout();
        child.close_stderr();
        return broken.empty();
    }

    void take(framing::FeedResult r, std::vector<Frame>& frames, std::string& broken) {
        for (auto& payload : r.frames) {
            Frame f;
            f.payload = std::move(payload);
            f.origin = command_[0];
            f.source = ctx_->index;
            frames.push_back(std::move(f));
        }
        if (!r.error.empty() && broken.empty()) {
            broken = r.error;
        }
    }

    bool deliver(std::vector<Frame>& frames) { return deliver_frames(*ctx_, frames); }

    ExecCommand cmd_;
    const std::vector<std::string>& command_;
    std::chrono::nanoseconds interval_;
    std::chrono::nanoseconds timeout_;
    framing::Framing framing_;
    std::size_t max_frame_;
    std::chrono::nanoseconds restart_initial_;
    std::chrono::nanoseconds restart_max_;
    std::chrono::nanoseconds stop_grace_;
    SourceContext* ctx_ = nullptr;
    Counter* exits_ok_ = nullptr;
    Counter* exits_failed_ = nullptr;
    Counter* exits_timeout_ = nullptr;
    Counter* exits_not_started_ = nullptr;
    bool closed_ = false;  // the ingest queue refused frames: the pipeline is going away
    std::optional<ChildStderrLog> stderr_;
    SourceThread thread_;
};

}  // namespace

const Descriptor& source_exec() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "exec",
        .summary = "Runs a command and reads frames from its standard output (lines or length-prefixed); "
                   "long-running and restarted when it exits, or run every interval",
        .delivery = Delivery::BestEffort,
        .loss_window = "Frames the command wrote but that were not yet committed to the buffer when the process "
                       "dies are lost: a command's output cannot be asked for again.",
        .options = concat_specs({exec_command_options({.restart_initial = "1s", .restart_max = "1m"}),
                                 {
                {.name = "interval", .type = OptionType::Duration, .default_value = "0s",
                 .doc = "Run the command every interval (like Telegraf's exec), reading its output each time; 0: run "
                        "it once and restart it whenever it exits (a long-running reader).",
                 .min = 0, .max = 7 * 86400},
                {.name = "timeout", .type = OptionType::Duration, .default_value = "0s",
                 .doc = "A run that takes longer is stopped (SIGTERM, then SIGKILL after stop_grace) and counted; "
                        "0: the interval when periodic, no limit when long-running.",
                 .min = 0, .max = 7 * 86400},
                {.name = "framing", .type = OptionType::Enum, .default_value = "line",
                 .doc = "Its standard output: line (newline-terminated frames) or length (a 4-byte big-endian length, "
                        "then the frame)",
                 .choices = "line|length"},
                {.name = "max_frame_bytes", .type = OptionType::Size, .default_value = "1MiB",
                 .doc = "Longest frame; a longer one stops the run (counted as an error)", .min = 16,
                 .max = 64 << 20},
            }}),
        .make_source = [](const Options& o) { return std::make_unique<ExecSource>(o); },
    };
    return d;
}

}  // namespace sluice::components
