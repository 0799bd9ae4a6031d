#pragma once

#include <memory>
#include <string>

#include "core/component.hpp"

namespace sluice::decoders {

struct JsonConfig {
    // Joins the keys of nested objects and array indices: {"a":{"b":1}} is "a.b".
    std::string separator = ".";
};

std::unique_ptr<Decoder> make_json_decoder(const JsonConfig& config = {});

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_json();
}  // namespace sluice::components
