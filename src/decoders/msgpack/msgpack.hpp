#pragma once

#include <memory>
#include <string>

#include "core/component.hpp"

namespace sluice::decoders {

struct MsgpackConfig {
    // Joins the keys of nested maps and array indices: {"a":{"b":1}} is "a.b".
    std::string separator = ".";
};

std::unique_ptr<Decoder> make_msgpack_decoder(const MsgpackConfig& config = {});

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_msgpack();
}  // namespace sluice::components
