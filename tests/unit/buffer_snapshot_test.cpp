// The buffer's published stats (Buffer::snapshot): after every kind of write
// they equal what stats() queries, and reading them runs no SQL and never
// waits for the writer.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "buffer/buffer.hpp"
#include "buffer/sqlite.hpp"
#include "core/ioloop.hpp"
#include "temp_dir.hpp"

namespace sluice {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

std::vector<Record> batch(std::uint64_t from, std::size_t n) {
    std::vector<Record> out;
    for (std::size_t i = 0; i < n; ++i) {
        Record r;
        r.time_ns = 1'700'000'000'000'000'000 + static_cast<TimeNs>((from + i) * 1000);
        r.measurement = "env";
        r.fields = {{"seq", static_cast<double>(from + i)}};
        out.push_back(std::move(r));
    }
    return out;
}

BufferOptions options(const TempDir& dir, std::vector<std::string> sinks) {
    BufferOptions o;
    o.path = dir.path() / "pipe.db";
    o.sinks = std::move(sinks);
    return o;
}

void confirm(BufferReader& rd, std::uint64_t id) {
    if (id > rd.cursor()) {
        rd.read(id - rd.cursor());
    }
    rd.commit(id);
}

// The snapshot taken first, then the queried figures: they must agree.
void expect_snapshot_is_current(Buffer& b, const char* when) {
    SCOPED_TRACE(when);
    const auto snap = b.snapshot();
    ASSERT_NE(snap, nullptr);
    const BufferStats st = b.stats();
    EXPECT_EQ(snap->rows, st.rows);
    EXPECT_EQ(snap->bytes, st.bytes);
    EXPECT_EQ(snap->oldest_ns, st.oldest_ns);
    EXPECT_EQ(snap->first_id, st.first_id);
    EXPECT_EQ(snap->last_id, st.last_id);
    EXPECT_EQ(snap->dead_letters, st.dead_letters);
    EXPECT_GT(snap->file_bytes, 0u);
    ASSERT_EQ(snap->sinks.size(), st.sinks.size());
    for (const auto& q : st.sinks) {
        bool found = false;
        for (const auto& s : snap->sinks) {
            if (s.sink != q.sink) {
                continue;
            }
            found = true;
            EXPECT_EQ(s.cursor, q.cursor) << q.sink;
            EXPECT_EQ(s.lag_rows, q.lag_rows) << q.sink;
            EXPECT_EQ(s.oldest_pending_ns, q.oldest_pending_ns) << q.sink;
            EXPECT_EQ(s.dropped, q.dropped) << q.sink;
        }
        EXPECT_TRUE(found) << q.sink;
    }
}

TEST(BufferSnapshot, FollowsAppendsCursorsTrimsDropsAndDeadLetters) {
    TempDir dir;
    auto opts = options(dir, {"a", "b"});
    opts.max_bytes = 1 << 20;
    {
        auto buf = Buffer::open(opts);
        expect_snapshot_is_current(*buf, "empty");
        EXPECT_EQ(buf->snapshot()->rows, 0u);

        ASSERT_TRUE(buf->append(batch(0, 100), {}, {}).ok);
        expect_snapshot_is_current(*buf, "after an append");
        EXPECT_EQ(buf->snapshot()->rows, 100u);

        auto a = buf->reader("a");
        auto b = buf->reader("b");
        confirm(*a, 40);
        expect_snapshot_is_current(*buf, "one sink moved");
        confirm(*b, 30);
        expect_snapshot_is_current(*buf, "both moved: rows trimmed");
        EXPECT_EQ(buf->snapshot()->rows, 70u);

        b->read(10);
        b->commit_keep_rows(35);
        expect_snapshot_is_current(*buf, "moved without a trim");
        buf->trim();
        expect_snapshot_is_current(*buf, "trimmed");

        std::vector<DeadLetter> dead{DeadLetter{1, "o", "decode", "bad", "x"}};
        ASSERT_TRUE(buf->append(batch(100, 5), dead, {}).ok);
        expect_snapshot_is_current(*buf, "dead letter with an append");
        a->dead_letter(DeadLetter{2, "", "a", "refused", "{}"});
        expect_snapshot_is_current(*buf, "dead letter from a sink");
        EXPECT_EQ(buf->snapshot()->dead_letters, 2u);

        confirm(*a, 105);
        confirm(*b, 105);
        expect_snapshot_is_current(*buf, "drained");
        EXPECT_EQ(buf->snapshot()->rows, 0u);
    }
    {
        // Reopened with a sink removed and one added.
        auto buf = Buffer::open(options(dir, {"b", "c"}));
        ASSERT_TRUE(buf->append(batch(200, 7), {}, {}).ok);
        expect_snapshot_is_current(*buf, "reopened");
        EXPECT_EQ(buf->snapshot()->rows, 7u);
    }
    {
        // Drop-oldest under a small cap.
        auto small = options(dir, {"b", "c"});
        small.max_bytes = 8 * 64;
        small.overflow = Overflow::DropOldest;
        auto buf = Buffer::open(small);
        for (int i = 0; i < 5; ++i) {
            ASSERT_TRUE(buf->append(batch(300 + i * 6, 6), {}, {}).ok);
            expect_snapshot_is_current(*buf, "drop oldest");
        }
    }
}

// Readers of the snapshot on another thread while the writer and a sink
// work: every snapshot is consistent and no SQL runs on a loop thread.
TEST(BufferSnapshot, ReadersNeverRunSqlOrSeeATornSnapshot) {
    TempDir dir;
    auto buf = Buffer::open(options(dir, {"a"}));
    const std::uint64_t before = buffer_detail::loop_sqlite_calls();
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> reads{0};
    IoLoop loop;
    loop.start();
    std::atomic<bool> bad{false};
    std::function<void()> poll;
    poll = [&] {
        const auto s = buf->snapshot();
        if (s->rows != s->last_id + 1 - s->first_id || s->sinks.size() != 1 ||
            s->sinks[0].lag_rows > s->rows) {
            bad = true;
        }
        ++reads;
        if (!done) {
            loop.post(poll);
        }
    };
    loop.post(poll);
    auto rd = buf->reader("a");
    std::thread sink([&] {
        std::vector<StoredRecord> rows;
        while (!done) {
            if (rd->wait(std::chrono::milliseconds(20)) && rd->read_into(rows, 500).rows > 0) {
                rd->commit(rows.back().id);
            }
        }
    });
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(buf->append(batch(static_cast<std::uint64_t>(i) * 200, 200), {}, {}).ok);
    }
    done = true;
    sink.join();
    loop.stop();
    EXPECT_FALSE(bad.load());
    EXPECT_GT(reads.load(), 0u);
    EXPECT_EQ(buffer_detail::loop_sqlite_calls(), before);
    expect_snapshot_is_current(*buf, "after the run");
}

// The debug counter itself: SQLite used on a loop thread is counted.
TEST(BufferSnapshot, SqliteOnALoopThreadIsCounted) {
    const bool asserts = buffer_detail::set_loop_sqlite_asserts(false);  // counted, not fatal
    TempDir dir;
    auto buf = Buffer::open(options(dir, {"a"}));
    const std::uint64_t before = buffer_detail::loop_sqlite_calls();
    IoLoop loop;
    loop.start();
    loop.call([&] { (void)buf->stats(); });
    loop.stop();
    EXPECT_GT(buffer_detail::loop_sqlite_calls(), before);
    buffer_detail::set_loop_sqlite_asserts(asserts);
}

}  // namespace
}  // namespace sluice
