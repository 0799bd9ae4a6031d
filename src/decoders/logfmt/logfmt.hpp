#pragma once

#include <memory>

#include "core/component.hpp"

namespace sluice::decoders {

std::unique_ptr<Decoder> make_logfmt_decoder();

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_logfmt();
}  // namespace sluice::components
