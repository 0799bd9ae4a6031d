#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "sinks/postgresql/pg_rows.hpp"

namespace sluice::postgresql {
namespace {

Record rec() {
    Record r;
    r.time_ns = 1'700'000'000'123'456'789;
    r.measurement = "temp";
    r.tags = {{"node", "n1"}, {"site", "north"}};
    r.fields = {{"v", 1.5}, {"n", std::int64_t{3}}, {"ok", true}, {"s", std::string("a\tb\\c\nd")}};
    return r;
}

Layout layout(std::vector<std::string> columns, std::vector<std::string> key = {}) {
    std::string error;
    auto l = make_layout(columns, key, &error);
    EXPECT_TRUE(l) << error;
    return l ? *l : Layout{};
}

const sql::Target kTarget{"public", "temp"};

TEST(PostgresqlLayout, ColumnsAndKeysAreChecked) {
    const Layout l = layout({"v=double precision", "Node-Id=text", "n= bigint"}, {"ts", "node_id"});
    ASSERT_EQ(l.columns.size(), 3u);
    EXPECT_EQ(l.columns[1].name, "node_id");
    EXPECT_EQ(l.columns[1].source, "Node-Id");
    EXPECT_EQ(l.columns[2].type, "bigint");
    EXPECT_EQ(l.width(), 6u);
    std::string error;
    EXPECT_FALSE(make_layout({"v"}, {}, &error));
    EXPECT_NE(error.find("name=SQL type"), std::string::npos) << error;
    EXPECT_FALSE(make_layout({"v=double; DROP TABLE x"}, {}, &error));
    EXPECT_FALSE(make_layout({"v=int", "V=int"}, {}, &error));
    EXPECT_NE(error.find("already given"), std::string::npos) << error;
    EXPECT_FALSE(make_layout({"tags=text"}, {}, &error));
    EXPECT_FALSE(make_layout({"v=int"}, {"node"}, &error));
    EXPECT_NE(error.find("neither \"ts\" nor a column"), std::string::npos) << error;
    EXPECT_FALSE(make_layout({"v=int"}, {"v", "v"}, &error));
}

TEST(PostgresqlStatements, DdlCopyAndInsert) {
    auto ddl = default_ddl(layout({}), kTarget);
    ASSERT_EQ(ddl.size(), 2u);
    EXPECT_EQ(ddl[0], "CREATE TABLE IF NOT EXISTS \"public\".\"temp\" (ts timestamptz NOT NULL, tags jsonb, "
                      "fields jsonb)");
    EXPECT_EQ(ddl[1], "CREATE INDEX IF NOT EXISTS \"temp_ts_idx\" ON \"public\".\"temp\" (ts)");
    const Layout keyed = layout({"v=double precision", "node=text"}, {"ts", "node"});
    ddl = default_ddl(keyed, kTarget);
    ASSERT_EQ(ddl.size(), 1u);  // the key's index starts with ts already
    EXPECT_EQ(ddl[0], "CREATE TABLE IF NOT EXISTS \"public\".\"temp\" (ts timestamptz NOT NULL, tags jsonb, "
                      "fields jsonb, \"v\" double precision, \"node\" text, PRIMARY KEY (\"ts\", \"node\"))");
    EXPECT_EQ(copy_statement(keyed, kTarget), "COPY \"public\".\"temp\" (ts, tags, fields, \"v\", \"node\") FROM STDIN");
    EXPECT_EQ(insert_statement(keyed, kTarget, 2),
              "INSERT INTO \"public\".\"temp\" (ts, tags, fields, \"v\", \"node\") VALUES ($1, $2, $3, $4, $5), "
              "($6, $7, $8, $9, $10) ON CONFLICT (\"ts\", \"node\") DO NOTHING");
    EXPECT_EQ(insert_rows_per_statement(keyed), 1000u);
    std::vector<std::string> many;
    for (int i = 0; i < 997; ++i) {
        many.push_back(fmt::format("c{}=int", i));
    }
    EXPECT_EQ(insert_rows_per_statement(layout(many)), kMaxParameters / 1000);
    EXPECT_EQ(create_schema({"plant", "t"}), "CREATE SCHEMA IF NOT EXISTS \"plant\"");
}

TEST(PostgresqlValues, JsonColumnsAndCopyText) {
    std::vector<std::optional<std::string>> v;
    std::string why;
    ASSERT_TRUE(row_values(rec(), layout({}), v, &why));
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(*v[0], "2023-11-14T22:13:20.123456789Z");
    EXPECT_EQ(*v[1], R"({"node":"n1","site":"north"})");
    EXPECT_EQ(*v[2], R"({"v":1.5,"n":3,"ok":true,"s":"a\tb\\c\nd"})");
    std::string line;
    append_copy_row(line, v);
    EXPECT_EQ(line, "2023-11-14T22:13:20.123456789Z\t{\"node\":\"n1\",\"site\":\"north\"}\t"
                    "{\"v\":1.5,\"n\":3,\"ok\":true,\"s\":\"a\\\\tb\\\\\\\\c\\\\nd\"}\n");

    // Mapped tags and fields leave the JSON; a missing one is NULL.
    const Layout l = layout({"v=double precision", "node=text", "s=text", "missing=int", "ok=boolean"});
    ASSERT_TRUE(row_values(rec(), l, v, &why));
    ASSERT_EQ(v.size(), 8u);
    EXPECT_EQ(*v[1], R"({"site":"north"})");
    EXPECT_EQ(*v[2], R"({"n":3})");
    EXPECT_EQ(*v[3], "1.5");
    EXPECT_EQ(*v[4], "n1");
    EXPECT_EQ(*v[5], "a\tb\\c\nd");
    EXPECT_FALSE(v[6]);
    EXPECT_EQ(*v[7], "true");
    line.clear();
    append_copy_row(line, std::span(v).subspan(3));
    EXPECT_EQ(line, "1.5\tn1\ta\\tb\\\\c\\nd\t\\N\ttrue\n");

    Record odd = rec();
    odd.fields = {{"v", std::nan("")}, {"s", std::string("nul\0byte", 8)}};
    ASSERT_TRUE(row_values(odd, layout({"v=double precision"}), v, &why));
    EXPECT_EQ(*v[3], "NaN");
    EXPECT_EQ(*v[2], R"({"s":"nul\u0000byte"})");  // the server refuses it: a dead letter with its words
    EXPECT_FALSE(row_values(odd, layout({"s=text"}), v, &why));
    EXPECT_NE(why.find("NUL byte"), std::string::npos) << why;
}

TEST(PostgresqlErrors, SqlstateClassesAndCopyLines) {
    EXPECT_EQ(action_for_sqlstate("23514"), Action::Reject);  // check constraint
    EXPECT_EQ(action_for_sqlstate("23505"), Action::Reject);  // unique
    EXPECT_EQ(action_for_sqlstate("22P02"), Action::Reject);  // bad text representation
    EXPECT_EQ(action_for_sqlstate("42P01"), Action::CreateTable);
    EXPECT_EQ(action_for_sqlstate("3F000"), Action::CreateSchema);
    EXPECT_EQ(action_for_sqlstate("42501"), Action::Retry);  // permission
    EXPECT_EQ(action_for_sqlstate("08006"), Action::Retry);
    EXPECT_EQ(action_for_sqlstate(""), Action::Retry);
    EXPECT_EQ(copy_line("COPY checked, line 501: \"2023-...\""), 501u);
    EXPECT_EQ(copy_line("COPY t, line 3, column seq: \"x\""), 3u);
    EXPECT_EQ(copy_line("SQL statement"), 0u);
    EXPECT_EQ(copy_line("PL/pgSQL function f() line 4 at RAISE\nCOPY t, line 12: \"x\""), 12u);
    EXPECT_EQ(copy_line("SQL function \"g\", line 3\nCOPY t, line 7"), 7u);
    EXPECT_EQ(copy_line("SQL function \"g\", line 3"), 0u);
    EXPECT_EQ(copy_line("COPY t, line 99999999999999999999"), 999999999u);  // nine digits at most, then out of range
}

// A table that refuses the rows in `bad`; with `hints` it names the line of
// the first bad row like COPY does.
struct FakeTable {
    std::set<std::size_t> bad;
    bool hints = true;
    std::vector<std::size_t> stored;
    std::size_t attempts = 0;
    std::size_t rows_sent = 0;

