#pragma once
// A component asks the whole run to end: the stdout sink when its reader
// went away (`sluice relay ... | head`), as a program that writes to a
// pipe is expected to. The gateway stops at once, exit status 0; what is not
// delivered stays buffered.
//
// The gateway's main thread sleeps in sigtimedwait() and looks at such
// requests (and at sources that finished) only when woken: wake_main()
// sends it kWakeSignal, which that thread alone has blocked and waits for,
// so an idle gateway need not poll.

#include <atomic>
#include <csignal>

#include <pthread.h>

namespace sluice {

inline constexpr int kWakeSignal = SIGUSR2;

struct MainWaker {
    std::atomic<bool> armed{false};
    pthread_t thread{};
};

inline MainWaker& main_waker() {
    static MainWaker w;
    return w;
}

// The calling thread (which has kWakeSignal blocked and waits for it) is
// the one wake_main() signals, until disarm_main_wake().
inline void arm_main_wake() {
    main_waker().thread = pthread_self();
    main_waker().armed.store(true);
}
inline void disarm_main_wake() { main_waker().armed.store(false); }

inline void wake_main() {
    MainWaker& w = main_waker();
    if (w.armed.load()) {
        pthread_kill(w.thread, kWakeSignal);
    }
}

inline std::atomic<bool>& stop_requested_flag() {
    static std::atomic<bool> flag{false};
    return flag;
}

inline void request_stop() {
    stop_requested_flag().store(true);
    wake_main();
}
inline bool stop_requested() { return stop_requested_flag().load(); }
// A new run begins (libsluice starts a gateway again in the same process).
inline void clear_stop_request() { stop_requested_flag().store(false); }

}  // namespace sluice
