#include "core/push_endpoints.hpp"

#include <algorithm>

namespace sluice {

std::uint64_t PushEndpoints::add(std::string pipeline, std::string id, Handler fn) {
    std::lock_guard lk(mu_);
    const std::uint64_t h = next_++;
    entries_.push_back(Entry{h, std::move(pipeline), std::move(id), std::move(fn)});
    return h;
}

void PushEndpoints::remove(std::uint64_t handle) {
    std::lock_guard lk(mu_);
    std::erase_if(entries_, [handle](const Entry& e) { return e.handle == handle; });
}

bool PushEndpoints::dispatch(std::string_view pipeline, std::string_view id, PushRequest&& req,
                             const PushReply& reply, std::string* error) {
    // Held while the handler runs: remove() then waits for it, so a source
    // that stopped is never called.
    std::lock_guard lk(mu_);
    const Entry* found = nullptr;
    std::size_t matches = 0;
    std::string names;
    for (const auto& e : entries_) {
        if ((!pipeline.empty() && e.pipeline != pipeline) || (!id.empty() && e.id != id)) {
            continue;
        }
        ++matches;
        found = &e;
        names += names.empty() ? "" : ", ";
        names += e.pipeline + "/" + e.id;
    }
    if (matches == 1) {
        found->fn(std::move(req), reply);
        return true;
    }
    if (error != nullptr) {
        const std::string kind = "`" + kind_ + "` source";
        if (matches == 0 && entries_.empty()) {
            *error = "no " + kind + " is configured in this gateway";
        } else if (matches == 0 && id.empty()) {
            *error = "no " + kind + " is configured in pipeline '" + std::string(pipeline) + "'";
        } else if (matches == 0) {
            *error = "no " + kind + " '" + std::string(id) + "' in pipeline '" + std::string(pipeline) + "'";
        } else {
            *error = "more than one " + kind + " (" + names + "): name one as " + how_to_name_;
        }
    }
    return false;
}

PushEndpoints& push_endpoints() {
    static PushEndpoints table;
    return table;
}

PushEndpoints& callback_endpoints() {
    static PushEndpoints table("callback", "\"<pipeline>/<source id>\"");
    return table;
}

}  // namespace sluice
