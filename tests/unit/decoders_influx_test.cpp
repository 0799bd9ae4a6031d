#include <gtest/gtest.h>

#include "decoders/influx/influx.hpp"

namespace sluice::decoders {
namespace {

constexpr TimeNs kS = 1'000'000'000;

struct Result {
    DecodeStatus status;
    std::vector<Record> records;
    std::string error;
};

Result run(Decoder& d, std::string payload) {
    Frame f;
    f.payload = std::move(payload);
    f.origin = "udp:8089";
    Result r;
    r.status = d.decode(f, r.records, r.error);
    return r;
}

Result run(std::string payload, InfluxConfig cfg = {}) {
    auto d = make_influx_decoder(cfg);
    return run(*d, std::move(payload));
}

const FieldValue& value(const Record& r, std::string_view name) {
    const Field* f = r.field(name);
    if (f == nullptr) {
        static const FieldValue missing{std::string("<missing>")};
        ADD_FAILURE() << "no field " << name;
        return missing;
    }
    return f->value;
}

TEST(InfluxDecoder, FullLine) {
    auto r = run("weather,location=us-midwest,season=summer temperature=82,humidity=71i 1465839830100400200");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 1u);
    const Record& rec = r.records[0];
    EXPECT_EQ(rec.measurement, "weather");
    EXPECT_EQ(rec.origin, "udp:8089");
    ASSERT_EQ(rec.tags.size(), 2u);
    EXPECT_EQ(*rec.tag("location"), "us-midwest");
    EXPECT_EQ(*rec.tag("season"), "summer");
    EXPECT_EQ(value(rec, "temperature"), FieldValue{82.0});
    EXPECT_EQ(value(rec, "humidity"), FieldValue{std::int64_t{71}});
    EXPECT_EQ(rec.time_ns, 1465839830100400200);
}

TEST(InfluxDecoder, FieldTypes) {
    auto r = run(R"(m f=1.5,neg=-2.5e3,i=-42i,u=42u,bigu=18446744073709551615u,s="hi there",e="",)"
                 R"(t1=t,t2=T,t3=true,t4=True,t5=TRUE,f1=f,f2=F,f3=false,f4=False,f5=FALSE)");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    const Record& rec = r.records.at(0);
    EXPECT_EQ(value(rec, "f"), FieldValue{1.5});
    EXPECT_EQ(value(rec, "neg"), FieldValue{-2500.0});
    EXPECT_EQ(value(rec, "i"), FieldValue{std::int64_t{-42}});
    EXPECT_EQ(value(rec, "u"), FieldValue{std::int64_t{42}});
    EXPECT_EQ(value(rec, "bigu"), FieldValue{18446744073709551615.0});
    EXPECT_EQ(value(rec, "s"), FieldValue{std::string("hi there")});
    EXPECT_EQ(value(rec, "e"), FieldValue{std::string()});
    for (const char* t : {"t1", "t2", "t3", "t4", "t5"}) {
        EXPECT_EQ(value(rec, t), FieldValue{true}) << t;
    }
    for (const char* f : {"f1", "f2", "f3", "f4", "f5"}) {
        EXPECT_EQ(value(rec, f), FieldValue{false}) << f;
    }
    EXPECT_EQ(rec.time_ns, 0);
}

TEST(InfluxDecoder, Escaping) {
    auto r = run(R"(my\ meas\,ure,tag\ key=tag\,val\=ue,t2=a\ b field\ k\=ey="quote \" back \\ slash \n",x\,y=1)");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    const Record& rec = r.records.at(0);
    EXPECT_EQ(rec.measurement, "my meas,ure");
    EXPECT_EQ(*rec.tag("tag key"), "tag,val=ue");
    EXPECT_EQ(*rec.tag("t2"), "a b");
    EXPECT_EQ(value(rec, "field k=ey"), FieldValue{std::string(R"(quote " back \ slash \n)")});
    EXPECT_EQ(value(rec, "x,y"), FieldValue{1.0});
    // A quoted string may contain what is structure elsewhere.
    auto r2 = run(R"(m s="a=b, c d",n=2 1700000000)");
    ASSERT_EQ(r2.status, DecodeStatus::Ok) << r2.error;
    EXPECT_EQ(value(r2.records.at(0), "s"), FieldValue{std::string("a=b, c d")});
    EXPECT_EQ(r2.records.at(0).time_ns, 1700000000 * kS);
}

TEST(InfluxDecoder, TimestampPrecision) {
    EXPECT_EQ(run("m v=1 1700000000").records.at(0).time_ns, 1700000000 * kS);
    EXPECT_EQ(run("m v=1 1700000000123").records.at(0).time_ns, 1700000000123'000'000);
    EXPECT_EQ(run("m v=1 1700000000123456").records.at(0).time_ns, 1700000000123456'000);
    EXPECT_EQ(run("m v=1 1700000000123456789").records.at(0).time_ns, 1700000000123456789);
    EXPECT_EQ(run("m v=1 -5").records.at(0).time_ns, -5 * kS);
    EXPECT_EQ(run("m v=1 1700000000", {.precision = EpochUnit::Nanos}).records.at(0).time_ns, 1700000000);
    EXPECT_EQ(run("m v=1 1700000000123", {.precision = EpochUnit::Millis}).records.at(0).time_ns,
              1700000000123'000'000);
}

TEST(InfluxDecoder, SeveralLinesCommentsAndBlanks) {
    auto r = run("# header comment\n\ncpu,host=a usage=0.5 1700000000\r\n  cpu,host=b usage=0.7 1700000001\n\n");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 2u);
    EXPECT_EQ(*r.records[1].tag("host"), "b");
    EXPECT_EQ(r.records[1].time_ns, 1700000001 * kS);
    // A frame of only comments is line protocol with nothing in it.
    auto c = run("# nothing to see\n");
    EXPECT_EQ(c.status, DecodeStatus::Ok);
    EXPECT_TRUE(c.records.empty());
}

TEST(InfluxDecoder, NotMine) {
    for (const char* p : {"", "  \n", "{\"a\":1}", "[1,2]", "42", "hello", "hello world", "sensor t1 temp=21",
                          "level=info msg=hello", "msg=\"a b\" x=1", "time,sensor,temp", "1700000000,t1,21.5",
                          "2026-11-22 06:10:00,t1,21.5", "started port=8080 mode=fast", "Status ok=true now",
                          ",tag=a v=1", "m,t=1"}) {
        auto r = run(p);
        EXPECT_EQ(r.status, DecodeStatus::NotMine) << p << " -> " << r.error;
        EXPECT_TRUE(r.records.empty());
    }
}

TEST(InfluxDecoder, BrokenWithPreciseMessages) {
    auto r = run("weather,loc=x temperature=abc");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error, "influx: line 1: field value 'abc' at column 27 is not a number");

    r = run("cpu,host=a usage=0.5\ncpu,host=b usage=zz");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error, "influx: line 2: field value 'zz' at column 18 is not a number");
    EXPECT_TRUE(r.records.empty());

    EXPECT_EQ(run("m v=\"open").error, "influx: line 1: unterminated string value of field 'v' at column 5");
    EXPECT_EQ(run("m v=1 12.5").error, "influx: line 1: timestamp '12.5' at column 7 is not an integer");
    EXPECT_EQ(run("m v=1 99999999999999999999").error,
              "influx: line 1: timestamp '99999999999999999999' at column 7 is out of range");
    EXPECT_EQ(run("m v=1 1700000000 extra").error,
              "influx: line 1: unexpected 'extra' after the timestamp at column 18");
    EXPECT_EQ(run("m,t v=1").error, "influx: line 1: tag 't' at column 3 has no value");
    EXPECT_EQ(run("m,t= v=1").error, "influx: line 1: tag 't' at column 3 has no value");
    EXPECT_EQ(run("m v=1,w 5").error, "influx: line 1: field 'w' at column 7 has no value");
    EXPECT_EQ(run("m v=1,w=").error, "influx: line 1: field 'w' at column 9 has no value");
    EXPECT_EQ(run("m v=99999999999999999999i").error,
              "influx: line 1: integer '99999999999999999999i' at column 5 is out of range");
    EXPECT_EQ(run("m v=-1u").error, "influx: line 1: field value '-1u' at column 5 is not a number");
    EXPECT_EQ(run("m v=1.5i").error, "influx: line 1: field value '1.5i' at column 5 is not a number");
    EXPECT_EQ(run("m v=\"x\"y").error, "influx: line 1: unexpected 'y' at column 8");
    EXPECT_EQ(run("m v=NaN").status, DecodeStatus::Broken);
    EXPECT_EQ(run("m v=inf").status, DecodeStatus::Broken);
    // Columns count from the start of the line as sent.
    EXPECT_EQ(run("   m v=x").error, "influx: line 1: field value 'x' at column 8 is not a number");
}

TEST(InfluxDecoder, ForeignLineAmongLineProtocolIsBroken) {
    auto r = run("cpu usage=1\nthis is not it\ncpu usage=2");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error, "influx: line 2: no field set");
}

