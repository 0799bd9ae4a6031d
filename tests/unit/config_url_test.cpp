#include <gtest/gtest.h>

#include "core/url.hpp"

namespace sluice {
namespace {

Url must_parse(std::string_view text) {
    std::string err;
    auto u = parse_url(text, &err);
    EXPECT_TRUE(u.has_value()) << text << ": " << err;
    return u.value_or(Url{});
}

std::string parse_error(std::string_view text) {
    std::string err;
    auto u = parse_url(text, &err);
    EXPECT_FALSE(u.has_value()) << text;
    return err;
}

TEST(Url, FileForms) {
    Url u = must_parse("file:///var/log/sensors.log?decode=json,influx");
    EXPECT_EQ(u.scheme, "file");
    EXPECT_EQ(u.host, "");
    EXPECT_EQ(u.path, "/var/log/sensors.log");
    ASSERT_EQ(u.query.size(), 1u);
    EXPECT_EQ(*u.param("decode"), "json,influx");
    EXPECT_EQ(u.param("nope"), nullptr);

    u = must_parse("file:relative/out.ndjson");
    EXPECT_EQ(u.path, "relative/out.ndjson");
    u = must_parse("stdout:");
    EXPECT_EQ(u.scheme, "stdout");
    EXPECT_EQ(u.path, "");
    u = must_parse("FILE:/x");
    EXPECT_EQ(u.scheme, "file");
}

TEST(Url, Authority) {
    Url u = must_parse("mqtt://us%40er:p%3Ass@broker.local:1883/plant/%23?qos=1&retain");
    EXPECT_EQ(u.scheme, "mqtt");
    EXPECT_EQ(u.user, "us@er");
    EXPECT_EQ(u.password, "p:ss");
    EXPECT_EQ(u.host, "broker.local");
    EXPECT_EQ(u.port, 1883);
    EXPECT_EQ(u.path, "/plant/#");
    ASSERT_EQ(u.query.size(), 2u);
    EXPECT_EQ(u.query[1].first, "retain");
    EXPECT_EQ(u.query[1].second, "");

    u = must_parse("tcp://[::1]:9000");
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 9000);
    EXPECT_EQ(u.path, "");
    u = must_parse("mqtt://user@host");
    EXPECT_EQ(u.user, "user");
    EXPECT_EQ(u.password, "");
    u = must_parse("mqtt://host?topic=a%2Fb&&x=100%25");
    EXPECT_EQ(*u.param("topic"), "a/b");
    EXPECT_EQ(*u.param("x"), "100%");
}

TEST(Url, Errors) {
    EXPECT_EQ(parse_error(""), "empty URL");
    EXPECT_NE(parse_error("mqtt://h:1883/%zz").find("bad escape '%zz'"), std::string::npos);
    EXPECT_NE(parse_error("mqtt://h/a?x=100%").find("write a literal '%' as %25"), std::string::npos);
    EXPECT_NE(parse_error("/var/log/x.log").find("file:///var/log/x.log"), std::string::npos);
    EXPECT_NE(parse_error("no-scheme").find("not a URL"), std::string::npos);
    EXPECT_NE(parse_error("mqtt://h:0").find("invalid port"), std::string::npos);
    EXPECT_NE(parse_error("mqtt://h:70000").find("invalid port"), std::string::npos);
    EXPECT_NE(parse_error("mqtt://h:12ab").find("invalid port"), std::string::npos);
    // Only iio URLs take a ':' before a letter as part of the host (a device name).
    EXPECT_NE(parse_error("crate://host:notaport/").find("invalid port 'notaport'"), std::string::npos);
    EXPECT_NE(parse_error("mqtt://h:/x").find("empty port"), std::string::npos);
    EXPECT_NE(parse_error("mqtt://[::1/x").find("'['"), std::string::npos);
    EXPECT_NE(parse_error("mqtt://h/plant/#").find("%23"), std::string::npos);
    EXPECT_NE(parse_error("file:///x?=v").find("empty parameter name"), std::string::npos);
    EXPECT_NE(parse_error(std::string_view("file:///x\n", 10)).find("control"), std::string::npos);
}

TEST(Url, PercentDecode) {
    EXPECT_EQ(percent_decode("a%20b"), "a b");
    EXPECT_EQ(percent_decode("%2f%2F"), "//");
    EXPECT_EQ(percent_decode("100%"), std::nullopt);
    EXPECT_EQ(percent_decode("%4"), std::nullopt);
    EXPECT_EQ(percent_decode("a+b"), "a+b");  // '+' is not form encoding here
    EXPECT_EQ(percent_decode("%00")->size(), 1u);
}

}  // namespace
}  // namespace sluice

TEST(Url, ColonBeforeALetterIsPartOfTheHost) {
    std::string error;
    auto u = sluice::parse_url("iio://iio:device0/in_voltage0,in_temp?interval=1s", &error);
    ASSERT_TRUE(u) << error;
    EXPECT_EQ(u->host, "iio:device0");
    EXPECT_EQ(u->port, 0);
    EXPECT_EQ(u->path, "/in_voltage0,in_temp");
}
