#pragma once
// The one I/O loop (epoll) for sockets, timers and source fds. Callbacks run
// on the loop's thread and must not block.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice {

class IoLoop {
public:
    using FdCallback = std::function<void(std::uint32_t events)>;
    using TimerId = std::uint64_t;

    IoLoop();
    ~IoLoop();
    IoLoop(const IoLoop&) = delete;
    IoLoop& operator=(const IoLoop&) = delete;

    // False (errno set) if epoll refuses the fd, e.g. a regular file.
    bool add_fd(int fd, std::uint32_t events, FdCallback cb);
    bool modify_fd(int fd, std::uint32_t events);
    void remove_fd(int fd);

    // Runs `cb` after `delay`, then every `interval` if it is non-zero. A
    // repeating timer fires on the multiples of its interval on the monotonic
    // clock (not `interval` after it last ran), so timers whose intervals
    // divide one another (the stats' second, a 50 ms source tick) wake the
    // loop together instead of each on its own, and none drifts.
    TimerId add_timer(std::chrono::nanoseconds delay, std::chrono::nanoseconds interval, std::function<void()> cb);
    void cancel_timer(TimerId id);

    // Thread-safe: runs `fn` on the loop thread soon.
    void post(std::function<void()> fn);
    // Thread-safe: runs `fn` on the loop thread and waits for it.
    void call(std::function<void()> fn);

    void start();  // runs the loop on its own thread
    void stop();   // thread-safe; joins the thread
    bool in_loop_thread() const;
    // True on the thread of any running IoLoop: debug checks use it to find
    // blocking work (SQLite, fsync) that must run elsewhere.
    static bool on_a_loop_thread();

private:
    void run();
    void drain_posted();
    void fire_timers();
    void rearm_timerfd();

    int epfd_ = -1;
    int eventfd_ = -1;
    int timerfd_ = -1;
    std::map<int, FdCallback> fds_;
    struct Timer {
        std::int64_t due_ns;
        std::int64_t interval_ns;
        std::function<void()> cb;
    };
    std::map<TimerId, Timer> timers_;
    TimerId next_timer_ = 1;
    std::mutex posted_mu_;
    std::vector<std::function<void()>> posted_;
    std::thread thread_;
    // Written by the loop thread as it starts and ends, read by any thread
    // in call(): atomic, or a call() racing the loop's start is a data race.
    std::atomic<std::thread::id> loop_thread_id_{};
    bool stopping_ = false;
};

}  // namespace sluice
