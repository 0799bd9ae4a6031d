#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/component.hpp"

namespace sluice::decoders {

struct SparkplugConfig {
    // The measurement of the online/offline records BIRTH, DEATH and STATE
    // messages give; empty: none.
    std::string status_measurement = "sparkplug_status";
    // Metrics flagged is_historical: "tag" (own records, tag historical =
    // "true"), "keep" (like the others) or "drop".
    std::string historical = "tag";
    // Metrics flagged is_transient (not to be stored, says the spec): "tag"
    // (own records, tag transient = "true"), "keep" or "drop".
    std::string transient = "tag";
    // Edge nodes and devices whose aliases are kept; a BIRTH beyond is Broken.
    std::size_t max_sessions = 10000;
};

std::unique_ptr<Decoder> make_sparkplug_decoder(const SparkplugConfig& config = {});

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_sparkplug_b();
}  // namespace sluice::components
