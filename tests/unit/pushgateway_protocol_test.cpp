#include <gtest/gtest.h>

#include "sinks/pushgateway/pushgateway_protocol.hpp"

namespace sluice::pushgateway {
namespace {

TEST(PushgatewayPath, Base64ForSlashAndEmpty) {
    EXPECT_EQ(grouping_path("j", {{"instance", "gw1"}}), "/metrics/job/j/instance/gw1");
    EXPECT_EQ(grouping_path("j", {{"site", "a/b"}}), "/metrics/job/j/site@base64/YS9i");
    EXPECT_EQ(grouping_path("j", {{"e", ""}}), "/metrics/job/j/e@base64/=");
    EXPECT_EQ(grouping_path("j", {{"x", "a b"}}), "/metrics/job/j/x/a%20b");
    EXPECT_EQ(base64url("\xfb\xff"), "-_8=");
}

TEST(PushgatewayGrouping, Parses) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string err;
    EXPECT_TRUE(parse_grouping({"site=a/b", "e="}, out, &err));
    EXPECT_EQ(out.size(), 2u);
    EXPECT_FALSE(parse_grouping({"nolabel"}, out, &err));
    EXPECT_FALSE(parse_grouping({"bad-name=x"}, out, &err));
}

TEST(PushgatewayExposition, LastValueGaugesNoTimestamps) {
    SeriesMap m;
    Record r;
    r.measurement = "env";
    r.tags = {{"room", "a\"b"}, {"job", "j"}, {"9x", "1"}};
    r.fields = {{"temp", 1.0}, {"ok", true}, {"name", std::string("s")}, {"n", std::int64_t{4}}};
    m.merge(r, "sluice", {"job", "instance"});
    r.fields = {{"temp", 2.5}};
    m.merge(r, "sluice", {"job", "instance"});
    const std::string text = m.exposition();
    EXPECT_NE(text.find("# TYPE sluice_env_temp gauge\n"), std::string::npos) << text;
    EXPECT_NE(text.find("sluice_env_temp{_9x=\"1\",exported_job=\"j\",room=\"a\\\"b\"} 2.5\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("sluice_env_ok{"), std::string::npos);
    EXPECT_EQ(text.find("sluice_env_name"), std::string::npos);
    EXPECT_EQ(m.size(), 3u);
    EXPECT_EQ(sanitise_metric_name("a-b:c"), "a_b:c");
    EXPECT_EQ(sanitise_label_name("__x"), "_x");
}

}  // namespace
}  // namespace sluice::pushgateway
