// The online buffer: append / read / commit / trim, cursors, restarts, the
// byte cap with both overflow policies, checkpoints, the lock, a full disk.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "buffer/buffer.hpp"
#include "temp_dir.hpp"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Generous: these only bound a hang, they never decide a pass.
constexpr auto kDeadline = 30s;

using test::TempDir;

// Same encoded size for every i, so caps can be set in whole records.
Record make_record(std::uint64_t i) {
    Record r;
    r.time_ns = 1'700'000'000'000'000'000 + static_cast<TimeNs>(i);
    r.measurement = "env";
    r.origin = "test";
    r.tags = {{"host", "gw-01"}, {"room", "lab"}};
    r.fields = {{"seq", static_cast<double>(i)},
                {"n", std::int64_t{1'000'000'000}},
                {"ok", (i % 2) == 0},
                {"note", std::string("payload-") + std::to_string(100000 + i % 900000)}};
    return r;
}

std::uint64_t record_size() {
    std::string s;
    encode_record(make_record(1), s);
    return s.size();
}

std::vector<Record> batch(std::uint64_t from, std::size_t n) {
    std::vector<Record> out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(make_record(from + i));
    }
    return out;
}

std::uint64_t seq_of(const Record& r) {
    return static_cast<std::uint64_t>(std::get<double>(r.field("seq")->value));
}

AppendResult put(Buffer& b, const std::vector<Record>& rs) {
    return b.append(rs, {}, {});
}

BufferOptions options(const TempDir& dir, std::vector<std::string> sinks) {
    BufferOptions o;
    o.path = dir.path() / "data" / "pipe.db";
    o.sinks = std::move(sinks);
    return o;
}

// What a sink does: read up to `id` and confirm it (commit never goes past
// what read() returned).
void confirm(BufferReader& rd, std::uint64_t id) {
    if (id > rd.cursor()) {
        rd.read(id - rd.cursor());
    }
    rd.commit(id);
}

const SinkStats& sink_stats(const BufferStats& st, const std::string& name) {
    for (const auto& s : st.sinks) {
        if (s.sink == name) {
            return s;
        }
    }
    throw std::runtime_error("no stats for sink " + name);
}

TEST(Buffer, AppendReadCommitTrim) {
    TempDir dir;
    auto buf = Buffer::open(options(dir, {"a"}));
    auto res = put(*buf, batch(0, 10));
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_EQ(res.first_id, 1u);
    EXPECT_EQ(res.last_id, 10u);
    EXPECT_EQ(res.dropped, 0u);

    auto rd = buf->reader("a");
    auto rows = rd->read(100);
    ASSERT_EQ(rows.size(), 10u);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i].id, i + 1);
        EXPECT_EQ(seq_of(rows[i].record), i);
        EXPECT_EQ(rows[i].record.measurement, "env");
        EXPECT_EQ(*rows[i].record.tag("room"), "lab");
    }
    // Nothing leaves before a commit: reading again gives the same rows.
    EXPECT_EQ(rd->read(3).size(), 3u);
    EXPECT_EQ(buf->stats().rows, 10u);
    // A sink cannot confirm what it was not given.
    auto other = buf->reader("a");
    other->commit(10);
    EXPECT_EQ(other->cursor(), 0u);
    other.reset();

    rd->commit(5);
    EXPECT_EQ(rd->cursor(), 5u);
    auto st = buf->stats();
    EXPECT_EQ(st.rows, 5u);
    EXPECT_EQ(st.first_id, 6u);
    EXPECT_EQ(st.last_id, 10u);
    EXPECT_EQ(st.bytes, 5 * record_size());
    EXPECT_EQ(st.oldest_ns, make_record(5).time_ns);
    EXPECT_GT(st.file_bytes, 0u);
    ASSERT_EQ(st.sinks.size(), 1u);
    EXPECT_EQ(st.sinks[0].cursor, 5u);
    EXPECT_EQ(st.sinks[0].lag_rows, 5u);
    EXPECT_EQ(st.sinks[0].oldest_pending_ns, make_record(5).time_ns);

    rows = rd->read(100);
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows.front().id, 6u);
    rd->commit(rows.back().id);
    st = buf->stats();
    EXPECT_EQ(st.rows, 0u);
    EXPECT_EQ(st.bytes, 0u);
    EXPECT_EQ(st.oldest_ns, 0);
    EXPECT_EQ(st.first_id, 11u);
    EXPECT_EQ(st.sinks[0].lag_rows, 0u);
    EXPECT_EQ(st.sinks[0].oldest_pending_ns, 0);
    EXPECT_TRUE(rd->read(100).empty());
}

