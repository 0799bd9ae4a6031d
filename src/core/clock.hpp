#pragma once

#include <chrono>
#include <cstdint>

#include "core/record.hpp"

namespace sluice {

inline TimeNs wall_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Monotonic: for timeouts, rates and processing-time logic, immune to clock jumps.
inline std::int64_t mono_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace sluice
