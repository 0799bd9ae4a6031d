// The protobuf decoder against payloads and a descriptor set written field
// by field (protobuf_writer.hpp); tests/integration/test_protobuf.py does
// the same with protoc's descriptor sets and Python's protobuf encoder.

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "decoder_test_util.hpp"

#include "core/options.hpp"
#include "decoders/cbor/cbor.hpp"
#include "decoders/chain.hpp"
#include "decoders/influx/influx.hpp"
#include "decoders/json/json.hpp"
#include "decoders/msgpack/msgpack.hpp"
#include "decoders/protobuf/protobuf.hpp"
#include "decoders/protobuf_wire.hpp"
#include "protobuf_writer.hpp"

namespace sluice::decoders {
namespace {

using test::value;

namespace w = sluice::testing::pb;

std::unique_ptr<Decoder> decoder(std::string_view message = "plant.Reading", std::string records_field = "") {
    ProtobufConfig c;
    c.schema = pb::Schema::load(w::plant_descriptor_set(), message);
    c.records_field = std::move(records_field);
    return make_protobuf_decoder(std::move(c));
}

Frame frame(std::string payload) { return test::text(std::move(payload)); }


DecodeStatus run(Decoder& d, const std::string& payload, std::vector<Record>& out, std::string& error) {
    return d.decode(frame(payload), out, error);
}

TEST(ProtobufDecoder, ReadingWithEveryKindOfField) {
    auto d = decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(run(*d, w::plant_reading("t1", 21.5, 1'700'000'000).str(), out, error), DecodeStatus::Ok) << error;
    ASSERT_EQ(out.size(), 1U);
    const Record& r = out[0];
    EXPECT_EQ(r.origin, "dev/1");
    EXPECT_EQ(r.time_ns, 1'700'000'000'250'000'000);  // the Timestamp at the record's level
    EXPECT_EQ(value<std::string>(r, "device"), "t1");
    EXPECT_EQ(value<double>(r, "temperature"), 21.5);
    EXPECT_EQ(value<std::int64_t>(r, "offset"), -3);
    EXPECT_EQ(value<std::int64_t>(r, "samples.0"), 1);
    EXPECT_EQ(value<std::int64_t>(r, "samples.2"), 300);
    EXPECT_EQ(value<double>(r, "location.lat"), 47.5);
    EXPECT_EQ(value<double>(r, "location.lon"), 8.25);
    EXPECT_EQ(value<std::string>(r, "status"), "FAULT");
    EXPECT_EQ(value<double>(r, "extra.pressure"), 1013.5);
    EXPECT_EQ(value<double>(r, "humidity"), 41.5);  // a DoubleValue wrapper is its value
    EXPECT_EQ(value<double>(r, "counter"), 18e18);  // a uint64 beyond int64
    EXPECT_TRUE(value<bool>(r, "ok"));
    EXPECT_EQ(r.field("time"), nullptr);
    EXPECT_EQ(r.fields.size(), 13U);
}

TEST(ProtobufDecoder, ScalarsOfEveryWireType) {
    auto d = decoder();
    w::Message m;
    m.bytes(1, "x")
        .f32(14, 0.5F)
        .fixed32(15, 4'000'000'000U)
        .fixed64(16, static_cast<std::uint64_t>(-5))
        .bytes(9, std::string("\x00\xff\x10", 3))
        .varint(7, 9)                                   // an enum number without a name
        .varint(4, std::numeric_limits<std::uint64_t>::max())  // int32 -1: ten bytes
        .varint(12, 7);
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(run(*d, m.str(), out, error), DecodeStatus::Ok) << error;
    const Record& r = out[0];
    EXPECT_EQ(value<double>(r, "ratio"), 0.5);
    EXPECT_EQ(value<std::int64_t>(r, "f32"), 4'000'000'000);
    EXPECT_EQ(value<std::int64_t>(r, "s64"), -5);
    EXPECT_EQ(value<std::string>(r, "raw"), "AP8Q");  // base64url, no padding
    EXPECT_EQ(value<std::int64_t>(r, "status"), 9);
    EXPECT_EQ(value<std::int64_t>(r, "samples.0"), -1);
    EXPECT_EQ(value<std::int64_t>(r, "counter"), 7);
    EXPECT_EQ(r.time_ns, 0);
}

TEST(ProtobufDecoder, RepeatedApartUnknownAndMismatchedFieldsAndGroups) {
    auto d = decoder();
    w::Message m;
    m.bytes(1, "x").varint(4, 10).f64(2, 1.5).varint(4, 11);  // samples not packed, apart
    m.varint(99, 5);                                         // a newer schema's field
    m.fixed32(2, 7);                                         // temperature in another wire type
    m.tag(50, 3).varint(1, 1).tag(51, 3).tag(51, 4).tag(50, 4);  // an unknown group, nested
    m.varint(4, 12);
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(run(*d, m.str(), out, error), DecodeStatus::Ok) << error;
    const Record& r = out[0];
    EXPECT_EQ(value<std::int64_t>(r, "samples.0"), 10);
    EXPECT_EQ(value<std::int64_t>(r, "samples.1"), 11);
    EXPECT_EQ(value<std::int64_t>(r, "samples.2"), 12);
    EXPECT_EQ(value<double>(r, "temperature"), 1.5);
    EXPECT_EQ(r.fields.size(), 5U);
}

TEST(ProtobufDecoder, RecursiveMessagesAndMaps) {
    auto d = decoder();
    w::Message child = w::plant_reading("c1", 5, 1'700'000'100);
    w::Message m;
    m.bytes(1, "parent").message(10, child).message(10, w::Message().bytes(1, "c2").varint(4, 1).varint(4, 2));
    m.message(17, w::Message().varint(1, static_cast<std::uint64_t>(-7)).message(2, w::Message().f64(1, 1.25)));
    m.message(17, w::Message().message(2, w::Message().f64(2, 2.5)).varint(1, 3));  // value before key
    m.message(8, w::Message().bytes(1, "nothing"));                                  // no value: the default
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(run(*d, m.str(), out, error), DecodeStatus::Ok) << error;
    const Record& r = out[0];
    EXPECT_EQ(value<std::string>(r, "children.0.device"), "c1");
    EXPECT_EQ(value<std::string>(r, "children.0.time"), "2023-11-14T22:15:00.250Z");  // deeper: a time as text
    EXPECT_EQ(value<std::int64_t>(r, "children.0.samples.1"), 2);
    EXPECT_EQ(value<std::string>(r, "children.1.device"), "c2");
    EXPECT_EQ(value<std::int64_t>(r, "children.1.samples.1"), 2);  // counted per message
    EXPECT_EQ(value<double>(r, "spots.-7.lat"), 1.25);
    EXPECT_EQ(value<double>(r, "spots.3.lon"), 2.5);
    EXPECT_EQ(value<double>(r, "extra.nothing"), 0);
    EXPECT_EQ(r.time_ns, 0);
}

TEST(ProtobufDecoder, GroupsRepeatedTimestampsAndMapDefaults) {
    auto d = decoder();
    w::Message m;
    m.bytes(1, "x").tag(18, 3).varint(1, 5).tag(18, 4);                   // a proto2 group
    m.message(19, w::timestamp(1'700'000'000, 0)).message(19, w::timestamp(0, 1));  // repeated: fields
    m.message(6, w::timestamp(1'600'000'000, 0));                         // single: the record's time
    m.message(20, w::Message().bytes(2, "on"));                           // bool key missing: false
    m.message(17, w::Message().message(2, w::Message().f64(1, 3)));        // int key missing: 0
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(run(*d, m.str(), out, error), DecodeStatus::Ok) << error;
    const Record& r = out[0];
    EXPECT_EQ(value<std::int64_t>(r, "legacy.a"), 5);
    EXPECT_EQ(value<std::string>(r, "marks.0"), "2023-11-14T22:13:20Z");
    EXPECT_EQ(value<std::string>(r, "marks.1"), "1970-01-01T00:00:00.000000001Z");
    EXPECT_EQ(r.time_ns, 1'600'000'000'000'000'000);
    EXPECT_EQ(value<std::string>(r, "flags.false"), "on");
    EXPECT_EQ(value<double>(r, "spots.0.lat"), 3);
    EXPECT_EQ(r.fields.size(), 6U);

    // A negative nanos is out of range; an error names the field it is in.
    EXPECT_EQ(run(*d, w::Message().bytes(1, "x").message(6, w::Message().varint(1, 5).varint(2, static_cast<std::uint64_t>(-5))).str(), out, error),
              DecodeStatus::Broken);
    EXPECT_NE(error.find("a Timestamp out of range (5 s, -5 ns) (field 'time')"), std::string::npos) << error;
    EXPECT_EQ(run(*d, w::Message().bytes(1, "x").tag(18, 3).varint(1, 5).tag(18, 4).raw("\x80").str(), out, error),
              DecodeStatus::Broken);
    EXPECT_EQ(error, "protobuf: truncated varint at offset 10") << error;
}

TEST(ProtobufDecoder, RecordsFieldGivesOneRecordPerElement) {
    auto d = decoder("plant.Batch", "readings");
    w::Message batch;
    batch.bytes(1, "gw-7")
        .message(2, w::plant_reading("a", 1, 1'700'000'000))
        .message(3, w::timestamp(1'600'000'000, 0))
        .message(2, w::Message().bytes(1, "b").f64(2, 2).bytes(99, "skipped"));
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(run(*d, batch.str(), out, error), DecodeStatus::Ok) << error;
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(value<std::string>(out[0], "device"), "a");
    EXPECT_EQ(value<std::string>(out[0], "gateway"), "gw-7");
    EXPECT_EQ(out[0].time_ns, 1'700'000'000'250'000'000);  // its own time
    EXPECT_EQ(value<std::string>(out[1], "device"), "b");
    EXPECT_EQ(value<double>(out[1], "temperature"), 2);
    EXPECT_EQ(value<std::string>(out[1], "gateway"), "gw-7");
    EXPECT_EQ(out[1].time_ns, 1'600'000'000'000'000'000);  // the batch's time
    EXPECT_EQ(out[1].fields.size(), 3U);

    out.clear();
    ASSERT_EQ(run(*d, w::Message().bytes(1, "gw").str(), out, error), DecodeStatus::Ok);
    EXPECT_TRUE(out.empty());  // an empty batch

    // Many readings and many of the batch's own fields (a field that comes
    // again on the wire is one more field): each record gets the batch's
    // fields it has none of.
    auto plain = decoder("plant.Batch", "readings");
    w::Message big;
    for (int i = 0; i < 100; ++i) {
        big.bytes(1, "g");
    }
    for (int i = 0; i < 30; ++i) {
        big.message(2, w::Message().bytes(1, "d").bytes(1, "e"));
    }
    out.clear();
    ASSERT_EQ(run(*plain, big.str(), out, error), DecodeStatus::Ok) << error;
    ASSERT_EQ(out.size(), 30U);
    EXPECT_EQ(out[0].fields.size(), 102U);
    w::Message own;
    own.bytes(1, "batch-gw").message(2, w::Message().bytes(1, "a"));
    own.message(2, w::Message().bytes(1, "b").f64(2, 1));
    out.clear();
    ASSERT_EQ(run(*plain, own.str(), out, error), DecodeStatus::Ok) << error;
    EXPECT_EQ(out[1].fields.size(), 3U);

    // Copies beyond the name budget: Broken.
    w::Message fan;
    fan.bytes(1, std::string(60'000, 'g'));
    for (int i = 0; i < 30'000; ++i) {
        fan.message(2, w::Message());
    }
    out.clear();
    EXPECT_EQ(run(*plain, fan.str(), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("copying the message's other fields"), std::string::npos) << error;
    EXPECT_TRUE(out.empty());
}

TEST(ProtobufDecoder, OtherFormatsAreNotMine) {
    auto d = decoder();
    for (const std::string& payload :
         {std::string(), std::string(R"({"device":"x"})"), std::string("weather,station=a temp=1 1"),
          std::string("\xa1\x61\x61\x01", 4) /* cbor */, std::string("\x81\xa1\x61\x01", 4) /* msgpack */,
          w::Message().varint(99, 1).varint(1, 1).str() /* starts with an unknown field */,
          w::Message().varint(1, 5).str() /* device in the wrong wire type */,
          std::string("\x18", 1) /* offset, cut short: this one is mine but broken */}) {
        std::vector<Record> out(1);
        std::string error;
        EXPECT_EQ(run(*d, payload, out, error), payload == std::string("\x18", 1) ? DecodeStatus::Broken
                                                                                  : DecodeStatus::NotMine)
            << payload;
        EXPECT_EQ(out.size(), 1U);
    }
}

TEST(ProtobufDecoder, BrokenFramesSayWhyAndLeaveNothing) {
    auto d = decoder();
    const std::string good = w::plant_reading("t1", 1, 1).str();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {good.substr(0, good.size() - 3), "truncated"},
        {w::Message().bytes(1, "a").raw("\x12\x7f").str(), "length beyond the end"},
        {w::Message().bytes(1, std::string("\xff\xfe", 2)).str(), "invalid UTF-8"},
        {w::Message().bytes(1, "a").tag(60, 3).varint(1, 1).str(), "group without its end"},
        {w::Message().bytes(1, "a").tag(60, 3).tag(61, 4).str(), "another field's number"},
        {w::Message().bytes(1, "a").tag(60, 4).str(), "a group end that does not match"},
        {w::Message().bytes(1, "a").message(6, w::timestamp(std::numeric_limits<std::int64_t>::max(), 0)).str(),
         "Timestamp out of range"},
        {w::Message().bytes(1, "a").raw("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01").str(),
         "varint longer than 10 bytes"},
        {w::Message().bytes(1, "a").raw(std::string("\x00", 1)).str(), "field number out of range"},
    };
    for (const auto& [payload, why] : cases) {
        std::vector<Record> out(1);
        std::string error;
        EXPECT_EQ(run(*d, payload, out, error), DecodeStatus::Broken) << why;
        EXPECT_NE(error.find(why), std::string::npos) << error;
        EXPECT_EQ(error.rfind("protobuf: ", 0), 0U) << error;
        EXPECT_EQ(out.size(), 1U);
    }
}

TEST(ProtobufDecoder, DeepNestingIsBounded) {
    auto d = decoder();
    w::Message m = w::Message().bytes(1, "leaf");
    for (int i = 0; i < 200; ++i) {
        m = w::Message().bytes(1, "n").message(10, m);
    }
    std::vector<Record> out;
    std::string error;
    EXPECT_EQ(run(*d, m.str(), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("nested deeper than 64"), std::string::npos) << error;
    EXPECT_TRUE(out.empty());
}

TEST(ProtobufSchema, ErrorsNameWhatIsWrong) {
    const auto err = [](std::string_view set, std::string_view message) {
        try {
            pb::Schema::load(set, message);
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string set = w::plant_descriptor_set();
    EXPECT_NE(err(set, "plant.Nope").find("(it has plant.Batch, plant.Reading, plant.Reading.Legacy, plant.Reading.Location)"),
              std::string::npos)
        << err(set, "plant.Nope");
    EXPECT_NE(err("garbage\xff", "plant.Reading").find("not a FileDescriptorSet"), std::string::npos);
    EXPECT_NE(err("", "plant.Reading").find("it has no message types"), std::string::npos);
    const std::string missing = w::descriptor_set({w::file(
        "m.proto", "m", {w::message_type("M", {{"d", 1, w::kMessage, false, ".google.protobuf.Duration"}})})});
    EXPECT_NE(err(missing, "m.M").find("'.google.protobuf.Duration', which is not in the set (write it with protoc "
                                       "--include_imports)"),
              std::string::npos)
        << err(missing, "m.M");
    const std::string twice = w::descriptor_set(
        {w::file("m.proto", "m", {w::message_type("M", {{"a", 1, w::kInt32}, {"b", 1, w::kInt32}})})});
    EXPECT_NE(err(twice, ".m.M").find("have the same number 1"), std::string::npos) << err(twice, "m.M");

    const std::string bad_map = w::descriptor_set({w::file(
        "m.proto", "m",
        {w::message_type("M", {{"m", 1, w::kMessage, true, ".m.M.E"}},
                         {w::message_type("E", {{"key", 1, w::kDouble}, {"value", 2, w::kInt32}}, {}, {}, true)})})});
    EXPECT_NE(err(bad_map, "m.M").find("map entry type m.M.E does not have a key (1) of an integer"),
              std::string::npos)
        << err(bad_map, "m.M");
    const std::string bad_number =
        w::descriptor_set({w::file("m.proto", "m", {w::message_type("M", {{"a", 536'870'912, w::kInt32}})})});
    EXPECT_NE(err(bad_number, "m.M").find("field 'a' has number 536870912, outside 1 to 536870911"),
              std::string::npos)
        << err(bad_number, "m.M");

    ProtobufConfig c;
    c.schema = pb::Schema::load(set, "plant.Batch");
    c.records_field = "gateway";
    EXPECT_THROW(make_protobuf_decoder(c), ConfigError);
}

TEST(ProtobufSchema, FieldNumbersBeyondTheDenseTable) {
    const std::string set = w::descriptor_set({w::file(
        "m.proto", "m", {w::message_type("M", {{"small", 1, w::kInt32}, {"big", 536'870'911, w::kSint64}})})});
    ProtobufConfig c;
    c.schema = pb::Schema::load(set, "m.M");
    auto d = make_protobuf_decoder(std::move(c));
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(d->decode(frame(w::Message().varint(1, 4).sint(536'870'911, -9).str()), out, error), DecodeStatus::Ok)
        << error;
    EXPECT_EQ(value<std::int64_t>(out[0], "big"), -9);
}

TEST(ProtobufDecoder, InAChainWithTextAndBinaryDecoders) {
    std::vector<DecoderChain::Entry> entries;
    entries.push_back({"protobuf", decoder()});
    entries.push_back({"json", make_json_decoder()});
    entries.push_back({"cbor", make_cbor_decoder()});
    entries.push_back({"msgpack", make_msgpack_decoder()});
    entries.push_back({"influx", make_influx_decoder()});
    DecoderChain chain(std::move(entries), "decode");
    const std::vector<std::pair<std::string, std::string>> frames = {
        {w::plant_reading("p", 1, 1'700'000'000).str(), "device"},
        {R"({"j":1})", "j"},
        {std::string("\xa1\x61\x63\x01", 4), "c"},
        {std::string("\x81\xa1\x61m\x01", 5), "m"},
        {"weather i=1i 1700000000000000000", "i"},
    };
    for (const auto& [payload, name] : frames) {
        std::vector<Record> out;
        DeadLetter dead;
        ASSERT_TRUE(chain.decode(frame(payload), out, dead)) << name << ": " << dead.reason;
        ASSERT_EQ(out.size(), 1U) << name;
        EXPECT_NE(out[0].field(name), nullptr) << name;
    }
}

}  // namespace
}  // namespace sluice::decoders