TEST(Buffer, ReadIntoReusesTheVector) {
    TempDir dir;
    auto buf = Buffer::open(options(dir, {"a"}));
    ASSERT_TRUE(put(*buf, batch(0, 50)).ok);
    auto rd = buf->reader("a");
    std::vector<StoredRecord> rows;
    EXPECT_EQ(rd->read_into(rows, 20).rows, 20u);
    EXPECT_EQ(rows.size(), 20u);
    rd->commit(rows.back().id);
    EXPECT_EQ(rd->read_into(rows, 100).rows, 30u);
    EXPECT_EQ(rows.front().id, 21u);
    EXPECT_EQ(seq_of(rows.back().record), 49u);
    EXPECT_EQ(rd->read_into(rows, 0).rows, 0u);
    EXPECT_TRUE(rows.empty());
}

TEST(Buffer, ReadAheadLeavesTheCursorAndKeptRowsWaitForTrim) {
    TempDir dir;
    auto buf = Buffer::open(options(dir, {"a"}));
    ASSERT_TRUE(put(*buf, batch(0, 30)).ok);
    auto rd = buf->reader("a");
    std::vector<StoredRecord> first;
    std::vector<StoredRecord> next;
    ASSERT_EQ(rd->read_into(first, 10).rows, 10u);
    // The next batch, read before the first one is confirmed.
    ASSERT_EQ(rd->read_after(first.back().id, next, 10).rows, 10u);
    EXPECT_EQ(next.front().id, 11u);
    EXPECT_EQ(rd->cursor(), 0u);
    // Unconfirmed: reading from the cursor gives the first batch again.
    std::vector<StoredRecord> again;
    ASSERT_EQ(rd->read_into(again, 10).rows, 10u);
    EXPECT_EQ(again.front().id, 1u);

    rd->commit_keep_rows(first.back().id);
    EXPECT_EQ(rd->cursor(), 10u);
    EXPECT_EQ(buf->stats().rows, 30u);  // delivered, not yet trimmed
    EXPECT_EQ(sink_stats(buf->stats(), "a").lag_rows, 20u);
    buf->trim();
    EXPECT_EQ(buf->stats().rows, 20u);

    // Reading after a row before the cursor reads from the cursor.
    ASSERT_EQ(rd->read_after(3, next, 5).rows, 5u);
    EXPECT_EQ(next.front().id, 11u);
    rd->commit(next.back().id);
    EXPECT_EQ(buf->stats().rows, 15u);
    // Past the end: nothing, and the cursor stays.
    EXPECT_EQ(rd->read_after(30, next, 5).rows, 0u);
    EXPECT_EQ(rd->cursor(), 15u);
}

TEST(Buffer, CursorsPerSinkAreIndependent) {
    TempDir dir;
    auto buf = Buffer::open(options(dir, {"a", "b"}));
    ASSERT_TRUE(put(*buf, batch(0, 10)).ok);
    auto a = buf->reader("a");
    auto b = buf->reader("b");
    a->commit(a->read(100).back().id);
    // b has not confirmed anything: every row stays.
    auto st = buf->stats();
    EXPECT_EQ(st.rows, 10u);
    EXPECT_EQ(sink_stats(st, "a").lag_rows, 0u);
    EXPECT_EQ(sink_stats(st, "b").lag_rows, 10u);
    auto rows = b->read(4);
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows.front().id, 1u);
    b->commit(4);
    EXPECT_EQ(buf->stats().rows, 6u);
    EXPECT_EQ(b->read(100).front().id, 5u);
    EXPECT_TRUE(a->read(100).empty());

    ASSERT_TRUE(put(*buf, batch(10, 2)).ok);
    EXPECT_EQ(a->read(100).size(), 2u);
    EXPECT_EQ(b->read(100).size(), 8u);
}

TEST(Buffer, RestartResumesEachSinkAndNeverReusesIds) {
    TempDir dir;
    auto opts = options(dir, {"a", "b"});
    {
        auto buf = Buffer::open(opts);
        ASSERT_TRUE(put(*buf, batch(0, 20)).ok);
        auto a = buf->reader("a");
        auto b = buf->reader("b");
        confirm(*a, 15);
        confirm(*b, 5);
    }
    {
        auto buf = Buffer::open(opts);
        auto a = buf->reader("a");
        auto b = buf->reader("b");
        EXPECT_EQ(a->cursor(), 15u);
        EXPECT_EQ(b->cursor(), 5u);
        EXPECT_EQ(a->read(100).front().id, 16u);
        auto rows = b->read(100);
        ASSERT_EQ(rows.size(), 15u);
        EXPECT_EQ(rows.front().id, 6u);
        EXPECT_EQ(seq_of(rows.front().record), 5u);
        // Drain completely.
        a->commit(20);
        b->commit(20);
        auto st = buf->stats();
        EXPECT_EQ(st.rows, 0u);
        EXPECT_EQ(st.last_id, 20u);
    }
    {
        auto buf = Buffer::open(opts);
        auto st = buf->stats();
        EXPECT_EQ(st.rows, 0u);
        EXPECT_EQ(st.last_id, 20u);
        EXPECT_EQ(st.first_id, 21u);
        auto res = put(*buf, batch(100, 3));
        ASSERT_TRUE(res.ok);
        EXPECT_EQ(res.first_id, 21u);
        EXPECT_EQ(res.last_id, 23u);
        auto a = buf->reader("a");
        auto rows = a->read(100);
        ASSERT_EQ(rows.size(), 3u);
        EXPECT_EQ(rows.front().id, 21u);
        EXPECT_EQ(seq_of(rows.front().record), 100u);
    }
}

