#include "core/callback_sinks.hpp"

namespace sluice {

void CallbackSinks::set(const std::string& name, Handler fn) {
    auto shared = std::make_shared<const Handler>(std::move(fn));
    std::lock_guard lk(mu_);
    handlers_[name] = std::move(shared);
}

void CallbackSinks::remove(const std::string& name) {
    std::lock_guard lk(mu_);
    handlers_.erase(name);
}

std::shared_ptr<const CallbackSinks::Handler> CallbackSinks::find(const std::string& name) const {
    std::lock_guard lk(mu_);
    const auto it = handlers_.find(name);
    return it == handlers_.end() ? nullptr : it->second;
}

CallbackSinks& callback_sinks() {
    static CallbackSinks table;
    return table;
}

}  // namespace sluice
