// ChildProcess against /bin/sh: its streams, its exit status, its
// environment, the descriptors it gets, and stop() ending what it started.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "core/child_process.hpp"

namespace sluice {
namespace {

// Everything on `fd` until its end (the child closed it), waiting in poll.
std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10'000) <= 0) {
            ADD_FAILURE() << "no end of output within 10 s";
            return out;
        }
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EAGAIN) {
            return out;
        }
    }
}

std::string wait_exit(ChildProcess& c) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
        if (auto s = c.poll_exit()) {
            return *s;
        }
        pollfd none{-1, 0, 0};
        ::poll(&none, 0, 5);
    }
    return "still running";
}

// Running, not gone and not a zombie waiting for whoever reaps orphans
// (in a container that may be nobody).
bool alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(stat, text)) {
        return false;
    }
    const auto close = text.rfind(')');
    return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

ChildProcess spawn(std::vector<std::string> argv, std::vector<std::string> env = {"PATH=/usr/bin:/bin"}) {
    ChildSpec spec;
    spec.argv = std::move(argv);
    spec.env = std::move(env);
    std::string error;
    auto c = ChildProcess::spawn(spec, error);
    EXPECT_TRUE(c.has_value()) << error;
    return c ? std::move(*c) : ChildProcess();
}

TEST(ChildProcess, StreamsAndExitStatus) {
    auto c = spawn({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
    EXPECT_EQ(read_all(c.stdout_fd()), "out\n");
    EXPECT_EQ(read_all(c.stderr_fd()), "err\n");
    EXPECT_EQ(wait_exit(c), "exit status 3");
    EXPECT_FALSE(c.running());
}

TEST(ChildProcess, OnlyItsOwnEnvironmentAndDescriptors) {
    const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: must not reach the child
    ASSERT_GE(leaked, 3);
    ::setenv("SLUICE_TEST_SECRET", "s3cret", 1);
    auto c = spawn({"sh", "-c", "env; ls /proc/self/fd"}, {"PATH=/usr/bin:/bin", "A=1"});
    const std::string out = read_all(c.stdout_fd());
    ::close(leaked);
    ::unsetenv("SLUICE_TEST_SECRET");
    EXPECT_EQ(out.find("SLUICE_TEST_SECRET"), std::string::npos) << out;
    EXPECT_NE(out.find("A=1\n"), std::string::npos) << out;
    // 0, 1, 2 and the directory ls reads (3): nothing of this process.
    EXPECT_NE(out.find("\n0\n1\n2\n3\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("\n4\n"), std::string::npos) << out;
    EXPECT_EQ(wait_exit(c), "exit status 0");
}

TEST(ChildProcess, StopEndsWhatItStarted) {
    auto c = spawn({"/bin/sh", "-c", "trap '' TERM; sleep 1000 & echo $!; wait"});
    std::string line;
    char ch = 0;
    while (line.find('\n') == std::string::npos) {
        pollfd p{c.stdout_fd(), POLLIN, 0};
        ASSERT_GT(::poll(&p, 1, 10'000), 0);
        if (::read(c.stdout_fd(), &ch, 1) == 1) {
            line += ch;
        }
    }
    const pid_t grandchild = std::stoi(line);
    // The shell ignores SIGTERM: stop() has to kill it after the grace.
    EXPECT_EQ(c.stop(std::chrono::milliseconds(100)), "killed by signal 9");
    // The sleep was in its group: gone too (reaped by init once killed).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (alive(grandchild) && std::chrono::steady_clock::now() < until) {
        pollfd none{-1, 0, 0};
        ::poll(&none, 0, 5);
    }
    EXPECT_FALSE(alive(grandchild)) << "the command's child outlived it";
}

TEST(ChildProcess, StopGivesTheGroupItsGrace) {
    // The shell dies on SIGTERM at once; what it started takes 300 ms to
    // finish: the grace is for the whole group.
    auto c = spawn({"/bin/sh", "-c",
                    "(trap 'sleep 0.3; echo bye; exit 0' TERM; echo ready; while :; do sleep 0.01; done); echo never"});
    std::string out;
    char buf[64];
    while (out.find("ready\n") == std::string::npos) {
        pollfd p{c.stdout_fd(), POLLIN, 0};
        ASSERT_GT(::poll(&p, 1, 10'000), 0);
        const ssize_t n = ::read(c.stdout_fd(), buf, sizeof buf);
        ASSERT_GT(n, 0);
        out.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(c.stop(std::chrono::milliseconds(5000)), "killed by signal 15");
    EXPECT_EQ(read_all(c.stdout_fd()), "bye\n");
}

TEST(ChildProcess, ProgramsAreFoundInTheChildsPath) {
    char dir[] = "/tmp/sluice-child-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string tool = std::string(dir) + "/sluice-test-tool";
    {
        std::ofstream f(tool);
        f << "#!/bin/sh\necho found\n";
    }
    ::chmod(tool.c_str(), 0755);
    auto c = spawn({"sluice-test-tool"}, {std::string("PATH=/nonexistent:") + dir});
    EXPECT_EQ(read_all(c.stdout_fd()), "found\n");
    EXPECT_EQ(wait_exit(c), "exit status 0");
    ::unlink(tool.c_str());
    ::rmdir(dir);
    ChildSpec spec;
    spec.argv = {"sluice-test-tool"};
    spec.env = {"PATH=/nonexistent"};
    std::string error;
    EXPECT_FALSE(ChildProcess::spawn(spec, error).has_value());
    EXPECT_EQ(error, "cannot run 'sluice-test-tool': not found in its PATH");
    // `extra` replaces what the reduced environment has of the same name.
    const auto env = reduced_environment({"PATH=/opt/bin", "X=1"});
    EXPECT_EQ(std::count_if(env.begin(), env.end(), [](const auto& e) { return e.rfind("PATH=", 0) == 0; }), 1);
    EXPECT_NE(std::find(env.begin(), env.end(), "PATH=/opt/bin"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "X=1"), env.end());
}

TEST(ChildProcess, AProgramThatCannotRun) {
    ChildSpec spec;
    spec.argv = {"/nonexistent/program"};
    std::string error;
    EXPECT_FALSE(ChildProcess::spawn(spec, error).has_value());
    EXPECT_EQ(error, "cannot run '/nonexistent/program': No such file or directory");
}

}  // namespace
}  // namespace sluice
