#include "keys/key_store.hpp"

#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "buffer/sqlite.hpp"
#include "core/hex.hpp"
#include "core/key_stores.hpp"
#include "keys/key_export.hpp"
#include "text/base64.hpp"

namespace sluice::keys {
namespace {

using buffer_detail::Db;
using buffer_detail::ResetGuard;
using buffer_detail::Stmt;
using buffer_detail::Txn;

constexpr std::string_view kCheckLabel = "sluice key store v1: master key check";
constexpr std::string_view kPseudonymAad = "sluice key store v1: pseudonym key";

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        diff |= static_cast<unsigned>(static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]));
    }
    return diff == 0;
}

std::string_view chars(const Key& k) { return {reinterpret_cast<const char*>(k.data()), k.size()}; }

}  // namespace

struct KeyStore::Impl {
    Impl(const std::filesystem::path& path, bool create)
        : db(path, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)) {}

    Db db;
    std::unique_ptr<Aead> master;  // wraps and unwraps data keys
    Key pseudonym_key{};
    Stmt newest;
    Stmt insert;
    Stmt by_id;
    Stmt was_forgotten;
    std::int64_t data_version = -1;
    std::int64_t forgets = -1;
    std::string check;  // meta.check for this master key
    std::string pseudonym_wrapped;  // meta.pseudonym_key as opened

    // Throws when the store was rotated to another master key meanwhile (by
    // `sluice keys rotate` while this one ran): nothing may be wrapped with
    // the old one any more.
    // Throws too when an import gave the store another pseudonym key: the
    // subjects' pseudonyms this one computes would no longer match.
    void verify_master() {
        Stmt get(db, "SELECT value FROM meta WHERE name = 'check'");
        if (get.step() && get.col_text(0) != check) {
            throw std::runtime_error(fmt::format("key store {}: its master key was rotated; start again with the new "
                                                 "one",
                                                 db.path()));
        }
        Stmt pk(db, "SELECT value FROM meta WHERE name = 'pseudonym_key'");
        if (pk.step() && pk.col_blob(0) != pseudonym_wrapped) {
            throw std::runtime_error(fmt::format("key store {}: its pseudonym key was replaced (by `sluice keys "
                                                 "import`); start again",
                                                 db.path()));
        }
    }

    // A data key's wrapping is bound to its id and its subject's pseudonym.
    static std::string wrap_aad(std::string_view id, std::string_view pseudonym) {
        return fmt::format("{}:{}", id, pseudonym);
    }

    Key unwrap(std::string_view wrapped, std::string_view aad, const std::string& what) {
        std::string plain;
        if (!master->open(wrapped, aad, plain) || plain.size() != kKeyBytes) {
            verify_master();
            throw std::runtime_error(fmt::format("key store {}: {} cannot be unwrapped (damaged)", db.path(), what));
        }
        Key k{};
        std::memcpy(k.data(), plain.data(), kKeyBytes);
        std::memset(plain.data(), 0, plain.size());
        return k;
    }

    // The subject's newest key made after `after_ns`, if any.
    std::optional<DataKey> newest_key(const std::string& pseudonym, std::int64_t after_ns) {
        ResetGuard g(newest);
        newest.bind_text(1, pseudonym);
        if (!newest.step() || newest.col_int(2) <= after_ns) {
            return std::nullopt;
        }
        DataKey k;
        k.id = std::string(newest.col_text(0));
        k.created_ns = newest.col_int(2);
        k.key = unwrap(newest.col_blob(1), wrap_aad(k.id, pseudonym), "data key " + k.id);
        return k;
    }

    std::int64_t meta_int(const char* name) {
        Stmt get(db, "SELECT value FROM meta WHERE name = ?");
        get.bind_text(1, name);
        return get.step() ? get.col_int(0) : 0;
    }
};

