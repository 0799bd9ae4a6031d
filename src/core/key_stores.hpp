#pragma once
// The key stores the running encrypt and decrypt stages opened, for the
// API's `DELETE /api/keys/<subject>` (src/http/keys_api.cpp). Each stage
// registers its store when it opens it and leaves when it closes; the API
// forgets the subject in every distinct store. Stages own the key code
// (src/keys), the API only knows this table: neither links the other.

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct ForgetOutcome {
    std::string key_store;  // the store's file
    std::string pseudonym;  // the subject's pseudonym in that store
    bool forgotten = false;  // it had data keys for the subject, now deleted
    std::string error;       // the store failed (nothing was forgotten there)
};

class KeyStores {
public:
    // Forgets `subject` (its value, never logged) in the store, recording
    // `by` in the audit trail. Runs on the API's writer thread, beside the
    // stage that uses the store.
    using Forget = std::function<ForgetOutcome(std::string_view subject, std::string_view by)>;

    // Returns a handle for remove(). Several stages may register one file:
    // it is asked once.
    std::uint64_t add(std::string key_store, Forget fn);
    void remove(std::uint64_t handle);

    // One outcome per distinct store, in the order they registered; empty
    // when no stage has one open.
    std::vector<ForgetOutcome> forget(std::string_view subject, std::string_view by);

private:
    struct Entry {
        std::uint64_t handle;
        std::string key_store;
        Forget fn;
    };
    std::mutex mu_;
    std::vector<Entry> entries_;
    std::uint64_t next_ = 1;
};

// The process-wide table.
KeyStores& key_stores();

}  // namespace sluice
