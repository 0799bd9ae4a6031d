#include "core/ioloop.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace sluice {

namespace {
thread_local bool t_loop_thread = false;
}  // namespace

bool IoLoop::on_a_loop_thread() { return t_loop_thread; }

IoLoop::IoLoop() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    eventfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd_ < 0 || eventfd_ < 0 || timerfd_ < 0) {
        throw std::runtime_error(std::string("cannot create the I/O loop: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = eventfd_;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, eventfd_, &ev);
    ev.data.fd = timerfd_;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, timerfd_, &ev);
}

IoLoop::~IoLoop() {
    stop();
    close(timerfd_);
    close(eventfd_);
    close(epfd_);
}

bool IoLoop::add_fd(int fd, std::uint32_t events, FdCallback cb) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return false;
    }
    fds_[fd] = std::move(cb);
    return true;
}

bool IoLoop::modify_fd(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    return epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void IoLoop::remove_fd(int fd) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    fds_.erase(fd);
}

IoLoop::TimerId IoLoop::add_timer(std::chrono::nanoseconds delay, std::chrono::nanoseconds interval,
                                  std::function<void()> cb) {
    const TimerId id = next_timer_++;
    timers_[id] = Timer{mono_now_ns() + delay.count(), interval.count(), std::move(cb)};
    rearm_timerfd();
    return id;
}

void IoLoop::cancel_timer(TimerId id) {
    timers_.erase(id);
}

void IoLoop::rearm_timerfd() {
    std::int64_t next = -1;
    for (const auto& [id, t] : timers_) {
        if (next < 0 || t.due_ns < next) {
            next = t.due_ns;
        }
    }
    itimerspec spec{};
    if (next >= 0) {
        // Absolute time on CLOCK_MONOTONIC; at least 1 ns so it never disarms.
        std::int64_t due = std::max<std::int64_t>(next, 1);
        spec.it_value.tv_sec = due / 1'000'000'000;
        spec.it_value.tv_nsec = due % 1'000'000'000;
    }
    timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void IoLoop::fire_timers() {
    std::uint64_t expirations;
    [[maybe_unused]] auto n = read(timerfd_, &expirations, sizeof expirations);
    const std::int64_t now = mono_now_ns();
    std::vector<TimerId> due;
    for (const auto& [id, t] : timers_) {
        if (t.due_ns <= now) {
            due.push_back(id);
        }
    }
    for (TimerId id : due) {
        auto it = timers_.find(id);
        if (it == timers_.end()) {
            continue;  // cancelled by an earlier callback
        }
        auto cb = it->second.cb;
        if (const std::int64_t every = it->second.interval_ns; every > 0) {
            it->second.due_ns = (now / every + 1) * every;
        } else {
            timers_.erase(it);
        }
        cb();
    }
    rearm_timerfd();
}

void IoLoop::post(std::function<void()> fn) {
    {
        std::lock_guard lk(posted_mu_);
        posted_.push_back(std::move(fn));
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = write(eventfd_, &one, sizeof one);
}

void IoLoop::call(std::function<void()> fn) {
    if (in_loop_thread() || !thread_.joinable()) {
        fn();
        return;
    }
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    post([&] {
        fn();
        std::lock_guard lk(mu);
        done = true;
        cv.notify_one();
    });
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return done; });
}

void IoLoop::drain_posted() {
    std::uint64_t v;
    [[maybe_unused]] auto n = read(eventfd_, &v, sizeof v);
    std::vector<std::function<void()>> work;
    {
        std::lock_guard lk(posted_mu_);
        work.swap(posted_);
    }
    for (auto& fn : work) {
        fn();
    }
}

void IoLoop::start() {
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void IoLoop::stop() {
    if (!thread_.joinable()) {
        return;
    }
    post([this] { stopping_ = true; });
    thread_.join();
    // Work posted after the loop ended (e.g. from a stopping sink) runs here
    // so that callers of call() never wait forever.
    drain_posted();
}

bool IoLoop::in_loop_thread() const { return std::this_thread::get_id() == loop_thread_id_.load(); }

void IoLoop::run() {
    loop_thread_id_.store(std::this_thread::get_id());
    t_loop_thread = true;
    epoll_event events[64];
    while (!stopping_) {
        int n = epoll_wait(epfd_, events, 64, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            log::error("I/O loop: epoll_wait failed: {}", std::strerror(errno));
            break;
        }
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == eventfd_) {
                drain_posted();
            } else if (fd == timerfd_) {
                fire_timers();
            } else {
                auto it = fds_.find(fd);
                if (it != fds_.end()) {
                    auto cb = it->second;  // the callback may remove its own fd
                    cb(events[i].events);
                }
            }
        }
    }
    loop_thread_id_.store({});
}

}  // namespace sluice
