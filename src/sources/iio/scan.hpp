#pragma once
// Pure parsing for the iio source: scan element type strings, the layout of a
// scan record, sample extraction, channel names and units, sysfs numbers and
// the Influx line protocol frames the source emits. No file access here, so
// unit tests and the fuzz target drive it directly.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"

namespace sluice::iio {

// A value or the reason there is none (messages name what was wrong).
template <class T>
struct Result {
    std::optional<T> value;
    std::string error;

    static Result ok(T v) { return Result{std::move(v), {}}; }
    static Result fail(std::string e) { return Result{std::nullopt, std::move(e)}; }
    explicit operator bool() const { return value.has_value(); }
};

// scan_elements/<channel>_type: "[be|le]:[s|u]bits/storagebits[Xrepeat]>>shift".
struct ScanType {
    bool big_endian = false;
    bool is_signed = false;
    unsigned bits = 0;          // significant bits
    unsigned storage_bits = 0;  // 8, 16, 32 or 64
    unsigned repeat = 1;        // values per element (e.g. a quaternion: X4)
    unsigned shift = 0;         // right shift before masking

    std::size_t storage_bytes() const { return storage_bits / 8; }
    std::size_t size() const { return storage_bytes() * repeat; }
    bool operator==(const ScanType&) const = default;
};

constexpr unsigned kMaxRepeat = 256;

Result<ScanType> parse_scan_type(std::string_view text);

// One enabled scan element with its calibration.
struct ScanElement {
    std::string name;  // "in_voltage0", "in_accel_x", "in_timestamp"
    unsigned index = 0;
    ScanType type;
    double offset = 0;
    double scale = 1;
};

// Where each element sits in a scan record. The kernel's rule
// (iio_compute_scan_bytes): elements in index order, each aligned to its own
// size (storage bytes times repeat), the record padded to the largest
// alignment. Non-power-of-two sizes (repeat 3) align to the storage bytes.
struct ScanLayout {
    struct Slot {
        std::size_t element = 0;  // index into the element list
        std::size_t offset = 0;   // byte offset in the record
    };
    std::vector<Slot> slots;  // in scan index order
    std::size_t record_bytes = 0;
    std::optional<std::size_t> timestamp_slot;  // the slot of in_timestamp, if enabled
};

constexpr std::size_t kMaxRecordBytes = 64 * 1024;

// Fails on an empty list, duplicate indices or records over kMaxRecordBytes.
Result<ScanLayout> compute_layout(std::span<const ScanElement> elements);

// The sample at `storage` (type.storage_bytes() bytes): byte order, shift,
// mask to `bits`, sign extension. Unsigned 64-bit values above INT64_MAX
// wrap; extract_number() keeps them.
std::int64_t extract_integer(const ScanType& type, const std::uint8_t* storage);
double extract_number(const ScanType& type, const std::uint8_t* storage);

// The kernel ABI's processed value: (raw + offset) * scale.
inline double scaled(double raw, double offset, double scale) { return (raw + offset) * scale; }

// One record's values in slot order, repeats expanded, the timestamp slot
// left out. Empty if `record` is shorter than the layout says.
std::vector<double> decode_record(const ScanLayout& layout, std::span<const ScanElement> elements,
                                  std::span<const std::uint8_t> record);
// The in_timestamp value (ns) of one record, if the layout has it.
std::optional<std::int64_t> record_timestamp(const ScanLayout& layout, std::span<const ScanElement> elements,
                                             std::span<const std::uint8_t> record);
// Field names matching decode_record's values ("in_accel_x", or
// "in_quat_0".."in_quat_3" for repeated elements).
std::vector<std::string> value_names(const ScanLayout& layout, std::span<const ScanElement> elements);

// ---------------------------------------------------------------- channels

// "in_voltage0" → {direction "in", type "voltage"}; "in_accel_x" → "accel";
// "in_voltage0-voltage1" → type "voltage", differential.
struct ChannelName {
    std::string direction;  // "in" or "out"
    std::string type;       // "voltage", "temp", "accel", ...
    bool differential = false;
    // Type-wide attribute prefixes to try after the channel's own, most
    // specific first: {"in_voltage-voltage", "in_voltage"} or {"in_accel"}.
    std::vector<std::string> shared_prefixes;
};

Result<ChannelName> parse_channel_name(std::string_view name);

// Unit of a channel type's processed value per the IIO ABI
// (Documentation/ABI/testing/sysfs-bus-iio); empty when the ABI gives none.
std::string_view unit_for_type(std::string_view type);

// A sysfs number ("1000\n", "-12", "0.500000000", "1e-3"); nullopt for
// anything else. Surrounding blanks and one trailing newline are allowed.
std::optional<double> parse_sysfs_number(std::string_view text);
std::optional<std::int64_t> parse_sysfs_integer(std::string_view text);

// ---------------------------------------------------------------- frames

struct Sample {
    std::string_view name;  // field name (the channel)
    std::string_view unit;  // tag value; empty: no unit tag
    double value = 0;
};

// Influx line protocol, one line per distinct unit (in order of first
// appearance), channels of that unit as fields:
//   iio,device=ads1015,unit=mV in_voltage0=505,in_voltage1=3.5 1700000000000000000
// Values that are not finite are left out; no line at all if none is left.
std::string format_lines(std::string_view measurement, std::string_view device, std::span<const Sample> samples,
                         TimeNs time_ns);

}  // namespace sluice::iio
