// The iio source's parsers on arbitrary input: scan type strings, record
// layout and record decoding, channel names, sysfs numbers and the line
// protocol formatter. Input: type strings, one per line (the last one named
// in_timestamp), then an empty line, then raw scan records.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sources/iio/scan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace sluice::iio;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto split = text.find("\n\n");
    const std::string_view head = text.substr(0, split);
    const std::span<const std::uint8_t> records =
        split == std::string_view::npos ? std::span<const std::uint8_t>{}
                                        : std::span<const std::uint8_t>(data + split + 2, size - split - 2);

    std::vector<ScanElement> elements;
    std::size_t start = 0;
    while (start <= head.size() && elements.size() < 64) {
        auto nl = head.find('\n', start);
        if (nl == std::string_view::npos) {
            nl = head.size();
        }
        const std::string_view line = head.substr(start, nl - start);
        (void)parse_channel_name(line);
        (void)parse_sysfs_number(line);
        (void)parse_sysfs_integer(line);
        if (auto t = parse_scan_type(line)) {
            ScanElement e;
            e.name = "in_voltage" + std::to_string(elements.size());
            e.index = static_cast<unsigned>(elements.size());
            e.type = *t.value;
            e.offset = 0.5;
            e.scale = 0.25;
            elements.push_back(std::move(e));
        }
        start = nl + 1;
    }
    if (!elements.empty()) {
        elements.back().name = "in_timestamp";
    }
    auto layout = compute_layout(elements);
    if (!layout) {
        return 0;
    }
    const auto names = value_names(*layout.value, elements);
    const std::size_t rb = layout.value->record_bytes;
    for (std::size_t off = 0; rb > 0 && records.size() - off >= rb; off += rb) {
        const auto record = records.subspan(off, rb);
        const auto values = decode_record(*layout.value, elements, record);
        const auto ts = record_timestamp(*layout.value, elements, record);
        if (values.size() != names.size()) {
            __builtin_trap();
        }
        std::vector<Sample> samples;
        for (std::size_t i = 0; i < values.size(); ++i) {
            samples.push_back({names[i], i % 2 == 0 ? "mV" : "", values[i]});
        }
        (void)format_lines("iio", "dev ice,=1", samples, ts.value_or(0));
    }
    // A short record must give nothing rather than read past its end.
    if (rb > 0 && !decode_record(*layout.value, elements, records.first(std::min(records.size(), rb - 1))).empty()) {
        __builtin_trap();
    }
    return 0;
}
