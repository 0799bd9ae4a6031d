#include <limits>

#include <gtest/gtest.h>

#include "text/payload.hpp"

namespace sluice::payload {
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

TEST(PayloadInflux, EscapesPerSpec) {
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

TEST(PayloadInflux, NoFieldsIsAnError) {
    Record r;
    r.measurement = "m";
    r.fields = {{"nan", std::numeric_limits<double>::infinity()}};
    std::string out = "keep";
    std::string err;
    EXPECT_FALSE(append_influx_line(out, r, &err));
    EXPECT_EQ(out, "keep");
    EXPECT_FALSE(err.empty());
}

TEST(PayloadForms, Forms) {
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

}  // namespace
}  // namespace sluice::payload
