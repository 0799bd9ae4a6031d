#include "sources/iio/scan.hpp"
#include "text/text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace sluice::iio {
namespace {

// Reads an unsigned decimal at the front of `text` and removes it.
std::optional<unsigned> take_uint(std::string_view& text) {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end == text.data()) {
        return std::nullopt;
    }
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    return v;
}

bool take(std::string_view& text, std::string_view prefix) {
    if (!text.starts_with(prefix)) {
        return false;
    }
    text.remove_prefix(prefix.size());
    return true;
}

bool is_pow2(std::size_t v) { return v != 0 && (v & (v - 1)) == 0; }

std::size_t align_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

std::size_t alignment_of(const ScanType& t) { return is_pow2(t.size()) ? t.size() : t.storage_bytes(); }

// Influx line protocol escapes; control characters would end the line, so
// they become '_' (names come from sysfs and the config, never payloads).
void append_escaped(std::string& out, std::string_view s, bool is_measurement) {
    for (const char c : s) {
        if (c == ',' || c == ' ' || (!is_measurement && c == '=')) {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            out += '_';
        } else if (c == '\\') {
            out += "\\\\";
        } else {
            out += c;
        }
    }
}

}  // namespace

Result<ScanType> parse_scan_type(std::string_view text) {
    const std::string_view original = trim(text);
    std::string_view t = original;
    auto fail = [&](std::string_view why) {
        return Result<ScanType>::fail(fmt::format("scan type '{}': {} (expected [be|le]:[s|u]BITS/STORAGE[XREPEAT]>>SHIFT, "
                                                  "e.g. le:s12/16>>4)",
                                                  original.substr(0, 64), why));
    };
    ScanType st;
    if (take(t, "le:")) {
        st.big_endian = false;
    } else if (take(t, "be:")) {
        st.big_endian = true;
    } else {
        return fail("byte order must be 'le:' or 'be:'");
    }
    if (take(t, "s")) {
        st.is_signed = true;
    } else if (take(t, "u")) {
        st.is_signed = false;
    } else {
        return fail("sign must be 's' or 'u'");
    }
    const auto bits = take_uint(t);
    if (!bits) {
        return fail("missing bit count");
    }
    if (!take(t, "/")) {
        return fail("missing '/' before the storage bits");
    }
    const auto storage = take_uint(t);
    if (!storage) {
        return fail("missing storage bits");
    }
    if (take(t, "X")) {
        const auto repeat = take_uint(t);
        if (!repeat) {
            return fail("missing repeat count after 'X'");
        }
        if (*repeat < 1 || *repeat > kMaxRepeat) {
            return fail(fmt::format("repeat count {} is out of range (1-{})", *repeat, kMaxRepeat));
        }
        st.repeat = *repeat;
    }
    if (!take(t, ">>")) {
        return fail("missing '>>' before the shift");
    }
    const auto shift = take_uint(t);
    if (!shift) {
        return fail("missing shift");
    }
    if (!t.empty()) {
        return fail("unexpected text at the end");
    }
    if (*storage != 8 && *storage != 16 && *storage != 32 && *storage != 64) {
        return fail(fmt::format("storage bits must be 8, 16, 32 or 64, got {}", *storage));
    }
    if (*bits < 1 || *bits > *storage) {
        return fail(fmt::format("bit count {} does not fit the {} storage bits", *bits, *storage));
    }
    if (*shift >= *storage || *shift + *bits > *storage) {
        return fail(fmt::format("{} bits shifted by {} do not fit the {} storage bits", *bits, *shift, *storage));
    }
    st.bits = *bits;
    st.storage_bits = *storage;
    st.shift = *shift;
    return Result<ScanType>::ok(st);
}

