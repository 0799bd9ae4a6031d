// The iio source's sysfs lookups against fixture trees in a temp dir:
// device by name / number, per-channel vs shared offset and scale, _input
// channels, scan_elements.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sources/iio/sysfs.hpp"

namespace sluice::iio {
namespace {

namespace fs = std::filesystem;

class IioSysfs : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("sluice-iio-test-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        dev0_ = root_ / "bus/iio/devices/iio:device0";
        dev1_ = root_ / "bus/iio/devices/iio:device1";
        put(dev0_ / "name", "ads1015\n");
        put(dev0_ / "in_voltage0_raw", "1000\n");
        put(dev0_ / "in_voltage0_offset", "10\n");
        put(dev0_ / "in_voltage1_raw", "7\n");
        put(dev0_ / "in_voltage1_scale", "2.000000000\n");  // its own, wins over the shared one
        put(dev0_ / "in_voltage_scale", "0.500000000\n");
        put(dev0_ / "in_voltage_offset", "1\n");
        put(dev0_ / "in_temp_input", "21500\n");
        put(dev0_ / "in_accel_x_raw", "-20\n");
        put(dev0_ / "in_accel_scale", "0.009806650\n");
        put(dev0_ / "in_voltage2_raw", "oops\n");
        put(dev1_ / "name", "bme280\n");
        put(dev1_ / "label", "greenhouse\n");
        put(dev1_ / "in_pressure_input", "101.325\n");
        put(root_ / "bus/iio/devices/trigger0/name", "sysfstrig0\n");
    }
    void TearDown() override { fs::remove_all(root_); }

    static void put(const fs::path& p, const std::string& text) {
        fs::create_directories(p.parent_path());
        std::ofstream(p) << text;
    }

    DeviceDir dev(std::string_view spec) {
        auto d = resolve_device(root_.string(), spec);
        EXPECT_TRUE(d) << d.error;
        return d.value.value_or(DeviceDir{});
    }

    double value(const DeviceDir& d, const std::string& channel) {
        auto files = find_channel_files(d, channel);
        EXPECT_TRUE(files) << files.error;
        if (!files) {
            return NAN;
        }
        auto v = read_channel(*files.value);
        EXPECT_TRUE(v) << v.error;
        return v.value.value_or(NAN);
    }

    fs::path root_, dev0_, dev1_;
};

TEST_F(IioSysfs, ResolvesByNumberNameAndLabel) {
    EXPECT_EQ(dev("iio:device0").name, "ads1015");
    EXPECT_EQ(dev("0").id, "iio:device0");
    EXPECT_EQ(dev("device1").name, "bme280");
    EXPECT_EQ(dev("ads1015").path, dev0_.string());
    EXPECT_EQ(dev("bme280").number, 1);
    EXPECT_EQ(dev("greenhouse").number, 1);

    auto missing = resolve_device(root_.string(), "iio:device7");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error.find("no IIO device iio:device7"), std::string::npos) << missing.error;
    auto unknown = resolve_device(root_.string(), "lsm6");
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error.find("iio:device0 (ads1015), iio:device1 (bme280)"), std::string::npos) << unknown.error;
    EXPECT_FALSE(resolve_device((root_ / "nowhere").string(), "ads1015"));
}

TEST_F(IioSysfs, SharedAndPerChannelScaleAndOffset) {
    const DeviceDir d = dev("ads1015");
    EXPECT_DOUBLE_EQ(value(d, "in_voltage0"), 505.0);   // (1000 + 10 own) * 0.5 shared
    EXPECT_DOUBLE_EQ(value(d, "in_voltage1"), 16.0);    // (7 + 1 shared) * 2 own
    EXPECT_DOUBLE_EQ(value(d, "in_temp"), 21500.0);     // _input: already processed
    EXPECT_NEAR(value(d, "in_accel_x"), -0.196133, 1e-9);
    auto files = find_channel_files(d, "in_voltage0");
    ASSERT_TRUE(files);
    EXPECT_EQ(files.value->unit, "mV");
    EXPECT_EQ(find_channel_files(d, "in_temp").value->unit, "mdegC");
    // Without any offset/scale file: 0 and 1.
    put(dev1_ / "in_voltage3_raw", "12\n");
    EXPECT_DOUBLE_EQ(value(dev("1"), "in_voltage3"), 12.0);
    // A changed scale applies on the next read.
    put(dev0_ / "in_voltage_scale", "0.25\n");
    EXPECT_DOUBLE_EQ(value(d, "in_voltage0"), 252.5);
}

