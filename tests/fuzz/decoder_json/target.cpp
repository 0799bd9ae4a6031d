// The JSON decoder on arbitrary bytes: the decoder contract of ../decoder_contract.hpp.
#include <cstdint>

#include "decoders/json/json.hpp"
#include "../decoder_contract.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto decoder = sluice::decoders::make_json_decoder();
    sluice::fuzz::check_decoder(*decoder, data, size);
    return 0;
}