TEST(Buffer, NewSinkStartsAtOldestRowAndRemovedSinkStopsPinning) {
    TempDir dir;
    {
        auto buf = Buffer::open(options(dir, {"a"}));
        ASSERT_TRUE(put(*buf, batch(0, 10)).ok);
        confirm(*buf->reader("a"), 4);
        EXPECT_EQ(buf->stats().first_id, 5u);
    }
    {
        auto buf = Buffer::open(options(dir, {"a", "c"}));
        auto c = buf->reader("c");
        EXPECT_EQ(c->cursor(), 4u);
        auto rows = c->read(100);
        ASSERT_EQ(rows.size(), 6u);
        EXPECT_EQ(rows.front().id, 5u);
        c->commit(8);
        EXPECT_EQ(buf->stats().rows, 6u);  // a still at 4
        EXPECT_THROW(buf->reader("zzz"), std::runtime_error);
    }
    {
        // a is gone from the config: its cursor goes and no longer pins rows.
        auto buf = Buffer::open(options(dir, {"c"}));
        auto st = buf->stats();
        ASSERT_EQ(st.sinks.size(), 1u);
        EXPECT_EQ(st.sinks[0].sink, "c");
        EXPECT_EQ(st.rows, 2u);
        EXPECT_EQ(st.first_id, 9u);
    }
    {
        // A new sink on an empty buffer starts at the end, not at id 0.
        auto buf = Buffer::open(options(dir, {"c"}));
        confirm(*buf->reader("c"), 10);
    }
    {
        auto buf = Buffer::open(options(dir, {"c", "d"}));
        EXPECT_EQ(buf->reader("d")->cursor(), 10u);
        EXPECT_EQ(sink_stats(buf->stats(), "d").lag_rows, 0u);
    }
}

TEST(Buffer, DropOldestCountsDropsPerSink) {
    TempDir dir;
    auto opts = options(dir, {"a", "b"});
    opts.max_bytes = 10 * record_size();
    opts.overflow = Overflow::DropOldest;
    {
        auto buf = Buffer::open(opts);
        ASSERT_TRUE(put(*buf, batch(0, 10)).ok);  // exactly full
        auto a = buf->reader("a");
        auto b = buf->reader("b");
        confirm(*a, 6);

        auto res = put(*buf, batch(10, 5));
        ASSERT_TRUE(res.ok) << res.error;
        EXPECT_EQ(res.dropped, 5u);  // ids 1..5: a had them, b had not
        auto st = buf->stats();
        EXPECT_EQ(st.rows, 10u);
        EXPECT_EQ(st.first_id, 6u);
        EXPECT_EQ(st.bytes, 10 * record_size());
        EXPECT_EQ(sink_stats(st, "a").dropped, 0u);
        EXPECT_EQ(sink_stats(st, "b").dropped, 5u);

        res = put(*buf, batch(15, 5));
        ASSERT_TRUE(res.ok) << res.error;
        EXPECT_EQ(res.dropped, 5u);  // ids 6..10: a lost 7..10, b all five
        st = buf->stats();
        EXPECT_EQ(sink_stats(st, "a").dropped, 4u);
        EXPECT_EQ(sink_stats(st, "b").dropped, 10u);

        // Readers continue with what is left.
        auto rows = b->read(100);
        ASSERT_EQ(rows.size(), 10u);
        EXPECT_EQ(rows.front().id, 11u);
        EXPECT_EQ(a->read(100).front().id, 11u);
        EXPECT_EQ(sink_stats(st, "b").lag_rows, 10u);
    }
    // The totals are persisted with the cursors.
    auto st = offline_stats(opts.path);
    EXPECT_EQ(sink_stats(st, "a").dropped, 4u);
    EXPECT_EQ(sink_stats(st, "b").dropped, 10u);
    {
        auto buf = Buffer::open(opts);  // in-memory counters restart at open
        EXPECT_EQ(sink_stats(buf->stats(), "b").dropped, 0u);
    }
}

TEST(Buffer, DropOldestStoresABatchLargerThanTheCap) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    opts.max_bytes = 3 * record_size();
    auto buf = Buffer::open(opts);
    ASSERT_TRUE(put(*buf, batch(0, 2)).ok);
    auto res = put(*buf, batch(2, 5));
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_EQ(res.dropped, 2u);
    auto st = buf->stats();
    EXPECT_EQ(st.rows, 5u);
    EXPECT_EQ(st.first_id, 3u);
    EXPECT_EQ(sink_stats(st, "a").dropped, 2u);
}