KeyStore::KeyStore(const std::filesystem::path& path, const Key& master, bool create) : path_(path) {
    if (!create && !std::filesystem::exists(path)) {
        throw std::runtime_error(fmt::format("key store {} does not exist (the encrypt stage makes it; check "
                                             "key_store and the data directory)",
                                             path.string()));
    }
    try {
        impl_ = std::make_unique<Impl>(path, create);
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("key store {}: cannot open: {}", path.string(), e.what()));
    }
    auto& db = impl_->db;
    sqlite3_busy_timeout(db.get(), 5000);
    db.exec("PRAGMA journal_mode = WAL");
    // A key must be on the disk before anything encrypted with it is; and a
    // deleted key must not stay readable in free pages.
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA secure_delete = ON");
    db.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);"
            "CREATE TABLE IF NOT EXISTS data_keys (key_id TEXT PRIMARY KEY, pseudonym TEXT NOT NULL, "
            "wrapped BLOB NOT NULL, created_ns INTEGER NOT NULL);"
            "CREATE INDEX IF NOT EXISTS data_keys_by_subject ON data_keys (pseudonym, created_ns);"
            "CREATE TABLE IF NOT EXISTS forgotten (key_id TEXT PRIMARY KEY, pseudonym TEXT NOT NULL, "
            "forgotten_ns INTEGER NOT NULL, by TEXT NOT NULL);");
    impl_->master = std::make_unique<Aead>(master);
    const std::string check_text = to_hex(hmac_sha256(master, kCheckLabel));
    impl_->check = check_text;
    {
        Txn txn(db);
        Stmt get(db, "SELECT value FROM meta WHERE name = ?");
        get.bind_text(1, "check");
        if (get.step()) {
            if (get.col_text(0) != check_text) {
                throw std::runtime_error(fmt::format(
                    "key store {} was made with another master key: this one opens none of its keys (give the "
                    "master key it was made with)",
                    path.string()));
            }
            get.reset();
            Stmt pk(db, "SELECT value FROM meta WHERE name = 'pseudonym_key'");
            if (!pk.step()) {
                throw std::runtime_error(fmt::format("key store {}: its pseudonym key is missing", path.string()));
            }
            impl_->pseudonym_key = impl_->unwrap(pk.col_blob(0), kPseudonymAad, "the pseudonym key");
            impl_->pseudonym_wrapped = std::string(pk.col_blob(0));
        } else {
            get.reset();
            impl_->pseudonym_key = random_key();
            std::string wrapped;
            impl_->master->seal(chars(impl_->pseudonym_key), kPseudonymAad, wrapped);
            impl_->pseudonym_wrapped = wrapped;
            Stmt put(db, "INSERT INTO meta (name, value) VALUES (?, ?)");
            put.bind_text(1, "check");
            put.bind_text(2, check_text);
            put.run();
            put.bind_text(1, "pseudonym_key");
            put.bind_blob(2, wrapped);
            put.run();
            put.bind_text(1, "forgets");
            put.bind(2, 0);
            put.run();
        }
        txn.commit();
    }
    impl_->newest = Stmt(db, "SELECT key_id, wrapped, created_ns FROM data_keys WHERE pseudonym = ? "
                             "ORDER BY created_ns DESC LIMIT 1");
    impl_->insert = Stmt(db, "INSERT INTO data_keys (key_id, pseudonym, wrapped, created_ns) VALUES (?, ?, ?, ?)");
    impl_->by_id = Stmt(db, "SELECT wrapped, pseudonym FROM data_keys WHERE key_id = ?");
    impl_->was_forgotten = Stmt(db, "SELECT 1 FROM forgotten WHERE key_id = ?");
    (void)forgot_since();
}

KeyStore::~KeyStore() {
    if (api_handle_ != 0) {
        key_stores().remove(api_handle_);
    }
}

void KeyStore::serve_api_forget(const Key& master) {
    if (api_handle_ != 0) {
        return;
    }
    // The copy is wiped when the last forget that uses it is done.
    std::shared_ptr<Key> key(new Key(master), [](Key* k) {
        k->fill(0);
        delete k;
    });
    api_handle_ = key_stores().add(path_.string(), [path = path_, key](std::string_view subject, std::string_view by) {
        KeyStore store(path, *key, /*create=*/false);
        ForgetOutcome out;
        out.pseudonym = store.pseudonym(subject);
        out.forgotten = store.forget(subject, by);
        return out;
    });
}

std::string KeyStore::pseudonym(std::string_view subject) const {
    const auto mac = hmac_sha256(impl_->pseudonym_key, subject);
    return base64(std::string_view(reinterpret_cast<const char*>(mac.data()), 16), Base64::Url, false);
}

