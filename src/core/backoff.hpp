#pragma once
// The one retry rule, for every part that retries (the sink runners after a
// failed open, send or buffer operation; the worker after a failed buffer
// commit; a source thread restarted after a failure; the MQTT source's
// reconnects): each failure waits a random 50-100 % of the current
// step, then the step doubles up to `max`; a success resets it to `initial`.
// The jitter spreads the retries of a fleet that lost its uplink together.

#include <chrono>
#include <cstdint>
#include <random>

namespace sluice {

class Backoff {
public:
    Backoff(std::chrono::nanoseconds initial, std::chrono::nanoseconds max)
        : Backoff(initial, max, std::random_device{}()) {}
    // A chosen seed: clients that must not retry in step (one per process
    // and client id) or a test that wants the same waits every run.
    Backoff(std::chrono::nanoseconds initial, std::chrono::nanoseconds max, std::uint32_t seed)
        : initial_(initial), max_(max < initial ? initial : max), step_(initial), rng_(seed) {}

    // The wait before the next attempt; doubles the step for the one after.
    std::chrono::nanoseconds next() {
        std::uniform_real_distribution<double> jitter(0.5, 1.0);
        const auto wait = std::chrono::nanoseconds(
            static_cast<std::int64_t>(static_cast<double>(step_.count()) * jitter(rng_)));
        step_ = step_ > max_ / 2 ? max_ : step_ * 2;
        return wait;
    }
    void reset() { step_ = initial_; }
    // The step the next failure waits at most.
    std::chrono::nanoseconds step() const { return step_; }
    std::chrono::nanoseconds max() const { return max_; }

private:
    std::chrono::nanoseconds initial_;
    std::chrono::nanoseconds max_;
    std::chrono::nanoseconds step_;
    std::mt19937 rng_;
};

}  // namespace sluice
