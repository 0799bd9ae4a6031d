#pragma once
// Generated documentation beyond config.hpp's (docs.cpp is their home).

#include <string>
#include <string_view>

#include "core/component.hpp"

namespace sluice {

// `sluice components NAME --toml`: a ready-to-paste TOML snippet for pipeline
// `pipeline` ([[pipelines.P.sources]] / stages / sinks, or a source's decode
// entry for a decoder): the type, every required option with an example
// value, and the optional ones commented out with their default and the
// first sentence of their doc.
std::string component_toml(const Descriptor& d, std::string_view pipeline = "main");

}  // namespace sluice
