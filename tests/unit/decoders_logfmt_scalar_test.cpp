#include <gtest/gtest.h>

#include "decoders/logfmt/logfmt.hpp"
#include "decoders/scalar/scalar.hpp"

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
    f.origin = "app.log";
    Result r;
    r.status = d.decode(f, r.records, r.error);
    return r;
}

Result logfmt(std::string payload) { return run(*make_logfmt_decoder(), std::move(payload)); }
Result scalar(std::string payload, std::string field = "value") {
    return run(*make_scalar_decoder({.field = std::move(field)}), std::move(payload));
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

TEST(LogfmtDecoder, PairsQuotesAndBareKeys) {
    auto r = logfmt(R"(level=info msg="quoted \"value\" here" temp=21.5 count=3 ok=true debug path=/var/x a.b-c:d/e=1)");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 1u);
    const Record& rec = r.records[0];
    EXPECT_EQ(rec.origin, "app.log");
    EXPECT_EQ(value(rec, "level"), FieldValue{std::string("info")});
    EXPECT_EQ(value(rec, "msg"), FieldValue{std::string("quoted \"value\" here")});
    EXPECT_EQ(value(rec, "temp"), FieldValue{21.5});
    EXPECT_EQ(value(rec, "count"), FieldValue{std::int64_t{3}});
    EXPECT_EQ(value(rec, "ok"), FieldValue{true});
    EXPECT_EQ(value(rec, "debug"), FieldValue{true});
    EXPECT_EQ(value(rec, "path"), FieldValue{std::string("/var/x")});
    EXPECT_EQ(value(rec, "a.b-c:d/e"), FieldValue{std::int64_t{1}});
}

TEST(LogfmtDecoder, EscapesEmptyValuesAndTypes) {
    auto r = logfmt(R"(a="x\\y\nz" b= c="" d="42" e=-1e3 f=a=b)");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    const Record& rec = r.records.at(0);
    EXPECT_EQ(value(rec, "a"), FieldValue{std::string("x\\y\nz")});
    EXPECT_EQ(rec.field("b"), nullptr);
    EXPECT_EQ(rec.field("c"), nullptr);
    EXPECT_EQ(value(rec, "d"), FieldValue{std::int64_t{42}});
    EXPECT_EQ(value(rec, "e"), FieldValue{-1000.0});
    EXPECT_EQ(value(rec, "f"), FieldValue{std::string("a=b")});
}

TEST(LogfmtDecoder, Time) {
    auto r = logfmt("ts=2026-11-22T06:10:00Z level=warn");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    EXPECT_EQ(r.records.at(0).time_ns, 1795327800 * kS);
    EXPECT_EQ(r.records.at(0).field("ts"), nullptr);
    EXPECT_EQ(logfmt("time=1700000000123 x=1").records.at(0).time_ns, 1700000000123'000'000);
    EXPECT_EQ(logfmt("time=\"2026-11-22 06:10:00+01:00\" x=1").records.at(0).time_ns, 1795324200 * kS);
    auto bad = logfmt("ts=yesterday x=1");
    EXPECT_EQ(bad.status, DecodeStatus::Broken);
    EXPECT_EQ(bad.error, "logfmt: line 1: field 'ts': cannot read 'yesterday' as a time");
}

TEST(LogfmtDecoder, SeveralLines) {
    auto r = logfmt("a=1\n\nb=2\r\n");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 2u);
    EXPECT_EQ(value(r.records[1], "b"), FieldValue{std::int64_t{2}});
    auto m = logfmt("a=1\nnot, logfmt");
    EXPECT_EQ(m.status, DecodeStatus::Broken);
    EXPECT_EQ(m.error, "logfmt: line 2: ',' at column 4 cannot be part of a key");
}

TEST(LogfmtDecoder, NotMine) {
    for (const char* p : {"", " \n", "hello world", "{\"a\":1}", "42", "a,b,c", "Hello, x=1", "=1", "key =1",
                          "x=1 (retry)", "\"a\"=1"}) {
        auto r = logfmt(p);
        EXPECT_EQ(r.status, DecodeStatus::NotMine) << p;
        EXPECT_TRUE(r.records.empty());
    }
}

TEST(LogfmtDecoder, Broken) {
    auto r = logfmt(R"(level=info msg="unterminated)");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error, "logfmt: line 1: unterminated quote in the value of 'msg' at column 16");
    auto j = logfmt(R"(msg="a"b c=1)");
    EXPECT_EQ(j.status, DecodeStatus::Broken);
    EXPECT_EQ(j.error, "logfmt: line 1: unexpected 'b' after the quoted value of 'msg' at column 8");
}

TEST(LogfmtDecoder, Descriptor) {
    const Descriptor& desc = components::decoder_logfmt();
    EXPECT_EQ(desc.name, "logfmt");
    EXPECT_EQ(desc.kind, Kind::Decoder);
    auto d = desc.make_decoder(Options{});
    EXPECT_EQ(run(*d, "a=1").status, DecodeStatus::Ok);
}

TEST(ScalarDecoder, Numbers) {
    auto r = scalar("21.5\n");
    ASSERT_EQ(r.status, DecodeStatus::Ok);
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.records[0].origin, "app.log");
    EXPECT_EQ(r.records[0].time_ns, 0);
    ASSERT_EQ(r.records[0].fields.size(), 1u);
    EXPECT_EQ(r.records[0].fields[0].name, "value");
    EXPECT_EQ(r.records[0].fields[0].value, FieldValue{21.5});
    EXPECT_EQ(scalar(" -42 ").records.at(0).fields.at(0).value, FieldValue{std::int64_t{-42}});
    EXPECT_EQ(scalar("1e-3").records.at(0).fields.at(0).value, FieldValue{0.001});
    EXPECT_EQ(scalar("+2.5E2").records.at(0).fields.at(0).value, FieldValue{250.0});
    EXPECT_EQ(scalar("true\r\n").records.at(0).fields.at(0).value, FieldValue{true});
    EXPECT_EQ(scalar("False").records.at(0).fields.at(0).value, FieldValue{false});
    EXPECT_EQ(scalar("7", "temp").records.at(0).fields.at(0).name, "temp");
}

TEST(ScalarDecoder, NotMine) {
    for (const char* p : {"", "  ", "abc", "1 2", "21,5", "0x1f", "nan", "inf", "{\"v\":1}", "v=1", "1.", "yes"}) {
        auto r = scalar(p);
        EXPECT_EQ(r.status, DecodeStatus::NotMine) << p;
        EXPECT_TRUE(r.records.empty());
    }
}

TEST(ScalarDecoder, Descriptor) {
    const Descriptor& desc = components::decoder_scalar();
    EXPECT_EQ(desc.name, "scalar");
    Options opts;
    opts.set("field", {OptionType::String, std::string("level"), {}, true});
    auto d = desc.make_decoder(opts);
    EXPECT_EQ(run(*d, "3").records.at(0).fields.at(0).name, "level");
    Options empty;
    empty.set("field", {OptionType::String, std::string(), {}, true});
    EXPECT_THROW(desc.make_decoder(empty), ConfigError);
}

}  // namespace
}  // namespace sluice::decoders
