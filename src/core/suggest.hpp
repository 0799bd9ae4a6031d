#pragma once
// "Did you mean": the closest known name to a mistyped one.

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sluice {

// Closest candidate by edit distance, if close enough to be a likely typo.
std::optional<std::string> did_you_mean(std::string_view word, std::span<const std::string> candidates);
std::optional<std::string> did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace sluice
