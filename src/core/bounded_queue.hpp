#pragma once
// A queue with a limit on items and bytes: the only kind of queue in sluice.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

namespace sluice {

template <class T, class SizeOf>
class BoundedQueue {
public:
    BoundedQueue(std::size_t max_items, std::size_t max_bytes, SizeOf size_of = {})
        : max_items_(max_items), max_bytes_(max_bytes), size_of_(size_of) {}

    // Moves as many items from the front of `in` as fit; erases them from `in`.
    std::size_t try_push(std::vector<T>& in) {
        std::size_t n = 0;
        bool wake = false;
        {
            std::lock_guard lk(mu_);
            while (n < in.size() && fits(in[n])) {
                bytes_ += size_of_(in[n]);
                items_.push_back(std::move(in[n]));
                ++n;
            }
            wake = enough_locked();
        }
        if (n > 0) {
            in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
            if (wake) {
                not_empty_.notify_one();
            }
        }
        return n;
    }

    // Moves every item of `in` into the queue, waiting for room as needed.
    // False if the queue was closed first (the items not taken stay in `in`).
    bool push_all_wait(std::vector<T>& in) {
        std::size_t n = 0;
        std::unique_lock lk(mu_);
        while (n < in.size()) {
            not_full_.wait(lk, [&] { return closed_ || fits(in[n]); });
            if (closed_) {
                break;
            }
            while (n < in.size() && fits(in[n])) {
                bytes_ += size_of_(in[n]);
                items_.push_back(std::move(in[n]));
                ++n;
            }
            if (enough_locked()) {
                not_empty_.notify_one();
            }
        }
        lk.unlock();
        in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
        return in.empty();
    }

    // Blocks while full. False if closed.
    bool push_wait(T&& item) {
        std::unique_lock lk(mu_);
        not_full_.wait(lk, [&] { return closed_ || fits(item); });
        if (closed_) {
            return false;
        }
        bytes_ += size_of_(item);
        items_.push_back(std::move(item));
        const bool wake = enough_locked();
        lk.unlock();
        if (wake) {
            not_empty_.notify_one();
        }
        return true;
    }

    // Waits up to `timeout` until `want` items are queued (or the queue is
    // half full, closed or wake() was called); pushes below that do not wake
    // the waiter, so a consumer gathering a batch sleeps through them.
    void wait_for_items(std::size_t want, std::chrono::nanoseconds timeout) {
        std::unique_lock lk(mu_);
        wake_at_ = std::max<std::size_t>(want, 1);
        not_empty_.wait_for(lk, timeout, [&] { return enough_locked() || closed_ || woken_; });
        wake_at_ = 1;
    }

    // Waits up to `timeout` for at least one item, then takes up to `max`.
    std::size_t pop_many(std::vector<T>& out, std::size_t max, std::chrono::nanoseconds timeout) {
        std::unique_lock lk(mu_);
        if (items_.empty()) {
            not_empty_.wait_for(lk, timeout, [&] { return !items_.empty() || closed_ || woken_; });
        }
        woken_ = false;
        std::size_t n = 0;
        while (n < max && !items_.empty()) {
            bytes_ -= size_of_(items_.front());
            out.push_back(std::move(items_.front()));
            items_.pop_front();
            ++n;
        }
        if (n > 0) {
            not_full_.notify_all();
        }
        return n;
    }

    // Wakes a consumer blocked in pop_many without an item.
    void wake() {
        {
            std::lock_guard lk(mu_);
            woken_ = true;
        }
        not_empty_.notify_all();
    }

    void close() {
        {
            std::lock_guard lk(mu_);
            closed_ = true;
        }
        not_full_.notify_all();
        not_empty_.notify_all();
    }

    std::size_t size() const {
        std::lock_guard lk(mu_);
        return items_.size();
    }
    std::size_t bytes() const {
        std::lock_guard lk(mu_);
        return bytes_;
    }
    std::size_t max_items() const { return max_items_; }
    bool closed() const {
        std::lock_guard lk(mu_);
        return closed_;
    }
    bool has_room_for_half() const {
        std::lock_guard lk(mu_);
        return items_.size() <= max_items_ / 2 && bytes_ <= max_bytes_ / 2;
    }

private:
    // The consumer's wait is over (mu_ held): what it waits for is there, or
    // the queue is half full (producers must not wait for room on a consumer
    // that waits for more items).
    bool enough_locked() const {
        return items_.size() >= wake_at_ || items_.size() * 2 >= max_items_ || bytes_ * 2 >= max_bytes_;
    }
    bool fits(const T& item) const {
        // An item larger than the byte limit still goes into an empty queue.
        return items_.size() < max_items_ && (items_.empty() || bytes_ + size_of_(item) <= max_bytes_);
    }

    const std::size_t max_items_;
    const std::size_t max_bytes_;
    SizeOf size_of_;
    mutable std::mutex mu_;
    std::condition_variable not_empty_;
    std::condition_variable not_full_;
    std::deque<T> items_;
    std::size_t bytes_ = 0;
    bool closed_ = false;
    bool woken_ = false;
    std::size_t wake_at_ = 1;  // items a waiting consumer wants (wait_for_items)
};

}  // namespace sluice
