#pragma once

#include <memory>
#include <string>

#include "core/component.hpp"

namespace sluice::decoders {

struct CborConfig {
    // Joins the keys of nested maps and array indices: {"a":{"b":1}} is "a.b".
    std::string separator = ".";
};

std::unique_ptr<Decoder> make_cbor_decoder(const CborConfig& config = {});

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_cbor();
}  // namespace sluice::components
