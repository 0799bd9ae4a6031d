// Tables (tables/tables.hpp) and their SQLite store: values as JSON, CSV
// loading, paging, max_keys, and rows surviving a restart.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "buffer/table_store.hpp"
#include "tables/tables.hpp"

using namespace sluice;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/sluice-tables-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

TableValue value(std::string_view json) {
    std::string error;
    auto v = parse_table_value(json, &error);
    EXPECT_TRUE(v) << json << ": " << error;
    return v ? *v : TableValue{};
}

Tables::Spec spec(std::string name, bool is_public = true, std::string csv = {}, std::size_t max_keys = 0) {
    Tables::Spec s;
    s.name = std::move(name);
    s.settings.is_public = is_public;
    s.settings.csv = std::move(csv);
    s.settings.max_keys = max_keys;
    return s;
}

}  // namespace

TEST(TableValue, JsonRoundTripKeepsTypes) {
    const auto v = value(R"({"scale": 1.5, "n": 3, "f": 2.0, "on": true, "site": "lab \"2\"", "gone": null})");
    ASSERT_EQ(v.size(), 5u);
    EXPECT_EQ(std::get<double>(v[0].value), 1.5);
    EXPECT_EQ(std::get<std::int64_t>(v[1].value), 3);
    EXPECT_EQ(std::get<double>(v[2].value), 2.0);
    EXPECT_EQ(std::get<bool>(v[3].value), true);
    const std::string json = table_value_json(v);
    EXPECT_EQ(json, R"({"scale":1.5,"n":3,"f":2.0,"on":true,"site":"lab \"2\""})");
    EXPECT_EQ(table_value_json(value(json)), json);
}

TEST(TableValue, RejectsWhatIsNotAFlatObject) {
    std::string error;
    EXPECT_FALSE(parse_table_value("[1]", &error));
    EXPECT_NE(error.find("JSON object"), std::string::npos);
    EXPECT_FALSE(parse_table_value(R"({"a":{"b":1}})", &error));
    EXPECT_NE(error.find("member 'a' is an object"), std::string::npos);
    EXPECT_FALSE(parse_table_value(R"({"a":1} x)", &error));
    EXPECT_FALSE(parse_table_value(R"({"a":)", &error));
    EXPECT_FALSE(parse_table_value(std::string(100000, '['), &error));  // iterative parser: no stack overflow
}

TEST(TableValue, NumbersAreReadByTheOneJsonRule) {
    // Correctly rounded, as by the json decoder (RapidJSON's own full
    // precision path gave -5.7e-282 for the out-of-range one).
    EXPECT_EQ(std::get<double>(value(R"({"x":0.1})")[0].value), 0.1);
    EXPECT_EQ(std::get<double>(value(R"({"x":9223372036854775808})")[0].value), 9223372036854775808.0);
    std::string error;
    EXPECT_FALSE(parse_table_value(R"({"x":1844674407379510921888888881e308})", &error));
    EXPECT_NE(error.find("beyond a double's range"), std::string::npos) << error;
}

TEST(TableValue, TextIsTypedByTheDecodersRule) {
    EXPECT_EQ(typed_text("21"), FieldValue(std::int64_t{21}));
    EXPECT_EQ(typed_text(" 21.5\t"), FieldValue(21.5));
    EXPECT_EQ(typed_text("TRUE"), FieldValue(true)) << "as in a CSV payload";
    EXPECT_EQ(typed_text("1."), FieldValue(std::string("1."))) << "as in a CSV payload";
    EXPECT_EQ(typed_text(" lab 2 "), FieldValue(std::string(" lab 2 "))) << "text stays as written";
}

TEST(TableCsv, HeaderKeyColumnAndTypes) {
    std::string error;
    auto rows = parse_table_csv("\xEF\xBB\xBFsensor,scale,offset,site,note\r\n"
                                "n1/t,2,1.5,lab,\"a, \"\"quoted\"\" note\"\r\n"
                                "\n"
                                "n2/t, 1 ,-0.5,roof,\n"
                                "n1/t,3,0,lab,again\n",
                                "", &error);
    ASSERT_TRUE(rows) << error;
    ASSERT_EQ(rows->rows.size(), 2u);
    EXPECT_EQ(rows->rows[0].first, "n1/t");  // the repeated key: the last row wins
    EXPECT_EQ(table_value_json(rows->rows[0].second), R"({"scale":3,"offset":0,"site":"lab","note":"again"})");
    EXPECT_EQ(table_value_json(rows->rows[1].second), R"({"scale":1,"offset":-0.5,"site":"roof"})");

    auto by_site = parse_table_csv("sensor,site\nn1,lab\n", "site", &error);
    ASSERT_TRUE(by_site) << error;
    EXPECT_EQ(by_site->rows[0].first, "lab");
    EXPECT_EQ(table_value_json(by_site->rows[0].second), R"({"sensor":"n1"})");
}

