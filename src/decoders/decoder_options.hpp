#pragma once
// Reading a decoder's resolved options with the spec's default as fallback.
// The config layer normally fills every default in, but decoders are also
// built directly (tests, benchmarks, fuzzers) from partial Options.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

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

// A file a decoder's option names (a schema, a descriptor set), whole;
// ConfigError naming the option and the file when it cannot be read or is
// larger than `max_bytes`.
inline std::string option_file(std::string_view option, const std::string& path, std::size_t max_bytes) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        throw ConfigError(fmt::format("{}: cannot read '{}': {}", option, path, std::strerror(errno)));
    }
    std::string data;
    char buf[65536];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        if (data.size() + n > max_bytes) {
            std::fclose(f);
            throw ConfigError(fmt::format("{}: '{}' is larger than {} bytes", option, path, max_bytes));
        }
        data.append(buf, n);
    }
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) {
        throw ConfigError(fmt::format("{}: cannot read '{}'", option, path));
    }
    return data;
}

}  // namespace sluice::decoders
