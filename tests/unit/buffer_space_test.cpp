// The buffer's size on disk: database + WAL + shared memory + reserve file
// stay within max_bytes plus the margin README.md states, and a full disk
// (simulated with max_file_bytes, i.e. SQLite's max_page_count) makes
// drop_oldest drop the oldest rows, counted, while intake goes on.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "core/component.hpp"

#include "buffer/buffer.hpp"
#include "temp_dir.hpp"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

Record record(std::uint64_t i) {
    Record r;
    r.time_ns = 1'700'000'000'000'000'000 + static_cast<TimeNs>(i);
    r.measurement = "env";
    r.origin = "test";
    r.tags = {{"host", "gw-01"}};
    r.fields = {{"seq", static_cast<double>(i)}, {"note", std::string("payload-") + std::to_string(100000 + i)}};
    return r;
}

std::vector<Record> batch(std::uint64_t from, std::size_t n) {
    std::vector<Record> out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(record(from + i));
    }
    return out;
}

std::uint64_t encoded_bytes(const std::vector<Record>& rs) {
    std::string s;
    for (const auto& r : rs) {
        encode_record(r, s);
    }
    return s.size();
}

std::uint64_t on_disk(const fs::path& db) {
    std::uint64_t total = 0;
    for (const char* suffix : {"", "-wal", "-shm", ".reserve"}) {
        std::error_code ec;
        auto n = fs::file_size(db.string() + suffix, ec);
        total += ec ? 0 : static_cast<std::uint64_t>(n);
    }
    return total;
}

BufferOptions options(const TempDir& dir) {
    BufferOptions o;
    o.path = dir.path() / "pipe.db";
    o.sinks = {"a"};
    o.overflow = Overflow::DropOldest;
    return o;
}

const SinkStats& sink(const BufferStats& st, const std::string& name) {
    for (const auto& s : st.sinks) {
        if (s.sink == name) {
            return s;
        }
    }
    throw std::runtime_error("no sink " + name);
}

TEST(BufferSpace, OnDiskSizeStaysWithinTheCapWithDropOldest) {
    TempDir dir;
    auto opts = options(dir);
    opts.max_bytes = 2 << 20;
    auto buf = Buffer::open(opts);
    constexpr std::size_t kBatch = 1000;
    const std::uint64_t batch_bytes = encoded_bytes(batch(0, kBatch));
    // The margin README.md states: the part of one batch the WAL may take
    // beyond its share, page-rounded, plus a few pages for the tree.
    const std::uint64_t margin = batch_bytes + batch_bytes / 4 + 16 * 4096;
    std::uint64_t appended = 0;
    std::uint64_t dropped = 0;
    std::uint64_t peak = 0;
    // About ten times the cap in record bytes.
    while (appended * (batch_bytes / kBatch) < 10 * opts.max_bytes) {
        auto res = buf->append(batch(appended, kBatch), {}, {});
        ASSERT_TRUE(res.ok) << res.error;
        appended += kBatch;
        dropped += res.dropped;
        peak = std::max(peak, on_disk(opts.path));
        ASSERT_LE(on_disk(opts.path), opts.max_bytes + margin) << "after " << appended << " records";
    }
    auto st = buf->stats();
    EXPECT_GT(dropped, 0u);
    EXPECT_EQ(st.rows + dropped, appended);
    EXPECT_EQ(sink(st, "a").dropped, dropped);
    EXPECT_EQ(st.first_id, dropped + 1);
    EXPECT_FALSE(st.disk_full);
    EXPECT_EQ(st.disk_full_episodes, 0u);
    EXPECT_LE(st.file_bytes, opts.max_bytes + margin);
    // Not only the record bytes are capped: most of the cap is used, not a
    // small fraction of it.
    EXPECT_GT(st.bytes, opts.max_bytes / 4);
    std::printf("cap %llu, peak on disk %llu, record bytes kept %llu\n",
                static_cast<unsigned long long>(opts.max_bytes), static_cast<unsigned long long>(peak),
                static_cast<unsigned long long>(st.bytes));
}

// Pages a commit added are in the WAL only until a checkpoint copies them;
// the database file gets their blocks right after the commit anyway, so a
// checkpoint on a full disk never needs room (buffer_space.cpp).
TEST(BufferSpace, TheDatabaseFileHasBlocksForEveryCommittedPage) {
    TempDir dir;
    auto opts = options(dir);
    auto buf = Buffer::open(opts);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(opts.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    const auto page_count = [&] {
        sqlite3_stmt* st = nullptr;
        EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, nullptr), SQLITE_OK);
        EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
        const auto n = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
        sqlite3_finalize(st);
        return n;
    };
    for (std::uint64_t i = 0; i < 20; ++i) {
        auto res = buf->append(batch(i * 500, 500), {}, {});
        ASSERT_TRUE(res.ok) << res.error;
        const std::uint64_t pages = page_count();
        EXPECT_GE(fs::file_size(opts.path), pages * 4096) << "after batch " << i << ": " << pages << " pages";
    }
    sqlite3_close(db);
}