    Attempt write(std::span<const std::size_t> rows) {
        ++attempts;
        rows_sent += rows.size();
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (bad.contains(rows[i])) {
                Attempt a{.kind = Attempt::Refused, .message = "bad " + std::to_string(rows[i])};
                if (hints) {
                    a.from = i;
                    a.to = i + 1;
                }
                return a;
            }
        }
        stored.insert(stored.end(), rows.begin(), rows.end());
        return {};
    }
};

void isolate(FakeTable& t, std::size_t n) {
    std::vector<std::size_t> rows(n);
    for (std::size_t i = 0; i < n; ++i) {
        rows[i] = i;
    }
    std::vector<std::pair<std::size_t, std::string>> rejected;
    const std::string err = write_isolating(rows, [&](auto r) { return t.write(r); }, rejected);
    ASSERT_EQ(err, "");
    std::set<std::size_t> got_bad;
    for (const auto& [i, why] : rejected) {
        EXPECT_EQ(why, "bad " + std::to_string(i));
        got_bad.insert(i);
    }
    EXPECT_EQ(got_bad, t.bad);
    EXPECT_EQ(t.stored.size() + rejected.size(), n);
    std::set<std::size_t> all(t.stored.begin(), t.stored.end());
    EXPECT_EQ(all.size(), t.stored.size());
}

TEST(PostgresqlIsolate, OneBadRowWithAndWithoutHints) {
    FakeTable hinted{.bad = {500}};
    isolate(hinted, 1000);
    EXPECT_LE(hinted.attempts, 4u);
    FakeTable blind{.bad = {500}, .hints = false};
    isolate(blind, 1000);
    EXPECT_LE(blind.attempts, 2 * 10 + 2u);
}

TEST(PostgresqlIsolate, ManyBadRowsStayBounded) {
    FakeTable all;
    for (std::size_t i = 0; i < 10000; ++i) {
        all.bad.insert(i);
    }
    isolate(all, 10000);
    // 16 hinted refusals (each sends the rest again), then halving: about
    // n (16 + 2 log2 n) rows sent, not the n^2 / 2 of following every hint.
    EXPECT_LT(all.rows_sent, 10000u * (16 + 2 * 14));
    FakeTable some{.bad = {0, 1, 2, 999, 5000, 9999}};
    isolate(some, 10000);
}

TEST(PostgresqlIsolate, AFailureStops) {
    std::vector<std::size_t> rows{0, 1, 2};
    std::vector<std::pair<std::size_t, std::string>> rejected;
    const std::string err = write_isolating(
        rows, [](auto) { return Attempt{.kind = Attempt::Failed, .message = "connection lost"}; }, rejected);
    EXPECT_EQ(err, "connection lost");
    EXPECT_TRUE(rejected.empty());
}

}  // namespace
}  // namespace sluice::postgresql
