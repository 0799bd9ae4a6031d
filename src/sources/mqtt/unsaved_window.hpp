#pragma once
// What the mqtt source has taken from Paho but the buffer has not stored yet.
//
// Paho acknowledges a QoS 1/2 message (PUBACK, PUBREC) as it reads it, before
// sluice has committed it, and Paho C offers no way to acknowledge later. So
// the only bound on what a crash can lose is how many messages the source
// takes from Paho ahead of the commits: the source stops asking Paho for
// messages while `limit` of them are unsaved, and goes on once the worker
// reports their commit. Whatever the broker still holds (unread, so not
// acknowledged) it redelivers to the persistent session.
//
// Also the rule for noticing that another client with the same client id
// takes the session over (the broker drops the connection again and again
// right after it was made).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace sluice::mqtt {

class UnsavedWindow {
public:
    explicit UnsavedWindow(std::size_t limit) : limit_(limit < 1 ? 1 : limit) {}

    std::size_t limit() const { return limit_; }

    // The source took `n` messages from Paho (source thread).
    void received(std::size_t n = 1) {
        std::lock_guard lk(mu_);
        unsaved_ += n;
    }
    // `n` of them are stored in the buffer (worker thread).
    void committed(std::size_t n) {
        {
            std::lock_guard lk(mu_);
            unsaved_ = n > unsaved_ ? 0 : unsaved_ - n;
        }
        cv_.notify_all();
    }
    // Messages handed on that will never be committed (the pipeline closed).
    void forget(std::size_t n) { committed(n); }

    std::size_t unsaved() const {
        std::lock_guard lk(mu_);
        return unsaved_;
    }
    bool full() const { return unsaved() >= limit_; }

    // Waits up to `max` for room, or until `stop` is set and wake() called.
    // True if there is room.
    bool wait_for_room(std::chrono::nanoseconds max, const std::atomic<bool>& stop) {
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, max, [&] { return unsaved_ < limit_ || stop.load(); });
        return unsaved_ < limit_;
    }
    // Wakes a waiter to look at its `stop` flag.
    void wake() {
        { std::lock_guard lk(mu_); }
        cv_.notify_all();
    }

private:
    const std::size_t limit_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::size_t unsaved_ = 0;
};

// Counts connections the broker closed soon after they were made. Two in a
// row (with nothing longer in between) mean another client with the same
// client id keeps taking the session over: MQTT allows one connection per
// client id, and each connect of one client disconnects the other.
class TakeoverDetector {
public:
    static constexpr std::chrono::seconds kShortSession{3};
    static constexpr int kShortInARow = 2;

    // The connection lost after `lasted`. True if that looks like a takeover.
    bool lost_after(std::chrono::nanoseconds lasted) {
        if (lasted >= kShortSession) {
            settled();
            return false;
        }
        return ++in_a_row_ >= kShortInARow;
    }
    // A takeover episode already reported (one log line per episode).
    bool reported() const { return reported_; }
    void set_reported() { reported_ = true; }

private:
    void settled() {
        in_a_row_ = 0;
        reported_ = false;
    }

    int in_a_row_ = 0;
    bool reported_ = false;
};

}  // namespace sluice::mqtt
