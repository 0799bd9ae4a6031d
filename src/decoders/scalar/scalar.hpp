#pragma once

#include <memory>
#include <string>

#include "core/component.hpp"

namespace sluice::decoders {

struct ScalarConfig {
    std::string field = "value";
};

std::unique_ptr<Decoder> make_scalar_decoder(ScalarConfig config = {});

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_scalar();
}  // namespace sluice::components