Result<ScanLayout> compute_layout(std::span<const ScanElement> elements) {
    if (elements.empty()) {
        return Result<ScanLayout>::fail("no scan elements are enabled");
    }
    std::vector<std::size_t> order(elements.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return elements[a].index < elements[b].index; });
    ScanLayout layout;
    std::size_t bytes = 0;
    std::size_t largest = 1;
    for (std::size_t k = 0; k < order.size(); ++k) {
        const ScanElement& e = elements[order[k]];
        if (k > 0 && elements[order[k - 1]].index == e.index) {
            return Result<ScanLayout>::fail(fmt::format("scan elements '{}' and '{}' share index {}",
                                                        elements[order[k - 1]].name, e.name, e.index));
        }
        if (e.type.storage_bits == 0 || e.type.repeat == 0) {
            return Result<ScanLayout>::fail(fmt::format("scan element '{}' has no type", e.name));
        }
        const std::size_t align = alignment_of(e.type);
        bytes = align_up(bytes, align);
        if (e.name == "in_timestamp") {
            layout.timestamp_slot = layout.slots.size();
        }
        layout.slots.push_back({order[k], bytes});
        bytes += e.type.size();
        largest = std::max(largest, align);
        if (bytes > kMaxRecordBytes) {
            return Result<ScanLayout>::fail(
                fmt::format("a scan record would exceed {} bytes", kMaxRecordBytes));
        }
    }
    layout.record_bytes = align_up(bytes, largest);
    return Result<ScanLayout>::ok(std::move(layout));
}

namespace {

std::uint64_t load(const ScanType& type, const std::uint8_t* p) {
    const std::size_t n = type.storage_bytes();
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t byte = type.big_endian ? i : n - 1 - i;
        v = (v << 8) | p[byte];
    }
    v >>= type.shift;
    if (type.bits < 64) {
        v &= (std::uint64_t{1} << type.bits) - 1;
    }
    return v;
}

}  // namespace

std::int64_t extract_integer(const ScanType& type, const std::uint8_t* storage) {
    std::uint64_t v = load(type, storage);
    if (type.is_signed && type.bits < 64 && ((v >> (type.bits - 1)) & 1U) != 0) {
        v |= ~((std::uint64_t{1} << type.bits) - 1);
    }
    return static_cast<std::int64_t>(v);
}

double extract_number(const ScanType& type, const std::uint8_t* storage) {
    if (type.is_signed) {
        return static_cast<double>(extract_integer(type, storage));
    }
    return static_cast<double>(load(type, storage));
}

std::vector<double> decode_record(const ScanLayout& layout, std::span<const ScanElement> elements,
                                  std::span<const std::uint8_t> record) {
    std::vector<double> out;
    if (record.size() < layout.record_bytes) {
        return out;
    }
    for (std::size_t s = 0; s < layout.slots.size(); ++s) {
        if (layout.timestamp_slot == s) {
            continue;
        }
        const auto& slot = layout.slots[s];
        const ScanElement& e = elements[slot.element];
        for (unsigned r = 0; r < e.type.repeat; ++r) {
            const double raw = extract_number(e.type, record.data() + slot.offset + r * e.type.storage_bytes());
            out.push_back(scaled(raw, e.offset, e.scale));
        }
    }
    return out;
}

std::optional<std::int64_t> record_timestamp(const ScanLayout& layout, std::span<const ScanElement> elements,
                                             std::span<const std::uint8_t> record) {
    if (!layout.timestamp_slot || record.size() < layout.record_bytes) {
        return std::nullopt;
    }
    const auto& slot = layout.slots[*layout.timestamp_slot];
    return extract_integer(elements[slot.element].type, record.data() + slot.offset);
}

std::vector<std::string> value_names(const ScanLayout& layout, std::span<const ScanElement> elements) {
    std::vector<std::string> out;
    for (std::size_t s = 0; s < layout.slots.size(); ++s) {
        if (layout.timestamp_slot == s) {
            continue;
        }
        const ScanElement& e = elements[layout.slots[s].element];
        if (e.type.repeat == 1) {
            out.push_back(e.name);
        } else {
            for (unsigned r = 0; r < e.type.repeat; ++r) {
                out.push_back(fmt::format("{}_{}", e.name, r));
            }
        }
    }
    return out;
}

