#pragma once

// Whether a source that connects to something (a broker, a publisher, a
// device) is connected now. The source reports from whichever thread sees
// the change; the pipeline reads it for `/ready` and the
// sluice_source_up{component} gauge. Only sources whose descriptor says
// `watched` report; for the others there is nothing that can be "down".

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/clock.hpp"

namespace sluice {

class SourceHealth {
public:
    struct View {
        bool up = false;
        std::string reason;        // why it is down (empty while up)
        std::int64_t since_ns = 0;  // monotonic time of the last change
    };

    // Connected (subscribed, bound, device readable).
    void up() {
        std::lock_guard lk(mu_);
        if (!view_.up) {
            view_.up = true;
            view_.reason.clear();
            view_.since_ns = mono_now_ns();
        }
    }
    // Not connected, and why ("connecting to tcp://broker:1883",
    // "connection lost: ..."). A new reason replaces the old one; the time
    // stays that of the first report since it went down.
    void down(std::string reason) {
        std::lock_guard lk(mu_);
        if (view_.up || view_.since_ns == 0) {
            view_.since_ns = mono_now_ns();
        }
        view_.up = false;
        view_.reason = std::move(reason);
    }
    View view() const {
        std::lock_guard lk(mu_);
        return view_;
    }
    bool is_up() const {
        std::lock_guard lk(mu_);
        return view_.up;
    }

private:
    mutable std::mutex mu_;
    View view_{false, "starting", 0};
};

}  // namespace sluice
