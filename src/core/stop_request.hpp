#pragma once
// A component asks the whole run to end: the stdout sink when its reader
// went away (`sluice relay ... | head`), as a program that writes to a
// pipe is expected to. The gateway polls it between signals and stops at
// once, exit status 0; what is not delivered stays buffered.

#include <atomic>

namespace sluice {

inline std::atomic<bool>& stop_requested_flag() {
    static std::atomic<bool> flag{false};
    return flag;
}

inline void request_stop() { stop_requested_flag().store(true); }
inline bool stop_requested() { return stop_requested_flag().load(); }

}  // namespace sluice
