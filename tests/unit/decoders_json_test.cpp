#include <gtest/gtest.h>

#include "decoders/json/json.hpp"

namespace sluice::decoders {
namespace {

constexpr TimeNs kS = 1'000'000'000;

struct Result {
    DecodeStatus status;
    std::vector<Record> records;
    std::string error;
};

Result run(Decoder& d, std::string payload, std::string origin = "sensors/t1") {
    Frame f;
    f.payload = std::move(payload);
    f.origin = std::move(origin);
    Result r;
    r.status = d.decode(f, r.records, r.error);
    return r;
}

Result run(std::string payload) {
    auto d = make_json_decoder();
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

TEST(JsonDecoder, SmallObject) {
    auto r = run(R"({"sensor":"t1","temp":21.5,"hum":40,"ts":1700000000})");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 1u);
    const Record& rec = r.records[0];
    EXPECT_EQ(rec.origin, "sensors/t1");
    EXPECT_EQ(rec.time_ns, 1700000000 * kS);
    ASSERT_EQ(rec.fields.size(), 3u);
    EXPECT_EQ(rec.fields[0].name, "sensor");
    EXPECT_EQ(value(rec, "sensor"), FieldValue{std::string("t1")});
    EXPECT_EQ(value(rec, "temp"), FieldValue{21.5});
    EXPECT_EQ(value(rec, "hum"), FieldValue{std::int64_t{40}});
    EXPECT_EQ(rec.field("ts"), nullptr);
}

TEST(JsonDecoder, NumbersAndScalars) {
    auto r = run(R"({"i":-5,"big":9223372036854775807,"huge":18446744073709551615,"neg":-9223372036854775808,
                     "d":1e3,"f":0.1,"t":true,"n":null,"s":"x\"y\u00e9"})");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    const Record& rec = r.records.at(0);
    EXPECT_EQ(value(rec, "i"), FieldValue{std::int64_t{-5}});
    EXPECT_EQ(value(rec, "big"), FieldValue{std::int64_t{9223372036854775807}});
    EXPECT_EQ(value(rec, "huge"), FieldValue{18446744073709551615.0});
    EXPECT_EQ(value(rec, "neg"), FieldValue{std::numeric_limits<std::int64_t>::min()});
    EXPECT_EQ(value(rec, "d"), FieldValue{1000.0});
    EXPECT_EQ(value(rec, "f"), FieldValue{0.1});
    EXPECT_EQ(value(rec, "t"), FieldValue{true});
    EXPECT_EQ(rec.field("n"), nullptr);
    EXPECT_EQ(value(rec, "s"), FieldValue{std::string("x\"y\xc3\xa9")});
    EXPECT_EQ(rec.fields.size(), 8u);
}

TEST(JsonDecoder, NestedObjectsFlatten) {
    auto r = run(R"({"a":{"b":{"c":1},"d":"x"},"e":{}})");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    const Record& rec = r.records.at(0);
    ASSERT_EQ(rec.fields.size(), 2u);
    EXPECT_EQ(rec.fields[0].name, "a.b.c");
    EXPECT_EQ(rec.fields[1].name, "a.d");
}

TEST(JsonDecoder, ArraysInsideObjectsAreIndexed) {
    auto r = run(R"({"v":[1,2.5,"x",null,true],"m":[[1,2],{"k":3}],"empty":[]})");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    const Record& rec = r.records.at(0);
    EXPECT_EQ(value(rec, "v.0"), FieldValue{std::int64_t{1}});
    EXPECT_EQ(value(rec, "v.1"), FieldValue{2.5});
    EXPECT_EQ(value(rec, "v.2"), FieldValue{std::string("x")});
    EXPECT_EQ(rec.field("v.3"), nullptr);  // null keeps its index but no field
    EXPECT_EQ(value(rec, "v.4"), FieldValue{true});
    EXPECT_EQ(value(rec, "m.0.0"), FieldValue{std::int64_t{1}});
    EXPECT_EQ(value(rec, "m.0.1"), FieldValue{std::int64_t{2}});
    EXPECT_EQ(value(rec, "m.1.k"), FieldValue{std::int64_t{3}});
    EXPECT_EQ(rec.fields.size(), 7u);
}

TEST(JsonDecoder, CustomSeparator) {
    auto d = make_json_decoder({.separator = "_"});
    auto r = run(*d, R"({"a":{"b":[7]}})");
    ASSERT_EQ(r.status, DecodeStatus::Ok);
    EXPECT_EQ(r.records.at(0).fields.at(0).name, "a_b_0");
}

TEST(JsonDecoder, TopLevelArrayIsOneRecordPerObject) {
    auto r = run(R"( [ {"a":1,"time":"2026-11-22T06:10:00Z"}, {"a":2}, {} ] )");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 3u);
    EXPECT_EQ(r.records[0].time_ns, 1795327800 * kS);
    EXPECT_EQ(r.records[1].time_ns, 0);
    EXPECT_EQ(value(r.records[1], "a"), FieldValue{std::int64_t{2}});
    EXPECT_TRUE(r.records[2].fields.empty());
    for (const auto& rec : r.records) {
        EXPECT_EQ(rec.origin, "sensors/t1");
    }
    EXPECT_EQ(run("[]").status, DecodeStatus::Ok);
    EXPECT_TRUE(run("[]").records.empty());
}

