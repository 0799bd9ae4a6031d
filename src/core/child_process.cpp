#include "core/child_process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include <fmt/format.h>

extern char** environ;

namespace sluice {
namespace {

void close_fd(int& fd) {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

std::string describe(int status) {
    if (WIFEXITED(status)) {
        return fmt::format("exit status {}", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return fmt::format("killed by signal {}", WTERMSIG(status));
    }
    return fmt::format("wait status {}", status);
}

// Whether a process other than `leader` is in the process group `leader`
// leads (kill(-pgid, 0) cannot tell: the exited leader, a zombie until it
// is reaped, still counts). Only read while stopping a child.
bool group_has_others(pid_t leader) {
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) {
        return false;
    }
    bool found = false;
    while (dirent* e = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == leader) {
            continue;
        }
        std::ifstream stat(fmt::format("/proc/{}/stat", pid));
        std::string text;
        if (!std::getline(stat, text)) {
            continue;
        }
        // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        const auto close = text.rfind(')');
        long pgrp = 0;
        char state = 0;
        long ppid = 0;
        if (close != std::string::npos &&
            std::sscanf(text.c_str() + close + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == leader &&
            state != 'Z') {
            found = true;
            break;
        }
    }
    ::closedir(proc);
    return found;
}

}  // namespace

std::vector<std::string> reduced_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    const char* path = std::getenv("PATH");
    env.push_back(std::string("PATH=") + (path != nullptr && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin"));
    for (const char* name : {"LANG", "LC_ALL", "TZ"}) {
        if (const char* v = std::getenv(name); v != nullptr) {
            env.push_back(std::string(name) + "=" + v);
        }
    }
    const char* home = std::getenv("HOME");
    env.push_back(std::string("HOME=") + (home != nullptr ? home : "/nonexistent"));
    for (const auto& e : extra) {
        const std::string_view name = std::string_view(e).substr(0, e.find('='));
        std::erase_if(env, [&](const std::string& have) {
            return have.size() > name.size() && have.compare(0, name.size(), name) == 0 && have[name.size()] == '=';
        });
        env.push_back(e);
    }
    return env;
}

namespace {

// The program for argv[0]: itself when it has a slash, else the first
// executable of that name in the PATH the child gets.
std::optional<std::string> find_program(const ChildSpec& spec) {
    const std::string& name = spec.argv[0];
    if (name.find('/') != std::string::npos) {
        return name;
    }
    std::string_view path = "/usr/local/bin:/usr/bin:/bin";
    for (const auto& e : spec.env) {
        if (e.starts_with("PATH=")) {
            path = std::string_view(e).substr(5);
        }
    }
    while (!path.empty()) {
        const auto colon = path.find(':');
        std::string dir(path.substr(0, colon));
        path = colon == std::string_view::npos ? std::string_view() : path.substr(colon + 1);
        const std::string full = (dir.empty() ? std::string(".") : dir) + "/" + name;
        if (::access(full.c_str(), X_OK) == 0) {
            return full;
        }
    }
    return std::nullopt;
}

}  // namespace

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      in_(std::exchange(o.in_, -1)),
      out_(std::exchange(o.out_, -1)),
      err_(std::exchange(o.err_, -1)),
      exited_(o.exited_),
      status_(std::move(o.status_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
    if (this != &o) {
        reset();
        pid_ = std::exchange(o.pid_, -1);
        in_ = std::exchange(o.in_, -1);
        out_ = std::exchange(o.out_, -1);
        err_ = std::exchange(o.err_, -1);
        exited_ = o.exited_;
        status_ = std::move(o.status_);
    }
    return *this;
}

ChildProcess::~ChildProcess() { reset(); }

void ChildProcess::reset() noexcept {
    if (running()) {
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    pid_ = -1;
    exited_ = false;
    close_fd(in_);
    close_fd(out_);
    close_fd(err_);
}

void ChildProcess::close_stdin() { close_fd(in_); }
void ChildProcess::close_stdout() { close_fd(out_); }
void ChildProcess::close_stderr() { close_fd(err_); }

std::optional<ChildProcess> ChildProcess::spawn(const ChildSpec& spec, std::string& error) {
    if (spec.argv.empty() || spec.argv[0].empty()) {
        error = "no command";
        return std::nullopt;
    }
    int in[2] = {-1, -1};
    int out[2] = {-1, -1};
    int err[2] = {-1, -1};
    const auto cleanup = [&] {
        for (int* p : {in, out, err}) {
            close_fd(p[0]);
            close_fd(p[1]);
        }
    };
    // O_CLOEXEC everywhere: the spawn's dup2 gives the child its ends as 0,
    // 1 and 2 without the flag, and nothing else of the gateway leaks in.
    if ((spec.stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0) || ::pipe2(out, O_CLOEXEC) != 0 ||
        ::pipe2(err, O_CLOEXEC) != 0) {
        error = fmt::format("pipe: {}", std::strerror(errno));
        cleanup();
        return std::nullopt;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (spec.stdin_pipe) {
        posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    // And no other descriptor of the gateway, whether it has O_CLOEXEC
    // (libraries open some without) or not.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);  // SIGPIPE and the rest as a fresh process has them
    // A session of its own: a new process group (stopping it stops what it
    // started) and no controlling terminal of the gateway's.
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);

    std::vector<char*> argv;
    for (const auto& a : spec.argv) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : spec.env) {
        envp.push_back(const_cast<char*>(e.c_str()));
    }
    envp.push_back(nullptr);

    pid_t pid = -1;
    const auto program = find_program(spec);
    const int rc = program ? ::posix_spawn(&pid, program->c_str(), &actions, &attr, argv.data(), envp.data())
                           : ENOENT;
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        error = program ? fmt::format("cannot run '{}': {}", spec.argv[0], std::strerror(rc))
                        : fmt::format("cannot run '{}': not found in its PATH", spec.argv[0]);
        cleanup();
        return std::nullopt;
    }
    ChildProcess c;
    c.pid_ = pid;
    close_fd(in[0]);
    close_fd(out[1]);
    close_fd(err[1]);
    c.in_ = std::exchange(in[1], -1);
    c.out_ = std::exchange(out[0], -1);
    c.err_ = std::exchange(err[0], -1);
    for (const int fd : {c.in_, c.out_, c.err_}) {
        if (fd >= 0) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        }
    }
    return c;
}

std::optional<std::string> ChildProcess::poll_exit() {
    if (pid_ <= 0) {
        return std::string("not started");
    }
    if (exited_) {
        return status_;
    }
    // Look without reaping: while the exited child is a zombie its number
    // stays taken, so the group's SIGKILL below reaches only its group.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid_) {
        return std::nullopt;
    }
    ::kill(-pid_, SIGKILL);  // what it started and left running
    reap();
    return status_;
}

void ChildProcess::reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    status_ = describe(status);
}

std::optional<std::string> ChildProcess::wait_exit(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (auto s = poll_exit()) {
            return s;
        }
        if (std::chrono::steady_clock::now() >= until) {
            return std::nullopt;
        }
        // Polled: a child has no descriptor to wait on before Linux 5.3's pidfd.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

std::string ChildProcess::stop(std::chrono::milliseconds grace) {
    if (!running()) {
        return poll_exit().value_or("");
    }
    ::kill(-pid_, SIGTERM);
    // The grace is the group's: until the child has exited (a zombie, not
    // yet reaped) and nothing else of its group is left.
    const auto until = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < until) {
        siginfo_t info{};
        const bool exited = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                            info.si_pid == pid_;
        if (exited && !group_has_others(pid_)) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid_, SIGKILL);
    reap();
    return status_;
}

}  // namespace sluice