TEST(TableCsv, ErrorsNameTheLine) {
    std::string error;
    EXPECT_FALSE(parse_table_csv("a,b\n1,2,3\n", "", &error));
    EXPECT_EQ(error, "line 2: 3 cells, but the header has 2 columns");
    EXPECT_FALSE(parse_table_csv("a,b\n1,\"2\n", "", &error));
    EXPECT_EQ(error, "line 2: a quoted cell is not closed");
    // The csv decoder's rule (text/csv.hpp): nothing but blanks after a closing quote.
    EXPECT_FALSE(parse_table_csv("a,b\n1,\"2\"x\n", "", &error));
    EXPECT_EQ(error, "line 2: unexpected 'x' after a quoted field at column 6");
    // Blanks before an opening quote are dropped; inside the quotes they are trimmed as before.
    auto rows = parse_table_csv("a,b\n1, \" x \" \n", "", &error);
    ASSERT_TRUE(rows) << error;
    EXPECT_EQ(table_value_json(rows->rows.at(0).second), R"({"b":"x"})");
    EXPECT_FALSE(parse_table_csv("a,b\n1,2\n", "c", &error));
    EXPECT_EQ(error, "no column 'c' in the header (a, b)");
    EXPECT_FALSE(parse_table_csv("a,a\n", "", &error));
    EXPECT_FALSE(parse_table_csv("", "", &error));
    EXPECT_FALSE(parse_table_csv("a,b\n,2\n", "", &error));
    EXPECT_EQ(error, "line 2: the key column 'a' is empty");
}

TEST(Tables, PutGetPageErase) {
    Tables tables;
    EXPECT_TRUE(tables.configure({spec("t"), spec("hidden", false)}).empty());
    Table* t = tables.find("t");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(tables.names(true), std::vector<std::string>{"t"});
    EXPECT_EQ(tables.names(false), (std::vector<std::string>{"hidden", "t"}));
    for (int i = 0; i < 25; ++i) {
        EXPECT_EQ(t->put(fmt::format("k{:02}", i), value(fmt::format(R"({{"v":{}}})", i))), Table::Put::Created);
    }
    EXPECT_EQ(t->put("k03", value(R"({"v":"new"})")), Table::Put::Replaced);
    EXPECT_EQ(table_value_json(*t->get("k03")), R"({"v":"new"})");
    EXPECT_FALSE(t->get("nope"));

    auto p1 = t->page(1, 10);
    EXPECT_EQ(p1.total, 25u);
    ASSERT_EQ(p1.items.size(), 10u);
    EXPECT_EQ(p1.items.front().first, "k00");
    auto p3 = t->page(3, 10);
    ASSERT_EQ(p3.items.size(), 5u);
    EXPECT_EQ(p3.items.front().first, "k20");
    EXPECT_EQ(p3.items.back().first, "k24");
    EXPECT_TRUE(t->page(4, 10).items.empty());
    EXPECT_TRUE(t->page(std::size_t{1} << 62, 1000).items.empty());

    EXPECT_TRUE(t->erase("k00"));
    EXPECT_FALSE(t->erase("k00"));
    EXPECT_EQ(t->size(), 24u);
}

TEST(Tables, MaxKeysRefusesNewKeysOnly) {
    Tables tables;
    tables.configure({spec("t", true, {}, 2)});
    Table* t = tables.find("t");
    EXPECT_EQ(t->put("a", {}), Table::Put::Created);
    EXPECT_EQ(t->put("b", {}), Table::Put::Created);
    std::string error;
    EXPECT_EQ(t->put("c", {}, &error), Table::Put::Full);
    EXPECT_NE(error.find("full"), std::string::npos);
    EXPECT_EQ(t->put("a", value(R"({"x":1})")), Table::Put::Replaced);
    std::vector<std::pair<std::string, TableValue>> batch{{"b", {}}, {"d", {}}, {"e", {}}};
    EXPECT_EQ(t->put_many(batch), 2u);
    EXPECT_EQ(t->size(), 2u);
}

TEST(Tables, ReconfigureHidesDroppedTablesAndKeepsPointers) {
    Tables tables;
    tables.configure({spec("a"), spec("b")});
    Table* a = tables.find("a");
    a->put("k", {});
    tables.configure({spec("b")});
    EXPECT_EQ(tables.find("a"), nullptr);
    tables.configure({spec("a", false)});
    EXPECT_EQ(tables.find("a"), a);
    EXPECT_TRUE(a->get("k"));
    EXPECT_FALSE(a->is_public());
}

TEST(Tables, CsvLoadReplacesRowsAndReportsProblems) {
    TempDir dir;
    const auto csv = dir.path / "cal.csv";
    std::ofstream(csv) << "sensor,scale\nn1,2\nn2,3\n";
    Tables tables;
    EXPECT_TRUE(tables.configure({spec("cal", true, csv.string())}).empty());
    Table* t = tables.find("cal");
    t->put("api", {});
    EXPECT_EQ(t->size(), 3u);
    std::ofstream(csv) << "sensor,scale\nn1,5\n";
    EXPECT_TRUE(tables.configure({spec("cal", true, csv.string())}).empty());  // a reload
    EXPECT_EQ(t->size(), 1u);
    EXPECT_EQ(table_value_json(*t->get("n1")), R"({"scale":5})");

    std::ofstream(csv) << "sensor,scale\nn1,5,6\n";
    auto problems = tables.configure({spec("cal", true, csv.string())});
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("line 2"), std::string::npos) << problems[0];
    EXPECT_EQ(t->size(), 1u);  // kept what it had
    problems = tables.configure({spec("cal", true, (dir.path / "missing.csv").string())});
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("cannot read"), std::string::npos) << problems[0];
}