TEST(JsonDecoder, SeveralDocumentsPerFrame) {
    auto r = run("{\"a\":1}\n{\"a\":2}\r\n[{\"a\":3}]\n");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 3u);
    EXPECT_EQ(value(r.records[2], "a"), FieldValue{std::int64_t{3}});
}

TEST(JsonDecoder, TimestampsOfEveryMagnitude) {
    EXPECT_EQ(run(R"({"ts":1700000000})").records.at(0).time_ns, 1700000000 * kS);
    EXPECT_EQ(run(R"({"ts":1700000000.5})").records.at(0).time_ns, 1700000000 * kS + 500'000'000);
    EXPECT_EQ(run(R"({"ts":1700000000123})").records.at(0).time_ns, 1700000000123'000'000);
    EXPECT_EQ(run(R"({"ts":1700000000123456})").records.at(0).time_ns, 1700000000123456'000);
    EXPECT_EQ(run(R"({"ts":1700000000123456789})").records.at(0).time_ns, 1700000000123456789);
    EXPECT_EQ(run(R"({"timestamp":"2026-11-22T06:10:00+01:00"})").records.at(0).time_ns, 1795324200 * kS);
    EXPECT_EQ(run(R"({"datetime":"2026-11-22 06:10:00"})").records.at(0).time_ns, 1795327800 * kS);
    // Only top-level names count.
    auto nested = run(R"({"meta":{"time":5}})");
    EXPECT_EQ(nested.records.at(0).time_ns, 0);
    EXPECT_NE(nested.records.at(0).field("meta.time"), nullptr);
}

TEST(JsonDecoder, UnreadableTimeIsBroken) {
    auto r = run(R"({"temp":1,"ts":"soon"})");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error.rfind("json: field 'ts': cannot read 'soon' as a time", 0), 0u) << r.error;
    EXPECT_TRUE(r.records.empty());
    EXPECT_EQ(run(R"({"ts":false})").status, DecodeStatus::Broken);
    EXPECT_EQ(run(R"({"time":1e300})").status, DecodeStatus::Broken);
}

TEST(JsonDecoder, NotMine) {
    for (const char* p : {"", "   \n", "42", "\"text\"", "true", "null", "temp=21.5", "cpu value=1",
                          "a,b,c", "\xef\xbb\xbf{}"}) {
        auto r = run(p);
        EXPECT_EQ(r.status, DecodeStatus::NotMine) << p;
        EXPECT_TRUE(r.records.empty());
    }
}

