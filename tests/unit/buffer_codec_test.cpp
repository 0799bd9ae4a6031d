// The buffer's binary record encoding: every value survives a round trip and
// anything malformed is rejected without reading past the input.

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "buffer/buffer.hpp"

namespace sluice {
namespace {

Record full_record() {
    Record r;
    r.time_ns = 1'700'000'000'123'456'789;
    r.measurement = "temperature";
    r.origin = "sensors/room1";
    r.tags = {{"host", "gw-01"}, {"unit", "°C"}, {"", ""}};
    r.fields = {
        {"value", 21.5},
        {"neg", -0.0},
        {"count", std::int64_t{42}},
        {"min", std::numeric_limits<std::int64_t>::min()},
        {"max", std::numeric_limits<std::int64_t>::max()},
        {"zero", std::int64_t{0}},
        {"minus_one", std::int64_t{-1}},
        {"ok", true},
        {"bad", false},
        {"note", std::string("héllo wörld ✓ 日本語 🚀")},
        {"empty", std::string()},
        {"inf", std::numeric_limits<double>::infinity()},
        {"tiny", std::numeric_limits<double>::denorm_min()},
    };
    return r;
}

void expect_equal(const Record& a, const Record& b) {
    EXPECT_EQ(a.time_ns, b.time_ns);
    EXPECT_EQ(a.measurement, b.measurement);
    EXPECT_EQ(a.origin, b.origin);
    ASSERT_EQ(a.tags.size(), b.tags.size());
    for (std::size_t i = 0; i < a.tags.size(); ++i) {
        EXPECT_EQ(a.tags[i].name, b.tags[i].name);
        EXPECT_EQ(a.tags[i].value, b.tags[i].value);
    }
    ASSERT_EQ(a.fields.size(), b.fields.size());
    for (std::size_t i = 0; i < a.fields.size(); ++i) {
        EXPECT_EQ(a.fields[i].name, b.fields[i].name);
        ASSERT_EQ(a.fields[i].value.index(), b.fields[i].value.index()) << a.fields[i].name;
        if (const auto* d = std::get_if<double>(&a.fields[i].value)) {
            double e = std::get<double>(b.fields[i].value);
            // Bit-exact: -0.0 and NaN payloads included.
            EXPECT_EQ(std::memcmp(d, &e, sizeof e), 0) << a.fields[i].name;
        } else {
            EXPECT_EQ(a.fields[i].value, b.fields[i].value) << a.fields[i].name;
        }
    }
}

std::string encode(const Record& r) {
    std::string out;
    encode_record(r, out);
    return out;
}

TEST(BufferCodec, RoundTripsEveryFieldType) {
    Record r = full_record();
    std::string bytes = encode(r);
    Record back;
    ASSERT_TRUE(decode_record(bytes, back));
    expect_equal(r, back);
    EXPECT_EQ(encode(back), bytes);
}

TEST(BufferCodec, RoundTripsNaNBitExact) {
    Record r;
    r.fields = {{"nan", std::numeric_limits<double>::quiet_NaN()}};
    Record back;
    ASSERT_TRUE(decode_record(encode(r), back));
    expect_equal(r, back);
    EXPECT_TRUE(std::isnan(std::get<double>(back.fields[0].value)));
}

TEST(BufferCodec, RoundTripsEmptyRecordAndNegativeTime) {
    Record r;
    r.time_ns = -5;  // before 1970: still a valid instant
    Record back;
    back.measurement = "stale";
    back.tags = {{"x", "y"}};
    back.fields = {{"z", 1.0}};
    ASSERT_TRUE(decode_record(encode(r), back));
    expect_equal(r, back);
}

TEST(BufferCodec, RoundTripsLargeValues) {
    Record r;
    r.measurement.assign(70'000, 'm');
    r.tags.push_back({std::string(300, 't'), std::string(1 << 20, 'v')});
    std::string big(3 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>(i * 131);
    }
    r.fields.push_back({"blob", big});
    for (int i = 0; i < 1000; ++i) {
        r.fields.push_back({"f" + std::to_string(i), std::int64_t{i} * 1'000'000'007});
    }
    Record back;
    ASSERT_TRUE(decode_record(encode(r), back));
    expect_equal(r, back);
}

TEST(BufferCodec, DecodingReusesTheTargetRecord) {
    Record a = full_record();
    Record b;
    b.time_ns = 9;
    b.fields = {{"only", std::string("one")}};
    Record out;
    ASSERT_TRUE(decode_record(encode(a), out));
    ASSERT_TRUE(decode_record(encode(b), out));
    expect_equal(b, out);
    ASSERT_TRUE(decode_record(encode(a), out));
    expect_equal(a, out);
}

TEST(BufferCodec, EncodeAppends) {
    std::string out = "prefix";
    encode_record(full_record(), out);
    EXPECT_EQ(out.substr(0, 6), "prefix");
    Record back;
    EXPECT_TRUE(decode_record(std::string_view(out).substr(6), back));
}

TEST(BufferCodec, RejectsEveryTruncation) {
    std::string bytes = encode(full_record());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        // A copy of exactly n bytes, so ASan catches any read past the end.
        std::string cut = bytes.substr(0, n);
        Record out;
        EXPECT_FALSE(decode_record(cut, out)) << "prefix of " << n << " bytes";
    }
}

TEST(BufferCodec, RejectsTrailingBytes) {
    std::string bytes = encode(full_record()) + "x";
    Record out;
    EXPECT_FALSE(decode_record(bytes, out));
}

TEST(BufferCodec, RejectsUnknownVersionAndType) {
    Record r;
    r.fields = {{"a", 1.0}};
    std::string bytes = encode(r);
    Record out;
    std::string v = bytes;
    v[0] = 2;
    EXPECT_FALSE(decode_record(v, out));
    // version, 8 time bytes, two empty strings, tag count, field count, then the type byte.
    std::string t = bytes;
    ASSERT_EQ(t[13], 1);
    t[13] = 9;
    EXPECT_FALSE(decode_record(t, out));
}

TEST(BufferCodec, RejectsHugeCountsAndLengthsWithoutAllocating) {
    std::string base(1, '\x01');
    base.append(8, '\0');
    Record out;
    // measurement length 2^63: far past the input.
    std::string len = base + std::string("\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 9);
    EXPECT_FALSE(decode_record(len, out));
    // A tag count of 2^60 with nothing after it.
    std::string cnt = base + std::string("\0\0", 2) + std::string("\xff\xff\xff\xff\xff\xff\xff\xff\x0f", 9);
    EXPECT_FALSE(decode_record(cnt, out));
    // A varint of 11 bytes.
    std::string longv = base + std::string(10, '\x80') + std::string(1, '\x01');
    EXPECT_FALSE(decode_record(longv, out));
}

TEST(BufferCodec, RejectsOverlongVarints) {
    Record r;
    r.measurement = "m";
    std::string bytes = encode(r);
    Record out;
    ASSERT_TRUE(decode_record(bytes, out));
    // Length 1 written as 0x81 0x00: same value, not canonical.
    std::string overlong = bytes.substr(0, 9) + std::string("\x81\x00", 2) + bytes.substr(10);
    EXPECT_FALSE(decode_record(overlong, out));
}

TEST(BufferCodec, RejectsGarbage) {
    Record out;
    EXPECT_FALSE(decode_record("", out));
    EXPECT_FALSE(decode_record("hello world, not a record", out));
    EXPECT_FALSE(decode_record(std::string(64, '\xff'), out));
}

}  // namespace
}  // namespace sluice