TEST(Buffer, BlockWaitsUntilAReaderCommits) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    opts.max_bytes = 10 * record_size();
    opts.overflow = Overflow::Block;
    auto buf = Buffer::open(opts);
    ASSERT_TRUE(put(*buf, batch(0, 10)).ok);
    auto rd = buf->reader("a");

    std::mutex mu;
    std::condition_variable cv;
    int polls = 0;
    auto keep_waiting = [&] {
        {
            std::lock_guard lk(mu);
            ++polls;
        }
        cv.notify_all();
        return true;
    };
    auto more = batch(10, 5);
    auto pending = std::async(std::launch::async, [&] { return buf->append(more, {}, {}, keep_waiting); });

    // The append polled keep_waiting, so it is waiting for room.
    {
        std::unique_lock lk(mu);
        ASSERT_TRUE(cv.wait_for(lk, kDeadline, [&] { return polls >= 1; }));
    }
    ASSERT_EQ(pending.wait_for(0s), std::future_status::timeout);
    EXPECT_EQ(buf->stats().rows, 10u);

    confirm(*rd, 5);
    ASSERT_EQ(pending.wait_for(kDeadline), std::future_status::ready);
    auto res = pending.get();
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_EQ(res.dropped, 0u);
    EXPECT_EQ(res.first_id, 11u);
    auto st = buf->stats();
    EXPECT_EQ(st.rows, 10u);
    EXPECT_EQ(st.first_id, 6u);
    EXPECT_EQ(sink_stats(st, "a").dropped, 0u);
}

TEST(Buffer, BlockGivesUpWhenTold) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    opts.max_bytes = 4 * record_size();
    opts.overflow = Overflow::Block;
    auto buf = Buffer::open(opts);
    ASSERT_TRUE(put(*buf, batch(0, 4)).ok);
    std::vector<std::pair<std::string, std::string>> cp = {{"file:/x", "99"}};
    int calls = 0;
    auto res = buf->append(batch(4, 1), {}, cp, [&] { return ++calls < 2; });
    EXPECT_FALSE(res.ok);
    EXPECT_NE(res.error.find("full"), std::string::npos) << res.error;
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(buf->stats().rows, 4u);
    EXPECT_FALSE(buf->load_checkpoint("file:/x").has_value());
}

std::vector<Record> batch_at(std::uint64_t from, std::size_t n, TimeNs time) {
    auto out = batch(from, n);
    for (auto& r : out) {
        r.time_ns = time;
    }
    return out;
}

TimeNs now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

TEST(BufferRetain, KeepsDeliveredRowsByTimeAndRewindsOverThem) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    opts.retain = std::chrono::hours(1);
    auto buf = Buffer::open(opts);
    const TimeNs old = now_ns() - std::chrono::nanoseconds(std::chrono::hours(2)).count();
    // One row per append: ids 1-5 and 6-10 old, 11-15 and 16-20 young.
    ASSERT_TRUE(put(*buf, batch_at(0, 5, old)).ok);
    ASSERT_TRUE(put(*buf, batch_at(5, 5, old)).ok);
    ASSERT_TRUE(put(*buf, batch_at(10, 5, now_ns())).ok);
    ASSERT_TRUE(put(*buf, batch_at(15, 5, now_ns())).ok);
    auto rd = buf->reader("a");
    confirm(*rd, 20);
    // The row before the first young one may end with young records: kept.
    auto st = buf->stats();
    EXPECT_EQ(st.first_id, 6u);
    EXPECT_EQ(st.rows, 15u);
    EXPECT_EQ(sink_stats(st, "a").lag_rows, 0u);

    const ReplayPlan by_time = buf->plan_replay("a", BufferPoint{std::nullopt, now_ns() - 60'000'000'000});
    EXPECT_TRUE(by_time.error.empty()) << by_time.error;
    EXPECT_EQ(by_time.from_id, 11u);
    EXPECT_EQ(by_time.records, 10u);
    EXPECT_FALSE(buf->plan_replay("a", BufferPoint{3, 0}).error.empty());  // trimmed
    EXPECT_FALSE(buf->plan_replay("a", BufferPoint{21, 0}).error.empty());  // past the cursor
    EXPECT_FALSE(buf->plan_replay("b", BufferPoint{7, 0}).error.empty());  // no such sink

    EXPECT_FALSE(rd->rewind(3).ok);
    EXPECT_FALSE(rd->rewind(21).ok);  // nothing to replay
    EXPECT_FALSE(rd->rewind(22).ok);
    ASSERT_TRUE(rd->rewind(8).ok);
    EXPECT_EQ(rd->cursor(), 7u);
    auto again = rd->read(100);
    ASSERT_EQ(again.size(), 13u);
    EXPECT_EQ(again.front().id, 8u);
    EXPECT_EQ(seq_of(again.front().record), 7u);
    confirm(*rd, 20);
    // Stored: the cursor survives a restart.
    rd.reset();
    buf.reset();
    EXPECT_EQ(sink_stats(offline_stats(opts.path), "a").cursor, 20u);
    const ReplayPlan offline = offline_replay(opts.path, "a", BufferPoint{12, 0});
    ASSERT_TRUE(offline.error.empty()) << offline.error;
    EXPECT_EQ(offline.records, 9u);
    EXPECT_EQ(sink_stats(offline_stats(opts.path), "a").cursor, 11u);
}

TEST(BufferRetain, RetainBytesBoundsWhatIsKept) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    opts.retain_bytes = 10 * record_size();
    auto buf = Buffer::open(opts);
    auto rd = buf->reader("a");
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(put(*buf, batch_at(10 * i, 10, now_ns())).ok);
        confirm(*rd, 10 * (i + 1));
    }
    auto st = buf->stats();
    EXPECT_EQ(st.first_id, 21u);
    EXPECT_EQ(st.bytes, 10 * record_size());
}

