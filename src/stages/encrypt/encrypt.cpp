// The `encrypt` stage: a data subject's personal fields encrypted with that
// subject's own data key (AES-256-GCM, src/keys/field_crypto.hpp), the key
// created on first use in the key store (src/keys/key_store.hpp). Forgetting
// the subject (`sluice keys forget`) deletes the key, and with it every copy
// of those fields wherever they went.

#include <memory>
#include <unordered_map>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/metrics.hpp"
#include "keys/key_store.hpp"
#include "stages/stage_util.hpp"

namespace sluice::components {
namespace {

// Field names: exact, or a prefix ending in '*' ("gps.*").
bool matches(const std::vector<std::string>& patterns, std::string_view name) {
    for (const auto& p : patterns) {
        if (!p.empty() && p.back() == '*' ? name.starts_with(std::string_view(p).substr(0, p.size() - 1)) : name == p) {
            return true;
        }
    }
    return false;
}

class EncryptStage final : public Stage {
public:
    explicit EncryptStage(const Options& o)
        : options_(o),
          subject_(stages::key_option(o, "subject")),
          fields_(o.list("fields")),
          pseudonymize_(o.list_or_empty("pseudonymize")),
          max_cached_(static_cast<std::size_t>(o.integer("max_cached_keys"))) {}

    void open(StageContext& ctx) override {
        store_ = keys::open_key_store(options_, ctx.data_dir);
        metrics_ = ctx.metrics;
        encrypted_ = &metrics().counter("sluice_encrypted_fields_total",
                                        "Field values the encrypt stage encrypted", {{"component", ctx.name}});
        keys_created_ = &metrics().counter("sluice_encrypt_keys_created_total",
                                           "Data keys the encrypt stage created (one per new data subject)",
                                           {{"component", ctx.name}});
    }

    void process(StageBatch& batch) override {
        if (batch.records.empty()) {
            return;
        }
        if (store_->changed() || cache_.size() > max_cached_) {
            cache_.clear();  // a subject was forgotten: its key must not be used again
        }
        std::size_t kept = 0;
        for (std::size_t i = 0; i < batch.records.size(); ++i) {
            Record& r = batch.records[i];
            if (!subject_.render(r, subject_text_)) {
                refuse(batch, r, fmt::format("encrypt: no subject: '{}' needs {}, which the record lacks",
                                             subject_.text(), subject_.missing_name(r)));
                continue;
            }
            const Subject& s = subject(subject_text_);
            std::size_t n = 0;
            for (auto& f : r.fields) {
                if (matches(fields_, f.name)) {
                    keys::seal_value(*s.aead, s.key_id, f.value, sealed_);
                    f.value = sealed_;
                    ++n;
                }
            }
            for (const auto& name : pseudonymize_) {
                for (auto& t : r.tags) {
                    if (t.name == name) {
                        t.value = store_->pseudonym(t.value);
                    }
                }
                for (auto& f : r.fields) {
                    if (f.name == name && !matches(fields_, f.name)) {
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
            encrypted_->inc(n);
            if (kept != i) {
                batch.records[kept] = std::move(r);
            }
            ++kept;
        }
        batch.records.resize(kept);
    }

private:
    struct Subject {
        std::string key_id;
        std::unique_ptr<keys::Aead> aead;
    };

    const Subject& subject(const std::string& value) {
        if (const auto it = cache_.find(value); it != cache_.end()) {
            return it->second;
        }
        const std::string p = store_->pseudonym(value);
        bool created = false;
        auto k = store_->key_for(p, &created);
        if (created) {
            keys_created_->inc();
        }
        Subject s{k.id, std::make_unique<keys::Aead>(k.key)};
        k.key.fill(0);
        return cache_.emplace(value, std::move(s)).first->second;
    }

    // A record without a subject cannot be encrypted: kept as a dead
    // letter, its protected fields withheld.
    void refuse(StageBatch& batch, const Record& r, std::string reason) {
        Record withheld = r;
        for (auto& f : withheld.fields) {
            if (matches(fields_, f.name)) {
                f.value = std::string("[withheld]");
            }
        }
        batch.dead.push_back(stages::dead_record(withheld, batch.wall_ns, std::move(reason)));
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
    std::string subject_text_;
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