TEST(Tables, RowsSurviveARestart) {
    TempDir dir;
    const auto db = dir.path / "tables.db";
    {
        Tables tables(open_table_store(db));
        tables.configure({spec("latest"), spec("other")});
        Table* t = tables.find("latest");
        std::vector<std::pair<std::string, TableValue>> batch;
        for (int i = 0; i < 1000; ++i) {
            batch.emplace_back(fmt::format("n{}/t", i), value(fmt::format(R"({{"value":{}.5,"site":"s{}"}})", i, i % 3)));
        }
        t->put_many(std::move(batch));
        t->put("n1/t", value(R"({"value":-1})"));
        EXPECT_TRUE(t->erase("n2/t"));
        tables.find("other")->put("x", value(R"({"y":true})"));
    }
    {
        // The store is locked while open: a second gateway on the same data directory is refused.
        Tables tables(open_table_store(db));
        EXPECT_THROW(open_table_store(db), std::runtime_error);
        tables.configure({spec("latest")});
        Table* t = tables.find("latest");
        EXPECT_EQ(t->size(), 999u);
        EXPECT_EQ(table_value_json(*t->get("n1/t")), R"({"value":-1})");
        EXPECT_EQ(table_value_json(*t->get("n999/t")), R"({"value":999.5,"site":"s0"})");
        EXPECT_FALSE(t->get("n2/t"));
        tables.configure({spec("latest"), spec("other")});
        EXPECT_TRUE(tables.find("other")->get("x"));
    }
}

TEST(Tables, ConcurrentReadersAndWriters) {
    Tables tables;
    tables.configure({spec("t")});
    Table* t = tables.find("t");
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        while (!stop) {
            auto p = t->page(1, 50);
            for (const auto& [k, v] : p.items) {
                ASSERT_FALSE(k.empty());
            }
            t->read([&](const auto& find) { (void)find("k1"); });
        }
    });
    for (int round = 0; round < 200; ++round) {
        std::vector<std::pair<std::string, TableValue>> batch;
        for (int i = 0; i < 50; ++i) {
            batch.emplace_back(fmt::format("k{}", i), value(fmt::format(R"({{"r":{}}})", round)));
        }
        t->put_many(std::move(batch));
        t->erase("k7");
    }
    stop = true;
    reader.join();
    EXPECT_EQ(t->size(), 49u);
}

TEST(Tables, JoinedTableFollowsBothSidesUnderConcurrentWrites) {
    Tables tables;
    auto joined = spec("j");
    joined.settings.join = TableJoin{"left", "right", /*inner=*/true, "{ref}"};
    ASSERT_TRUE(tables.configure({spec("left"), spec("right"), joined}).empty());
    Table* left = tables.find("left");
    Table* right = tables.find("right");
    Table* j = tables.find("j");
    std::string why;
    EXPECT_EQ(j->put("x", value(R"({"a":1})"), &why), Table::Put::Failed);
    EXPECT_NE(why.find("is a join of 'left' and 'right'"), std::string::npos) << why;
    EXPECT_THROW(j->erase("x"), std::runtime_error);

    // Two writers, one per side; the join must end as if computed afresh.
    std::thread lw([&] {
        for (int round = 0; round < 100; ++round) {
            std::vector<std::pair<std::string, TableValue>> batch;
            for (int i = 0; i < 20; ++i) {
                batch.emplace_back(fmt::format("l{}", i), value(fmt::format(R"({{"ref":"r{}","n":{}}})",
                                                                              (i + round) % 10, round)));
            }
            left->put_many(std::move(batch));
        }
    });
    for (int round = 0; round < 100; ++round) {
        std::vector<std::pair<std::string, TableValue>> batch;
        for (int i = 0; i < 10; i += 1 + round % 2) {
            batch.emplace_back(fmt::format("r{}", i), value(fmt::format(R"({{"name":"n{}","round":{}}})", i, round)));
        }
        right->put_many(std::move(batch));
        right->erase(fmt::format("r{}", round % 10));
    }
    lw.join();
    std::size_t expected = 0;
    for (int i = 0; i < 20; ++i) {
        const auto lv = left->get(fmt::format("l{}", i));
        ASSERT_TRUE(lv);
        const auto ref = std::get<std::string>(table_member(*lv, "ref")->value);
        const auto rv = right->get(ref);
        const auto jv = j->get(fmt::format("l{}", i));
        ASSERT_EQ(jv.has_value(), rv.has_value()) << i;
        if (rv) {
            ++expected;
            EXPECT_EQ(table_value_json(*jv), table_value_json(*joined_value(&*lv, &*rv, true))) << i;
        }
    }
    EXPECT_EQ(j->size(), expected);
}