TEST(BufferSpace, FullDiskDropsTheOldestRowsAndIntakeGoesOn) {
    TempDir dir;
    auto opts = options(dir);
    opts.max_file_bytes = 512 * 1024;  // the "disk" fills long before the 256 MiB cap
    auto buf = Buffer::open(opts);
    auto rd = buf->reader("a");
    constexpr std::size_t kBatch = 500;
    std::uint64_t appended = 0;
    std::uint64_t dropped = 0;
    int episodes = 0;
    for (int i = 0; i < 60; ++i) {
        auto res = buf->append(batch(appended, kBatch), {}, {});
        ASSERT_TRUE(res.ok) << res.error;
        appended += kBatch;
        dropped += res.dropped;
        episodes += res.disk_full_started ? 1 : 0;
    }
    auto st = buf->stats();
    EXPECT_TRUE(st.disk_full);
    EXPECT_EQ(st.disk_full_episodes, 1u);
    EXPECT_EQ(episodes, 1);
    EXPECT_GT(dropped, 0u);
    EXPECT_EQ(st.rows + dropped, appended);
    EXPECT_EQ(sink(st, "a").dropped, dropped);
    EXPECT_EQ(buf->snapshot()->disk_full, true);

    // The sink still moves its cursor while the disk is full.
    auto rows = rd->read(100000);
    ASSERT_EQ(rows.size(), st.rows);
    EXPECT_EQ(rows.front().id, dropped + 1);
    auto c = rd->commit(rows.back().id);
    ASSERT_TRUE(c.ok) << c.error;
    EXPECT_EQ(buf->stats().rows, 0u);

    // Room again: the episode ends with the next append.
    auto res = buf->append(batch(appended, 10), {}, {});
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_EQ(res.dropped, 0u);
    st = buf->stats();
    EXPECT_FALSE(st.disk_full);
    EXPECT_EQ(st.rows, 10u);
}

TEST(BufferSpace, AnAppendThatFitsOnlyAfterSqliteFullIsStoredOnceAndReportedOk) {
    // Stage state is not in append's estimate of the pages a batch needs,
    // so a large state change meets SQLITE_FULL; the retry drops more rows.
    TempDir dir;
    auto opts = options(dir);
    opts.max_file_bytes = 512 * 1024;
    auto buf = Buffer::open(opts);
    constexpr std::size_t kBatch = 500;
    std::uint64_t appended = 0;
    std::uint64_t dropped = 0;
    while (!buf->snapshot()->disk_full) {
        auto res = buf->append(batch(appended, kBatch), {}, {});
        ASSERT_TRUE(res.ok) << res.error;
        appended += kBatch;
        dropped += res.dropped;
        ASSERT_LT(appended, 100000u) << "never filled up";
    }
    std::vector<std::pair<std::string, StateChange>> state = {{"window", StateChange{"k", std::string(150000, 's')}}};
    auto res = buf->append(batch(appended, 10), {}, {}, {}, state);
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_GT(res.dropped, 0u);
    EXPECT_EQ(res.first_id, appended + 1);
    appended += 10;
    dropped += res.dropped;
    auto st = buf->stats();
    EXPECT_EQ(st.last_id, appended);  // stored once: no ids used twice
    EXPECT_EQ(st.rows + dropped, appended);
    EXPECT_EQ(sink(st, "a").dropped, dropped);
    bool seen = false;
    buf->load_state("window", [&](std::string_view key, std::string_view value) {
        seen = key == "k" && value.size() == 150000;
    });
    EXPECT_TRUE(seen);
}

TEST(BufferSpace, BlockWaitsAtTheCapOnDiskUntilTheSinkFreesRoom) {
    TempDir dir;
    auto opts = options(dir);
    opts.max_bytes = 1 << 20;
    opts.overflow = Overflow::Block;
    auto buf = Buffer::open(opts);
    auto rd = buf->reader("a");
    constexpr std::size_t kBatch = 500;
    std::uint64_t appended = 0;
    AppendResult res;
    int polls = 0;
    for (int i = 0; i < 200; ++i) {
        polls = 0;
        res = buf->append(batch(appended, kBatch), {}, {}, [&] { return ++polls < 3; });
        if (!res.ok) {
            break;
        }
        appended += kBatch;
    }
    ASSERT_FALSE(res.ok) << "never reached the cap";
    EXPECT_NE(res.error.find("full"), std::string::npos) << res.error;
    EXPECT_EQ(polls, 3);
    auto st = buf->stats();
    EXPECT_EQ(st.rows, appended);
    EXPECT_FALSE(st.disk_full);  // the cap, not the disk
    EXPECT_LE(st.file_bytes, opts.max_bytes + 64 * 1024);

    auto rows = rd->read(100000);
    ASSERT_EQ(rows.size(), appended);
    ASSERT_TRUE(rd->commit(rows.back().id).ok);
    res = buf->append(batch(appended, kBatch), {}, {});
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_EQ(res.dropped, 0u);
    EXPECT_EQ(buf->stats().rows, kBatch);
}

}  // namespace
}  // namespace sluice
