#pragma once
// Reading a decoder's resolved options with the spec's default as fallback.
// The config layer normally fills every default in, but decoders are also
// built directly (tests, benchmarks, fuzzers) from partial Options.

#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"

namespace sluice::decoders {

inline std::string option_string(const Options& o, std::string_view name, std::string_view fallback) {
    return o.has(name) ? o.str(name) : std::string(fallback);
}

inline bool option_bool(const Options& o, std::string_view name, bool fallback) {
    return o.has(name) ? o.boolean(name) : fallback;
}

inline std::vector<std::string> option_list(const Options& o, std::string_view name) {
    return o.has(name) ? o.list(name) : std::vector<std::string>{};
}

}  // namespace sluice::decoders
