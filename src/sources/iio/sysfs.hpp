#pragma once
// The sysfs side of the iio source: finding a device under
// <sysfs_root>/bus/iio/devices, locating a channel's raw/input/offset/scale
// files (per channel first, then the type-wide shared ones), and the
// scan_elements directory. Every failure is a Result with a message; nothing
// here throws or logs.

#include <string>
#include <string_view>
#include <vector>

#include "sources/iio/scan.hpp"

namespace sluice::iio {

// A whole attribute file, trailing newline removed. Error text names the path
// and errno's message.
Result<std::string> read_attr(const std::string& path);
// Writes `value` to an existing attribute (never creates one). Empty: done.
// `missing` is set when the file does not exist.
struct WriteError {
    std::string message;
    bool missing = false;
};
std::optional<WriteError> write_attr(const std::string& path, std::string_view value);
bool path_exists(const std::string& path);

struct DeviceDir {
    std::string path;  // <sysfs_root>/bus/iio/devices/iio:deviceN
    std::string id;    // "iio:deviceN"
    int number = -1;   // N
    std::string name;  // contents of `name`, or the id when there is none
};

// `spec` is "iio:deviceN", "deviceN", "N", or a device name / label matched
// against each device's `name` and `label` files (lowest N wins).
Result<DeviceDir> resolve_device(const std::string& sysfs_root, std::string_view spec);

// A polled channel's files. Empty offset/scale paths: none exists (0 and 1).
struct ChannelFiles {
    std::string name;
    std::string unit;
    std::string raw;    // <ch>_raw, or empty when only <ch>_input exists
    std::string input;  // <ch>_input (used when there is no _raw)
    std::string offset;
    std::string scale;
};

Result<ChannelFiles> find_channel_files(const DeviceDir& dev, const std::string& channel);
// Channels of the device that have a _raw or _input file, sorted.
std::vector<std::string> discover_channels(const DeviceDir& dev);

// (raw + offset) * scale for one polled channel, re-reading each file so a
// changed scale (gain) takes effect at once.
Result<double> read_channel(const ChannelFiles& ch);

// Offset and scale for a scan element (same lookup as polled channels).
struct Calibration {
    double offset = 0;
    double scale = 1;
};
Result<Calibration> read_calibration(const DeviceDir& dev, const std::string& channel);

// One entry of <dev>/scan_elements.
struct ScanElementFiles {
    std::string name;
    bool enabled = false;
    unsigned index = 0;
    ScanType type;
};
Result<std::vector<ScanElementFiles>> read_scan_elements(const DeviceDir& dev);

}  // namespace sluice::iio