TEST(InfluxDecoder, OutputUntouchedOnFailure) {
    auto d = make_influx_decoder();
    std::vector<Record> out(1);
    Frame f;
    f.payload = "m v=1\nm v=bad";
    std::string err;
    EXPECT_EQ(d->decode(f, out, err), DecodeStatus::Broken);
    EXPECT_EQ(out.size(), 1u);
    f.payload = "just text";
    EXPECT_EQ(d->decode(f, out, err), DecodeStatus::NotMine);
    EXPECT_EQ(out.size(), 1u);
    f.payload = "m v=1\nm v=2";
    EXPECT_EQ(d->decode(f, out, err), DecodeStatus::Ok);
    EXPECT_EQ(out.size(), 3u);
}

TEST(InfluxDecoder, Descriptor) {
    const Descriptor& desc = components::decoder_influx();
    EXPECT_EQ(desc.name, "influx");
    EXPECT_EQ(desc.kind, Kind::Decoder);
    Options opts;
    opts.set("precision", {OptionType::Enum, std::string("ms"), {}, true});
    auto d = desc.make_decoder(opts);
    EXPECT_EQ(run(*d, "m v=1 5").records.at(0).time_ns, 5'000'000);
    Options bad;
    bad.set("precision", {OptionType::Enum, std::string("hours"), {}, true});
    EXPECT_THROW(desc.make_decoder(bad), ConfigError);
    EXPECT_NE(desc.make_decoder(Options{}), nullptr);
}

}  // namespace
}  // namespace sluice::decoders
