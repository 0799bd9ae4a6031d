// The record decoder on arbitrary bytes: never crashes, and keeps the
// decoder contract (output untouched unless Ok, a reason with every Broken).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/component.hpp"

namespace sluice::components {
const Descriptor& decoder_record();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto decoder = sluice::components::decoder_record().make_decoder(sluice::Options{});
    sluice::Frame f;
    f.payload.assign(reinterpret_cast<const char*>(data), size);
    std::vector<sluice::Record> out(1);
    std::string error;
    const auto st = decoder->decode(f, out, error);
    if (st != sluice::DecodeStatus::Ok && out.size() != 1) {
        std::abort();
    }
    if (st == sluice::DecodeStatus::Broken && error.empty()) {
        std::abort();
    }
    return 0;
}
