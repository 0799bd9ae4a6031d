#pragma once
// The value syntax of durations ("250ms", "1m30s") and sizes ("64MiB",
// "1GB"), shared by every config front end and by messages that show one.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// Typed value parsing shared by every front end. Return an error text on failure.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string* error = nullptr);
std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error = nullptr);
std::string format_duration(std::chrono::nanoseconds d);
std::string format_size(std::uint64_t bytes);

}  // namespace sluice
