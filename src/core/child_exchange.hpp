#pragma once
// A long-running child that answers one line for each line it is sent:
// what the exec decoder (a frame in, its records out) and the exec stage (a
// record in, records out) run. Requests are written ahead while answers
// come back (the pipe bounds how far), so a batch costs one round trip's
// latency, not one per request.
//
// The child has `timeout` for each answer it owes. One that exits, crashes
// or does not answer in time is stopped (its whole process group) and
// started again after the one back-off rule's wait; the request it owed is
// sent again, up to `max_attempts` times, and then given up with the reason
// (its exit status and the last line it wrote to standard error), so the
// caller can dead-letter it. Requests sent after that one are sent again
// without counting against them. Its standard error is logged under the
// component's name.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/backoff.hpp"
#include "core/child_process.hpp"
#include "core/line_splitter.hpp"
#include "core/options.hpp"

namespace sluice {

class Counter;

// Help text of sluice_exec_exits_total, shared by every exec component.
inline constexpr std::string_view kExecExitsHelp =
    "Runs of an exec component's command that ended, by how: ok (exit status 0), failed (another status, a "
    "signal, or an exit while it owed answers), timeout (stopped after timeout), not_started";

// A child's standard error, logged line by line under `name`: up to 100
// lines a minute, the rest counted and reported. Keeps the last line for
// failure reasons.
class ChildStderrLog {
public:
    explicit ChildStderrLog(std::string name) : name_(std::move(name)) {}
    void feed(std::string_view bytes);
    void finish();  // the stream ended: its unterminated last line
    // Reports lines left unlogged once their minute is over (or `force`).
    void flush(bool force = false);
    const std::string& last_line() const { return last_; }
    void clear_last_line() { last_.clear(); }

private:
    void line(std::string_view text);

    std::string name_;
    LineSplitter splitter_{1024};
    std::chrono::steady_clock::time_point window_ = std::chrono::steady_clock::now();
    int logged_ = 0;
    std::uint64_t unlogged_ = 0;
    std::string last_;
};

// The options every exec component shares (command, env, restart_initial,
// restart_max, stop_grace), with the defaults given: one vocabulary.
struct ExecOptionDefaults {
    std::string_view restart_initial;
    std::string_view restart_max;
};
std::vector<OptionSpec> exec_command_options(const ExecOptionDefaults& defaults);
// The long-running child's options (timeout, max_attempts, max_answer_bytes).
std::vector<OptionSpec> exec_exchange_options();

struct ExecCommand {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // the reduced environment plus `env`
    std::chrono::nanoseconds restart_initial{};
    std::chrono::nanoseconds restart_max{};
    std::chrono::nanoseconds stop_grace{};
};
// Reads and checks the options of exec_command_options(); throws ConfigError.
ExecCommand exec_command(const Options& o);

struct ChildExchangeConfig {
    std::string name;  // "<pipeline>/<component>": logs and metrics label
    ExecCommand command;
    std::chrono::nanoseconds timeout{};
    int max_attempts = 3;
    std::size_t max_answer_bytes = 1 << 20;
};
ChildExchangeConfig exchange_config(const Options& o, std::string name);

class ChildExchange {
public:
    explicit ChildExchange(ChildExchangeConfig config);
    ~ChildExchange();  // closes its input, gives it stop_grace to end, then stops it

    struct Answer {
        bool ok = false;    // false: given up; `text` says why
        std::string text;   // the answer line (without its newline), or the reason
    };
    // `stopping`: the wait for an answer or a restart ends when it is set.
    // `waiting`: called at least every 200 ms while waiting (the worker's
    // "waiting on purpose, not hung" mark for the watchdog).
    void set_hooks(const std::atomic<bool>* stopping, std::function<void()> waiting);

    // Starts the child now (a program that cannot be started is a
    // std::runtime_error: the pipeline does not start).
    void start();
    // One answer for each request (each one line, without its newline).
    // False when stopping cut it short: the answers from answers.size() on
    // are missing.
    bool exchange(std::span<const std::string> requests, std::vector<Answer>& answers);

private:
    bool spawn(std::string& error);
    // Stops the child after a failure (counted as `timed_out` or failed);
    // returns how it ended. `ended_output`: it closed its output, so it is
    // probably exiting by itself and gets a moment to.
    std::string end_child(bool timed_out, bool ended_output);
    // Stops a child that holds requests of a cut-short call (not counted).
    void abandon_child();
    // Before a call's first request to a child from an earlier call: false
    // (and the child ended) when it exited meanwhile or wrote what no
    // request asked for; it is then started afresh, charging nothing.
    bool idle_child_fits();
    // Waits the back-off before a restart; false when stopping.
    bool wait_restart();
    void read_stderr();
    void still_waiting() const {
        if (waiting_) {
            waiting_();
        }
    }
    bool stopping() const { return stopping_ != nullptr && stopping_->load(); }

    ChildExchangeConfig cfg_;
    std::optional<ChildProcess> child_;
    ChildStderrLog stderr_;
    LineSplitter answers_;
    Backoff backoff_;
    std::string buf_;
    bool failed_ = false;  // the last child failed: the next start waits for the back-off
    const std::atomic<bool>* stopping_ = nullptr;
    std::function<void()> waiting_;
    Counter* exits_ok_ = nullptr;
    Counter* exits_failed_ = nullptr;
    Counter* exits_timeout_ = nullptr;
    Counter* exits_not_started_ = nullptr;
    Counter* retries_ = nullptr;
};

}  // namespace sluice
