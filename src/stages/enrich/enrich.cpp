// Stream-table join: looks each record up in a named table by a key
// template, adds tags/fields from the row and applies per-sensor
// calibration (value * scale + offset).

#include <optional>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/table_access.hpp"
#include "stages/stage_util.hpp"

namespace sluice::components {
namespace {

class EnrichStage final : public Stage {
public:
    explicit EnrichStage(const Options& o)
        : table_name_(o.str_or("table", "")),
          key_(stages::key_option(o, "key")),
          tags_(stages::list_option(o, "tags")),
          fields_(stages::list_option(o, "fields")),
          calibrate_(o.boolean("calibrate")),
          scale_member_(o.str_or("scale_member", "")),
          offset_member_(o.str_or("offset_member", "")),
          field_member_(o.str_or("field_member", "")),
          field_(o.str_or("field", "")),
          raw_field_(o.str_or("raw_field", "")),
          missing_(stages::refusal_option(o, "missing")),
          overwrite_(o.boolean("overwrite")) {
        all_tags_ = std::find(tags_.begin(), tags_.end(), "*") != tags_.end();
    }

    void open(StageContext& ctx) override {
        metrics_ = ctx.metrics;
        if (ctx.tables == nullptr || (table_ = ctx.tables->find(table_name_)) == nullptr) {
            throw std::runtime_error(fmt::format("table '{}' is not declared (add a [tables.{}] section)", table_name_,
                                                 table_name_));
        }
        const Labels l{{"component", ctx.name}};
        auto& m = metrics();
        matched_ = &m.counter("sluice_enrich_matched_total", "Records that found their table row", l);
        missing_rows_ = &m.counter("sluice_enrich_missing_total",
                                   "Records without a table row (or whose key template named a tag or field they "
                                   "lack); the missing policy says what became of them",
                                   l);
        calibrated_ = &m.counter("sluice_enrich_calibrated_total", "Fields calibrated with scale/offset", l);
    }

    void process(StageBatch& b) override {
        std::size_t out = 0;
        std::string key;
        table_->read([&](const auto& find) {
            for (std::size_t i = 0; i < b.records.size(); ++i) {
                Record& r = b.records[i];
                const bool keyed = key_.render(r, key);
                const TableValue* row = keyed ? find(key) : nullptr;
                if (row == nullptr) {
                    missing_rows_->inc();
                    if (missing_ == stages::Refusal::DeadLetter) {
                        b.dead.push_back(stages::dead_record(
                            r, b.wall_ns,
                            keyed ? fmt::format("enrich: no row in table '{}' for key '{}'", table_name_, key)
                                  : fmt::format("enrich: the record lacks a name of the key template '{}'",
                                                key_.text())));
                    }
                    if (missing_ != stages::Refusal::Pass) {
                        metrics_->dropped->inc();
                        continue;
                    }
                } else {
                    matched_->inc();
                    apply(r, *row);
                }
                if (out != i) {
                    b.records[out] = std::move(r);
                }
                ++out;
            }
        });
        b.records.resize(out);
    }

private:
    bool calibration_member(std::string_view name) const {
        return calibrate_ && (name == scale_member_ || name == offset_member_ || name == field_member_);
    }

