#pragma once
// A child process with pipes to its standard streams: what the exec
// components run (the exec source now; a decoder and a stage in a child
// next). Started with posix_spawn, without a shell, in a session and
// process group of its own (so that stopping it stops what it started, and
// a terminal the gateway runs in is not its), with the default signal
// dispositions and mask, no descriptor of the gateway's but its three
// pipes, and only the environment it is given.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

struct ChildSpec {
    // argv[0] is the program: a path, or a name looked up in the PATH of
    // `env` (else /usr/local/bin:/usr/bin:/bin).
    std::vector<std::string> argv;
    std::vector<std::string> env;   // "NAME=value", all the child gets
    bool stdin_pipe = false;        // false: /dev/null
};

// The environment a child gets by default: PATH (the gateway's, else
// /usr/local/bin:/usr/bin:/bin), LANG, LC_ALL and TZ when set, HOME (the
// gateway's, else /nonexistent); nothing else of the gateway's (no secrets
// from its environment). `extra` ("NAME=value") replaces or adds.
std::vector<std::string> reduced_environment(const std::vector<std::string>& extra = {});

class ChildProcess {
public:
    ChildProcess() = default;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ChildProcess(ChildProcess&& o) noexcept;
    ChildProcess& operator=(ChildProcess&& o) noexcept;
    // A child still running is killed (its whole group) and reaped.
    ~ChildProcess();

    // Starts the child; nullopt with `error` set when it cannot be
    // (no such program, no permission, no pipes).
    static std::optional<ChildProcess> spawn(const ChildSpec& spec, std::string& error);

    pid_t pid() const { return pid_; }
    // Non-blocking pipe ends, -1 when not there (or closed).
    int stdin_fd() const { return in_; }
    int stdout_fd() const { return out_; }
    int stderr_fd() const { return err_; }
    void close_stdin();
    void close_stdout();
    void close_stderr();

    // The exit status once it has exited ("exit status 3", "killed by
    // signal 9"); nullopt while it runs. Reaps it, after a SIGKILL to what
    // is left of its group (sent while the exited child still holds the
    // group's number, so it cannot reach a group that reused it).
    std::optional<std::string> poll_exit();
    // Up to `limit` for it to exit by itself (its output closed: it is
    // ending); nullopt if it did not.
    std::optional<std::string> wait_exit(std::chrono::milliseconds limit);
    // SIGTERM to its group, up to `grace` for the whole group to go, then
    // SIGKILL; reaps it. Returns how the child ended.
    std::string stop(std::chrono::milliseconds grace);
    bool running() const { return pid_ > 0 && !exited_; }

private:
    void reset() noexcept;
    void reap();  // waits for it (it has exited or been killed)

    pid_t pid_ = -1;
    int in_ = -1;
    int out_ = -1;
    int err_ = -1;
    bool exited_ = false;
    std::string status_;
};

}  // namespace sluice
