// Writes the latest record (or chosen fields and tags) per key into a named
// table; records pass on unchanged.

#include <optional>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/record_json.hpp"
#include "core/table_access.hpp"
#include "stages/stage_util.hpp"

namespace sluice::components {
namespace {

class TableStage final : public Stage {
public:
    explicit TableStage(const Options& o)
        : table_name_(o.str_or("table", "")),
          key_(stages::key_option(o, "key")),
          fields_(stages::list_option(o, "fields")),
          tags_(stages::list_option(o, "tags")),
          time_member_(o.str_or("time_member", "")),
          measurement_member_(o.str_or("measurement_member", "")) {
        all_tags_ = std::find(tags_.begin(), tags_.end(), "*") != tags_.end();
    }

    void open(StageContext& ctx) override {
        name_ = ctx.name;
        metrics_ = ctx.metrics;
        if (ctx.tables == nullptr || (table_ = ctx.tables->find(table_name_)) == nullptr) {
            throw std::runtime_error(fmt::format("table '{}' is not declared (add a [tables.{}] section)", table_name_,
                                                 table_name_));
        }
        missing_key_ = &metrics().counter("sluice_stage_missing_key_total",
                                          "Records whose key template named a tag or field they lack",
                                          {{"component", ctx.name}});
    }

    void process(StageBatch& b) override {
        std::string key;
        for (const auto& r : b.records) {
            if (!key_.render(r, key)) {
                missing_key_->inc();
                continue;
            }
            writes_.emplace_back(key, value_of(r));
        }
    }

    // The table is written once the batch is in the buffer: a crash before
    // that leaves the table as it was, and the records are decoded again.
    void after_commit(bool committed) override {
        if (committed && !writes_.empty()) {
            try {
                const std::size_t refused = table_->put_many(std::move(writes_));
                if (refused != 0) {
                    full_log_.warn("{}: table '{}' is full (max_keys {}): {} new keys refused", name_, table_name_,
                                   table_->max_keys(), refused);
                } else {
                    full_log_.clear();
                }
            } catch (const std::exception& e) {
                if (metrics_ != nullptr) {
                    metrics_->errors->inc();
                }
                store_log_.warn("{}: writing table '{}' failed: {}", name_, table_name_, e.what());
            }
        }
        writes_.clear();
    }

private:
    TableValue value_of(const Record& r) const {
        TableValue v;
        if (!time_member_.empty()) {
            std::string t;
            append_rfc3339(t, r.time_ns);
            v.push_back(Field{time_member_, std::move(t)});
        }
        if (!measurement_member_.empty() && !r.measurement.empty()) {
            v.push_back(Field{measurement_member_, r.measurement});
        }
        for (const auto& t : r.tags) {
            if (all_tags_ || std::find(tags_.begin(), tags_.end(), t.name) != tags_.end()) {
                put(v, t.name, t.value);
            }
        }
        if (fields_.empty()) {
            for (const auto& f : r.fields) {
                put(v, f.name, f.value);
            }
        } else {
            for (const auto& name : fields_) {
                if (const Field* f = r.field(name)) {
                    put(v, f->name, f->value);
                }
            }
        }
        return v;
    }

    static void put(TableValue& v, const std::string& name, FieldValue value) {
        for (auto& m : v) {
            if (m.name == name) {
                m.value = std::move(value);  // a field wins over a tag of the same name
                return;
            }
        }
        v.push_back(Field{name, std::move(value)});
    }

    std::string table_name_;
    Template key_;
    std::vector<std::string> fields_;
    std::vector<std::string> tags_;
    bool all_tags_ = false;
    std::string time_member_;
    std::string measurement_member_;
    std::string name_;
    TableAccess* table_ = nullptr;
    std::vector<std::pair<std::string, TableValue>> writes_;
    ComponentMetrics* metrics_ = nullptr;
    Counter* missing_key_ = nullptr;
    log::OnceLog full_log_;
    log::OnceLog store_log_;
};

}  // namespace

const Descriptor& stage_table() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "table",
        .summary = "Writes the latest record per key into a named table ([tables.NAME]); records pass on unchanged",
        .loss_window = "The table is written right after the batch is committed to the buffer: a crash between the "
                       "two commits loses that batch's table updates (not its records).",
        .options =
            {
                {.name = "table", .type = OptionType::String, .doc = "The table, declared as [tables.NAME].",
                 .required = true, .min = 1, .link = OptionLink::WritesTable},
                {.name = "key", .type = OptionType::String,
                 .doc = "Key template over tags and fields, e.g. \"{node}/{sensor}\". Records lacking a name in it "
                        "are not written (sluice_stage_missing_key_total).",
                 .required = true, .min = 1},
                {.name = "fields", .type = OptionType::List, .default_value = "",
                 .doc = "Fields stored in the value. Empty: every field."},
                {.name = "tags", .type = OptionType::List, .default_value = "",
                 .doc = "Tags stored in the value (as strings); [\"*\"]: every tag. Empty: none."},
                {.name = "time_member", .type = OptionType::String, .default_value = "time",
                 .doc = "Member holding the record's timestamp (RFC 3339). Empty: none."},
                {.name = "measurement_member", .type = OptionType::String, .default_value = "",
                 .doc = "Member holding the record's measurement. Empty: none."},
            },
        .make_stage = [](const Options& o) { return std::make_unique<TableStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
