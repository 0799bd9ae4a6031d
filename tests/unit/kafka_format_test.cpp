#include <limits>

#include <gtest/gtest.h>

#include "sinks/kafka/kafka_format.hpp"

namespace sluice::kafka {
namespace {

Record sample() {
    Record r;
    r.time_ns = 1'700'000'000'123'456'789;
    r.measurement = "temp";
    r.origin = "sensors/a";
    r.tags = {{"gateway", "gw1"}, {"node", "n 7"}};
    r.fields = {{"value", 21.5}, {"seq", std::int64_t{42}}, {"ok", true}, {"note", std::string("a \"b\"")}};
    return r;
}

TEST(KafkaInflux, EscapesPerSpec) {
    std::string out;
    std::string err;
    ASSERT_TRUE(append_influx_line(out, sample(), &err)) << err;
    EXPECT_EQ(out, "temp,gateway=gw1,node=n\\ 7 value=21.5,seq=42i,ok=true,note=\"a \\\"b\\\"\" 1700000000123456789");

    Record r;
    r.measurement = "a b,c=d";
    r.tags = {{"k=1", "v,2"}, {"empty", ""}};
    r.fields = {{"f x", 1.0}, {"nan", std::numeric_limits<double>::quiet_NaN()}};
    r.time_ns = 5;
    out.clear();
    ASSERT_TRUE(append_influx_line(out, r, &err));
    EXPECT_EQ(out, "a\\ b\\,c=d,k\\=1=v\\,2 f\\ x=1 5");
}

TEST(KafkaInflux, NoFieldsIsAnError) {
    Record r;
    r.measurement = "m";
    r.fields = {{"nan", std::numeric_limits<double>::infinity()}};
    std::string out = "keep";
    std::string err;
    EXPECT_FALSE(append_influx_line(out, r, &err));
    EXPECT_EQ(out, "keep");
    EXPECT_FALSE(err.empty());
}

TEST(KafkaPayload, Forms) {
    const Record r = sample();
    std::string out;
    ASSERT_TRUE(encode_payload(Format::Json, "payload", r, out, nullptr));
    EXPECT_EQ(out.front(), '{');
    EXPECT_NE(out.find("\"measurement\":\"temp\""), std::string::npos);
    ASSERT_TRUE(encode_payload(Format::Raw, "note", r, out, nullptr));
    EXPECT_EQ(out, "a \"b\"");
    ASSERT_TRUE(encode_payload(Format::Raw, "seq", r, out, nullptr));
    EXPECT_EQ(out, "42");
    ASSERT_TRUE(encode_payload(Format::Raw, "payload", r, out, nullptr));
    EXPECT_EQ(out.front(), '{');  // absent: the record's JSON
    EXPECT_EQ(parse_format("influx"), Format::Influx);
    EXPECT_FALSE(parse_format("avro").has_value());
}

// The Java client's test vectors (org.apache.kafka.common.utils.UtilsTest).
TEST(KafkaMurmur2, MatchesJavaClient) {
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("21")), -973932308);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("foobar")), -790332482);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("a-little-bit-long-string")), -985981536);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("a-little-bit-longer-string")), -1486304829);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")), -58897971);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("abc")), 479470107);
    EXPECT_EQ(murmur2_partition("foobar", 4), static_cast<std::int32_t>((0xd0e47bbeu & 0x7fffffffu) % 4));
    EXPECT_EQ(murmur2_partition("x", 0), -1);
}

}  // namespace
}  // namespace sluice::kafka
