#pragma once
// The boundary of every thread a component owns and of every callback the
// I/O loop or a library makes into it (the sources' reader threads, their
// loop timers and fd callbacks, a stream's delivery callback): nothing
// thrown there may end the process. What escapes is counted in the
// component's sluice_component_errors_total, logged once per condition
// (log::OnceLog, as the worker and the sink runners do) and swallowed; a
// thread then runs its body again after the runtime's one back-off rule
// (core/backoff.hpp), or stops cleanly if the component asks so.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <string_view>
#include <thread>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/backoff.hpp"

namespace sluice {

// Runs `body`; true if it returned, false if it threw (counted in `errors`,
// which may be null, and logged through `once`).
template <class F>
bool guarded(std::string_view name, Counter* errors, log::OnceLog& once, F&& body) noexcept {
    try {
        body();
        return true;
    } catch (const std::exception& e) {
        if (errors != nullptr) {
            errors->inc();
        }
        once.warn("{}: unexpected error: {}", name, e.what());
    } catch (...) {
        if (errors != nullptr) {
            errors->inc();
        }
        once.warn("{}: unexpected error", name);
    }
    return false;
}

// Back-off steps for a component thread restarted after an unexpected
// error: those of the worker's commit retries.
inline constexpr std::chrono::milliseconds kRestartInitial{100};
inline constexpr std::chrono::milliseconds kRestartMax{10'000};

// A component's own thread: runs `body` until it returns. When it throws,
// waits the back-off's next step (`wait(d)` returns false when the
// component is stopping, which ends the thread) and runs it again. A run
// that lasted longer than the back-off's maximum starts the steps over.
template <class F, class Wait>
void run_restarting(std::string_view name, Counter* errors, Wait&& wait, F&& body,
                    std::chrono::nanoseconds initial = kRestartInitial,
                    std::chrono::nanoseconds max = kRestartMax) noexcept {
    Backoff backoff(initial, max);
    log::OnceLog once;
    for (;;) {
        const auto started = std::chrono::steady_clock::now();
        if (guarded(name, errors, once, body)) {
            return;
        }
        if (std::chrono::steady_clock::now() - started > backoff.max()) {
            backoff.reset();
            once.clear();
        }
        const auto d = backoff.next();
        log::debug("{}: running again in {} ms", name,
                   std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
        if (!wait(d)) {
            return;
        }
    }
}

// A wait for run_restarting on a thread that has only a stop flag: false
// as soon as `stop` is set (checked every 20 ms).
inline bool wait_unless(const std::atomic<bool>& stop, std::chrono::nanoseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (!stop.load()) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= until) {
            return true;
        }
        std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(until - now, std::chrono::milliseconds(20)));
    }
    return false;
}

}  // namespace sluice
