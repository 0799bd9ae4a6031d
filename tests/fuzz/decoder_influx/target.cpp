// The line protocol decoder on arbitrary bytes, with the auto and the
// nanosecond precision: no crash, and the decoder contract holds.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "decoders/influx/influx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto auto_unit = sluice::decoders::make_influx_decoder();
    static const auto ns_unit = sluice::decoders::make_influx_decoder({.precision = sluice::decoders::EpochUnit::Nanos});
    sluice::Frame f;
    f.payload.assign(reinterpret_cast<const char*>(data), size);
    f.origin = "fuzz";
    for (auto* decoder : {auto_unit.get(), ns_unit.get()}) {
        std::vector<sluice::Record> out(1);
        std::string error;
        const auto st = decoder->decode(f, out, error);
        if (st != sluice::DecodeStatus::Ok && out.size() != 1) {
            std::abort();
        }
        if (st == sluice::DecodeStatus::Broken && error.empty()) {
            std::abort();
        }
        for (std::size_t i = 1; i < out.size(); ++i) {
            if (out[i].origin != "fuzz" || out[i].measurement.empty() || out[i].fields.empty()) {
                std::abort();
            }
        }
    }
    return 0;
}