    void apply(Record& r, const TableValue& row) {
        for (const auto& m : row) {
            const bool as_tag = all_tags_ ? !calibration_member(m.name)
                                          : std::find(tags_.begin(), tags_.end(), m.name) != tags_.end();
            if (as_tag && (overwrite_ || r.tag(m.name) == nullptr)) {
                stages::set_tag(r, m.name, field_text(m.value));
            }
            if (std::find(fields_.begin(), fields_.end(), m.name) != fields_.end() &&
                (overwrite_ || r.field(m.name) == nullptr)) {
                stages::set_field(r, m.name, m.value);
            }
        }
        if (!calibrate_) {
            return;
        }
        const Field* scale = table_member(row, scale_member_);
        const Field* offset = table_member(row, offset_member_);
        if (scale == nullptr && offset == nullptr) {
            return;
        }
        double k = 1, d = 0;
        if ((scale != nullptr && !stages::field_number(scale->value, k)) ||
            (offset != nullptr && !stages::field_number(offset->value, d))) {
            metrics_->errors->inc();  // a scale or offset that is not a number
            return;
        }
        std::string_view target = field_;
        if (const Field* which = table_member(row, field_member_)) {
            if (const auto* s = std::get_if<std::string>(&which->value); s != nullptr && !s->empty()) {
                target = *s;
            }
        }
        Field* f = stages::find_field(r, target);
        double v;
        if (f == nullptr || !stages::field_number(f->value, v)) {
            metrics_->errors->inc();  // the field to calibrate is absent or not a number
            return;
        }
        if (!raw_field_.empty()) {
            const FieldValue raw = f->value;
            stages::set_field(r, raw_field_, raw);
            f = stages::find_field(r, target);  // set_field may have moved the fields
        }
        f->value = v * k + d;
        calibrated_->inc();
    }

    std::string table_name_;
    Template key_;
    std::vector<std::string> tags_;
    std::vector<std::string> fields_;
    bool all_tags_ = false;
    bool calibrate_;
    std::string scale_member_, offset_member_, field_member_, field_, raw_field_;
    stages::Refusal missing_;
    bool overwrite_;
    TableAccess* table_ = nullptr;
    ComponentMetrics* metrics_ = nullptr;
    Counter* matched_ = nullptr;
    Counter* missing_rows_ = nullptr;
    Counter* calibrated_ = nullptr;
};

}  // namespace

const Descriptor& stage_enrich() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "enrich",
        .summary = "Looks records up in a table by key: adds tags/fields from the row, applies scale/offset calibration",
        .options =
            {
                {.name = "table", .type = OptionType::String, .doc = "The table, declared as [tables.NAME].",
                 .required = true, .min = 1, .link = OptionLink::ReadsTable},
                {.name = "key", .type = OptionType::String,
                 .doc = "Key template over tags and fields, e.g. \"{node}/{sensor}\".", .required = true, .min = 1},
                {.name = "tags", .type = OptionType::List, .default_value = "",
                 .doc = "Row members added as tags (as text); [\"*\"]: every member but the calibration ones."},
                {.name = "fields", .type = OptionType::List, .default_value = "",
                 .doc = "Row members added as fields, with their types."},
                {.name = "overwrite", .type = OptionType::Bool, .default_value = "true",
                 .doc = "Row members replace tags and fields the record already has. false: the record's win."},
                {.name = "calibrate", .type = OptionType::Bool, .default_value = "true",
                 .doc = "When the row has scale_member and/or offset_member, set field = field * scale + offset "
                        "(scale 1 and offset 0 when absent). The field is the row's field_member, else `field`."},
                {.name = "scale_member", .type = OptionType::String, .default_value = "scale",
                 .doc = "Row member with the scale factor.", .min = 1},
                {.name = "offset_member", .type = OptionType::String, .default_value = "offset",
                 .doc = "Row member with the offset.", .min = 1},
                {.name = "field_member", .type = OptionType::String, .default_value = "field",
                 .doc = "Row member naming the field to calibrate (per sensor).", .min = 1},
                {.name = "field", .type = OptionType::String, .default_value = "value",
                 .doc = "Field calibrated when the row does not name one.", .min = 1},
                {.name = "raw_field", .type = OptionType::String, .default_value = "",
                 .doc = "Keep the uncalibrated value in this field. Empty: not kept."},
                {.name = "missing", .type = OptionType::Enum, .default_value = "pass",
                 .doc = "A record without a row (or lacking a name of the key template): pass (unchanged), drop, "
                        "or dead_letter. Counted in sluice_enrich_missing_total either way.",
                 .choices = "pass|drop|dead_letter"},
            },
        .make_stage = [](const Options& o) { return std::make_unique<EnrichStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
