// The `decrypt` stage: fields the encrypt stage encrypted, read back with
// the key store's data keys, for the pipelines allowed to see them (a local
// table, a backend). A value whose subject was forgotten becomes a marker
// (or no field); each outcome is counted.

#include <memory>
#include <unordered_map>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/metrics.hpp"
#include "keys/key_store.hpp"
#include "stages/stage_util.hpp"

namespace sluice::components {
namespace {

constexpr std::string_view kForgottenMarker = "[forgotten]";

class DecryptStage final : public Stage {
public:
    explicit DecryptStage(const Options& o)
        : options_(o),
          fields_(o.list_or_empty("fields")),
          drop_forgotten_(o.str("forgotten") == "drop") {}

    void open(StageContext& ctx) override {
        store_ = keys::open_key_store(options_, ctx.data_dir, /*create=*/false);
        metrics_ = ctx.metrics;
        const auto counter = [&](std::string_view result) {
            return &metrics().counter("sluice_decrypt_fields_total",
                                      "Encrypted field values the decrypt stage met, by outcome: ok, forgotten (the "
                                      "subject's key was deleted), unknown (a key this store never had: left "
                                      "encrypted), damaged (does not open with its key: a dead letter)",
                                      {{"component", ctx.name}, {"result", std::string(result)}});
        };
        ok_ = counter("ok");
        forgotten_ = counter("forgotten");
        unknown_ = counter("unknown");
        damaged_ = counter("damaged");
    }

    // Idle too, a forgotten subject's key leaves memory within a second.
    std::chrono::nanoseconds tick_interval() const override { return std::chrono::seconds(1); }

    void process(StageBatch& batch) override {
        if (store_->forgot_since() || cache_.size() > 4096) {
            cache_.clear();  // a subject was forgotten meanwhile
        }
        if (batch.records.empty()) {
            return;
        }
        std::size_t kept = 0;
        for (std::size_t i = 0; i < batch.records.size(); ++i) {
            Record& r = batch.records[i];
            std::string damaged;
            std::string why = "does not open with its data key (damaged or altered)";
            for (std::size_t k = 0; k < r.fields.size();) {
                Field& f = r.fields[k];
                const auto* text = std::get_if<std::string>(&f.value);
                const auto env = text != nullptr && (fields_.empty() || keys::field_listed(fields_, f.name))
                                     ? keys::parse_envelope(*text)
                                     : std::nullopt;
                if (!env) {
                    ++k;
                    continue;
                }
                const Entry& e = entry(env->key_id);
                if (!e.error.empty()) {
                    if (damaged.empty()) {
                        damaged = f.name;
                        why = e.error;
                    }
                    ++k;
                } else if (e.aead) {
                    FieldValue v;
                    if (keys::open_value(*e.aead, *env, v)) {
                        f.value = std::move(v);
                        ok_->inc();
                    } else if (damaged.empty()) {
                        damaged = f.name;
                    }
                    ++k;
                } else if (e.forgotten) {
                    forgotten_->inc();
                    if (drop_forgotten_) {
                        r.fields.erase(r.fields.begin() + static_cast<std::ptrdiff_t>(k));
                        continue;
                    }
                    f.value = std::string(kForgottenMarker);
                    ++k;
                } else {
                    unknown_->inc();
                    ++k;
                }
            }
            if (!damaged.empty()) {
                damaged_->inc();
                if (metrics_ != nullptr) {
                    metrics_->errors->inc();
                }
                batch.dead.push_back(stages::dead_record(
                    r, batch.wall_ns,
                    fmt::format("decrypt: field '{}': {}", damaged, why)));
                continue;
            }
            if (kept != i) {
                batch.records[kept] = std::move(r);
            }
            ++kept;
        }
        batch.records.resize(kept);
        if (failed_) {
            failed_ = false;
            std::erase_if(cache_, [](const auto& kv) { return !kv.second.error.empty(); });
        }
    }

private:
    struct Entry {
        std::unique_ptr<keys::Aead> aead;  // null: forgotten, unknown, or `error`
        bool forgotten = false;
        std::string error;
    };

    const Entry& entry(std::string_view key_id) {
        if (const auto it = cache_.find(std::string(key_id)); it != cache_.end()) {
            return it->second;
        }
        Entry e;
        keys::Key key{};
        try {
            switch (store_->key_by_id(key_id, key)) {
                case keys::KeyStore::Lookup::Found:
                    e.aead = std::make_unique<keys::Aead>(key);
                    key.fill(0);
                    break;
                case keys::KeyStore::Lookup::Forgotten:
                    e.forgotten = true;
                    break;
                case keys::KeyStore::Lookup::Unknown:
                    break;
            }
        } catch (const std::exception& ex) {
            e.error = ex.what();  // the store failed, or this key is damaged: asked again next batch
            failed_ = true;
        }
        return cache_.emplace(std::string(key_id), std::move(e)).first->second;
    }

    Options options_;
    std::vector<std::string> fields_;
    bool drop_forgotten_;
    std::unique_ptr<keys::KeyStore> store_;
    std::unordered_map<std::string, Entry> cache_;
    ComponentMetrics* metrics_ = nullptr;
    Counter* ok_ = nullptr;
    Counter* forgotten_ = nullptr;
    Counter* unknown_ = nullptr;
    Counter* damaged_ = nullptr;
    bool failed_ = false;  // an entry holds an error: dropped after the batch
};

}  // namespace

const Descriptor& stage_decrypt() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "decrypt",
        .summary = "Decrypts what the encrypt stage encrypted, with the key store's data keys; a forgotten "
                   "subject's values become a marker",
        .options = concat_specs({
            {
                {.name = "fields", .type = OptionType::List, .doc =
                     "The fields to decrypt (names, or prefixes ending in *); empty: every text field holding an "
                     "enc:v1: value"},
                {.name = "forgotten", .type = OptionType::Enum, .default_value = "marker",
                 .doc = "A value whose subject was forgotten (its key deleted): marker (the text \"[forgotten]\") "
                        "or drop (no field); counted either way",
                 .choices = "marker|drop"},
            },
            keys::key_store_options(),
        }),
        .make_stage = [](const Options& o) { return std::make_unique<DecryptStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
