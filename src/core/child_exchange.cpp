#include "core/child_exchange.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/units.hpp"

namespace sluice {

using SteadyClock = std::chrono::steady_clock;

// ---------------------------------------------------------------- standard error

namespace {
constexpr int kStderrLinesPerMinute = 100;
}  // namespace

void ChildStderrLog::feed(std::string_view bytes) {
    splitter_.feed(
        bytes, [this](std::string_view l, std::uint64_t) { line(l); }, [this](std::uint64_t) { ++unlogged_; });
}

void ChildStderrLog::finish() {
    splitter_.finish([this](std::string_view l, std::uint64_t) { line(l); });
    splitter_.reset(0);
}

void ChildStderrLog::flush(bool force) {
    if (unlogged_ > 0 && (force || SteadyClock::now() - window_ > std::chrono::minutes(1))) {
        log::warn("{}: {} more lines on standard error were not logged", name_, unlogged_);
        unlogged_ = 0;
    }
}

void ChildStderrLog::line(std::string_view text) {
    last_.assign(text.substr(0, 200));
    if (SteadyClock::now() - window_ > std::chrono::minutes(1)) {
        flush(true);
        window_ = SteadyClock::now();
        logged_ = 0;
    }
    if (logged_++ < kStderrLinesPerMinute) {
        log::warn("{}: {}", name_, text);
    } else {
        ++unlogged_;
    }
}

// ---------------------------------------------------------------- options

std::vector<OptionSpec> exec_command_options(const ExecOptionDefaults& defaults) {
    return {
        {.name = "command", .type = OptionType::List, .doc =
             "The program and its arguments, without a shell: [\"/usr/local/bin/read-meter\", \"--json\"] "
             "(for a shell, say so: [\"/bin/sh\", \"-c\", \"...\"]). A name without a slash is looked up in "
             "the PATH the command gets (see env).",
         .required = true, .min = 1},
        {.name = "env", .type = OptionType::List,
         .doc = "More environment for the command, [\"NAME=value\"] (replacing what it names); it gets only "
                "PATH, LANG, LC_ALL, TZ and HOME of the gateway's own (no secrets). A program name without "
                "a slash is looked up in the PATH it gets."},
        {.name = "restart_initial", .type = OptionType::Duration, .default_value = defaults.restart_initial,
         .doc = "First wait before a command that exited or failed is started again; doubles (with jitter) "
                "while it keeps failing, up to restart_max",
         .min = 0.01},
        {.name = "restart_max", .type = OptionType::Duration, .default_value = defaults.restart_max,
         .doc = "Longest wait between restarts; the waits start afresh once the command works again (a source's "
                "command that ran this long, an answer from a decoder's or stage's)",
         .min = 0.01},
        {.name = "stop_grace", .type = OptionType::Duration, .default_value = "2s",
         .doc = "Time between SIGTERM and SIGKILL when a command is stopped (timeout, a broken frame, the "
                "gateway stopping); it also waits this long for a command whose output closed to exit",
         .min = 0, .max = 10},
    };
}

std::vector<OptionSpec> exec_exchange_options() {
    return {
        {.name = "timeout", .type = OptionType::Duration, .default_value = "5s",
         .doc = "How long the command has for each answer it owes; one that takes longer is stopped and started "
                "again, and the request sent again",
         .min = 0.01, .max = 3600},
        {.name = "max_attempts", .type = OptionType::Int, .default_value = "3",
         .doc = "Times a request is sent to a command that crashes or hangs on it before it is given up (a dead "
                "letter with the command's exit status and last line on standard error)",
         .min = 1, .max = 100},
        {.name = "max_answer_bytes", .type = OptionType::Size, .default_value = "1MiB",
         .doc = "Longest answer line; a longer one is skipped and its request dead-lettered", .min = 64,
         .max = 64 << 20},
    };
}

ExecCommand exec_command(const Options& o) {
    ExecCommand c;
    c.argv = o.list("command");
    if (c.argv.empty() || c.argv[0].empty()) {
        throw ConfigError("command: give the program and its arguments, e.g. [\"/usr/local/bin/read-meter\", "
                          "\"--json\"]");
    }
    c.restart_initial = o.duration("restart_initial");
    c.restart_max = o.duration("restart_max");
    c.stop_grace = o.duration("stop_grace");
    if (c.restart_max < c.restart_initial) {
        throw ConfigError("restart_max must not be shorter than restart_initial");
    }
    const auto extra = o.list_or_empty("env");
    for (const auto& e : extra) {
        if (e.find('=') == std::string::npos || e.front() == '=') {
            throw ConfigError(fmt::format("env: '{}' is not NAME=value", e));
        }
    }
    c.env = reduced_environment(extra);
    return c;
}

ChildExchangeConfig exchange_config(const Options& o, std::string name) {
    ChildExchangeConfig c;
    c.name = std::move(name);
    c.command = exec_command(o);
    c.timeout = o.duration("timeout");
    c.max_attempts = static_cast<int>(o.integer("max_attempts"));
    c.max_answer_bytes = o.memory_size("max_answer_bytes");
    return c;
}

// ---------------------------------------------------------------- the exchange

namespace {

// Answers of one call kept at most (the rest are given up with the reason),
// so that a batch of long answers cannot take much more memory than one.
constexpr std::size_t kAnswerBudget = 32 << 20;

// writev without SIGPIPE, whatever the process's disposition: the signal
// is blocked on this thread for the call and a pending one taken back.
ssize_t write_no_sigpipe(int fd, const iovec* iov, int parts) {
    sigset_t pipe_only;
    sigset_t old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    const ssize_t w = ::writev(fd, iov, parts);
    const int err = errno;
    if (w < 0 && err == EPIPE) {
        const timespec none{};
        while (sigtimedwait(&pipe_only, nullptr, &none) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = err;
    return w;
}

}  // namespace

ChildExchange::ChildExchange(ChildExchangeConfig config)
    : cfg_(std::move(config)),
      stderr_(cfg_.name),
      answers_(cfg_.max_answer_bytes, /*keep_empty=*/true),
      backoff_(cfg_.command.restart_initial, cfg_.command.restart_max),
      buf_(64 * 1024, '\0') {
    auto& m = metrics();
    const std::string& c = cfg_.name;
    const auto exits = [&](std::string_view result) {
        return &m.counter("sluice_exec_exits_total", kExecExitsHelp, {{"component", c}, {"result", std::string(result)}});
    };
    exits_ok_ = exits("ok");
    exits_failed_ = exits("failed");
    exits_timeout_ = exits("timeout");
    exits_not_started_ = exits("not_started");
    retries_ = &m.counter("sluice_exec_retries_total",
                          "Requests (frames, records) sent again to an exec component's command after it crashed or "
                          "hung with them in flight",
                          {{"component", c}});
}

ChildExchange::~ChildExchange() {
    if (child_ && child_->running()) {
        // The end of its input tells it to finish; then it is stopped.
        child_->close_stdin();
        const auto grace = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.command.stop_grace);
        if (!child_->wait_exit(grace)) {
            child_->stop(grace);
        }
    }
    stderr_.flush(true);
}

void ChildExchange::set_hooks(const std::atomic<bool>* stopping, std::function<void()> waiting) {
    stopping_ = stopping;
    waiting_ = std::move(waiting);
}

bool ChildExchange::spawn(std::string& error) {
    ChildSpec spec;
    spec.argv = cfg_.command.argv;
    spec.env = cfg_.command.env;
    spec.stdin_pipe = true;
    child_ = ChildProcess::spawn(spec, error);
    answers_.reset(0);
    stderr_.clear_last_line();
    if (!child_) {
        exits_not_started_->inc();
        return false;
    }
    log::debug("{}: started '{}' (pid {})", cfg_.name, cfg_.command.argv[0], child_->pid());
    return true;
}

void ChildExchange::start() {
    std::string error;
    if (!spawn(error)) {
        throw std::runtime_error(fmt::format("command '{}': {}", cfg_.command.argv[0], error));
    }
}

void ChildExchange::read_stderr() {
    if (!child_ || child_->stderr_fd() < 0) {
        return;
    }
    for (int i = 0; i < 16; ++i) {
        const ssize_t n = ::read(child_->stderr_fd(), buf_.data(), buf_.size());
        if (n > 0) {
            stderr_.feed(std::string_view(buf_.data(), static_cast<std::size_t>(n)));
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            stderr_.finish();
            child_->close_stderr();
        }
        return;
    }
}

std::string ChildExchange::end_child(bool timed_out, bool ended_output) {
    std::string how;
    if (child_) {
        still_waiting();
        const auto grace = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.command.stop_grace);
        if (auto done = child_->poll_exit()) {
            how = *done;
        } else if (auto ended = ended_output ? child_->wait_exit(std::min(grace, std::chrono::milliseconds(200)))
                                             : std::nullopt) {
            how = *ended;
        } else {
            how = child_->stop(grace);
        }
        still_waiting();
        read_stderr();  // its last words, for the reason
        stderr_.finish();
        child_.reset();
    }
    (timed_out ? exits_timeout_ : exits_failed_)->inc();
    failed_ = true;
    return how;
}

void ChildExchange::abandon_child() {
    if (child_) {
        child_->stop(std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.command.stop_grace));
        read_stderr();
        stderr_.finish();
        child_.reset();
    }
}

