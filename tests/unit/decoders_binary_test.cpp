// The binary decoders: CBOR and MessagePack, golden bytes written from
// their specifications (RFC 8949 and its appendix A examples; the
// MessagePack spec), and both in one fallback chain with the text decoders.

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "decoder_test_util.hpp"

#include "decoders/cbor/cbor.hpp"
#include "decoders/chain.hpp"
#include "decoders/csv/csv.hpp"
#include "decoders/influx/influx.hpp"
#include "decoders/json/json.hpp"
#include "decoders/logfmt/logfmt.hpp"
#include "decoders/msgpack/msgpack.hpp"
#include "decoders/scalar/scalar.hpp"
#include "text/base64.hpp"

namespace sluice::decoders {
namespace {

using test::value;

Frame frame(std::initializer_list<int> bytes) {
    Frame f;
    for (const int b : bytes) {
        f.payload += static_cast<char>(b);
    }
    f.origin = "dev/1";
    return f;
}

using test::text;

const Field* field(const Record& r, std::string_view name) { return r.field(name); }


DecodeStatus decode(Decoder& d, const Frame& f, std::vector<Record>& out, std::string& error) {
    return d.decode(f, out, error);
}

struct BrokenCase {
    Frame f;
    const char* why;
};

// Each frame is Broken with `why` in a reason that starts with the format's
// name, and the output stays as it was.
void expect_broken(Decoder& d, const std::vector<BrokenCase>& cases, const std::string& format) {
    std::vector<Record> out(1);
    std::string error;
    for (const auto& c : cases) {
        error.clear();
        EXPECT_EQ(decode(d, c.f, out, error), DecodeStatus::Broken) << c.why;
        EXPECT_NE(error.find(c.why), std::string::npos) << error;
        EXPECT_EQ(error.rfind(format + ": ", 0), 0u) << error;
        EXPECT_EQ(out.size(), 1u);
    }
}

// ------------------------------------------------------------------ CBOR

TEST(Cbor, NestedMapWithTypesAndAnEpochTimeTag) {
    // {"t": 1(1363896240), "temp": 21.5, "ok": true, "n": -10, "loc": {"lat": 1.5, "tags": ["a", null, "b"]}}
    const Frame f = frame({0xa5, 0x61, 't', 0xc1, 0x1a, 0x51, 0x4b, 0x67, 0xb0,                      //
                           0x64, 't', 'e', 'm', 'p', 0xfb, 0x40, 0x35, 0x80, 0, 0, 0, 0, 0,           //
                           0x62, 'o', 'k', 0xf5,                                                      //
                           0x61, 'n', 0x29,                                                           //
                           0x63, 'l', 'o', 'c', 0xa2, 0x63, 'l', 'a', 't', 0xf9, 0x3e, 0x00,          //
                           0x64, 't', 'a', 'g', 's', 0x83, 0x61, 'a', 0xf6, 0x61, 'b'});
    auto d = make_cbor_decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(decode(*d, f, out, error), DecodeStatus::Ok) << error;
    ASSERT_EQ(out.size(), 1u);
    const Record& r = out[0];
    EXPECT_EQ(r.origin, "dev/1");
    EXPECT_EQ(r.time_ns, 1363896240LL * 1'000'000'000);  // tag 1 at the record's level
    EXPECT_EQ(field(r, "t"), nullptr);
    EXPECT_DOUBLE_EQ(value<double>(r, "temp"), 21.5);
    EXPECT_TRUE(value<bool>(r, "ok"));
    EXPECT_EQ(value<std::int64_t>(r, "n"), -10);
    EXPECT_DOUBLE_EQ(value<double>(r, "loc.lat"), 1.5);  // half precision
    EXPECT_EQ(value<std::string>(r, "loc.tags.0"), "a");
    EXPECT_EQ(field(r, "loc.tags.1"), nullptr);  // null keeps its index
    EXPECT_EQ(value<std::string>(r, "loc.tags.2"), "b");
}

TEST(Cbor, DateTimeStringTagAndTheTimeFieldRule) {
    // {"at": 0("2013-03-21T20:04:00Z"), "v": 1}
    Frame f = frame({0xa2, 0x62, 'a', 't', 0xc0, 0x74});
    f.payload += "2013-03-21T20:04:00Z";
    f.payload += std::string{'\x61', 'v', '\x01'};
    auto d = make_cbor_decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(decode(*d, f, out, error), DecodeStatus::Ok) << error;
    EXPECT_EQ(out[0].time_ns, 1363896240LL * 1'000'000'000);
    // Untagged: the shared time field rule (time, timestamp, ts, datetime).
    const Frame g = frame({0xa2, 0x62, 't', 's', 0x1a, 0x51, 0x4b, 0x67, 0xb0, 0x61, 'v', 0x02});
    out.clear();
    ASSERT_EQ(decode(*d, g, out, error), DecodeStatus::Ok) << error;
    EXPECT_EQ(out[0].time_ns, 1363896240LL * 1'000'000'000);
    EXPECT_EQ(field(out[0], "ts"), nullptr);
}

TEST(Cbor, ArraysOfMapsSequencesIndefiniteLengthsIntegerKeysAndBytes) {
    // [{"a": 1}, {"a": 2}] then, as a second item of the sequence, an
    // indefinite map {_ 1: h'0102ff', "s": (_ "ab", "c")}
    const Frame f = frame({0x82, 0xa1, 0x61, 'a', 0x01, 0xa1, 0x61, 'a', 0x02,  //
                           0xbf, 0x01, 0x43, 0x01, 0x02, 0xff, 0x61, 's', 0x7f, 0x62, 'a', 'b', 0x61, 'c', 0xff,
                           0xff});
    auto d = make_cbor_decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(decode(*d, f, out, error), DecodeStatus::Ok) << error;
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(value<std::int64_t>(out[0], "a"), 1);
    EXPECT_EQ(value<std::int64_t>(out[1], "a"), 2);
    EXPECT_EQ(value<std::string>(out[2], "1"), "AQL_");  // base64url, no padding
    EXPECT_EQ(value<std::string>(out[2], "s"), "abc");
}

TEST(Cbor, BigIntegersFromTheSpecsExamples) {
    // {"u": 18446744073709551615, "m": -18446744073709551616, "b": 2(h'010000000000000000')}
    const Frame f = frame({0xa3, 0x61, 'u', 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  //
                           0x61, 'm', 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,        //
                           0x61, 'b', 0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0});
    auto d = make_cbor_decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(decode(*d, f, out, error), DecodeStatus::Ok) << error;
    EXPECT_DOUBLE_EQ(value<double>(out[0], "u"), 18446744073709551615.0);
    EXPECT_DOUBLE_EQ(value<double>(out[0], "m"), -18446744073709551616.0);
    EXPECT_DOUBLE_EQ(value<double>(out[0], "b"), 18446744073709551616.0);
}

TEST(Cbor, TextAndOtherFormatsAreNotMine) {
    auto d = make_cbor_decoder();
    std::vector<Record> out;
    std::string error;
    for (const char* t : {"{\"a\":1}", "[{\"a\":1}]", "temp,room=1 v=1", "21.5", "a=1 b=2", ""}) {
        EXPECT_EQ(decode(*d, text(t), out, error), DecodeStatus::NotMine) << t;
    }
    EXPECT_EQ(decode(*d, frame({0x18, 0x64}), out, error), DecodeStatus::NotMine);  // the number 100
    EXPECT_TRUE(out.empty());
}

TEST(Cbor, BrokenFramesSayWhyAndLeaveTheOutputAlone) {
    auto d = make_cbor_decoder();
    expect_broken(*d,
                  {
                      {frame({0xa1, 0x61, 'a'}), "truncated: an item is missing"},
                      {frame({0xa1, 0x61, 'a', 0x7a, 0xff, 0xff, 0xff, 0xff}), "longer than the frame"},
                      {frame({0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
                       "more elements than the frame has bytes"},
                      {frame({0xa1, 0xf5, 0x01}), "neither a text string nor an integer"},
                      {frame({0xa1, 0x61, 'a', 0xc1, 0x61, 'x'}), "tag 1 (epoch time) does not hold a number"},
                      {frame({0xa1, 0x61, 'a', 0x1c}), "reserved additional information"},
                      {frame({0xa1, 0x61, 'a', 0xff}), "a break outside an indefinite item"},
                      {frame({0x81, 0x01}), "element 0 of the top-level array is not an object"},
                      {frame({0xa1, 0x61, 'a', 0x01, 0x01}), "after the document"},
                      {frame({0xa1, 0x61, 'a', 0x61, 0xff}), "invalid UTF-8"},
                  },
                  "cbor");
    std::vector<Record> out(1);
    std::string error;
    // Nesting is bounded: 100 maps deep.
    Frame deep;
    for (int i = 0; i < 100; ++i) {
        deep.payload += "\xa1\x61" "a";
    }
    deep.payload += '\x01';
    EXPECT_EQ(decode(*d, deep, out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("nested deeper than 64 levels"), std::string::npos) << error;
}

TEST(Cbor, TimeTagsHoldFloatsAndNegativesAndTagChainsAreBounded) {
    auto d = make_cbor_decoder();
    std::vector<Record> out;
    std::string error;
    // {"t": 1(1363896240.5)} as a double, {"t": 1(-1)}
    ASSERT_EQ(decode(*d, frame({0xa1, 0x61, 't', 0xc1, 0xfb, 0x41, 0xd4, 0x52, 0xd9, 0xec, 0x20, 0, 0}), out, error),
              DecodeStatus::Ok)
        << error;
    EXPECT_EQ(out[0].time_ns, 1363896240LL * 1'000'000'000 + 500'000'000);
    out.clear();
    ASSERT_EQ(decode(*d, frame({0xa1, 0x61, 't', 0xc1, 0x20}), out, error), DecodeStatus::Ok) << error;
    EXPECT_EQ(out[0].time_ns, -1'000'000'000);
    // A NaN time is no time; tag 0 with text that is not a date neither.
    EXPECT_EQ(decode(*d, frame({0xa1, 0x61, 't', 0xc1, 0xf9, 0x7e, 0x00}), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("tag 1: the time is out of range"), std::string::npos) << error;
    EXPECT_EQ(decode(*d, frame({0xa1, 0x61, 't', 0xc0, 0x64, 's', 'o', 'o', 'n'}), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("tag 0: cannot read 'soon' as a time"), std::string::npos) << error;
    // 16 tags on one item are taken, 17 are not.
    auto tagged = [](int tags) {
        Frame f = frame({0xa1, 0x61, 'v'});
        for (int i = 0; i < tags; ++i) {
            f.payload += '\xd8';  // tag 32 (a URI): transparent
            f.payload += '\x20';
        }
        f.payload += '\x01';
        return f;
    };
    out.clear();
    EXPECT_EQ(decode(*d, tagged(16), out, error), DecodeStatus::Ok) << error;
    EXPECT_EQ(decode(*d, tagged(17), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("more than 16 tags on one item"), std::string::npos) << error;
    // A simple value of one byte (f8 14) is not a boolean: unassigned.
    EXPECT_EQ(decode(*d, frame({0xa1, 0x61, 'v', 0xf8, 0x14}), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("unassigned simple value"), std::string::npos) << error;
    // The self-describe tag also before the second document of a sequence.
    out.clear();
    EXPECT_EQ(decode(*d, frame({0xa1, 0x61, 'v', 0x01, 0xd9, 0xd9, 0xf7, 0xa1, 0x61, 'v', 0x02}), out, error),
              DecodeStatus::Ok)
        << error;
    EXPECT_EQ(out.size(), 2u);
}

// ------------------------------------------------------------- MessagePack

TEST(Msgpack, NestedMapWithTypesAndATimestamp) {
    // {"t": timestamp 32 (1363896240), "temp": float64 21.5, "ok": true,
    //  "n": -10, "big": uint64 max, "loc": {"lat": float32 1.5, "tags": ["a", nil, "b"]}}
    const Frame f = frame({0x86, 0xa1, 't', 0xd6, 0xff, 0x51, 0x4b, 0x67, 0xb0,                    //
                           0xa4, 't', 'e', 'm', 'p', 0xcb, 0x40, 0x35, 0x80, 0, 0, 0, 0, 0,         //
                           0xa2, 'o', 'k', 0xc3,                                                    //
                           0xa1, 'n', 0xf6,                                                         //
                           0xa3, 'b', 'i', 'g', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  //
                           0xa3, 'l', 'o', 'c', 0x82, 0xa3, 'l', 'a', 't', 0xca, 0x3f, 0xc0, 0, 0,  //
                           0xa4, 't', 'a', 'g', 's', 0x93, 0xa1, 'a', 0xc0, 0xa1, 'b'});
    auto d = make_msgpack_decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(decode(*d, f, out, error), DecodeStatus::Ok) << error;
    ASSERT_EQ(out.size(), 1u);
    const Record& r = out[0];
    EXPECT_EQ(r.time_ns, 1363896240LL * 1'000'000'000);
    EXPECT_DOUBLE_EQ(value<double>(r, "temp"), 21.5);
    EXPECT_TRUE(value<bool>(r, "ok"));
    EXPECT_EQ(value<std::int64_t>(r, "n"), -10);
    EXPECT_DOUBLE_EQ(value<double>(r, "big"), 18446744073709551615.0);
    EXPECT_DOUBLE_EQ(value<double>(r, "loc.lat"), 1.5);
    EXPECT_EQ(value<std::string>(r, "loc.tags.0"), "a");
    EXPECT_EQ(field(r, "loc.tags.1"), nullptr);
    EXPECT_EQ(value<std::string>(r, "loc.tags.2"), "b");
}

TEST(Msgpack, TimestampsOf64And96BitsSignedIntegersIntegerKeysAndBinaries) {
    // [{"a": timestamp 64 (500 ns, 1363896240 s), 7: int16 -300, "b": bin8 01 02 ff},
    //  {"z": timestamp 96 (1 ns, -1 s), "x": {"when": timestamp 32 (0)}}]
    const std::uint64_t ts64 = (std::uint64_t{500} << 34) | 1363896240ULL;
    std::vector<int> bytes = {0x92, 0x83, 0xa1, 'a', 0xd7, 0xff};
    for (int i = 7; i >= 0; --i) {
        bytes.push_back(static_cast<int>((ts64 >> (8 * i)) & 0xff));
    }
    for (const int b : std::initializer_list<int>{0x07, 0xd1, 0xfe, 0xd4, 0xa1, 'b', 0xc4, 0x03, 0x01, 0x02, 0xff,  //
                        0x82, 0xa1, 'z', 0xc7, 0x0c, 0xff, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                        0xa1, 'x', 0x81, 0xa4, 'w', 'h', 'e', 'n', 0xd6, 0xff, 0, 0, 0, 0}) {
        bytes.push_back(b);
    }
    Frame f;
    for (const int b : bytes) {
        f.payload += static_cast<char>(b);
    }
    f.origin = "dev/1";
    auto d = make_msgpack_decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(decode(*d, f, out, error), DecodeStatus::Ok) << error;
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].time_ns, 1363896240LL * 1'000'000'000 + 500);
    EXPECT_EQ(value<std::int64_t>(out[0], "7"), -300);
    EXPECT_EQ(value<std::string>(out[0], "b"), "AQL_");
    EXPECT_EQ(out[1].time_ns, -1'000'000'000 + 1);
    // Deeper down a time is RFC 3339 text.
    EXPECT_EQ(value<std::string>(out[1], "x.when").substr(0, 19), "1970-01-01T00:00:00");
}

TEST(Msgpack, TextAndOtherFormatsAreNotMine) {
    auto d = make_msgpack_decoder();
    std::vector<Record> out;
    std::string error;
    for (const char* t : {"{\"a\":1}", "[{\"a\":1}]", "temp,room=1 v=1", "21.5", "a=1 b=2", ""}) {
        EXPECT_EQ(decode(*d, text(t), out, error), DecodeStatus::NotMine) << t;
    }
    EXPECT_EQ(decode(*d, frame({0xcc, 0x64}), out, error), DecodeStatus::NotMine);  // the number 100
    EXPECT_TRUE(out.empty());
}

TEST(Msgpack, BrokenFramesSayWhyAndLeaveTheOutputAlone) {
    auto d = make_msgpack_decoder();
    expect_broken(*d,
                  {
                      {frame({0x81, 0xa1, 'a'}), "truncated: a value is missing"},
                      {frame({0x81, 0xa1, 'a', 0xdb, 0xff, 0xff, 0xff, 0xff}), "longer than the frame"},
                      {frame({0xdd, 0xff, 0xff, 0xff, 0xff}), "more elements than the frame has bytes"},
                      {frame({0x81, 0xc3, 0x01}), "neither a string nor an integer"},
                      {frame({0x81, 0xa1, 'a', 0xc1}), "0xc1 is never used"},
                      {frame({0x81, 0xa1, 'a', 0xd5, 0xff, 0x00, 0x00}), "a timestamp of 2 bytes"},
                      {frame({0x91, 0x01}), "element 0 of the top-level array is not an object"},
                      {frame({0x81, 0xa1, 'a', 0x01, 0x01}), "after the document"},
                      {frame({0x81, 0xa1, 'a', 0xa1, 0xff}), "invalid UTF-8"},
                  },
                  "msgpack");
}

TEST(Msgpack, SignedIntegersOfEveryWidthAndNegativeKeys) {
    // {"a": int8 -128, "b": int16 -32768, "c": int32 -2^31, "d": int64 -2^63, -32: 1}
    const Frame f = frame({0x85, 0xa1, 'a', 0xd0, 0x80, 0xa1, 'b', 0xd1, 0x80, 0x00,  //
                           0xa1, 'c', 0xd2, 0x80, 0, 0, 0, 0xa1, 'd', 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xe0, 0x01});
    auto d = make_msgpack_decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(decode(*d, f, out, error), DecodeStatus::Ok) << error;
    EXPECT_EQ(value<std::int64_t>(out[0], "a"), -128);
    EXPECT_EQ(value<std::int64_t>(out[0], "b"), -32768);
    EXPECT_EQ(value<std::int64_t>(out[0], "c"), -2147483648LL);
    EXPECT_EQ(value<std::int64_t>(out[0], "d"), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(value<std::int64_t>(out[0], "-32"), 1);
}

// ------------------------------------------------------ shared tree rules

TEST(RecordTreeRules, ATypedTimeOfZeroIsStillTheTimeAndNotFiniteNumbersGiveNoField) {
    // CBOR {"a": 1(0), "ts": 1700000000, "n": NaN (half), "i": -Infinity (half)}
    const Frame f = frame({0xa4, 0x61, 'a', 0xc1, 0x00, 0x62, 't', 's', 0x1a, 0x65, 0x53, 0xf1, 0x00,  //
                           0x61, 'n', 0xf9, 0x7e, 0x00, 0x61, 'i', 0xf9, 0xfc, 0x00});
    auto d = make_cbor_decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(decode(*d, f, out, error), DecodeStatus::Ok) << error;
    EXPECT_EQ(out[0].time_ns, 0);
    EXPECT_EQ(value<std::int64_t>(out[0], "ts"), 1700000000);  // the typed time won: ts stays a field
    EXPECT_EQ(field(out[0], "n"), nullptr);
    EXPECT_EQ(field(out[0], "i"), nullptr);
}

TEST(RecordTreeRules, ErrorsOfTheTreeCarryTheOffset) {
    auto c = make_cbor_decoder();
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(decode(*c, frame({0x82, 0xa0, 0x01}), out, error), DecodeStatus::Broken);
    EXPECT_EQ(error, "cbor: element 1 of the top-level array is not an object (offset 3)");
    Frame soon = frame({0xa1, 0x62, 't', 's', 0x64});
    soon.payload += "soon";
    ASSERT_EQ(decode(*c, soon, out, error), DecodeStatus::Broken);
    EXPECT_EQ(error, "cbor: field 'ts': cannot read 'soon' as a time (offset 9)");
    auto m = make_msgpack_decoder();
    ASSERT_EQ(decode(*m, frame({0x91, 0x01}), out, error), DecodeStatus::Broken);
    EXPECT_EQ(error, "msgpack: element 0 of the top-level array is not an object (offset 2)");
}

TEST(RecordTreeRules, NamesAreBoundedInLengthAndInAllByTheFramesSize) {
    auto d = make_msgpack_decoder();
    std::vector<Record> out;
    std::string error;
    // {"<1000 x k>": [0 x 3000]}: 3000 names of about 1,000 bytes from a 4 KB frame.
    Frame wide = frame({0x81, 0xda, 0x03, 0xe8});
    wide.payload += std::string(1000, 'k');
    wide.payload += std::string{'\xdc', '\x0b', '\xb8'};
    wide.payload += std::string(3000, '\0');
    ASSERT_EQ(decode(*d, wide, out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("the field names would take more than"), std::string::npos) << error;
    EXPECT_TRUE(out.empty());
    // One key of 2,000 bytes.
    Frame longname = frame({0x81, 0xda, 0x07, 0xd0});
    longname.payload += std::string(2000, 'k');
    longname.payload += '\x01';
    ASSERT_EQ(decode(*d, longname, out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("a field name longer than 1024 bytes"), std::string::npos) << error;
    // JSON shares the rules.
    auto j = make_json_decoder();
    ASSERT_EQ(decode(*j, text("{\"" + std::string(2000, 'k') + "\":1}"), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("a field name longer than 1024 bytes"), std::string::npos) << error;
}

TEST(RecordTreeRules, JsonTopLevelArraysOfStringsAreBroken) {
    // Before the rules moved into RecordTree, a string in a top-level array
    // went into the record before it (or into nothing at all).
    auto j = make_json_decoder();
    std::vector<Record> out(1);
    std::string error;
    EXPECT_EQ(decode(*j, text("[\"x\"]"), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("element 0 of the top-level array is not an object"), std::string::npos) << error;
    EXPECT_EQ(decode(*j, text("[{\"a\":1},\"x\"]"), out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("element 1 of the top-level array is not an object"), std::string::npos) << error;
    EXPECT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].fields.empty());
}

TEST(Base64, Rfc4648VectorsInBothAlphabets) {
    const char* plain[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (const auto& [in, want] : plain) {
        EXPECT_EQ(base64(in), want) << in;
        std::string unpadded = want;
        unpadded.erase(unpadded.find_last_not_of('=') + 1);
        EXPECT_EQ(base64(in, Base64::Url, false), unpadded) << in;
    }
    EXPECT_EQ(base64("\xfb\xff", Base64::Url), "-_8=");
    EXPECT_EQ(base64("\xfb\xff"), "+/8=");
    EXPECT_EQ(base64("\xfb\xff", Base64::Url, false), "-_8");
}

TEST(BinaryDecoders, TextDecodersSayNotMineToBinaryFrames) {
    // CBOR {"t": 1, "temp": 21.5} and MessagePack [{"t": 1}, {"temp": 21.5}]
    const Frame frames[] = {
        frame({0xa2, 0x61, 't', 0x01, 0x64, 't', 'e', 'm', 'p', 0xfb, 0x40, 0x35, 0x80, 0, 0, 0, 0, 0}),
        frame({0x92, 0x81, 0xa1, 't', 0x01, 0x81, 0xa4, 't', 'e', 'm', 'p', 0xcb, 0x40, 0x35, 0x80, 0, 0, 0, 0, 0}),
    };
    CsvConfig csv;
    csv.columns = {"a", "b"};
    std::vector<std::pair<const char*, std::unique_ptr<Decoder>>> text_decoders;
    text_decoders.emplace_back("json", make_json_decoder());
    text_decoders.emplace_back("influx", make_influx_decoder());
    text_decoders.emplace_back("logfmt", make_logfmt_decoder());
    text_decoders.emplace_back("csv", make_csv_decoder(csv));
    text_decoders.emplace_back("scalar", make_scalar_decoder());
    for (auto& [name, d] : text_decoders) {
        for (const Frame& f : frames) {
            std::vector<Record> out;
            std::string error;
            EXPECT_EQ(d->decode(f, out, error), DecodeStatus::NotMine) << name << ": " << error;
        }
    }
}

// ------------------------------------------------------------ one chain

TEST(BinaryDecoders, AMixedChainRoutesEachFrameToItsDecoder) {
    std::vector<DecoderChain::Entry> entries;
    entries.push_back({"json", make_json_decoder()});
    entries.push_back({"cbor", make_cbor_decoder()});
    entries.push_back({"msgpack", make_msgpack_decoder()});
    entries.push_back({"influx", make_influx_decoder()});
    DecoderChain chain(std::move(entries), "p/mixed");
    const Frame frames[] = {
        text("{\"v\":1}"),
        frame({0xa1, 0x61, 'v', 0x02}),        // CBOR {"v": 2}
        frame({0x81, 0xa1, 'v', 0x03}),        // MessagePack {"v": 3}
        text("m v=4i"),                        // line protocol
        frame({0xbf, 0x61, 'v', 0x05, 0xff}),  // CBOR, indefinite map
        frame({0xde, 0x00, 0x01, 0xa1, 'v', 0x06}),  // MessagePack map16
    };
    std::int64_t want = 1;
    for (const Frame& f : frames) {
        std::vector<Record> out;
        DeadLetter dead;
        ASSERT_TRUE(chain.decode(f, out, dead)) << dead.reason;
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(value<std::int64_t>(out[0], "v"), want) << want;
        ++want;
    }
    // Nobody's: every verdict is in the reason.
    std::vector<Record> out;
    DeadLetter dead;
    EXPECT_FALSE(chain.decode(frame({0xa1, 0x61}), out, dead));
    EXPECT_NE(dead.reason.find("cbor: truncated"), std::string::npos) << dead.reason;
    EXPECT_NE(dead.reason.find("msgpack:"), std::string::npos) << dead.reason;
}

}  // namespace
}  // namespace sluice::decoders
