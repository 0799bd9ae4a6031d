#include <gtest/gtest.h>

#include "text/text_value.hpp"
#include "decoders/timestamp.hpp"

namespace sluice::decoders {
namespace {

constexpr TimeNs kS = 1'000'000'000;
// 2026-11-22T06:10:00Z
constexpr TimeNs kRef = 1795327800 * kS;

TEST(DaysFromCivil, KnownDates) {
    static_assert(days_from_civil(1970, 1, 1) == 0);
    EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
    EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
    EXPECT_EQ(days_from_civil(2026, 11, 22), 20779);
    EXPECT_EQ(days_from_civil(1600, 2, 29), -135081);
    EXPECT_EQ(days_from_civil(2262, 4, 11), 106751);
}

TEST(EpochToNs, UnitFromMagnitude) {
    EXPECT_EQ(epoch_to_ns(std::int64_t{1700000000}), 1700000000 * kS);
    EXPECT_EQ(epoch_to_ns(std::int64_t{1700000000123}), 1700000000123 * 1'000'000);
    EXPECT_EQ(epoch_to_ns(std::int64_t{1700000000123456}), 1700000000123456 * 1'000);
    EXPECT_EQ(epoch_to_ns(std::int64_t{1700000000123456789}), 1700000000123456789);
    EXPECT_EQ(epoch_to_ns(std::int64_t{0}), 0);
    EXPECT_EQ(epoch_to_ns(std::int64_t{-86400}), -86400 * kS);
    // Boundaries: just below 1e11 is still seconds, 1e11 is milliseconds.
    EXPECT_EQ(epoch_to_ns(std::int64_t{9'000'000'000}), 9'000'000'000 * kS);
    EXPECT_EQ(epoch_to_ns(std::int64_t{100'000'000'000}), 100'000'000'000 * 1'000'000);
    EXPECT_EQ(epoch_to_ns(std::int64_t{100'000'000'000'000}), 100'000'000'000'000 * 1'000);
    EXPECT_EQ(epoch_to_ns(std::int64_t{100'000'000'000'000'000}), 100'000'000'000'000'000);
}

TEST(EpochToNs, OutOfRange) {
    // 9.5e9 seconds is after 2262: does not fit in int64 nanoseconds.
    EXPECT_FALSE(epoch_to_ns(std::int64_t{9'500'000'000}));
    EXPECT_FALSE(epoch_to_ns(std::int64_t{99'000'000'000'000}));
    EXPECT_FALSE(epoch_to_ns(9.5e9));
    EXPECT_FALSE(epoch_to_ns(std::numeric_limits<double>::infinity()));
    EXPECT_FALSE(epoch_to_ns(std::numeric_limits<double>::quiet_NaN()));
    EXPECT_FALSE(epoch_to_ns(1e30));
}

TEST(EpochToNs, FractionalNumbers) {
    EXPECT_EQ(epoch_to_ns(1700000000.5), 1700000000 * kS + 500'000'000);
    EXPECT_EQ(epoch_to_ns(1700000000.25), 1700000000 * kS + 250'000'000);
    EXPECT_EQ(epoch_to_ns(1700000000123.5), 1700000000123 * 1'000'000 + 500'000);
    EXPECT_EQ(epoch_to_ns(-1.5), -1'500'000'000);
    EXPECT_EQ(epoch_to_ns(1.7e18), 1'700'000'000'000'000'000);
}

TEST(EpochToNs, ExplicitUnit) {
    EXPECT_EQ(epoch_to_ns(std::int64_t{5}, EpochUnit::Millis), 5'000'000);
    EXPECT_EQ(epoch_to_ns(std::int64_t{1700000000}, EpochUnit::Nanos), 1700000000);
    EXPECT_EQ(epoch_to_ns(std::int64_t{1}, EpochUnit::Micros), 1000);
    EXPECT_EQ(parse_epoch_unit("ms"), EpochUnit::Millis);
    EXPECT_FALSE(parse_epoch_unit("minutes"));
}

TEST(Iso8601, Forms) {
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00Z"), kRef);
    EXPECT_EQ(parse_iso8601("2026-11-22t06:10:00z"), kRef);
    EXPECT_EQ(parse_iso8601("2026-11-22 06:10:00"), kRef);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10"), kRef);
    EXPECT_EQ(parse_iso8601("  2026-11-22T06:10:00Z \r"), kRef);
    EXPECT_EQ(parse_iso8601("2026-11-22"), kRef - (6 * 3600 + 600) * kS);
    EXPECT_EQ(parse_iso8601("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parse_iso8601("1969-12-31T23:59:59Z"), -kS);
}

TEST(Iso8601, Fractions) {
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00.5Z"), kRef + 500'000'000);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00.123Z"), kRef + 123'000'000);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00,123Z"), kRef + 123'000'000);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00.123456789Z"), kRef + 123'456'789);
    // Beyond nanoseconds: truncated, never rounded into the next second.
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00.9999999999Z"), kRef + 999'999'999);
    EXPECT_FALSE(parse_iso8601("2026-11-22T06:10:00.Z"));
}

TEST(Iso8601, Offsets) {
    const TimeNs plus1 = 1795324200 * kS;    // 05:10Z
    const TimeNs minus530 = 1795347600 * kS;  // 11:40Z
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00+01:00"), plus1);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00+0100"), plus1);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00+01"), plus1);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00-05:30"), minus530);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00-0530"), minus530);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00.25-05:30"), minus530 + 250'000'000);
    EXPECT_EQ(parse_iso8601("2026-11-22T06:10:00+00:00"), kRef);
    // Crossing midnight backwards.
    EXPECT_EQ(parse_iso8601("2026-11-22T00:30:00+01:00"), parse_iso8601("2026-11-21T23:30:00Z"));
}

TEST(Iso8601, CalendarChecks) {
    EXPECT_TRUE(parse_iso8601("2024-02-29"));
    EXPECT_TRUE(parse_iso8601("2000-02-29"));
    EXPECT_FALSE(parse_iso8601("2023-02-29"));
    EXPECT_FALSE(parse_iso8601("1900-02-29"));
    EXPECT_FALSE(parse_iso8601("2026-13-01"));
    EXPECT_FALSE(parse_iso8601("2026-00-01"));
    EXPECT_FALSE(parse_iso8601("2026-04-31"));
    EXPECT_FALSE(parse_iso8601("2026-11-22T24:00:00Z"));
    EXPECT_FALSE(parse_iso8601("2026-11-22T06:60:00Z"));
    EXPECT_FALSE(parse_iso8601("2026-11-22T06:10:61Z"));
    // A leap second rolls over into the next minute.
    EXPECT_EQ(parse_iso8601("2026-11-22T06:09:60Z"), kRef);
}

TEST(Iso8601, Rejects) {
    for (const char* bad : {"", "soon", "2026", "2026-11", "2026/11/22", "2026-11-22T", "2026-11-22T06",
                            "2026-11-22T06:10:00Q", "2026-11-22T06:10:00+1", "2026-11-22T06:10:00+01:0",
                            "2026-11-22X06:10:00", "2026-11-22T06:10:00Z junk", "22.11.2026", "1e9",
                            "2026-11-22T6:10:00Z", "+2026-11-22"}) {
        EXPECT_FALSE(parse_iso8601(bad)) << bad;
    }
    // Years beyond the int64 nanosecond range.
    EXPECT_FALSE(parse_iso8601("2263-01-01"));
    EXPECT_FALSE(parse_iso8601("1600-01-01"));
    EXPECT_TRUE(parse_iso8601("2262-01-01"));
}

TEST(ValueToTime, Kinds) {
    EXPECT_EQ(value_to_time(FieldValue{std::int64_t{1795327800}}), kRef);
    EXPECT_EQ(value_to_time(FieldValue{1795327800.0}), kRef);
    EXPECT_EQ(value_to_time(FieldValue{std::string("2026-11-22T06:10:00Z")}), kRef);
    EXPECT_EQ(value_to_time(FieldValue{std::string("1795327800000")}), kRef);
    EXPECT_FALSE(value_to_time(FieldValue{true}));
    EXPECT_FALSE(value_to_time(FieldValue{std::string("yesterday")}));
}

Record record_with(std::vector<Field> fields) {
    Record r;
    r.fields = std::move(fields);
    return r;
}

TEST(TakeTimeField, PreferenceAndRemoval) {
    auto r = record_with({{"ts", std::int64_t{1}}, {"a", 1.5}, {"time", std::int64_t{1795327800}}});
    EXPECT_FALSE(take_time_field(r));
    EXPECT_EQ(r.time_ns, kRef);
    ASSERT_EQ(r.fields.size(), 2u);
    EXPECT_EQ(r.fields[0].name, "ts");
    EXPECT_EQ(r.fields[1].name, "a");

    auto r2 = record_with({{"datetime", std::string("2026-11-22")}, {"timestamp", std::string("2026-11-22T06:10:00Z")}});
    EXPECT_FALSE(take_time_field(r2));
    EXPECT_EQ(r2.time_ns, kRef);
    ASSERT_EQ(r2.fields.size(), 1u);
    EXPECT_EQ(r2.fields[0].name, "datetime");

    auto r3 = record_with({{"datetime", std::string("2026-11-22T06:10:00Z")}, {"times", std::int64_t{5}}});
    EXPECT_FALSE(take_time_field(r3));
    EXPECT_EQ(r3.time_ns, kRef);
    ASSERT_EQ(r3.fields.size(), 1u);
    EXPECT_EQ(r3.fields[0].name, "times");
}

TEST(TakeTimeField, NoneLeavesRecord) {
    auto r = record_with({{"a", 1.5}, {"Time", std::int64_t{5}}});
    EXPECT_FALSE(take_time_field(r));
    EXPECT_EQ(r.time_ns, 0);
    EXPECT_EQ(r.fields.size(), 2u);
}

TEST(TakeTimeField, Unreadable) {
    auto r = record_with({{"ts", std::string("soon")}, {"a", 1.5}});
    auto err = take_time_field(r);
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, "field 'ts': cannot read 'soon' as a time");
    EXPECT_EQ(r.fields.size(), 2u);
    EXPECT_EQ(r.time_ns, 0);

    auto b = record_with({{"time", true}});
    ASSERT_TRUE(take_time_field(b));
    EXPECT_EQ(*take_time_field(b), "field 'time': cannot read 'true' as a time");
}

TEST(TextValue, Numbers) {
    EXPECT_EQ(parse_number("42"), FieldValue{std::int64_t{42}});
    EXPECT_EQ(parse_number("-42"), FieldValue{std::int64_t{-42}});
    EXPECT_EQ(parse_number("+7"), FieldValue{std::int64_t{7}});
    EXPECT_EQ(parse_number("21.5"), FieldValue{21.5});
    EXPECT_EQ(parse_number("-.5"), FieldValue{-0.5});
    EXPECT_EQ(parse_number("1e3"), FieldValue{1000.0});
    EXPECT_EQ(parse_number("2.5E-1"), FieldValue{0.25});
    EXPECT_EQ(parse_number("9223372036854775807"), FieldValue{std::int64_t{9223372036854775807}});
    EXPECT_EQ(parse_number("9223372036854775808"), FieldValue{9223372036854775808.0});
    for (const char* bad : {"", "-", "+", ".", "1.", "1e", "1e+", "0x10", "inf", "nan", "1,5", "12a", " 1", "1e400",
                            "--1", "1.2.3"}) {
        EXPECT_FALSE(parse_number(bad)) << bad;
    }
}

TEST(TextValue, Typed) {
    EXPECT_EQ(typed_value("12"), FieldValue{std::int64_t{12}});
    EXPECT_EQ(typed_value("true"), FieldValue{true});
    EXPECT_EQ(typed_value("FALSE"), FieldValue{false});
    EXPECT_EQ(typed_value("yes"), FieldValue{std::string("yes")});
    EXPECT_EQ(typed_value("21,5"), FieldValue{std::string("21,5")});
    EXPECT_EQ(typed_value("21,5", true), FieldValue{21.5});
    EXPECT_EQ(typed_value("-0,25", true), FieldValue{-0.25});
    EXPECT_EQ(typed_value("21.5", true), FieldValue{21.5});
    EXPECT_EQ(typed_value("1,2,3", true), FieldValue{std::string("1,2,3")});
    EXPECT_EQ(typed_value("2026-11-22"), FieldValue{std::string("2026-11-22")});
}

TEST(TextValue, Utf8) {
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("plain ascii, long enough for the word loop"));
    EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    EXPECT_FALSE(valid_utf8("\xff"));
    EXPECT_FALSE(valid_utf8("abc\xc3"));               // cut sequence
    EXPECT_FALSE(valid_utf8("\xc0\xaf"));              // overlong
    EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));          // overlong
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));          // surrogate
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));      // above U+10FFFF
    EXPECT_FALSE(valid_utf8("12345678\x80"));
    // Each byte that starts no character becomes U+FFFD; the rest is kept.
    EXPECT_EQ(replace_invalid_utf8("K\xfc" "che caf\xc3\xa9"), "K\xef\xbf\xbd" "che caf\xc3\xa9");
    EXPECT_EQ(replace_invalid_utf8("abc\xc3"), "abc\xef\xbf\xbd");
    EXPECT_EQ(replace_invalid_utf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_TRUE(valid_utf8(replace_invalid_utf8("\xff\xfe\xc0\xaf\xf4\x90\x80\x80 ok")));
}

TEST(TextValue, Excerpt) {
    EXPECT_EQ(excerpt("abc"), "abc");
    EXPECT_EQ(excerpt(std::string_view("a\0b\n", 4)), "a\\x00b\\x0a");
    EXPECT_EQ(excerpt("abcdef", 3), "abc...");
}

}  // namespace
}  // namespace sluice::decoders
