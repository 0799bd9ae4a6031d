#pragma once
// FNV-1a: a small, fast, non-cryptographic hash for names and fingerprints
// that are stored (window keys, kafka partition positions, the kafka sink's
// cursor): its values must never change between versions.

#include <cstdint>
#include <string_view>

namespace sluice {

inline std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 14695981039346656037ull) {
    for (const char c : bytes) {
        h ^= static_cast<std::uint8_t>(c);
        h *= 1099511628211ull;
    }
    return h;
}

inline std::uint32_t fnv1a32(std::string_view bytes, std::uint32_t h = 2166136261U) {
    for (const char c : bytes) {
        h = (h ^ static_cast<std::uint8_t>(c)) * 16777619U;
    }
    return h;
}

}  // namespace sluice
