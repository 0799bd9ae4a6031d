// `sluice buffer stats|export|drop` on a stopped gateway's database.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "buffer/buffer.hpp"
#include "temp_dir.hpp"

namespace sluice {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

Record make_record(int i) {
    Record r;
    r.time_ns = 1'700'000'000'000'000'000 + i;
    r.measurement = "m";
    r.origin = "o";
    r.tags = {{"k", "v"}};
    r.fields = {{"i", std::int64_t{i}}, {"s", std::string("ü\"x")}};
    return r;
}

// Writes a stopped gateway's database: 10 rows, sink a at 7, sink b at 2,
// two dead letters (one of them binary).
fs::path make_db(const TempDir& dir) {
    BufferOptions o;
    o.path = dir.path() / "p.db";
    o.sinks = {"a", "b"};
    auto buf = Buffer::open(o);
    std::vector<Record> rs;
    for (int i = 0; i < 10; ++i) {
        rs.push_back(make_record(i));
    }
    std::vector<DeadLetter> dead = {
        DeadLetter{1'700'000'000'500'000'000, "mqtt/x", "decode", "no decoder accepted the frame", "not json {"},
        DeadLetter{1'700'000'001'000'000'000, "zmq", "decode", "binary", std::string("\xff\x00\xfe", 3)},
    };
    EXPECT_TRUE(buf->append(rs, dead, {}).ok);
    auto a = buf->reader("a");
    a->commit(a->read(7).back().id);
    auto b = buf->reader("b");
    b->commit(b->read(2).back().id);
    return o.path;
}

std::vector<std::string> export_lines(const fs::path& db, const std::string& sink, bool dead) {
    std::FILE* f = std::tmpfile();
    EXPECT_NE(f, nullptr);
    std::uint64_t n = offline_export(db, sink, f, dead);
    std::rewind(f);
    std::vector<std::string> lines;
    std::string line;
    int c = 0;
    while ((c = std::fgetc(f)) != EOF) {
        if (c == '\n') {
            lines.push_back(line);
            line.clear();
        } else {
            line += static_cast<char>(c);
        }
    }
    std::fclose(f);
    EXPECT_TRUE(line.empty()) << "last line not terminated";
    EXPECT_EQ(n, lines.size());
    return lines;
}

TEST(BufferOffline, Stats) {
    TempDir dir;
    auto db = make_db(dir);
    auto st = offline_stats(db);
    EXPECT_EQ(st.rows, 8u);  // trimmed to b's cursor
    EXPECT_EQ(st.first_id, 3u);
    EXPECT_EQ(st.last_id, 10u);
    EXPECT_EQ(st.dead_letters, 2u);
    EXPECT_EQ(st.oldest_ns, make_record(2).time_ns);
    EXPECT_GT(st.bytes, 0u);
    EXPECT_GT(st.file_bytes, 0u);
    ASSERT_EQ(st.sinks.size(), 2u);
    EXPECT_EQ(st.sinks[0].sink, "a");
    EXPECT_EQ(st.sinks[0].cursor, 7u);
    EXPECT_EQ(st.sinks[0].lag_rows, 3u);
    EXPECT_EQ(st.sinks[0].oldest_pending_ns, make_record(7).time_ns);
    EXPECT_EQ(st.sinks[1].lag_rows, 8u);
}

TEST(BufferOffline, ExportRecords) {
    TempDir dir;
    auto db = make_db(dir);
    auto all = export_lines(db, "", false);
    ASSERT_EQ(all.size(), 8u);
    EXPECT_EQ(all[0], R"({"time":"2023-11-14T22:13:20.000000002Z","measurement":"m","origin":"o",)"
                      R"("tags":{"k":"v"},"fields":{"i":2,"s":"ü\"x"}})");
    auto after_a = export_lines(db, "a", false);
    ASSERT_EQ(after_a.size(), 3u);
    EXPECT_NE(after_a[0].find("\"i\":7"), std::string::npos) << after_a[0];
    EXPECT_THROW(export_lines(db, "nope", false), std::runtime_error);
}