TEST(JsonDecoder, SyntaxErrorsAreBrokenWithOffset) {
    auto r = run(R"({"a":1,})");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error, "json: Missing a name for object member (offset 7)");

    r = run(R"({"a":1 "b":2})");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error, "json: Missing a comma or '}' after an object member (offset 7)");

    r = run("{\"a\":1}\n{\"a\":");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_NE(r.error.find("(offset 13)"), std::string::npos) << r.error;
    EXPECT_TRUE(r.records.empty());

    r = run(R"({"a":1} trailing)");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error, "json: unexpected 't' after the document (offset 8)");

    EXPECT_EQ(run("{").status, DecodeStatus::Broken);
    EXPECT_EQ(run("[1,2]").status, DecodeStatus::Broken);
    EXPECT_EQ(run("[1,2]").error, "json: element 0 of the top-level array is not an object (offset 1)");
    EXPECT_EQ(run(R"([{"a":1},[]])").status, DecodeStatus::Broken);
    EXPECT_EQ(run(R"([{"a":1},null])").status, DecodeStatus::Broken);
    EXPECT_EQ(run("{\"a\":\"\xff\"}").status, DecodeStatus::Broken);  // not UTF-8
    EXPECT_EQ(run("{\"a\":\"\xff\"}").error.rfind("json: invalid UTF-8 in a string (offset ", 0), 0u);
    EXPECT_EQ(run("{\"\xc3\":1}").status, DecodeStatus::Broken);
    EXPECT_EQ(run(R"({"a":"\udc00"})").status, DecodeStatus::Broken);  // lone low surrogate
    EXPECT_EQ(run(R"({"a":"\ud83d\ude00"})").status, DecodeStatus::Ok);
    EXPECT_EQ(run(std::string("{\"a\":1}\0", 8)).status, DecodeStatus::Broken);
    EXPECT_EQ(run(std::string("{\"a\":\"x\0y\"}", 11)).status, DecodeStatus::Broken);
}

TEST(JsonDecoder, DepthIsLimited) {
    std::string deep(100, '[');
    deep.insert(0, "{\"a\":");
    auto r = run(deep);
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_NE(r.error.find("nested deeper than"), std::string::npos) << r.error;

    std::string ok = "{\"a\":" + std::string(50, '[') + std::string(50, ']') + "}";
    EXPECT_EQ(run(ok).status, DecodeStatus::Ok);
}

TEST(JsonDecoder, OutputUntouchedOnFailureAndAppendedOnSuccess) {
    auto d = make_json_decoder();
    std::vector<Record> out(2);
    out[0].measurement = "keep";
    Frame f;
    f.payload = R"([{"a":1},{"a":)";
    std::string err;
    EXPECT_EQ(d->decode(f, out, err), DecodeStatus::Broken);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].measurement, "keep");
    f.payload = R"([{"a":1},{"a":2}])";
    EXPECT_EQ(d->decode(f, out, err), DecodeStatus::Ok);
    EXPECT_EQ(out.size(), 4u);
}

TEST(JsonDecoder, ReusableAfterErrors) {
    auto d = make_json_decoder();
    EXPECT_EQ(run(*d, R"({"a":{"b":)").status, DecodeStatus::Broken);
    EXPECT_EQ(run(*d, "[5]").status, DecodeStatus::Broken);
    auto r = run(*d, R"({"x":{"y":1}})");
    ASSERT_EQ(r.status, DecodeStatus::Ok);
    EXPECT_EQ(r.records.at(0).fields.at(0).name, "x.y");
}

TEST(JsonDecoder, Descriptor) {
    const Descriptor& desc = components::decoder_json();
    EXPECT_EQ(desc.kind, Kind::Decoder);
    EXPECT_EQ(desc.name, "json");
    EXPECT_FALSE(desc.summary.empty());
    for (const auto& o : desc.options) {
        EXPECT_FALSE(o.doc.empty()) << o.name;
    }
    Options opts;
    opts.set("separator", {OptionType::String, std::string("/"), {}, true});
    auto d = desc.make_decoder(opts);
    auto r = run(*d, R"({"a":{"b":1}})");
    EXPECT_EQ(r.records.at(0).fields.at(0).name, "a/b");
}

}  // namespace
}  // namespace sluice::decoders