TEST(BufferRetain, KeptRowsGoFirstAtTheCapAndAreNotDropped) {
    for (const Overflow overflow : {Overflow::Block, Overflow::DropOldest}) {
        TempDir dir;
        auto opts = options(dir, {"a", "b"});
        opts.max_bytes = 10 * record_size();
        opts.overflow = overflow;
        opts.retain = std::chrono::hours(24);
        auto buf = Buffer::open(opts);
        for (int i = 0; i < 5; ++i) {
            ASSERT_TRUE(put(*buf, batch_at(2 * i, 2, now_ns())).ok);  // a row each
        }
        auto a = buf->reader("a");
        auto b = buf->reader("b");
        confirm(*a, 10);
        confirm(*b, 10);
        EXPECT_EQ(buf->stats().rows, 10u);  // all kept
        // Block would wait for ever if the kept rows were not given up.
        auto res = buf->append(batch_at(10, 5, now_ns()), {}, {}, [] { return false; });
        ASSERT_TRUE(res.ok) << res.error;
        EXPECT_EQ(res.dropped, 0u);  // every sink had them: nothing lost
        const auto st = buf->stats();
        EXPECT_EQ(st.last_id, 15u);
        EXPECT_EQ(sink_stats(st, "a").dropped, 0u);
        EXPECT_EQ(sink_stats(st, "b").dropped, 0u);
        EXPECT_LE(st.bytes, 10 * record_size());
        // Only as many kept rows went as the batch needed (whole rows under
        // block, the exact records under drop_oldest), not the history.
        EXPECT_EQ(st.first_id, overflow == Overflow::Block ? 7u : 6u);
    }
}

TEST(Buffer, CheckpointsAreStoredWithTheBatch) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    {
        auto buf = Buffer::open(opts);
        EXPECT_FALSE(buf->load_checkpoint("file:/var/log/x").has_value());
        std::vector<std::pair<std::string, std::string>> cp = {{"file:/var/log/x", "123"}, {"other", ""}};
        ASSERT_TRUE(buf->append(batch(0, 3), {}, cp).ok);
        EXPECT_EQ(buf->load_checkpoint("file:/var/log/x"), "123");
        cp = {{"file:/var/log/x", "456"}};
        // Checkpoints alone (no records) are fine too.
        ASSERT_TRUE(buf->append({}, {}, cp).ok);
        EXPECT_EQ(buf->load_checkpoint("file:/var/log/x"), "456");
    }
    auto buf = Buffer::open(opts);
    EXPECT_EQ(buf->load_checkpoint("file:/var/log/x"), "456");
    EXPECT_EQ(buf->load_checkpoint("other"), "");
    EXPECT_EQ(buf->stats().rows, 3u);
}

TEST(Buffer, DeadLettersAreKeptAndCapped) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    opts.max_dead_letters = 5;
    auto buf = Buffer::open(opts);
    std::vector<DeadLetter> dead;
    for (int i = 0; i < 8; ++i) {
        dead.push_back(DeadLetter{i, "mqtt/topic", "decode", "no decoder accepted the frame", "\x01\x02 junk"});
    }
    ASSERT_TRUE(buf->append(batch(0, 1), dead, {}).ok);
    EXPECT_EQ(buf->stats().dead_letters, 5u);
    auto rd = buf->reader("a");
    rd->dead_letter(DeadLetter{9, "", "a", "rejected by the far side (400)", "{}"});
    EXPECT_EQ(buf->stats().dead_letters, 5u);
}

TEST(Buffer, WaitWakesOnAppendAndOnClose) {
    TempDir dir;
    auto buf = Buffer::open(options(dir, {"a"}));
    auto rd = buf->reader("a");
    EXPECT_FALSE(rd->wait(0ms));

    auto waiter = std::async(std::launch::async, [&] { return rd->wait(kDeadline); });
    ASSERT_TRUE(put(*buf, batch(0, 1)).ok);
    ASSERT_EQ(waiter.wait_for(kDeadline), std::future_status::ready);
    EXPECT_TRUE(waiter.get());
    // Rows after the cursor: returns at once.
    EXPECT_TRUE(rd->wait(kDeadline));
    rd->commit(rd->read(10).back().id);
    EXPECT_FALSE(rd->wait(0ms));

    auto closing = std::async(std::launch::async, [&] { return rd->wait(kDeadline); });
    buf->close_readers();
    ASSERT_EQ(closing.wait_for(kDeadline), std::future_status::ready);
    EXPECT_FALSE(closing.get());
    EXPECT_FALSE(rd->wait(kDeadline));  // closed: never blocks again
}

