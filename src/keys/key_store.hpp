#pragma once
// The key store of the encrypt and decrypt stages: one data key per data
// subject, created on first use, kept in SQLite (`<data_dir>/keys.db` by
// default) wrapped (AES-256-GCM) by the master key, which comes from a
// secret and is never stored. A subject is known only by its pseudonym
// (HMAC-SHA256 of its value under a random pseudonym key, itself kept
// wrapped), so the store never holds a name. Forgetting a subject deletes
// its data key: everything encrypted with it, wherever it went, cannot be
// read any more ("crypto-shredding"); an audit row says which key, when and
// by whom.
//
// A data key is committed (synchronous=FULL) before the first value
// encrypted with it can reach the buffer, so a power cut never leaves
// records whose key was lost. The file is never moved aside or recreated
// when damaged: that would lose every key in it; the error is reported.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "keys/field_crypto.hpp"

namespace sluice::keys {

class KeyStore {
public:
    // Opens the store at `path`, creating it (and its pseudonym key) if it
    // does not exist. Throws std::runtime_error naming the file when it
    // cannot be opened, or when `master` is not the key it was made with.
    KeyStore(const std::filesystem::path& path, const Key& master);
    ~KeyStore();

    // The subject's pseudonym: base64url of the first 16 bytes of
    // HMAC-SHA256(pseudonym key, subject).
    std::string pseudonym(std::string_view subject) const;

    struct DataKey {
        std::string id;  // 16 hex digits
        Key key;
    };
    // The data key of the subject with this pseudonym, created and
    // committed on first use.
    DataKey key_for(const std::string& pseudonym, bool* created = nullptr);
    enum class Lookup { Found, Forgotten, Unknown };
    // The data key with this id.
    Lookup key_by_id(std::string_view id, Key& out);

    // Deletes the data key of `subject` (a subject's value, not its
    // pseudonym) and records who asked; false when it has none.
    bool forget(std::string_view subject, std::string_view by);

    struct Entry {
        std::string pseudonym;
        std::string key_id;
        std::int64_t created_ns = 0;
    };
    std::vector<Entry> list();
    struct Forgotten {
        std::string pseudonym;
        std::string key_id;
        std::int64_t forgotten_ns = 0;
        std::string by;
    };
    std::vector<Forgotten> forgotten();

    // True when another process or connection changed the store since the
    // last call (a `sluice keys forget`): cached keys must be dropped.
    bool changed();

    const std::filesystem::path& path() const { return path_; }

private:
    struct Impl;
    std::filesystem::path path_;
    std::unique_ptr<Impl> impl_;
};

// Reads a master key secret: the text (an option's resolved value) must be
// a key as parse_key() reads it. Throws std::runtime_error with the reason.
Key master_key_from(std::string_view secret);

// The options the encrypt and decrypt stages share: master_key (a secret)
// and key_store (a path; default <data_dir>/keys.db).
std::vector<OptionSpec> key_store_options();
// The store those options name, opened with their master key. Throws
// std::runtime_error (the pipeline does not start).
std::unique_ptr<KeyStore> open_key_store(const Options& o, const std::filesystem::path& data_dir);

}  // namespace sluice::keys