std::vector<KeyStore::KeyResult> KeyStore::keys_for(std::span<const KeyRequest> requests,
                                                    std::chrono::nanoseconds max_age) {
    std::vector<KeyResult> out(requests.size());
    const std::int64_t young_after = max_age.count() > 0 ? now_ns() - max_age.count() : 0;
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        if (requests[i].fresh) {
            missing.push_back(i);
            continue;
        }
        try {
            out[i].key = impl_->newest_key(requests[i].pseudonym, young_after);
            if (!out[i].key) {
                missing.push_back(i);
            }
        } catch (const std::exception& e) {
            out[i].error = e.what();  // this subject's key only
        }
    }
    if (missing.empty()) {
        return out;
    }
    // Made under the write lock, all in one transaction: another pipeline's
    // encrypt stage (or a rotation) cannot come in between.
    std::vector<DataKey> made(missing.size());
    try {
        Txn txn(impl_->db);
        impl_->verify_master();
        for (std::size_t m = 0; m < missing.size(); ++m) {
            const KeyRequest& r = requests[missing[m]];
            if (!r.fresh) {
                if (auto k = impl_->newest_key(r.pseudonym, young_after)) {
                    made[m] = std::move(*k);
                    continue;
                }
            }
            DataKey& k = made[m];
            std::array<unsigned char, 8> id{};
            random_bytes(id);
            k.id = to_hex(id);
            k.key = random_key();
            k.created_ns = now_ns();
            std::string wrapped;
            impl_->master->seal(chars(k.key), Impl::wrap_aad(k.id, r.pseudonym), wrapped);
            auto& ins = impl_->insert;
            ResetGuard g(ins);
            ins.bind_text(1, k.id);
            ins.bind_text(2, r.pseudonym);
            ins.bind_blob(3, wrapped);
            ins.bind(4, k.created_ns);
            ins.run();
            out[missing[m]].created = true;
        }
        txn.commit();  // synchronous=FULL: on the disk when this returns
    } catch (const std::exception& e) {
        for (const std::size_t i : missing) {
            out[i].key.reset();
            out[i].created = false;
            out[i].error = e.what();
        }
        return out;
    }
    for (std::size_t m = 0; m < missing.size(); ++m) {
        out[missing[m]].key = std::move(made[m]);
    }
    return out;
}

KeyStore::Lookup KeyStore::key_by_id(std::string_view id, Key& out) {
    {
        auto& s = impl_->by_id;
        ResetGuard g(s);
        s.bind_text(1, id);
        if (s.step()) {
            out = impl_->unwrap(s.col_blob(0), Impl::wrap_aad(id, s.col_text(1)), fmt::format("data key {}", id));
            return Lookup::Found;
        }
    }
    auto& f = impl_->was_forgotten;
    ResetGuard g(f);
    f.bind_text(1, id);
    return f.step() ? Lookup::Forgotten : Lookup::Unknown;
}

bool KeyStore::forget(std::string_view subject, std::string_view by) {
    const std::string p = pseudonym(subject);
    auto& db = impl_->db;
    {
        Txn txn(db);
        std::vector<std::string> ids;
        {
            Stmt get(db, "SELECT key_id FROM data_keys WHERE pseudonym = ?");
            get.bind_text(1, p);
            while (get.step()) {
                ids.emplace_back(get.col_text(0));
            }
        }
        if (ids.empty()) {
            return false;
        }
        Stmt del(db, "DELETE FROM data_keys WHERE pseudonym = ?");
        del.bind_text(1, p);
        del.run();
        Stmt audit(db, "INSERT OR REPLACE INTO forgotten (key_id, pseudonym, forgotten_ns, by) VALUES (?, ?, ?, ?)");
        const std::int64_t at = now_ns();
        for (const auto& id : ids) {
            audit.bind_text(1, id);
            audit.bind_text(2, p);
            audit.bind(3, at);
            audit.bind_text(4, by);
            audit.run();
        }
        Stmt count(db, "UPDATE meta SET value = value + 1 WHERE name = 'forgets'");
        count.run();
        txn.commit();
    }
    // The deleted rows were overwritten in the database pages (secure_delete);
    // their earlier copies in the write-ahead log go with it.
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return true;
}