TEST(Buffer, WaitEndsWhenTheCallersFlagIsSetAndNotified) {
    // The sink runner's end of input: the worker sets input_done and
    // notifies without a commit; the wait must end there, not at its timeout.
    TempDir dir;
    auto buf = Buffer::open(options(dir, {"a"}));
    auto rd = buf->reader("a");
    std::atomic<bool> done{false};
    auto waiter = std::async(std::launch::async, [&] { return rd->wait(4 * kDeadline, &done); });
    done = true;
    buf->notify();
    ASSERT_EQ(waiter.wait_for(kDeadline), std::future_status::ready);
    EXPECT_TRUE(rd->wait(0ms, &done));  // set: returns at once
}

TEST(Buffer, LockRefusesASecondOpen) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    auto buf = Buffer::open(opts);
    try {
        Buffer::open(opts);
        FAIL() << "second open succeeded";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("is in use by another sluice process"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(opts.path.string()), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(offline_stats(opts.path));  // a read-only WAL reader beside the gateway
    buf.reset();
    EXPECT_NO_THROW(Buffer::open(opts));
}

TEST(Buffer, ConcurrentWriterAndSinksSeeEveryRowOnceInOrder) {
    TempDir dir;
    auto opts = options(dir, {"a", "b"});
    auto buf = Buffer::open(opts);
    constexpr std::uint64_t kBatches = 200;
    constexpr std::size_t kBatch = 50;
    constexpr std::uint64_t kTotal = kBatches * kBatch;

    auto sink = [&](const std::string& name, std::size_t chunk) {
        auto rd = buf->reader(name);
        std::uint64_t next = 1;
        std::vector<StoredRecord> rows;
        auto until = std::chrono::steady_clock::now() + kDeadline;
        while (next <= kTotal && std::chrono::steady_clock::now() < until) {
            if (rd->read_into(rows, chunk).rows == 0) {
                rd->wait(100ms);
                continue;
            }
            for (const auto& r : rows) {
                if (r.id != next || seq_of(r.record) != next - 1) {
                    ADD_FAILURE() << name << ": expected id " << next << ", got id " << r.id << " seq "
                                  << seq_of(r.record) << " (read " << rows.size() << " after cursor "
                                  << rd->cursor() << ")";
                    return next;  // out of order or lost
                }
                ++next;
            }
            rd->commit(rows.back().id);
        }
        return next;
    };
    auto a = std::async(std::launch::async, sink, "a", 37);
    auto b = std::async(std::launch::async, sink, "b", 500);
    for (std::uint64_t i = 0; i < kBatches; ++i) {
        auto res = put(*buf, batch(i * kBatch, kBatch));
        ASSERT_TRUE(res.ok) << res.error;
    }
    EXPECT_EQ(a.get(), kTotal + 1);
    EXPECT_EQ(b.get(), kTotal + 1);
    // Both confirmed everything: trimmed without any further append.
    auto st = buf->stats();
    EXPECT_EQ(st.rows, 0u);
    EXPECT_EQ(st.bytes, 0u);
    EXPECT_EQ(st.last_id, kTotal);
}

TEST(Buffer, FullDiskFailsTheAppendAndKeepsTheDatabaseConsistent) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    opts.max_file_bytes = 256 * 1024;
    opts.overflow = Overflow::Block;  // drop_oldest makes room instead (below)
    auto buf = Buffer::open(opts);
    std::vector<Record> big;
    for (int i = 0; i < 20; ++i) {
        Record r = make_record(static_cast<std::uint64_t>(i));
        r.fields.push_back({"pad", std::string(1000, 'p')});
        big.push_back(r);
    }
    std::uint64_t stored = 0;
    AppendResult res;
    for (int i = 0; i < 1000; ++i) {
        std::vector<std::pair<std::string, std::string>> cp = {{"pos", std::to_string(i)}};
        res = buf->append(big, {}, cp);
        if (!res.ok) {
            break;
        }
        stored += big.size();
    }
    ASSERT_FALSE(res.ok) << "never filled up";
    EXPECT_NE(res.error.find("full"), std::string::npos) << res.error;
    EXPECT_NE(res.error.find(opts.path.string()), std::string::npos) << res.error;
    ASSERT_GT(stored, 0u);
    // Nothing of the failed batch is stored, the last good checkpoint stays.
    auto st = buf->stats();
    EXPECT_EQ(st.rows, stored);
    EXPECT_EQ(st.last_id, stored);
    EXPECT_EQ(buf->load_checkpoint("pos"), std::to_string(stored / big.size() - 1));

    // The sink drains, space comes back and the runtime's retry succeeds.
    auto rd = buf->reader("a");
    auto rows = rd->read(100000);
    ASSERT_EQ(rows.size(), stored);
    rd->commit(rows.back().id);
    res = buf->append(big, {}, {});
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_EQ(res.first_id, stored + 1);
}