bool ChildExchange::idle_child_fits() {
    if (auto how = child_->poll_exit()) {
        (*how == "exit status 0" ? exits_ok_ : exits_failed_)->inc();
        read_stderr();
        stderr_.finish();
        log::warn("{}: '{}' exited between requests ({}); starting it again", cfg_.name, cfg_.command.argv[0], *how);
        child_.reset();
        return false;
    }
    pollfd p{child_->stdout_fd(), POLLIN, 0};
    if (answers_.mid_line() || (::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0)) {
        // Output no request asked for: what comes next cannot be matched
        // to requests any more.
        const std::string how = end_child(false, false);
        log::warn("{}: '{}' wrote to its standard output between requests (only answers may go there, one line "
                  "each; logs go to standard error): stopped ({}), starting it again",
                  cfg_.name, cfg_.command.argv[0], how);
        failed_ = false;  // nothing was asked of it: no wait
        return false;
    }
    return true;
}

bool ChildExchange::wait_restart() {
    if (!failed_) {
        return true;
    }
    const auto until = SteadyClock::now() + backoff_.next();
    while (SteadyClock::now() < until) {
        if (stopping()) {
            return false;
        }
        still_waiting();
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now());
        ::poll(nullptr, 0, static_cast<int>(std::clamp<std::int64_t>(left.count(), 1, 200)));
    }
    failed_ = false;
    return true;
}

