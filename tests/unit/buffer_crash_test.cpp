// Crash safety: a child process appends batches as fast as it can and is
// SIGKILLed mid-stream. Every batch it reported as committed (after append()
// returned ok) must be there afterwards, complete; no batch may be partial.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "buffer/buffer.hpp"

namespace sluice {
namespace {

namespace fs = std::filesystem;

constexpr int kBatch = 100;
constexpr std::uint32_t kKillAfter = 40;  // batches reported before the kill

Record batch_record(std::uint32_t batch, int i) {
    Record r;
    r.time_ns = static_cast<TimeNs>(batch) * 1000 + i;
    r.measurement = "crash";
    r.fields = {{"batch", std::int64_t{batch}}, {"i", std::int64_t{i}},
                {"pad", std::string(64 + (batch % 7) * 10, 'x')}};
    return r;
}

[[noreturn]] void child(const fs::path& db, int fd) {
    try {
        BufferOptions o;
        o.path = db;
        o.sinks = {"s"};
        o.synchronous = Synchronous::Normal;  // survives a process crash
        auto buf = Buffer::open(o);
        std::vector<Record> rs;
        for (std::uint32_t b = 0;; ++b) {
            rs.clear();
            for (int i = 0; i < kBatch; ++i) {
                rs.push_back(batch_record(b, i));
            }
            std::vector<std::pair<std::string, std::string>> cp = {{"batch", std::to_string(b)}};
            if (!buf->append(rs, {}, cp).ok) {
                ::_exit(3);
            }
            if (::write(fd, &b, sizeof b) != sizeof b) {
                ::_exit(4);
            }
        }
    } catch (...) {
        ::_exit(2);
    }
}

TEST(BufferCrash, CommittedBatchesSurviveSigkill) {
    std::string tmpl = (fs::temp_directory_path() / "sluice-crash-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    fs::path dir = tmpl;
    fs::path db = dir / "crash.db";

    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::close(fds[0]);
        child(db, fds[1]);
    }
    ::close(fds[1]);

    std::vector<std::uint32_t> reported;
    auto read_reports = [&](int timeout_ms) {
        pollfd p{fds[0], POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) {
            return false;
        }
        std::uint32_t v[64];
        ssize_t n = ::read(fds[0], v, sizeof v);
        if (n <= 0) {
            return false;
        }
        // A 4-byte write to a pipe is atomic, so reads come in whole values.
        for (ssize_t k = 0; k < n / 4; ++k) {
            reported.push_back(v[k]);
        }
        return true;
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (reported.size() < kKillAfter && std::chrono::steady_clock::now() < deadline) {
        if (!read_reports(1000)) {
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                FAIL() << "child exited early, status " << status;
            }
        }
    }
    // Killed somewhere inside its loop: most likely mid-transaction.
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child was not killed, status " << status;
    while (read_reports(0)) {
    }
    ::close(fds[0]);
    ASSERT_GE(reported.size(), kKillAfter);

    BufferOptions o;
    o.path = db;
    o.sinks = {"s"};
    auto buf = Buffer::open(o);
    auto rd = buf->reader("s");
    auto rows = rd->read(10'000'000);
    std::map<std::int64_t, std::vector<std::int64_t>> by_batch;
    std::uint64_t prev = 0;
    for (const auto& r : rows) {
        ASSERT_GT(r.id, prev);
        prev = r.id;
        by_batch[std::get<std::int64_t>(r.record.field("batch")->value)].push_back(
            std::get<std::int64_t>(r.record.field("i")->value));
    }
    for (std::uint32_t b : reported) {
        auto it = by_batch.find(b);
        ASSERT_NE(it, by_batch.end()) << "committed batch " << b << " lost";
    }
    // Every batch present (reported or committed just before the kill) is whole.
    std::int64_t expect = 0;
    for (const auto& [b, is] : by_batch) {
        ASSERT_EQ(b, expect++) << "batches must be a gap-free prefix";
        ASSERT_EQ(is.size(), static_cast<std::size_t>(kBatch)) << "batch " << b << " is partial";
        for (int i = 0; i < kBatch; ++i) {
            ASSERT_EQ(is[static_cast<std::size_t>(i)], i);
        }
        EXPECT_EQ(rows[static_cast<std::size_t>(b) * kBatch].record.fields[2].value,
                  batch_record(static_cast<std::uint32_t>(b), 0).fields[2].value);
    }
    // The checkpoint was committed with its batch.
    EXPECT_EQ(buf->load_checkpoint("batch"), std::to_string(by_batch.rbegin()->first));
    // And the buffer carries on with fresh ids.
    auto res = buf->append(std::vector<Record>{batch_record(9999, 0)}, {}, {});
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_EQ(res.first_id, prev + 1);

    rd.reset();
    buf.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace sluice