std::int64_t query(const fs::path& path, const char* sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sql;
    const std::int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

// Runs SQL on a stopped buffer's file, as damage or an older version would
// leave it.
void exec_sql(const fs::path& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    sqlite3_close(db);
}

// Records 0 .. n-1 appended one at a time, so each has a row of its own.
void put_row_each(const BufferOptions& opts, std::uint64_t n) {
    auto buf = Buffer::open(opts);
    for (std::uint64_t i = 0; i < n; ++i) {
        ASSERT_TRUE(put(*buf, batch(i, 1)).ok);
    }
}

TEST(Buffer, CorruptRowBecomesADeadLetterAndDoesNotStallTheSink) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    put_row_each(opts, 3);
    exec_sql(opts.path, "UPDATE records SET body = x'0102' WHERE id IN (1, 3)");
    auto buf = Buffer::open(opts);
    auto rd = buf->reader("a");
    // Row 1 is a dead letter and the cursor moves past it; the read goes
    // on with row 2 and ends before row 3, which does not decode either.
    auto rows = rd->read(100);
    EXPECT_EQ(rd->cursor(), 1u);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].id, 2u);
    rd->commit(2);
    EXPECT_TRUE(rd->read(100).empty());
    EXPECT_EQ(rd->cursor(), 3u);
    auto st = buf->stats();
    EXPECT_EQ(st.dead_letters, 2u);
    EXPECT_EQ(st.rows, 0u);
}

// A batch is stored as a few packs of records, not a row per record; reads
// from inside a pack, trims that cut into one and the stats agree with a
// row per record.
TEST(Buffer, PacksABatchIntoFewRowsAndReadsAndTrimsInsideThem) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    {
        auto buf = Buffer::open(opts);
        ASSERT_TRUE(put(*buf, batch(0, 1000)).ok);
    }
    const std::int64_t rows = query(opts.path, "SELECT count(*) FROM records");
    EXPECT_GE(rows, 2);
    EXPECT_LE(rows, static_cast<std::int64_t>(1000 * record_size() / (32 * 1024) + 1));
    EXPECT_EQ(query(opts.path, "SELECT sum(n) FROM records"), 1000);

    auto buf = Buffer::open(opts);  // reopened: reads come from SQLite
    auto rd = buf->reader("a");
    std::uint64_t next = 0;
    for (std::size_t n : {7u, 1u, 250u, 3u, 239u}) {
        auto got = rd->read(n);
        ASSERT_EQ(got.size(), n);
        for (const auto& r : got) {
            ASSERT_EQ(seq_of(r.record), next);
            ASSERT_EQ(r.id, next + 1);
            ++next;
        }
        rd->commit(got.back().id);
        // Every confirmed record is gone, the pack holding the cursor cut.
        auto st = buf->stats();
        EXPECT_EQ(st.first_id, next + 1);
        EXPECT_EQ(st.rows, 1000 - next);
        EXPECT_EQ(st.bytes, (1000 - next) * record_size());
        EXPECT_EQ(sink_stats(st, "a").oldest_pending_ns, make_record(next).time_ns);
    }
    EXPECT_EQ(query(opts.path, "SELECT sum(n) FROM records"), 500);
    EXPECT_EQ(query(opts.path, "SELECT sum(size) FROM records"), static_cast<std::int64_t>(500 * record_size()));
    auto rest = rd->read(1000);
    ASSERT_EQ(rest.size(), 500u);
    EXPECT_EQ(seq_of(rest.front().record), 500u);
    EXPECT_EQ(seq_of(rest.back().record), 999u);
}

// A run of records that do not decode is passed over in one read: each is a
// dead letter, and the read returns what follows (an empty read would tell
// a sink whose input has ended that everything is delivered).
TEST(Buffer, ARunOfCorruptRowsIsPassedOverInOneRead) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    put_row_each(opts, 21);
    exec_sql(opts.path, "UPDATE records SET body = x'0102' WHERE id <= 20");
    auto buf = Buffer::open(opts);
    auto rd = buf->reader("a");
    auto got = rd->read(100);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, 21u);
    EXPECT_EQ(rd->cursor(), 20u);
    EXPECT_EQ(buf->stats().dead_letters, 20u);
}

