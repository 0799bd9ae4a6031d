#include "core/key_stores.hpp"

#include <algorithm>
#include <exception>

namespace sluice {

std::uint64_t KeyStores::add(std::string key_store, Forget fn) {
    std::lock_guard lk(mu_);
    const std::uint64_t h = next_++;
    entries_.push_back(Entry{h, std::move(key_store), std::move(fn)});
    return h;
}

void KeyStores::remove(std::uint64_t handle) {
    std::lock_guard lk(mu_);
    std::erase_if(entries_, [handle](const Entry& e) { return e.handle == handle; });
}

std::vector<ForgetOutcome> KeyStores::forget(std::string_view subject, std::string_view by) {
    // Called outside the lock: a forget syncs to the disk, and a stage that
    // closes meanwhile must not wait for it (the function opens its own
    // connection, so the store's file is all it needs).
    std::vector<Entry> todo;
    {
        std::lock_guard lk(mu_);
        // The newest registration of a file wins: during a reload an old
        // stage (say, on a rotated master key) may still be listed.
        for (auto e = entries_.rbegin(); e != entries_.rend(); ++e) {
            if (std::none_of(todo.begin(), todo.end(), [&](const Entry& t) { return t.key_store == e->key_store; })) {
                todo.push_back(*e);
            }
        }
        std::reverse(todo.begin(), todo.end());
    }
    std::vector<ForgetOutcome> out;
    out.reserve(todo.size());
    for (const auto& e : todo) {
        try {
            out.push_back(e.fn(subject, by));
        } catch (const std::exception& ex) {
            out.push_back(ForgetOutcome{.key_store = e.key_store, .error = ex.what()});
        }
        out.back().key_store = e.key_store;
    }
    return out;
}

KeyStores& key_stores() {
    static KeyStores table;
    return table;
}

}  // namespace sluice
