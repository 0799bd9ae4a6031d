#include "core/streams.hpp"

#include <algorithm>

namespace sluice {

std::uint64_t StreamBus::subscribe(std::string name, Subscriber fn) {
    std::lock_guard lk(mu_);
    const auto h = next_++;
    subs_.push_back(Entry{h, std::move(name), std::move(fn)});
    return h;
}

void StreamBus::unsubscribe(std::uint64_t handle) {
    std::lock_guard lk(mu_);
    std::erase_if(subs_, [&](const Entry& e) { return e.handle == handle; });
}

std::size_t StreamBus::publish(std::string_view name, std::span<const Record> records) {
    // Subscribers run under the lock, so unsubscribe() returning means the
    // subscriber is no longer running and will not be called again.
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& e : subs_) {
        if (e.name == name) {
            e.fn(records);
            ++n;
        }
    }
    return n;
}

StreamBus& stream_bus() {
    static StreamBus bus;
    return bus;
}

}  // namespace sluice