TEST(BufferOffline, ExportDeadLetters) {
    TempDir dir;
    auto db = make_db(dir);
    auto lines = export_lines(db, "", true);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], R"({"at":"2023-11-14T22:13:20.500Z","origin":"mqtt/x","stage":"decode",)"
                        R"("reason":"no decoder accepted the frame","payload":"not json {"})");
    EXPECT_EQ(lines[1], R"({"at":"2023-11-14T22:13:21Z","origin":"zmq","stage":"decode",)"
                        R"("reason":"binary","payload_base64":"/wD+"})");
}

TEST(BufferOffline, DropOneSinkMovesItsCursorToTheEnd) {
    TempDir dir;
    auto db = make_db(dir);
    EXPECT_EQ(offline_drop(db, "b", false), 8u);
    auto st = offline_stats(db);
    EXPECT_EQ(st.sinks[1].cursor, 10u);
    EXPECT_EQ(st.sinks[1].lag_rows, 0u);
    EXPECT_EQ(st.rows, 3u);  // a still needs 8..10
    EXPECT_EQ(st.first_id, 8u);
    EXPECT_THROW(offline_drop(db, "nope", false), std::runtime_error);

    // The gateway starts again and carries on from there.
    BufferOptions o;
    o.path = db;
    o.sinks = {"a", "b"};
    auto buf = Buffer::open(o);
    EXPECT_EQ(buf->reader("a")->read(100).size(), 3u);
    EXPECT_TRUE(buf->reader("b")->read(100).empty());
    EXPECT_EQ(buf->stats().bytes, st.bytes);
}

TEST(BufferOffline, DropAll) {
    TempDir dir;
    auto db = make_db(dir);
    EXPECT_EQ(offline_drop(db, "", false), 8u);
    auto st = offline_stats(db);
    EXPECT_EQ(st.rows, 0u);
    EXPECT_EQ(st.bytes, 0u);
    EXPECT_EQ(st.last_id, 10u);
    for (const auto& s : st.sinks) {
        EXPECT_EQ(s.cursor, 10u);
        EXPECT_EQ(s.lag_rows, 0u);
    }
    EXPECT_EQ(st.dead_letters, 2u);
    EXPECT_EQ(offline_drop(db, "", true), 2u);
    EXPECT_EQ(offline_stats(db).dead_letters, 0u);

    BufferOptions o;
    o.path = db;
    o.sinks = {"a"};
    auto buf = Buffer::open(o);
    auto res = buf->append(std::vector<Record>{make_record(0)}, {}, {});
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.first_id, 11u);
}

TEST(BufferOffline, RefusesALiveGatewayAndMissingFiles) {
    TempDir dir;
    auto db = make_db(dir);
    BufferOptions o;
    o.path = db;
    o.sinks = {"a", "b"};
    auto buf = Buffer::open(o);
    // stats reads beside the running gateway (a WAL reader, no lock).
    EXPECT_EQ(offline_stats(db).rows, 8u);
    for (int which = 1; which < 3; ++which) {
        try {
            if (which == 1) {
                offline_export(db, "", stdout, false);
            } else {
                offline_drop(db, "", false);
            }
            FAIL() << "offline call " << which << " ran on a live buffer";
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find("in use by another sluice process"), std::string::npos) << e.what();
        }
    }
    buf.reset();
    EXPECT_EQ(offline_stats(db).rows, 8u);

    try {
        offline_stats(dir.path() / "missing.db");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("no buffer database"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir.path() / "missing.db"));
    {
        std::FILE* f = std::fopen((dir.path() / "junk.db").c_str(), "w");
        std::fputs("this is not sqlite at all, not even close; padding padding padding padding padding", f);
        std::fclose(f);
    }
    EXPECT_THROW(offline_stats(dir.path() / "junk.db"), std::runtime_error);
}

}  // namespace
}  // namespace sluice