bool ChildExchange::exchange(std::span<const std::string> requests, std::vector<Answer>& answers) {
    answers.clear();
    stderr_.flush();
    const std::size_t n = requests.size();
    std::size_t done = 0;        // answered or given up
    int attempts = 0;            // failures of the child while it owed requests[done]
    std::size_t solo_until = 0;  // below this, one request in flight at a time (after a failure)
    std::size_t kept = 0;        // bytes of answers kept (kAnswerBudget)
    const std::size_t budget = std::max(kAnswerBudget, cfg_.max_answer_bytes);
    static constexpr char kNewline = '\n';
    if (n > 0 && child_ && child_->running()) {
        (void)idle_child_fits();
    }
    while (done < n) {
        if (stopping()) {
            return false;
        }
        std::string reason;
        bool timed_out = false;
        bool ended_output = false;
        if (!child_ || !child_->running()) {
            if (!wait_restart()) {
                return false;
            }
            if (!spawn(reason)) {
                failed_ = true;
                reason = fmt::format("cannot start '{}': {}", cfg_.command.argv[0], reason);
            }
        }
        std::size_t sent = done;  // requests written whole
        std::size_t offset = 0;   // bytes of requests[sent] (and its newline) written
        auto last_progress = SteadyClock::now();
        bool protocol_error = false;
        const auto answered = [&](Answer a) {
            answers.push_back(std::move(a));
            ++done;
            attempts = 0;
            last_progress = SteadyClock::now();
        };
        const auto on_line = [&](std::string_view line, std::uint64_t) {
            if (protocol_error) {
                return;
            }
            if (done >= sent) {
                protocol_error = true;
                reason = "it answered more lines than it was sent";
                return;
            }
            backoff_.reset();
            if (kept + line.size() > budget) {
                answered({false, fmt::format("the answers to one batch took more than {}", format_size(budget))});
                return;
            }
            kept += line.size();
            answered({true, std::string(line)});
        };
        const auto on_too_long = [&](std::uint64_t) {
            if (protocol_error || done >= sent) {
                return;
            }
            answered({false, fmt::format("its answer was longer than max_answer_bytes ({})",
                                         format_size(cfg_.max_answer_bytes))});
        };
        while (reason.empty() && done < n) {
            if (stopping()) {
                if (sent > done || offset > 0) {
                    abandon_child();  // it holds requests no answer will be matched to
                }
                return false;
            }
            still_waiting();
            // After a failure the requests that were in flight go one at a
            // time, so the next failure is charged to the one that caused it.
            const std::size_t window = done < solo_until ? done + 1 : n;
            const bool can_write = sent < std::min(n, window);
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                last_progress + cfg_.timeout - SteadyClock::now());
            pollfd p[3] = {{can_write ? child_->stdin_fd() : -1, POLLOUT, 0},
                           {child_->stdout_fd(), POLLIN, 0},
                           {child_->stderr_fd(), POLLIN, 0}};
            const int pr = ::poll(p, 3, static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 0, 200)));
            if (pr < 0 && errno != EINTR) {
                reason = fmt::format("poll: {}", std::strerror(errno));
                break;
            }
            if (pr > 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
                // Whole requests while the pipe takes them; a partial write
                // goes on where it stopped.
                while (sent < std::min(n, window)) {
                    const std::string& r = requests[sent];
                    iovec iov[2];
                    int parts = 0;
                    if (offset < r.size()) {
                        iov[parts++] = {const_cast<char*>(r.data()) + offset, r.size() - offset};
                    }
                    iov[parts++] = {const_cast<char*>(&kNewline), 1};
                    const ssize_t w = write_no_sigpipe(child_->stdin_fd(), iov, parts);
                    if (w < 0) {
                        if (errno != EAGAIN && errno != EINTR) {
                            reason = fmt::format("it stopped reading its input ({})", std::strerror(errno));
                        }
                        break;
                    }
                    offset += static_cast<std::size_t>(w);
                    if (offset < r.size() + 1) {
                        break;  // the pipe is full
                    }
                    ++sent;
                    offset = 0;
                }
            }
            if (pr > 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
                const ssize_t r = ::read(child_->stdout_fd(), buf_.data(), buf_.size());
                if (r > 0) {
                    answers_.feed(std::string_view(buf_.data(), static_cast<std::size_t>(r)), on_line, on_too_long);
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    if (reason.empty()) {
                        reason = "it closed its output";
                        ended_output = true;
                    }
                }
            }
            if (pr > 0 && (p[2].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
                read_stderr();
            }
            if (!reason.empty() || done >= n) {
                break;
            }
            // Every request not yet answered is owed: the command must
            // answer within `timeout` of its last answer (or of the call's
            // start), or be stuck.
            if (SteadyClock::now() - last_progress > cfg_.timeout) {
                timed_out = true;
                reason = fmt::format("no answer within timeout ({})", format_duration(cfg_.timeout));
            } else if (pr == 0 && child_->poll_exit()) {
                // No descriptor tells that it exited (something it started
                // may hold its pipes): looked at when nothing happens.
                reason = "it exited while it owed an answer";
            }
        }
        if (reason.empty()) {
            continue;  // all answered
        }
        // The child failed (or could not start) while it owed requests[done].
        const std::string how = child_ ? end_child(timed_out, ended_output) : std::string();
        std::string why = reason;
        if (!how.empty()) {
            why += fmt::format(" ({})", how);
        }
        if (!stderr_.last_line().empty()) {
            why += fmt::format("; its last words: {}", stderr_.last_line());
        }
        if (done >= n) {
            log::warn("{}: '{}' failed after its last answer: {}", cfg_.name, cfg_.command.argv[0], why);
            break;
        }
        const std::size_t in_flight = std::max(sent, done + 1) - done;
        if (in_flight > 1) {
            solo_until = std::max(solo_until, done + in_flight);
        }
        ++attempts;
        if (attempts >= cfg_.max_attempts && in_flight == 1) {
            log::warn("{}: '{}' failed on a request {} time(s), giving it up: {}", cfg_.name, cfg_.command.argv[0],
                      attempts, why);
            answers.push_back({false, fmt::format("'{}' failed on it {} time(s): {}", cfg_.command.argv[0],
                                                  attempts, why)});
            ++done;
            attempts = 0;
            continue;  // nothing is sent again
        }
        if (attempts >= cfg_.max_attempts) {
            attempts = cfg_.max_attempts - 1;  // charged only when it was alone in flight
        }
        log::warn("{}: '{}' failed with {} request(s) in flight, sending them again{}: {}", cfg_.name,
                  cfg_.command.argv[0], in_flight, in_flight > 1 ? " one at a time" : "", why);
        retries_->inc(in_flight);
    }
    return true;
}

}  // namespace sluice
