// Pure parsing of the iio source: scan types, layouts, sample extraction,
// channel names, sysfs numbers and the line protocol frames.
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "sources/iio/scan.hpp"

namespace sluice::iio {
namespace {

ScanType type_of(std::string_view text) {
    auto t = parse_scan_type(text);
    EXPECT_TRUE(t) << text << ": " << t.error;
    return t.value.value_or(ScanType{});
}

ScanElement element(std::string name, unsigned index, std::string_view type, double offset = 0, double scale = 1) {
    ScanElement e;
    e.name = std::move(name);
    e.index = index;
    e.type = type_of(type);
    e.offset = offset;
    e.scale = scale;
    return e;
}

TEST(IioScanType, ParsesTheKernelForms) {
    const ScanType a = type_of("le:s12/16>>4");
    EXPECT_FALSE(a.big_endian);
    EXPECT_TRUE(a.is_signed);
    EXPECT_EQ(a.bits, 12u);
    EXPECT_EQ(a.storage_bits, 16u);
    EXPECT_EQ(a.repeat, 1u);
    EXPECT_EQ(a.shift, 4u);
    EXPECT_EQ(a.size(), 2u);

    const ScanType b = type_of("be:u16/16>>0");
    EXPECT_TRUE(b.big_endian);
    EXPECT_FALSE(b.is_signed);

    const ScanType c = type_of("le:s16/16X2>>0");
    EXPECT_EQ(c.repeat, 2u);
    EXPECT_EQ(c.size(), 4u);

    EXPECT_EQ(type_of("le:s64/64>>0").storage_bytes(), 8u);
    EXPECT_EQ(type_of("le:s24/32>>0").bits, 24u);
    EXPECT_EQ(type_of("le:u8/8>>0\n").storage_bits, 8u);  // as read from sysfs
}

TEST(IioScanType, GarbageIsAClearError) {
    const char* bad[] = {"",
                         "garbage",
                         "le",
                         "le:",
                         "xx:s12/16>>4",
                         "le:x12/16>>4",
                         "le:s/16>>4",
                         "le:s12-16>>4",
                         "le:s12/16",
                         "le:s12/16>>",
                         "le:s12/15>>0",
                         "le:s17/16>>0",
                         "le:s0/16>>0",
                         "le:s12/16>>5",
                         "le:s16/16>>16",
                         "le:s16/16X0>>0",
                         "le:s16/16X100000>>0",
                         "le:s16/16X>>0",
                         "le:s12/16>>4 trailing",
                         "le:s99999999999999999999/16>>0",
                         "le:s-12/16>>0"};
    for (const char* text : bad) {
        auto t = parse_scan_type(text);
        EXPECT_FALSE(t) << text;
        EXPECT_NE(t.error.find("scan type"), std::string::npos) << t.error;
        EXPECT_NE(t.error.find("expected"), std::string::npos) << t.error;
    }
    EXPECT_NE(parse_scan_type("le:s12/15>>0").error.find("8, 16, 32 or 64"), std::string::npos);
    EXPECT_NE(parse_scan_type("le:s12/16>>5").error.find("do not fit"), std::string::npos);
}

TEST(IioLayout, AlignsEachElementToItsSize) {
    // u8 at 0, s32 aligned to 4, u16 at 8; the record is padded to 4.
    std::vector<ScanElement> e = {element("in_voltage0", 0, "le:u8/8>>0"), element("in_voltage1", 1, "le:s32/32>>0"),
                                  element("in_voltage2", 2, "le:u16/16>>0")};
    auto l = compute_layout(e);
    ASSERT_TRUE(l) << l.error;
    ASSERT_EQ(l.value->slots.size(), 3u);
    EXPECT_EQ(l.value->slots[0].offset, 0u);
    EXPECT_EQ(l.value->slots[1].offset, 4u);
    EXPECT_EQ(l.value->slots[2].offset, 8u);
    EXPECT_EQ(l.value->record_bytes, 12u);
    EXPECT_FALSE(l.value->timestamp_slot);
}

TEST(IioLayout, TimestampIsAlignedToEightAndOrderFollowsTheIndex) {
    // Listed out of order: the scan index decides.
    std::vector<ScanElement> e = {element("in_timestamp", 3, "le:s64/64>>0"), element("in_voltage1", 1, "be:u16/16>>0"),
                                  element("in_voltage0", 0, "le:s12/16>>4"), element("in_temp", 2, "le:u16/16>>0")};
    auto l = compute_layout(e);
    ASSERT_TRUE(l) << l.error;
    ASSERT_EQ(l.value->slots.size(), 4u);
    EXPECT_EQ(e[l.value->slots[0].element].name, "in_voltage0");
    EXPECT_EQ(l.value->slots[1].offset, 2u);
    EXPECT_EQ(l.value->slots[2].offset, 4u);
    EXPECT_EQ(l.value->slots[3].offset, 8u);
    EXPECT_EQ(l.value->record_bytes, 16u);
    EXPECT_EQ(l.value->timestamp_slot, 3u);
}

TEST(IioLayout, RepeatedElements) {
    // s16 X2 is 4 bytes, aligned to 4; s16 X3 is 6 bytes, aligned to its storage (2).
    std::vector<ScanElement> e = {element("in_voltage0", 0, "le:u8/8>>0"), element("in_rot_quat", 1, "le:s16/16X2>>0"),
                                  element("in_magn", 2, "le:s16/16X3>>0")};
    auto l = compute_layout(e);
    ASSERT_TRUE(l) << l.error;
    EXPECT_EQ(l.value->slots[1].offset, 4u);
    EXPECT_EQ(l.value->slots[2].offset, 8u);
    EXPECT_EQ(l.value->record_bytes, 16u);
    EXPECT_EQ(value_names(*l.value, e),
              (std::vector<std::string>{"in_voltage0", "in_rot_quat_0", "in_rot_quat_1", "in_magn_0", "in_magn_1",
                                        "in_magn_2"}));
}

TEST(IioLayout, Errors) {
    EXPECT_FALSE(compute_layout({}));
    std::vector<ScanElement> dup = {element("in_voltage0", 1, "le:u8/8>>0"), element("in_voltage1", 1, "le:u8/8>>0")};
    auto l = compute_layout(dup);
    ASSERT_FALSE(l);
    EXPECT_NE(l.error.find("share index 1"), std::string::npos) << l.error;
    std::vector<ScanElement> huge;
    for (unsigned i = 0; i < 300; ++i) {
        huge.push_back(element("in_voltage" + std::to_string(i), i, "le:s64/64X256>>0"));
    }
    EXPECT_FALSE(compute_layout(huge));
}

TEST(IioExtract, LittleEndianSignedShifted) {
    const ScanType t = type_of("le:s12/16>>4");
    // -5 in 12 bits, shifted left by 4, low nibble garbage.
    const std::uint16_t stored = static_cast<std::uint16_t>((static_cast<unsigned>(-5) << 4) | 0xA);
    const std::uint8_t bytes[2] = {static_cast<std::uint8_t>(stored & 0xff), static_cast<std::uint8_t>(stored >> 8)};
    EXPECT_EQ(extract_integer(t, bytes), -5);
    EXPECT_EQ(extract_number(t, bytes), -5.0);
    const ScanType u = type_of("le:u12/16>>4");
    EXPECT_EQ(extract_integer(u, bytes), 4091);  // 0xffb
}

TEST(IioExtract, BigEndian) {
    const std::uint8_t bytes[2] = {0x12, 0x34};
    EXPECT_EQ(extract_integer(type_of("be:u16/16>>0"), bytes), 0x1234);
    EXPECT_EQ(extract_integer(type_of("le:u16/16>>0"), bytes), 0x3412);
    const std::uint8_t neg[2] = {0xff, 0xfe};
    EXPECT_EQ(extract_integer(type_of("be:s16/16>>0"), neg), -2);
    EXPECT_EQ(extract_integer(type_of("be:u16/16>>0"), neg), 0xfffe);
}

TEST(IioExtract, TwentyFourInThirtyTwo) {
    const ScanType t = type_of("le:s24/32>>0");
    const std::uint8_t min[4] = {0x00, 0x00, 0x80, 0x00};
    const std::uint8_t max[4] = {0xff, 0xff, 0x7f, 0xab};  // top byte is padding and ignored
    const std::uint8_t minus_one[4] = {0xff, 0xff, 0xff, 0x00};
    EXPECT_EQ(extract_integer(t, min), -8388608);
    EXPECT_EQ(extract_integer(t, max), 8388607);
    EXPECT_EQ(extract_integer(t, minus_one), -1);
    EXPECT_EQ(extract_integer(type_of("be:s24/32>>8"), std::array<std::uint8_t, 4>{0xff, 0xff, 0xfe, 0x00}.data()),
              -2);
}

TEST(IioExtract, SixtyFourBits) {
    const std::uint8_t all[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    EXPECT_EQ(extract_integer(type_of("le:s64/64>>0"), all), -1);
    EXPECT_DOUBLE_EQ(extract_number(type_of("le:u64/64>>0"), all), 18446744073709551615.0);
    const std::int64_t ts = 1'700'000'000'123'456'789;
    std::uint8_t le[8];
    for (int i = 0; i < 8; ++i) {
        le[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(ts) >> (8 * i));
    }
    EXPECT_EQ(extract_integer(type_of("le:s64/64>>0"), le), ts);
}

TEST(IioDecode, ScaledValuesAndTimestamp) {
    std::vector<ScanElement> e = {element("in_voltage0", 0, "le:s12/16>>4", 0, 0.5),
                                  element("in_voltage1", 1, "be:u16/16>>0", 10, 2),
                                  element("in_accel", 2, "le:s16/16X2>>0", 0, 0.01),
                                  element("in_timestamp", 3, "le:s64/64>>0")};
    auto l = compute_layout(e);
    ASSERT_TRUE(l) << l.error;
    ASSERT_EQ(l.value->record_bytes, 16u);
    std::vector<std::uint8_t> rec(16, 0);
    const std::uint16_t v0 = static_cast<std::uint16_t>(static_cast<unsigned>(-100) << 4);
    rec[0] = v0 & 0xff;
    rec[1] = v0 >> 8;
    rec[2] = 0x01;  // be 0x0100 = 256
    rec[3] = 0x00;
    rec[4] = 0x64;  // 100
    rec[5] = 0x00;
    rec[6] = 0x9c;  // -100
    rec[7] = 0xff;
    const std::int64_t ts = 1'700'000'000'000'000'001;
    for (int i = 0; i < 8; ++i) {
        rec[8 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(ts) >> (8 * i));
    }
    const auto values = decode_record(*l.value, e, rec);
    ASSERT_EQ(values.size(), 4u);
    EXPECT_DOUBLE_EQ(values[0], -50.0);
    EXPECT_DOUBLE_EQ(values[1], 532.0);  // (256 + 10) * 2
    EXPECT_DOUBLE_EQ(values[2], 1.0);
    EXPECT_DOUBLE_EQ(values[3], -1.0);
    EXPECT_EQ(record_timestamp(*l.value, e, rec), ts);
    EXPECT_EQ(value_names(*l.value, e),
              (std::vector<std::string>{"in_voltage0", "in_voltage1", "in_accel_0", "in_accel_1"}));

    // A short record gives nothing rather than reading past its end.
    EXPECT_TRUE(decode_record(*l.value, e, std::span(rec).first(15)).empty());
    EXPECT_FALSE(record_timestamp(*l.value, e, std::span(rec).first(15)));
}

TEST(IioChannels, NamesTypesAndSharedPrefixes) {
    auto v = parse_channel_name("in_voltage0");
    ASSERT_TRUE(v);
    EXPECT_EQ(v.value->type, "voltage");
    EXPECT_EQ(v.value->shared_prefixes, (std::vector<std::string>{"in_voltage"}));
    auto d = parse_channel_name("in_voltage0-voltage1");
    ASSERT_TRUE(d);
    EXPECT_TRUE(d.value->differential);
    EXPECT_EQ(d.value->shared_prefixes, (std::vector<std::string>{"in_voltage-voltage", "in_voltage"}));
    auto a = parse_channel_name("in_accel_x");
    ASSERT_TRUE(a);
    EXPECT_EQ(a.value->type, "accel");
    EXPECT_EQ(a.value->shared_prefixes, (std::vector<std::string>{"in_accel"}));
    EXPECT_EQ(parse_channel_name("out_voltage2").value->direction, "out");
    EXPECT_EQ(parse_channel_name("in_humidityrelative").value->type, "humidityrelative");
    EXPECT_FALSE(parse_channel_name("voltage0"));
    EXPECT_FALSE(parse_channel_name("in_"));
    EXPECT_FALSE(parse_channel_name("in_0"));
    EXPECT_NE(parse_channel_name("temp").error.find("'in_'"), std::string::npos);

    EXPECT_EQ(unit_for_type("voltage"), "mV");
    EXPECT_EQ(unit_for_type("temp"), "mdegC");
    EXPECT_EQ(unit_for_type("accel"), "m/s^2");
    EXPECT_EQ(unit_for_type("pressure"), "kPa");
    EXPECT_EQ(unit_for_type("proximity"), "");
}

TEST(IioNumbers, SysfsText) {
    EXPECT_EQ(parse_sysfs_number("1000\n"), 1000.0);
    EXPECT_EQ(parse_sysfs_number("-12"), -12.0);
    EXPECT_EQ(parse_sysfs_number("0.500000000"), 0.5);
    EXPECT_EQ(parse_sysfs_number("+3"), 3.0);
    EXPECT_EQ(parse_sysfs_number(" 1e-3 "), 0.001);
    EXPECT_FALSE(parse_sysfs_number(""));
    EXPECT_FALSE(parse_sysfs_number("abc"));
    EXPECT_FALSE(parse_sysfs_number("1 2"));
    EXPECT_FALSE(parse_sysfs_number("nan"));
    EXPECT_FALSE(parse_sysfs_number("inf"));
    EXPECT_EQ(parse_sysfs_integer("42\n"), 42);
    EXPECT_FALSE(parse_sysfs_integer("4.2"));
}

TEST(IioFrames, OneLinePerUnit) {
    const Sample s[] = {{"in_voltage0", "mV", 505}, {"in_temp", "mdegC", 21500.5}, {"in_voltage1", "mV", -1.25},
                       {"in_proximity", "", 7}};
    EXPECT_EQ(format_lines("iio", "ads1015", s, 1700000000000000000),
              "iio,device=ads1015,unit=mV in_voltage0=505,in_voltage1=-1.25 1700000000000000000\n"
              "iio,device=ads1015,unit=mdegC in_temp=21500.5 1700000000000000000\n"
              "iio,device=ads1015 in_proximity=7 1700000000000000000");
}

TEST(IioFrames, EscapesAndSkipsNonFinite) {
    const Sample s[] = {{"in_a b", "m/s^2", 1}, {"in_c", "m/s^2", NAN}, {"in_d", "mV", INFINITY}};
    EXPECT_EQ(format_lines("my iio", "dev,1=x\n", s, 5), "my\\ iio,device=dev\\,1\\=x_,unit=m/s^2 in_a\\ b=1 5");
    EXPECT_EQ(format_lines("iio", "", s, 5), "iio,unit=m/s^2 in_a\\ b=1 5");
    const Sample none[] = {{"in_c", "mV", NAN}};
    EXPECT_EQ(format_lines("iio", "d", none, 5), "");
}

}  // namespace
}  // namespace sluice::iio
