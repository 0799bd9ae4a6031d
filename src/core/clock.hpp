#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

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

// The clock of a runtime part (worker, sink runner): what it reads the time
// from and how it waits. The default is the system's; unit tests pass one
// whose sleeps advance a virtual time at once, so back-offs take no real time.
class Clock {
public:
    virtual ~Clock() = default;
    virtual std::int64_t mono_ns() { return mono_now_ns(); }
    virtual TimeNs wall_ns() { return wall_now_ns(); }
    // Waits `d`, or less if `stop` is set and wake() is called. False if
    // `stop` was set.
    virtual bool sleep(std::chrono::nanoseconds d, const std::atomic<bool>& stop) {
        std::unique_lock lk(mu_);
        return !cv_.wait_for(lk, d, [&] { return stop.load(); });
    }
    // Ends the sleeps whose `stop` flag was just set.
    virtual void wake() {
        { std::lock_guard lk(mu_); }
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
};

}  // namespace sluice