// A record inside a pack that does not decode (a flipped bit in its bytes)
// is one dead letter; the records around it are delivered.
TEST(Buffer, CorruptRecordInsideAPackIsOneDeadLetter) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    {
        auto buf = Buffer::open(opts);
        ASSERT_TRUE(put(*buf, batch(0, 4)).ok);  // one pack, ids 1..4
        ASSERT_TRUE(put(*buf, batch(4, 1)).ok);  // a row of its own, id 5
    }
    {
        // Pack layout: 0x02, n, then each record as a length byte and its
        // bytes: the second record's version byte is at 2 + 1 + size + 1.
        const std::size_t at = 2 + 1 + record_size() + 1;
        exec_sql(opts.path, "UPDATE records SET body = substr(body, 1, " + std::to_string(at) + ") || x'09' || "
                            "substr(body, " + std::to_string(at + 2) + ") WHERE id = 4");
    }
    auto buf = Buffer::open(opts);
    auto rd = buf->reader("a");
    auto got = rd->read(100);  // ends before record 2
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, 1u);
    rd->commit(1);
    got = rd->read(100);  // record 2 becomes a dead letter, then 3, 4 and 5
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].id, 3u);
    EXPECT_EQ(got[2].id, 5u);
    rd->commit(5);
    EXPECT_TRUE(rd->read(100).empty());
    auto st = buf->stats();
    EXPECT_EQ(st.dead_letters, 1u);
    EXPECT_EQ(st.rows, 0u);
}

// A buffer written before packs (schema v2, no n column) opens, migrates and
// delivers its rows.
TEST(Buffer, OpensABufferFromBeforePacks) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    put_row_each(opts, 3);
    exec_sql(opts.path, "ALTER TABLE records DROP COLUMN n; PRAGMA user_version = 2");
    // The read-only tools look at it as it is.
    auto before = offline_stats(opts.path);
    EXPECT_EQ(before.rows, 3u);
    EXPECT_EQ(before.first_id, 1u);
    EXPECT_EQ(sink_stats(before, "a").oldest_pending_ns, make_record(0).time_ns);
    auto check = offline_check(opts.path);
    EXPECT_TRUE(check.problems.empty()) << check.problems.front();
    EXPECT_EQ(query(opts.path, "PRAGMA user_version"), 2);

    auto buf = Buffer::open(opts);
    ASSERT_TRUE(put(*buf, batch(3, 5)).ok);
    auto got = buf->reader("a")->read(100);
    ASSERT_EQ(got.size(), 8u);
    for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].id, i + 1);
        EXPECT_EQ(seq_of(got[i].record), i);
    }
    EXPECT_EQ(query(opts.path, "PRAGMA user_version"), 3);
}

// The newest rows are served from memory (RecentRows) to a sink that keeps
// up, and from SQLite to one that lags or was reopened: every read gives
// the same rows in the same order either way, across batch boundaries and
// any read size, and never a row that drop_oldest deleted.
TEST(Buffer, ReadsFromMemoryAndFromSqliteAgree) {
    TempDir dir;
    auto opts = options(dir, {"fast", "slow"});
    opts.max_bytes = 400 * record_size();
    opts.overflow = Overflow::DropOldest;
    auto buf = Buffer::open(opts);
    auto fast = buf->reader("fast");
    auto slow = buf->reader("slow");
    std::uint64_t next = 0;
    std::uint64_t fast_next = 1;  // ids are seq + 1
    const std::size_t batch_sizes[] = {1, 7, 32, 33, 100, 3, 64, 250, 5};
    const std::size_t read_sizes[] = {1, 5, 40, 1000, 2, 99};
    std::size_t r = 0;
    for (int round = 0; round < 30; ++round) {
        const std::size_t n = batch_sizes[static_cast<std::size_t>(round) % std::size(batch_sizes)];
        auto res = put(*buf, batch(next, n));
        ASSERT_TRUE(res.ok) << res.error;
        next += n;
        // The fast sink reads everything, in odd-sized pieces, and confirms.
        for (;;) {
            auto rows = fast->read(read_sizes[r++ % std::size(read_sizes)]);
            if (rows.empty()) {
                break;
            }
            for (const auto& row : rows) {
                ASSERT_EQ(row.id, fast_next);
                ASSERT_EQ(seq_of(row.record), fast_next - 1);
                ASSERT_EQ(row.record.tags.size(), 2u);
                ++fast_next;
            }
            fast->commit(rows.back().id);
        }
    }
    EXPECT_EQ(fast_next, next + 1);
    // The slow sink never confirmed: drop_oldest deleted its oldest rows;
    // what it reads now starts at the oldest row left, in order, to the end.
    const auto st = buf->stats();
    ASSERT_GT(sink_stats(st, "slow").dropped, 0u);
    std::uint64_t expect = st.first_id;
    std::uint64_t got = 0;
    for (;;) {
        auto rows = slow->read(37);
        if (rows.empty()) {
            break;
        }
        for (const auto& row : rows) {
            ASSERT_EQ(row.id, expect);
            ASSERT_EQ(seq_of(row.record), expect - 1);
            ++expect;
            ++got;
        }
        slow->commit(rows.back().id);
    }
    EXPECT_EQ(expect, next + 1);
    EXPECT_EQ(got, st.rows);
}

TEST(Buffer, OpenFailsClearlyOnANewerSchema) {
    TempDir dir;
    auto opts = options(dir, {"a"});
    { Buffer::open(opts); }
    exec_sql(opts.path, "PRAGMA user_version = 99");
    try {
        Buffer::open(opts);
        FAIL() << "opened a newer schema";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace sluice
