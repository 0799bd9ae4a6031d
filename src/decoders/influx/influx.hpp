#pragma once

#include <memory>

#include "core/component.hpp"
#include "decoders/timestamp.hpp"

namespace sluice::decoders {

struct InfluxConfig {
    // Unit of the line timestamp. Auto decides by magnitude (see timestamp.hpp).
    EpochUnit precision = EpochUnit::Auto;
};

std::unique_ptr<Decoder> make_influx_decoder(const InfluxConfig& config = {});

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_influx();
}  // namespace sluice::components
