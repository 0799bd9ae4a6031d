#include <gtest/gtest.h>

#include "sinks/cratedb/cratedb_protocol.hpp"

namespace sluice::cratedb {
namespace {

Record rec(std::vector<Tag> tags, std::string m = "temp") {
    Record r;
    r.time_ns = 1'700'000'000'123'456'789;
    r.measurement = std::move(m);
    r.tags = std::move(tags);
    r.fields = {{"v", 1.5}, {"n", std::int64_t{3}}, {"ok", true}, {"s", std::string("a\"b")}};
    return r;
}

Template naming(std::string_view text) {
    std::string error;
    auto t = naming_template(text, &error);
    EXPECT_TRUE(t) << error;
    return t ? *t : *Template::parse("", nullptr);
}

TEST(CrateDbNaming, TemplatesAndFallbacks) {
    const Template schema = naming("{realm}_{network}");
    const Template table = naming("{gateway}_{node}_{measurement}");
    auto t = target_for(rec({{"realm", "R-1"}, {"network", "n1"}, {"gateway", "gw"}, {"node", "x.y"}}), schema, table);
    EXPECT_EQ(t.schema, "r_1_n1");
    EXPECT_EQ(t.table, "gw_x_y_temp");
    t = target_for(rec({}), schema, table);
    EXPECT_EQ(t.schema, "doc");
    EXPECT_EQ(t.table, "temp");
    t = target_for(rec({{"realm", ""}, {"gateway", "gw"}}, ""), naming("{realm}"), naming("{gateway}"));
    EXPECT_EQ(t.schema, "doc") << "an empty tag is missing";
    EXPECT_EQ(t.table, "gw");
    t = target_for(rec({}, ""), naming("{realm}"), naming("{gateway}"));
    EXPECT_EQ(t.table, "readings");
    // Fields name tables too, in the one template dialect.
    EXPECT_EQ(target_for(rec({}), schema, naming("t_{n}")).table, "t_3");
    EXPECT_EQ(sanitise_identifier("__Weird Name!"), "weird_name_");
}

TEST(CrateDbNaming, KindIsTheMeasurementsOldName) {
    bool used_kind = false;
    std::string error;
    auto t = naming_template("{gateway}_{kind}_{{kind}}", &error, &used_kind);
    ASSERT_TRUE(t) << error;
    EXPECT_TRUE(used_kind);
    EXPECT_EQ(t->text(), "{gateway}_{measurement}_{{kind}}");
    used_kind = false;
    EXPECT_TRUE(naming_template("{gateway}_{measurement}", &error, &used_kind));
    EXPECT_FALSE(used_kind);
    EXPECT_FALSE(naming_template("{gateway", &error));
    EXPECT_EQ(sanitise_identifier(""), "x");
}

TEST(CrateDbBodies, BulkInsert) {
    Record r = rec({{"k", "v"}});
    const Record* rows[] = {&r};
    const std::string body = bulk_body({"doc", "t"}, rows);
    EXPECT_EQ(body,
              "{\"stmt\":\"INSERT INTO \\\"doc\\\".\\\"t\\\" (ts, tags, fields) VALUES (?, ?, ?)\","
              "\"bulk_args\":[[1700000000123,{\"k\":\"v\"},{\"v\":1.5,\"n\":3,\"ok\":true,\"s\":\"a\\\"b\"}]]}");
    EXPECT_NE(render_ddl(kDefaultDdl, {"s", "t"}).find("IF NOT EXISTS \"s\".\"t\" (ts TIMESTAMP"), std::string::npos);
}

TEST(CrateDbBodies, WholeDoublesKeepTheirFraction) {
    // CrateDB types a dynamic column by its first value: 21 would make a
    // bigint column that a later 21.5 no longer fits.
    Record r;
    r.time_ns = 0;
    r.fields = {{"temp", 21.0}, {"n", std::int64_t{21}}, {"big", 1e21}};
    const Record* rows[] = {&r};
    EXPECT_NE(bulk_body({"doc", "t"}, rows).find(R"({"temp":21.0,"n":21,"big":1e+21})"), std::string::npos);
}

TEST(CrateDbAnswers, BulkResults) {
    std::string err;
    auto r = parse_bulk_results(
        R"({"cols":[],"duration":1.2,"results":[{"rowcount":1},{"rowcount":-2,"error":{"code":4003,"message":"bad"}},{"rowcount":-2}]})",
        3, &err);
    ASSERT_TRUE(r) << err;
    EXPECT_TRUE((*r)[0].ok);
    EXPECT_FALSE((*r)[1].ok);
    EXPECT_EQ((*r)[1].message, "bad");
    EXPECT_EQ((*r)[2].message, "CrateDB refused the row");
    EXPECT_FALSE(parse_bulk_results(R"({"results":[]})", 1, &err));
    EXPECT_FALSE(parse_bulk_results("{\"results\":[", 1, &err));
    EXPECT_FALSE(parse_bulk_results(std::string(10000, '['), 1, &err));  // depth limit, no crash
}

TEST(CrateDbAnswers, ErrorCodes) {
    auto e = parse_error(R"({"error":{"message":"RelationUnknown[x]","code":4041},"error_trace":"..."})");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, 4041);
    EXPECT_EQ(action_for_code(4041), Action::CreateTable);
    EXPECT_EQ(action_for_code(4091), Action::Reject);
    EXPECT_EQ(action_for_code(5030), Action::Retry);
    EXPECT_EQ(action_for_code(4000), Action::Retry);
    EXPECT_FALSE(parse_error("not json"));
}

}  // namespace
}  // namespace sluice::cratedb
