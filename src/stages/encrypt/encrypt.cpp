// The `encrypt` stage: a data subject's personal fields encrypted with that
// subject's own data key (AES-256-GCM, src/keys/field_crypto.hpp), the key
// created on first use in the key store (src/keys/key_store.hpp). Forgetting
// the subject (`sluice keys forget`) deletes the key, and with it every copy
// of those fields wherever they went.

#include <memory>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/metrics.hpp"
#include "keys/key_store.hpp"
#include "stages/stage_util.hpp"

namespace sluice::components {
namespace {

// No data key encrypts more values than this, nor lives longer than a day:
// far below the 2^32 random nonces AES-GCM allows one key.
constexpr std::uint64_t kMaxUsesPerKey = std::uint64_t{1} << 28;
constexpr std::chrono::hours kMaxKeyAge{24};

class EncryptStage final : public Stage {
public:
    explicit EncryptStage(const Options& o)
        : options_(o),
          subject_(stages::key_option(o, "subject")),
          fields_(o.list("fields")),
          pseudonymize_(o.list_or_empty("pseudonymize")),
          max_cached_(static_cast<std::size_t>(o.integer("max_cached_keys"))) {}

    void open(StageContext& ctx) override {
        store_ = keys::open_key_store(options_, ctx.data_dir, /*create=*/true);
        metrics_ = ctx.metrics;
        encrypted_ = &metrics().counter("sluice_encrypted_fields_total",
                                        "Field values the encrypt stage encrypted", {{"component", ctx.name}});
        keys_created_ = &metrics().counter("sluice_encrypt_keys_created_total",
                                           "Data keys the encrypt stage created (a subject's first, and the one "
                                           "replacing a key a day old or 2^28 values used)",
                                           {{"component", ctx.name}});
    }

    // Idle too, a forgotten subject's key leaves memory within a second.
    std::chrono::nanoseconds tick_interval() const override { return std::chrono::seconds(1); }

    // Never throws: whatever fails (the key store, a damaged key, the random
    // source), the records it touches become dead letters with their listed
    // fields withheld, never anything in clear.
    void process(StageBatch& batch) override {
        try {
            if (store_->forgot_since() || cache_.size() > max_cached_) {
                cache_.clear();  // a subject was forgotten: its key must not be used again
            }
        } catch (const std::exception&) {
            cache_.clear();  // cannot tell: take no chance
        }
        if (batch.records.empty()) {
            return;
        }
        const std::size_t n = batch.records.size();
        subjects_.resize(n);
        missing_.assign(n, false);
        requests_.clear();
        request_of_.clear();
        asked_.clear();
        const auto now = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < n; ++i) {
            if (!subject_.render(batch.records[i], subjects_[i])) {
                missing_[i] = true;
                continue;
            }
            auto it = cache_.find(subjects_[i]);
            if (it != cache_.end() && (it->second.uses >= kMaxUsesPerKey || now - it->second.loaded > kMaxKeyAge)) {
                cache_.erase(it);
                ask(subjects_[i], /*fresh=*/true);
            } else if (it == cache_.end()) {
                ask(subjects_[i], false);
            }
        }
        if (!requests_.empty()) {
            const auto results = store_->keys_for(requests_, kMaxKeyAge);
            for (std::size_t r = 0; r < results.size(); ++r) {
                load(request_of_[r], results[r], now);
            }
        }
        std::size_t kept = 0;
        for (std::size_t i = 0; i < n; ++i) {
            Record& r = batch.records[i];
            std::string reason;
            if (missing_[i]) {
                reason = fmt::format("encrypt: no subject: '{}' needs {}, which the record lacks", subject_.text(),
                                     subject_.missing_name(r));
            } else if (Subject& s = cache_.at(subjects_[i]); !s.aead) {
                reason = "encrypt: no data key for the record's subject: " + s.error;
            } else if (!seal(r, s, reason)) {
                // reason set
            }
            if (!reason.empty()) {
                refuse(batch, r, std::move(reason));
                continue;
            }
            if (kept != i) {
                batch.records[kept] = std::move(r);
            }
            ++kept;
        }
        batch.records.resize(kept);
        // A subject whose key could not be had is asked for again next time.
        std::erase_if(cache_, [](const auto& kv) { return !kv.second.aead; });
    }

private:
    struct Subject {
        std::string key_id;
        std::unique_ptr<keys::Aead> aead;  // null: `error` says why there is no key
        std::string error;
        std::uint64_t uses = 0;
        std::chrono::steady_clock::time_point loaded;
    };

