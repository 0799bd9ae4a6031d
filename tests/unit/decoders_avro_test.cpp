// The avro decoder against data written byte by byte from the Avro 1.11
// specification's binary encoding (tests/integration/test_avro.py checks it
// against Apache Avro's own Python encoder).

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "decoder_test_util.hpp"

#include "core/options.hpp"
#include "decoders/avro/avro.hpp"
#include "avro_writer.hpp"

namespace sluice::decoders {
namespace {

using test::value;

using testing::avro::Datum;
using testing::avro::kSchema;
using testing::avro::reading;

std::unique_ptr<Decoder> plain() {
    AvroConfig c;
    c.schema = avro::Schema::parse(kSchema);
    return make_avro_decoder(std::move(c));
}

Frame frame(std::string payload) { return test::text(std::move(payload)); }


TEST(AvroDecoder, EveryKindOfValue) {
    auto d = plain();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(d->decode(frame(reading("t1", 21.5).b), out, error), DecodeStatus::Ok) << error;
    ASSERT_EQ(out.size(), 1U);
    const Record& r = out[0];
    EXPECT_EQ(r.time_ns, 1'700'000'000'250'000'000);
    EXPECT_EQ(value<std::string>(r, "device"), "t1");
    EXPECT_EQ(value<double>(r, "temperature"), 21.5);
    EXPECT_EQ(value<std::int64_t>(r, "count"), -42);
    EXPECT_TRUE(value<bool>(r, "ok"));
    EXPECT_EQ(value<double>(r, "location.lat"), 47.5);
    EXPECT_EQ(value<std::int64_t>(r, "samples.0"), 1);
    EXPECT_EQ(value<std::int64_t>(r, "samples.2"), 300);
    EXPECT_EQ(value<double>(r, "extra.pressure"), 1013.5);
    EXPECT_EQ(value<std::string>(r, "status"), "FAULT");
    EXPECT_EQ(value<std::string>(r, "note"), "hello");
    EXPECT_EQ(value<std::string>(r, "raw"), "AP8");
    EXPECT_EQ(value<std::string>(r, "id"), "YWJjZA");
    EXPECT_EQ(value<std::string>(r, "day"), "2023-11-14");
    EXPECT_EQ(value<double>(r, "price"), -2.0);
    EXPECT_EQ(value<std::string>(r, "marks.0"), "2023-11-14T22:13:20.000001Z");
    EXPECT_EQ(r.field("next"), nullptr);
    EXPECT_EQ(r.fields.size(), 17U);
}

TEST(AvroDecoder, RecursiveRecordsNest) {
    auto d = plain();
    Datum outer = reading("outer", 1);
    outer.b.pop_back();  // next: the Reading branch instead of null
    outer.lng(1).raw(reading("inner", 2).b);
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(d->decode(frame(outer.b), out, error), DecodeStatus::Ok) << error;
    EXPECT_EQ(value<std::string>(out[0], "next.device"), "inner");
    EXPECT_EQ(value<std::string>(out[0], "next.time"), "2023-11-14T22:13:20.250Z");  // deeper: text
}

TEST(AvroDecoder, ConfluentWireFormatBySchemaId) {
    AvroConfig c;
    c.schemas.emplace(7, avro::Schema::parse(kSchema));
    c.schemas.emplace(8, avro::Schema::parse(R"({"type":"record","name":"R","fields":[{"name":"v","type":"int"}]})"));
    auto d = make_avro_decoder(std::move(c));
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(d->decode(frame(std::string("\x00\x00\x00\x00\x07", 5) + reading("c", 3).b), out, error),
              DecodeStatus::Ok)
        << error;
    ASSERT_EQ(d->decode(frame(std::string("\x00\x00\x00\x00\x08", 5) + Datum().lng(-3).b), out, error),
              DecodeStatus::Ok)
        << error;
    EXPECT_EQ(value<std::string>(out[0], "device"), "c");
    EXPECT_EQ(value<std::int64_t>(out[1], "v"), -3);
    EXPECT_EQ(d->decode(frame(std::string("\x00\x00\x00\x01\x00", 5) + "x"), out, error), DecodeStatus::Broken);
    EXPECT_EQ(error, "avro: schema id 256 is not in schemas_dir");
    EXPECT_EQ(d->decode(frame(R"({"v":1})"), out, error), DecodeStatus::NotMine);
    EXPECT_EQ(d->decode(frame(std::string("\x00\x00", 2)), out, error), DecodeStatus::NotMine);
    EXPECT_EQ(out.size(), 2U);
}

TEST(AvroDecoder, BrokenDataSaysWhyAndLeavesNothing) {
    auto d = plain();
    const std::string good = reading("t1", 1).b;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {good.substr(0, good.size() - 2), "truncated"},
        {good + "x", "1 bytes after the record"},
        {Datum().lng(-5).b, "negative length -5"},
        {Datum().str("t").dbl(1).lng(1).raw("\x02").b, "boolean byte 2 (offset 11, field 'ok')"},
        {Datum().str(std::string("\xff", 1)).b, "invalid UTF-8 in a string"},
        {Datum().str("t").dbl(1).lng(1).raw("\x01").lng(1).flt(1).flt(1).lng(1'000'000'000).b,
         "a block of 1000000000 items: more than this frame can hold"},
        {Datum().str("t").dbl(1).lng(1).raw("\x01").lng(std::numeric_limits<std::int64_t>::max()).b,
         "timestamp 9223372036854775807 is out of range"},
    };
    for (const auto& [payload, why] : cases) {
        std::vector<Record> out(1);
        std::string error;
        EXPECT_EQ(d->decode(frame(payload), out, error), DecodeStatus::Broken) << why;
        EXPECT_NE(error.find(why), std::string::npos) << error;
        EXPECT_EQ(error.rfind("avro: ", 0), 0U) << error;
        EXPECT_EQ(out.size(), 1U);
    }
    std::vector<Record> out;
    std::string error;
    EXPECT_EQ(d->decode(frame(""), out, error), DecodeStatus::NotMine);
}

TEST(AvroDecoder, ItemsThatTakeNoBytesAreBounded) {
    AvroConfig c;
    c.schema = avro::Schema::parse(
        R"({"type":"record","name":"R","fields":[{"name":"n","type":{"type":"array","items":"null"}}]})");
    auto d = make_avro_decoder(std::move(c));
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(d->decode(frame(Datum().lng(1000).lng(0).b), out, error), DecodeStatus::Ok) << error;
    EXPECT_TRUE(out[0].fields.empty());
    EXPECT_EQ(d->decode(frame(Datum().lng(std::int64_t{1} << 40).lng(0).b), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("more than this frame can hold"), std::string::npos) << error;

    // A schema that doubles its work at every level on values that take no
    // bytes: bounded by the frame's size, not by the schema.
    std::string nested = R"({"type":"record","name":"T0","fields":[]})";
    for (int k = 1; k <= 40; ++k) {
        nested = fmt::format(R"({{"type":"record","name":"T{}","fields":[{{"name":"a","type":{}}},)"
                             R"({{"name":"b","type":"T{}"}}]}})",
                             k, nested, k - 1);
    }
    AvroConfig e;
    e.schema = avro::Schema::parse(nested);
    auto expanding = make_avro_decoder(std::move(e));
    EXPECT_EQ(expanding->decode(frame(""), out, error), DecodeStatus::NotMine);
    EXPECT_EQ(expanding->decode(frame("x"), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("the schema makes this frame more than 65552 values"), std::string::npos) << error;
}

TEST(AvroDecoder, DecimalsAndDatesExactly) {
    AvroConfig c;
    c.schema = avro::Schema::parse(R"({"type":"record","name":"R","fields":[
      {"name":"f16","type":{"type":"fixed","name":"F16","size":16,"logicalType":"decimal","precision":38,"scale":2}},
      {"name":"f8","type":{"type":"fixed","name":"F8","size":8,"logicalType":"decimal","precision":18,"scale":2}},
      {"name":"big","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":0}},
      {"name":"noprecision","type":{"type":"bytes","logicalType":"decimal","scale":2}},
      {"name":"last","type":{"type":"int","logicalType":"date"}},
      {"name":"first","type":{"type":"int","logicalType":"date"}}]})");
    auto d = make_avro_decoder(std::move(c));
    Datum datum;
    datum.raw(std::string(16, '\xff'));                             // -1 → -0.01
    datum.raw(std::string("\xff\xff\xff\xff\xff\xff\xcf\xc7", 8));   // -12345 → -123.45
    datum.str(std::string("\xf7\xaf\xee\x25\xeb\xde\x4d", 7));       // -2339837417103795
    datum.str(std::string("\x01", 1));                               // bytes, no decimal
    datum.lng(2'932'896).lng(-719'162);                              // 9999-12-31, 0001-01-01
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(d->decode(frame(datum.b), out, error), DecodeStatus::Ok) << error;
    EXPECT_EQ(value<double>(out[0], "f16"), -0.01);
    EXPECT_EQ(value<double>(out[0], "f8"), -123.45);
    EXPECT_EQ(value<double>(out[0], "big"), -2339837417103795.0);
    EXPECT_EQ(value<std::string>(out[0], "noprecision"), "AQ");
    EXPECT_EQ(value<std::string>(out[0], "last"), "9999-12-31");
    EXPECT_EQ(value<std::string>(out[0], "first"), "0001-01-01");
}

TEST(AvroDecoder, ConfluentOffsetsCountTheHeader) {
    AvroConfig c;
    c.schemas.emplace(1, avro::Schema::parse(R"({"type":"record","name":"R","fields":[{"name":"b","type":"boolean"}]})"));
    auto d = make_avro_decoder(std::move(c));
    std::vector<Record> out;
    std::string error;
    EXPECT_EQ(d->decode(frame(std::string("\x00\x00\x00\x00\x01\x07", 6)), out, error), DecodeStatus::Broken);
    EXPECT_EQ(error, "avro: boolean byte 7 (offset 5, field 'b')");
}

TEST(AvroSchema, ErrorsNameWhatIsWrong) {
    const auto err = [](std::string_view json) {
        try {
            avro::Schema::parse(json);
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(err("{").find("not JSON"), std::string::npos);
    EXPECT_EQ(err(R"("string")"), "the schema is not a record (each frame must be one record)");
    EXPECT_EQ(err(R"({"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]})"),
              "unknown type 'Nope' (a named type must be defined before it is used)");
    EXPECT_EQ(err(R"({"type":"record","name":"R"})"), "record 'R' has no \"fields\" array");
    EXPECT_EQ(err(R"({"type":"record","name":"R","fields":[{"name":"a","type":{"type":"enum","name":"R","symbols":[]}}]})"),
              "type 'R' is defined twice");
    EXPECT_EQ(err(R"({"type":"record","name":"R","fields":[{"name":"a","type":{"type":"fixed","name":"F"}}]})"),
              "fixed 'F' has no valid \"size\"");
    EXPECT_EQ(err(R"({"type":"record","name":"R","fields":[{"name":"a","type":{"type":"fixed","name":"bytes","size":2}}]})"),
              "a fixed named 'bytes': primitive type names cannot be defined");
    EXPECT_EQ(err(R"({"type":"record","name":"R","fields":[{"name":"a","type":["null",["int","long"]]}]})"),
              "a union directly inside a union");
    EXPECT_EQ(err(R"({"type":"record","name":"R","fields":[{"name":"a","type":["int","int"]}]})"),
              "a union with two branches of type int");
    EXPECT_EQ(err(R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]})"),
              "record 'R' has two fields named 'a'");
    AvroConfig neither;
    EXPECT_THROW(make_avro_decoder(std::move(neither)), ConfigError);
}

}  // namespace
}  // namespace sluice::decoders
