// Damaged database files: moved aside at open, the readable rows salvaged
// into a fresh file, the event kept for /ready; `sluice buffer check` and
// `salvage`.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "buffer/buffer.hpp"
#include "buffer/quarantine.hpp"
#include "buffer/sqlite.hpp"
#include "buffer/table_store.hpp"
#include "temp_dir.hpp"

namespace sluice {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

Record make_record(int i) {
    Record r;
    r.time_ns = 1'700'000'000'000'000'000 + i;
    r.measurement = "m";
    r.fields = {{"i", std::int64_t{i}}, {"pad", std::string(100, 'x')}};
    return r;
}

BufferOptions options(const TempDir& dir) {
    BufferOptions o;
    o.path = dir.path() / "p.sqlite";
    o.sinks = {"a"};
    return o;
}

// 5000 rows, sink a at 100, one window state row; the gateway stopped.
void fill(const BufferOptions& o) {
    auto buf = Buffer::open(o);
    std::vector<Record> rs;
    for (int i = 0; i < 5000; ++i) {
        rs.push_back(make_record(i));
    }
    std::vector<std::pair<std::string, StateChange>> state{{"w", StateChange{"k", "v", false}}};
    ASSERT_TRUE(buf->append(rs, {}, {}, {}, state).ok);
    auto r = buf->reader("a");
    ASSERT_EQ(r->read(100).size(), 100u);
    ASSERT_TRUE(r->commit(100).ok);
}

std::vector<fs::path> moved_aside(const TempDir& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir.path())) {
        if (e.path().filename().string().find(".corrupt-") != std::string::npos) {
            out.push_back(e.path());
        }
    }
    return out;
}

TEST(BufferDamage, CorruptionIsItsOwnExceptionType) {
    TempDir dir;
    {
        std::ofstream f(dir.path() / "junk.db");
        f << std::string(8192, 'j');
    }
    buffer_detail::Db db(dir.path() / "junk.db", SQLITE_OPEN_READWRITE);
    EXPECT_THROW(db.query_int("SELECT count(*) FROM sqlite_schema"), buffer_detail::DatabaseCorrupt);
    EXPECT_TRUE(buffer_detail::damage_seen((dir.path() / "junk.db").string()));
    EXPECT_TRUE(buffer_detail::is_corruption(SQLITE_CORRUPT_INDEX));
    EXPECT_FALSE(buffer_detail::is_corruption(SQLITE_FULL));
}

TEST(BufferDamage, NotADatabaseIsMovedAsideAndAFreshOneWorks) {
    TempDir dir;
    const auto o = options(dir);
    {
        std::ofstream f(o.path);
        f << std::string(10000, 'g');
    }
    const auto before = quarantine_events().size();
    auto buf = Buffer::open(o);
    ASSERT_TRUE(buf->append(std::vector<Record>{make_record(1)}, {}, {}).ok);
    EXPECT_EQ(buf->stats().rows, 1u);
    ASSERT_EQ(moved_aside(dir).size(), 1u);
    const auto events = quarantine_events();
    ASSERT_EQ(events.size(), before + 1);
    EXPECT_EQ(events.back().kind, "buffer");
    EXPECT_EQ(events.back().reason, "not a SQLite database");
    EXPECT_NE(describe(events.back()).find("moved aside"), std::string::npos);
}

TEST(BufferDamage, TruncatedBufferKeepsWhatCanBeRead) {
    TempDir dir;
    const auto o = options(dir);
    fill(o);
    fs::resize_file(o.path, fs::file_size(o.path) / 2);
    auto check = offline_check(o.path);
    EXPECT_FALSE(check.problems.empty());

    auto buf = Buffer::open(o);
    ASSERT_EQ(moved_aside(dir).size(), 1u);
    const auto e = quarantine_events().back();  // a copy: the vector is a temporary
    EXPECT_GT(e.salvaged, 1000u);
    EXPECT_LT(e.salvaged, 4900u);
    auto r = buf->reader("a");
    EXPECT_EQ(r->cursor(), 100u);  // the cursor was salvaged too
    auto rows = r->read(10);
    ASSERT_FALSE(rows.empty());
    EXPECT_GT(rows.front().id, 100u);
}

TEST(BufferDamage, DamageSeenWhileRunningMovesTheFileAsideAtTheNextOpen) {
    TempDir dir;
    const auto o = options(dir);
    fill(o);
    buffer_detail::note_damage(o.path.string());
    auto buf = Buffer::open(o);
    EXPECT_FALSE(buffer_detail::damage_seen(o.path.string()));
    const auto e = quarantine_events().back();  // a copy: the vector is a temporary
    EXPECT_EQ(e.salvaged, 4900u);  // nothing was really damaged: every row is kept
    std::string state;
    buf->load_state("w", [&](std::string_view k, std::string_view v) { state = std::string(k) + "=" + std::string(v); });
    EXPECT_EQ(state, "k=v");
    EXPECT_EQ(buf->reader("a")->cursor(), 100u);
    EXPECT_EQ(buf->stats().last_id, 5000u);
}

TEST(BufferDamage, CheckAndSalvageOffline) {
    TempDir dir;
    const auto o = options(dir);
    fill(o);
    auto ok = offline_check(o.path);
    EXPECT_TRUE(ok.problems.empty()) << ok.problems.front();
    fs::resize_file(o.path, fs::file_size(o.path) * 2 / 3);
    const auto to = dir.path() / "fresh.sqlite";
    const auto r = offline_salvage(o.path, to);
    EXPECT_GT(r.records, 1000u);
    EXPECT_EQ(offline_stats(to).sinks.size(), 1u);
    EXPECT_THROW(offline_salvage(o.path, to), std::runtime_error);  // never over an existing file
}

TEST(BufferDamage, WalWithoutItsDatabase) {
    TempDir dir;
    const auto o = options(dir);
    {
        std::ofstream f(o.path.string() + "-wal");
        f << std::string(5000, 'w');
    }
    EXPECT_EQ(buffer_detail::preflight(o.path), "a WAL file without its database");
    auto buf = Buffer::open(o);
    EXPECT_EQ(moved_aside(dir).size(), 1u);
}

TEST(BufferDamage, DamagedTablesDatabaseIsReplaced) {
    TempDir dir;
    const auto path = dir.path() / "tables.db";
    {
        std::ofstream f(path);
        f << std::string(4096, 't');
    }
    auto store = open_table_store(path);
    std::vector<TableStore::Change> changes{{TableStore::Change::Op::Put, "t", "k", "{\"a\":1}"}};
    store->write(changes);
    int n = 0;
    store->load("t", [&](std::string_view, std::string_view) { ++n; });
    EXPECT_EQ(n, 1);
    EXPECT_EQ(quarantine_events().back().kind, "tables");
    EXPECT_EQ(moved_aside(dir).size(), 1u);
}

}  // namespace
}  // namespace sluice