    void ask(const std::string& subject, bool fresh) {
        if (!asked_.insert(subject).second) {
            return;
        }
        request_of_.push_back(subject);
        requests_.push_back({store_->pseudonym(subject), fresh});
    }

    void load(const std::string& subject, const keys::KeyStore::KeyResult& r,
              std::chrono::steady_clock::time_point now) {
        Subject s;
        if (r.key) {
            s.key_id = r.key->id;
            s.aead = std::make_unique<keys::Aead>(r.key->key);
            s.loaded = now;
            if (r.created) {
                keys_created_->inc();
            }
        } else {
            s.error = r.error;
        }
        cache_.insert_or_assign(subject, std::move(s));
    }

    // Encrypts the listed fields and pseudonymizes; false with `reason`.
    bool seal(Record& r, Subject& s, std::string& reason) {
        try {
            std::size_t n = 0;
            for (auto& f : r.fields) {
                if (keys::field_listed(fields_, f.name)) {
                    keys::seal_value(*s.aead, s.key_id, f.value, sealed_);
                    f.value = sealed_;
                    ++n;
                }
            }
            pseudonymize(r);
            s.uses += n;
            encrypted_->inc(n);
            return true;
        } catch (const std::exception& e) {
            reason = fmt::format("encrypt: {}", e.what());
            return false;
        }
    }

    void pseudonymize(Record& r) const {
        for (const auto& name : pseudonymize_) {
            for (auto& t : r.tags) {
                if (t.name == name) {
                    t.value = store_->pseudonym(t.value);
                }
            }
            for (auto& f : r.fields) {
                if (f.name == name && !keys::field_listed(fields_, f.name)) {
                    std::string text;
                    if (const auto* str = std::get_if<std::string>(&f.value)) {
                        text = *str;
                    } else {
                        append_field_value_json(text, f.value);
                    }
                    f.value = store_->pseudonym(text);
                }
            }
        }
    }

    // A record that cannot be encrypted: kept as a dead letter with its
    // listed fields withheld and its pseudonyms applied.
    void refuse(StageBatch& batch, Record& r, std::string reason) {
        for (auto& f : r.fields) {
            if (keys::field_listed(fields_, f.name)) {
                f.value = std::string("[withheld]");
            }
        }
        pseudonymize(r);
        batch.dead.push_back(stages::dead_record(r, batch.wall_ns, std::move(reason)));
        if (metrics_ != nullptr) {
            metrics_->errors->inc();
        }
    }

    Options options_;
    Template subject_;
    std::vector<std::string> fields_;
    std::vector<std::string> pseudonymize_;
    std::size_t max_cached_;
    std::unique_ptr<keys::KeyStore> store_;
    std::unordered_map<std::string, Subject> cache_;
    std::vector<std::string> subjects_;
    std::vector<bool> missing_;
    std::vector<keys::KeyStore::KeyRequest> requests_;
    std::vector<std::string> request_of_;  // the subject of each request
    std::unordered_set<std::string> asked_;
    std::string sealed_;
    ComponentMetrics* metrics_ = nullptr;
    Counter* encrypted_ = nullptr;
    Counter* keys_created_ = nullptr;
};

}  // namespace

const Descriptor& stage_encrypt() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "encrypt",
        .summary = "Encrypts a data subject's personal fields with the subject's own key (AES-256-GCM); forgetting "
                   "the subject deletes the key (crypto-shredding)",
        .options = concat_specs({
            {
                {.name = "subject", .type = OptionType::String, .doc =
                     "Whose data the record is: a template over tags and fields, e.g. \"{driver_id}\". A record "
                     "without it is a dead letter (its protected fields withheld), never passed on in clear.",
                 .required = true},
                {.name = "fields", .type = OptionType::List, .doc =
                     "The fields to encrypt: names, or prefixes ending in * (\"gps.*\"). Their values become "
                     "\"enc:v1:<key id>:<nonce>:<ciphertext>\" text (docs/privacy.md).",
                 .required = true, .min = 1},
                {.name = "pseudonymize", .type = OptionType::List, .doc =
                     "Tags or fields whose values are replaced by their keyed pseudonym (HMAC-SHA256 under the key "
                     "store's pseudonym key), so records stay joinable without naming the person, e.g. "
                     "[\"driver_id\"]."},
                {.name = "max_cached_keys", .type = OptionType::Int, .default_value = "4096",
                 .doc = "Data keys kept ready in memory (one per recent subject)", .min = 16, .max = 1 << 20},
            },
            keys::key_store_options(),
        }),
        .make_stage = [](const Options& o) { return std::make_unique<EncryptStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
