#pragma once
// One task at a time on a thread kept for the owner's life: what
// std::async(std::launch::async, ...) does for each call, without creating
// and joining a thread per call (a sink with a backlog reads its next batch
// here hundreds of times a second).

#include <condition_variable>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

namespace sluice {

class SideThread {
public:
    SideThread() = default;
    SideThread(const SideThread&) = delete;
    SideThread& operator=(const SideThread&) = delete;
    ~SideThread() {
        {
            std::lock_guard lk(mu_);
            quit_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    // Runs `task` on the side thread (started on first use). False if no
    // thread could be started: the caller does the work itself. One task at
    // a time: wait() for the last one before the next start(). `task` must
    // not throw.
    bool start(std::function<void()> task) {
        if (!thread_.joinable()) {
            try {
                thread_ = std::thread([this] { loop(); });
            } catch (const std::system_error&) {
                return false;
            }
        }
        {
            std::lock_guard lk(mu_);
            task_ = std::move(task);
            busy_ = true;
        }
        cv_.notify_all();
        return true;
    }

    // Until the task last started has ended (at once if none runs).
    void wait() {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return !busy_; });
    }

private:
    void loop() {
        std::unique_lock lk(mu_);
        for (;;) {
            cv_.wait(lk, [&] { return quit_ || task_; });
            if (!task_) {
                return;  // quit with nothing left to run
            }
            auto task = std::move(task_);
            task_ = nullptr;
            lk.unlock();
            task();
            lk.lock();
            busy_ = false;
            cv_.notify_all();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::function<void()> task_;
    bool busy_ = false;
    bool quit_ = false;
    std::thread thread_;
};

}  // namespace sluice