TEST_F(IioSysfs, ChannelErrors) {
    const DeviceDir d = dev("0");
    auto missing = find_channel_files(d, "in_voltage9");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error.find("no channel 'in_voltage9'"), std::string::npos) << missing.error;
    EXPECT_NE(missing.error.find("in_accel_x, in_temp, in_voltage0"), std::string::npos) << missing.error;
    EXPECT_FALSE(find_channel_files(d, "../name"));
    EXPECT_FALSE(find_channel_files(d, "voltage0"));
    auto garbage = read_channel(*find_channel_files(d, "in_voltage2").value);
    ASSERT_FALSE(garbage);
    EXPECT_NE(garbage.error.find("'oops' is not a number"), std::string::npos) << garbage.error;
    fs::remove(dev0_ / "in_voltage0_raw");
    ASSERT_FALSE(read_channel(ChannelFiles{.raw = (dev0_ / "in_voltage0_raw").string()}));
    EXPECT_EQ(discover_channels(d),
              (std::vector<std::string>{"in_accel_x", "in_temp", "in_voltage1", "in_voltage2"}));
}

TEST_F(IioSysfs, ScanElements) {
    const fs::path s = dev0_ / "scan_elements";
    put(s / "in_voltage0_en", "1\n");
    put(s / "in_voltage0_index", "0\n");
    put(s / "in_voltage0_type", "le:s12/16>>4\n");
    put(s / "in_timestamp_en", "1\n");
    put(s / "in_timestamp_index", "2\n");
    put(s / "in_timestamp_type", "le:s64/64>>0\n");
    put(s / "in_voltage1_en", "0\n");
    put(s / "in_voltage1_index", "1\n");
    put(s / "in_voltage1_type", "be:u16/16>>0\n");
    auto elems = read_scan_elements(dev("0"));
    ASSERT_TRUE(elems) << elems.error;
    ASSERT_EQ(elems.value->size(), 3u);
    EXPECT_EQ((*elems.value)[0].name, "in_timestamp");
    EXPECT_TRUE((*elems.value)[0].enabled);
    EXPECT_EQ((*elems.value)[0].index, 2u);
    EXPECT_FALSE((*elems.value)[2].enabled);
    EXPECT_TRUE((*elems.value)[2].type.big_endian);

    auto cal = read_calibration(dev("0"), "in_voltage0");
    ASSERT_TRUE(cal);
    EXPECT_DOUBLE_EQ(cal.value->offset, 10);
    EXPECT_DOUBLE_EQ(cal.value->scale, 0.5);

    put(s / "in_voltage1_type", "le:bogus\n");
    auto bad = read_scan_elements(dev("0"));
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error.find("in_voltage1_type"), std::string::npos) << bad.error;
    EXPECT_FALSE(read_scan_elements(dev("1")));  // no scan_elements at all
}

TEST_F(IioSysfs, Writes) {
    EXPECT_FALSE(write_attr((dev0_ / "in_voltage0_raw").string(), "5"));
    auto missing = write_attr((dev0_ / "buffer/enable").string(), "1");
    ASSERT_TRUE(missing);
    EXPECT_TRUE(missing->missing);
    EXPECT_FALSE(path_exists((dev0_ / "buffer/enable").string()));
}

}  // namespace
}  // namespace sluice::iio