Result<ChannelName> parse_channel_name(std::string_view name) {
    ChannelName c;
    std::string_view rest = name;
    if (take(rest, "in_")) {
        c.direction = "in";
    } else if (take(rest, "out_")) {
        c.direction = "out";
    } else {
        return Result<ChannelName>::fail(
            fmt::format("channel '{}' must start with 'in_' or 'out_' (e.g. in_voltage0, in_temp)", name));
    }
    std::size_t n = 0;
    while (n < rest.size() && rest[n] >= 'a' && rest[n] <= 'z') {
        ++n;
    }
    if (n == 0) {
        return Result<ChannelName>::fail(fmt::format("channel '{}' has no type after '{}_'", name, c.direction));
    }
    c.type = std::string(rest.substr(0, n));
    const std::string base = c.direction + "_" + c.type;
    // Differential pairs: in_voltage0-voltage1 shares in_voltage-voltage_*.
    if (const auto dash = rest.find('-'); dash != std::string_view::npos) {
        std::string_view second = rest.substr(dash + 1);
        std::size_t m = 0;
        while (m < second.size() && second[m] >= 'a' && second[m] <= 'z') {
            ++m;
        }
        if (m > 0) {
            c.differential = true;
            c.shared_prefixes.push_back(base + "-" + std::string(second.substr(0, m)));
        }
    }
    c.shared_prefixes.push_back(base);
    return Result<ChannelName>::ok(std::move(c));
}

std::string_view unit_for_type(std::string_view type) {
    struct Entry {
        std::string_view type;
        std::string_view unit;
    };
    // Units after (raw + offset) * scale, from the kernel's sysfs-bus-iio ABI.
    static constexpr Entry table[] = {
        {"voltage", "mV"},       {"altvoltage", "mV"},   {"current", "mA"},
        {"power", "mW"},         {"temp", "mdegC"},      {"accel", "m/s^2"},
        {"gravity", "m/s^2"},    {"anglvel", "rad/s"},   {"magn", "Gauss"},
        {"pressure", "kPa"},     {"humidityrelative", "m%RH"},
        {"illuminance", "lux"},  {"incli", "deg"},       {"rot", "deg"},
        {"angl", "rad"},         {"phase", "rad"},       {"resistance", "ohm"},
        {"capacitance", "nF"},   {"distance", "m"},      {"velocity", "m/s"},
        {"energy", "J"},         {"concentration", "%"}, {"timestamp", "ns"},
    };
    for (const auto& e : table) {
        if (e.type == type) {
            return e.unit;
        }
    }
    return {};
}

std::optional<double> parse_sysfs_number(std::string_view text) {
    std::string_view t = trim(text);
    if (t.starts_with('+')) {
        t.remove_prefix(1);
    }
    if (t.empty()) {
        return std::nullopt;
    }
    double v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

std::optional<std::int64_t> parse_sysfs_integer(std::string_view text) {
    std::string_view t = trim(text);
    if (t.starts_with('+')) {
        t.remove_prefix(1);
    }
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
        return std::nullopt;
    }
    return v;
}

std::string format_lines(std::string_view measurement, std::string_view device, std::span<const Sample> samples,
                         TimeNs time_ns) {
    std::string out;
    std::vector<bool> done(samples.size(), false);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        if (done[i]) {
            continue;
        }
        const std::string_view unit = samples[i].unit;
        std::string fields;
        for (std::size_t j = i; j < samples.size(); ++j) {
            if (done[j] || samples[j].unit != unit) {
                continue;
            }
            done[j] = true;
            if (!std::isfinite(samples[j].value)) {
                continue;
            }
            if (!fields.empty()) {
                fields += ',';
            }
            append_escaped(fields, samples[j].name, false);
            fmt::format_to(std::back_inserter(fields), "={}", samples[j].value);
        }
        if (fields.empty()) {
            continue;
        }
        if (!out.empty()) {
            out += '\n';
        }
        append_escaped(out, measurement, true);
        if (!device.empty()) {
            out += ",device=";
            append_escaped(out, device, false);
        }
        if (!unit.empty()) {
            out += ",unit=";
            append_escaped(out, unit, false);
        }
        out += ' ';
        out += fields;
        fmt::format_to(std::back_inserter(out), " {}", time_ns);
    }
    return out;
}

}  // namespace sluice::iio