std::vector<KeyStore::Entry> KeyStore::list() {
    std::vector<Entry> out;
    Stmt s(impl_->db, "SELECT pseudonym, key_id, created_ns FROM data_keys ORDER BY created_ns");
    while (s.step()) {
        out.push_back({std::string(s.col_text(0)), std::string(s.col_text(1)), s.col_int(2)});
    }
    return out;
}

std::vector<KeyStore::Forgotten> KeyStore::forgotten() {
    std::vector<Forgotten> out;
    Stmt s(impl_->db, "SELECT pseudonym, key_id, forgotten_ns, by FROM forgotten ORDER BY forgotten_ns");
    while (s.step()) {
        out.push_back({std::string(s.col_text(0)), std::string(s.col_text(1)), s.col_int(2), std::string(s.col_text(3))});
    }
    return out;
}

std::size_t KeyStore::rotate(const Key& new_master) {
    auto& db = impl_->db;
    Aead next(new_master);
    Txn txn(db);
    std::vector<std::pair<std::string, std::string>> rewrapped;  // key id, wrapped
    {
        Stmt all(db, "SELECT key_id, wrapped, pseudonym FROM data_keys");
        while (all.step()) {
            const std::string id(all.col_text(0));
            const std::string aad = Impl::wrap_aad(id, all.col_text(2));
            Key k = impl_->unwrap(all.col_blob(1), aad, "data key " + id);
            std::string wrapped;
            next.seal(chars(k), aad, wrapped);
            k.fill(0);
            rewrapped.emplace_back(id, std::move(wrapped));
        }
    }
    Stmt put(db, "UPDATE data_keys SET wrapped = ?1 WHERE key_id = ?2");
    for (const auto& [id, wrapped] : rewrapped) {
        put.bind_blob(1, wrapped);
        put.bind_text(2, id);
        put.run();
    }
    std::string pk;
    next.seal(chars(impl_->pseudonym_key), kPseudonymAad, pk);
    Stmt meta(db, "UPDATE meta SET value = ?1 WHERE name = ?2");
    meta.bind_blob(1, pk);
    meta.bind_text(2, "pseudonym_key");
    meta.run();
    const std::string check = to_hex(hmac_sha256(new_master, kCheckLabel));
    meta.bind_text(1, check);
    meta.bind_text(2, "check");
    meta.run();
    txn.commit();
    impl_->master = std::make_unique<Aead>(new_master);
    impl_->check = check;
    impl_->pseudonym_wrapped = pk;
    return rewrapped.size();
}

std::string KeyStore::export_keys(const Key& transport, std::optional<std::string_view> subject) {
    auto& db = impl_->db;
    Aead wrap(transport);
    KeyExport e;
    e.exported_ns = now_ns();
    e.transport_check = transport_check(transport);
    e.pseudonym_check = pseudonym_check(impl_->pseudonym_key);
    if (!subject) {
        // Not for one subject: with the pseudonym key its holder could
        // pseudonymize anyone.
        wrap.seal(chars(impl_->pseudonym_key), kExportPseudonymAad, e.pseudonym_key);
    }
    const std::string only = subject ? pseudonym(*subject) : std::string();
    // One read transaction (deferred: the stages go on making keys), so the
    // keys and the forgotten list agree.
    db.exec("BEGIN");
    struct EndRead {
        Db& db;
        ~EndRead() {
            try {
                db.exec("COMMIT");
            } catch (...) {
            }
        }
    } end_read{db};
    {
        Stmt all(db, subject ? "SELECT key_id, pseudonym, wrapped, created_ns FROM data_keys WHERE pseudonym = ? "
                               "ORDER BY created_ns"
                             : "SELECT key_id, pseudonym, wrapped, created_ns FROM data_keys ORDER BY created_ns");
        if (subject) {
            all.bind_text(1, only);
        }
        while (all.step()) {
            KeyExport::WrappedKey w;
            w.id = std::string(all.col_text(0));
            w.pseudonym = std::string(all.col_text(1));
            w.created_ns = all.col_int(3);
            Key k = impl_->unwrap(all.col_blob(2), Impl::wrap_aad(w.id, w.pseudonym), "data key " + w.id);
            wrap.seal(chars(k), export_key_aad(w.id, w.pseudonym), w.wrapped);
            k.fill(0);
            e.keys.push_back(std::move(w));
        }
    }
    {
        Stmt all(db, subject ? "SELECT key_id, pseudonym, forgotten_ns, by FROM forgotten WHERE pseudonym = ? "
                               "ORDER BY forgotten_ns"
                             : "SELECT key_id, pseudonym, forgotten_ns, by FROM forgotten ORDER BY forgotten_ns");
        if (subject) {
            all.bind_text(1, only);
        }
        while (all.step()) {
            e.forgotten.push_back({std::string(all.col_text(0)), std::string(all.col_text(1)), all.col_int(2),
                                   std::string(all.col_text(3))});
        }
    }
    e.mac = export_mac(e, transport);
    return write_key_export(e);
}

KeyStore::ImportCounts KeyStore::import_keys(std::string_view document, const Key& transport, std::string_view by) {
    std::string why;
    const auto e = parse_key_export(document, &why);
    if (!e) {
        throw std::runtime_error("not a key export sluice can read: " + why);
    }
    if (e->transport_check != transport_check(transport)) {
        throw std::runtime_error("the export was wrapped with another transport key (give the one it was exported "
                                 "with: --transport-key, else the exporting store's master key)");
    }
    if (!constant_time_equal(export_mac(*e, transport), e->mac)) {
        throw std::runtime_error("the export was altered or damaged after it was made (its mac does not match): "
                                 "nothing was imported");
    }
    Aead unwrap(transport);
    Key their_pk = impl_->pseudonym_key;
    struct Wipe {
        Key& k;
        ~Wipe() { k.fill(0); }
    } wipe{their_pk};
    if (!e->pseudonym_key.empty()) {
        std::string plain;
        if (!unwrap.open(e->pseudonym_key, kExportPseudonymAad, plain) || plain.size() != kKeyBytes) {
            throw std::runtime_error("the export's pseudonym key does not open: the export is damaged");
        }
        std::memcpy(their_pk.data(), plain.data(), kKeyBytes);
        std::memset(plain.data(), 0, plain.size());
    } else if (e->pseudonym_check != pseudonym_check(impl_->pseudonym_key)) {
        throw std::runtime_error(fmt::format(
            "key store {} has another pseudonym key than the store this export of one subject came from, which "
            "it does not carry: import a whole-store export first (it shares the pseudonym key)",
            path_.string()));
    }

    auto& db = impl_->db;
    ImportCounts counts;
    bool deleted = false;
    std::string adopted_wrapped;
    {
        Txn txn(db);
        impl_->verify_master();
        if (their_pk != impl_->pseudonym_key) {
            const bool empty = db.query_int("SELECT count(*) FROM data_keys") == 0 &&
                               db.query_int("SELECT count(*) FROM forgotten") == 0;
            if (!empty) {
                throw std::runtime_error(fmt::format(
                    "key store {} has another pseudonym key than the export's store, so a subject's pseudonyms would "
                    "differ: import into a store that has no keys yet (it takes the export's pseudonym key)",
                    path_.string()));
            }
            std::string wrapped;
            impl_->master->seal(chars(their_pk), kPseudonymAad, wrapped);
            Stmt put(db, "UPDATE meta SET value = ? WHERE name = 'pseudonym_key'");
            put.bind_blob(1, wrapped);
            put.run();
            counts.took_pseudonym_key = true;
            adopted_wrapped = std::move(wrapped);
        }
        const std::int64_t at = now_ns();
        Stmt audit(db, "INSERT OR IGNORE INTO forgotten (key_id, pseudonym, forgotten_ns, by) VALUES (?, ?, ?, ?)");
        Stmt held(db, "SELECT pseudonym FROM data_keys WHERE key_id = ?");
        Stmt del(db, "DELETE FROM data_keys WHERE key_id = ?");
        for (const auto& f : e->forgotten) {
            std::string here;  // the pseudonym this store holds the key under
            {
                ResetGuard g(held);
                held.bind_text(1, f.id);
                if (held.step()) {
                    here = std::string(held.col_text(0));
                }
            }
            // Recorded even for a key this store never had, so that no later
            // import brings it back; the audit row says where it came from.
            std::string who;
            if (!here.empty()) {
                del.bind_text(1, f.id);
                del.run();
                ++counts.forgotten;
                deleted = true;
                who = fmt::format("{} (imported: forgotten by {})", by, f.by);
            } else {
                who = fmt::format("{} (imported, never held here: forgotten by {})", by, f.by);
            }
            audit.bind_text(1, f.id);
            audit.bind_text(2, here.empty() ? f.pseudonym : here);
            audit.bind(3, here.empty() ? f.forgotten_ns : at);
            audit.bind_text(4, who);  // bound, not copied: must outlive run()
            audit.run();
        }
        auto& ins = impl_->insert;
        auto& by_id = impl_->by_id;
        auto& was_forgotten = impl_->was_forgotten;
        for (const auto& w : e->keys) {
            {
                ResetGuard g(by_id);
                by_id.bind_text(1, w.id);
                if (by_id.step()) {
                    ++counts.present;
                    continue;
                }
            }
            {
                ResetGuard g(was_forgotten);
                was_forgotten.bind_text(1, w.id);
                if (was_forgotten.step()) {
                    ++counts.refused;
                    continue;
                }
            }
            std::string k;
            if (!unwrap.open(w.wrapped, export_key_aad(w.id, w.pseudonym), k) || k.size() != kKeyBytes) {
                throw std::runtime_error(fmt::format("data key {} in the export does not open: the export is "
                                                     "damaged; nothing was imported",
                                                     w.id));
            }
            std::string wrapped;
            impl_->master->seal(k, Impl::wrap_aad(w.id, w.pseudonym), wrapped);
            std::memset(k.data(), 0, k.size());
            ResetGuard g(ins);
            ins.bind_text(1, w.id);
            ins.bind_text(2, w.pseudonym);
            ins.bind_blob(3, wrapped);
            ins.bind(4, w.created_ns);
            ins.run();
            ++counts.added;
        }
        if (deleted) {
            Stmt count(db, "UPDATE meta SET value = value + 1 WHERE name = 'forgets'");
            count.run();
        }
        txn.commit();
    }
    if (counts.took_pseudonym_key) {
        impl_->pseudonym_key = their_pk;
        impl_->pseudonym_wrapped = std::move(adopted_wrapped);
    }
    if (deleted) {
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    return counts;
}

bool KeyStore::forgot_since() {
    const std::int64_t v = impl_->db.query_int("PRAGMA data_version");
    if (v == impl_->data_version) {
        return false;  // nobody else wrote
    }
    impl_->data_version = v;
    const std::int64_t f = impl_->meta_int("forgets");
    const bool forgot = impl_->forgets >= 0 && f != impl_->forgets;
    impl_->forgets = f;
    return forgot;
}

Key master_key_from(std::string_view secret) {
    std::string error;
    auto k = parse_key(secret, error);
    if (!k) {
        throw std::runtime_error("master_key: " + error);
    }
    return *k;
}

std::vector<OptionSpec> key_store_options() {
    return {
        {.name = "master_key", .type = OptionType::Secret,
         .doc = "The master key that wraps the data keys: 32 bytes as 64 hex digits or base64, from a file or a "
                "systemd credential, never in the config text: \"@/etc/sluice/master.key\" or "
                "\"@credential:sluice-master-key\". Make one with `head -c 32 /dev/urandom | base64`; lose it and "
                "nothing encrypted can be read again.",
         .required = true},
        {.name = "key_store", .type = OptionType::String, .default_value = "",
         .doc = "The SQLite file of the data keys; empty: keys.db in the gateway's data directory. The encrypt and "
                "decrypt stages of one gateway share it; `sluice keys` manages it."},
    };
}

std::unique_ptr<KeyStore> open_key_store(const Options& o, const std::filesystem::path& data_dir, bool create) {
    Key master = master_key_from(o.str("master_key"));
    const std::string path = o.str_or("key_store", "");
    auto store = std::make_unique<KeyStore>(path.empty() ? data_dir / "keys.db" : std::filesystem::path(path), master,
                                            create);
    store->serve_api_forget(master);
    master.fill(0);
    return store;
}

}  // namespace sluice::keys
