// Stream-table join: looks each record up in a named table by a key
// template, adds tags/fields from the row and applies per-sensor
// calibration (value * scale + offset). With on_change = "emit" the table
// side drives too: the latest record per key is kept (in the stage's
// durable state, as it came, before enrichment), and when its key's row
// changes it is emitted again, enriched with the new row.

#include <algorithm>
#include <charconv>
#include <list>
#include <optional>
#include <unordered_map>

#include "buffer/buffer.hpp"
#include "core/hash.hpp"
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
          overwrite_(o.boolean("overwrite")),
          emit_on_change_(o.str("on_change") == "emit"),
          max_remembered_(static_cast<std::size_t>(o.integer("max_remembered"))) {
        all_tags_ = std::find(tags_.begin(), tags_.end(), "*") != tags_.end();
    }

    std::chrono::nanoseconds tick_interval() const override {
        // A table change is seen within a second while no record comes.
        return emit_on_change_ ? std::chrono::seconds(1) : std::chrono::nanoseconds(0);
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
        if (emit_on_change_) {
            reemitted_ = &m.counter("sluice_enrich_reemitted_total",
                                    "Records emitted again because their key's table row changed (on_change = emit)",
                                    l);
            load_remembered(ctx);
        }
    }

    void process(StageBatch& b) override {
        std::size_t out = 0;
        std::string key;
        // Read before the rows: a change after this is seen at the next turn.
        const std::uint64_t version = emit_on_change_ ? table_->version() : 0;
        table_->read([&](const auto& find) {
            for (std::size_t i = 0; i < b.records.size(); ++i) {
                Record& r = b.records[i];
                const bool keyed = key_.render(r, key);
                const TableValue* row = keyed ? find(key) : nullptr;
                // Kept for the table side only when passed on: a record the
                // missing policy refused does not come back with a new row.
                if (emit_on_change_ && keyed && (row != nullptr || missing_ == stages::Refusal::Pass)) {
                    remember(key, r, row);
                }
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
            b.records.resize(out);
            if (emit_on_change_ && (!seen_version_ || *seen_version_ != version)) {
                emit_changed(b, find);
            }
        });
        seen_version_ = version;
        flush_state(b);
    }

private:
    // What is kept per key: the latest record as it came, and the hash of
    // the row it was last enriched with (0: none). Oldest first in `order_`.
    struct Remembered {
        Record raw;
        std::uint64_t row_hash = 0;
        std::uint64_t seq = 0;  // when it was last seen: the order kept across restarts
        std::list<std::string>::iterator at;
    };

    static std::uint64_t row_hash(const TableValue* row) {
        if (row == nullptr) {
            return 0;
        }
        std::uint64_t h = fnv1a("row");
        for (const auto& m : *row) {
            h = fnv1a(m.name, h);
            const char type = static_cast<char>('0' + m.value.index());
            h = fnv1a(std::string_view(&type, 1), h);
            h = fnv1a(field_text(m.value), h);
            h = fnv1a(std::string_view("\0", 1), h);
        }
        return h == 0 ? 1 : h;
    }

    void remember(const std::string& key, const Record& raw, const TableValue* row) {
        auto it = remembered_.find(key);
        if (it == remembered_.end()) {
            order_.push_back(key);
            it = remembered_.emplace(key, Remembered{raw, 0, 0, std::prev(order_.end())}).first;
        } else {
            it->second.raw = raw;
            order_.splice(order_.end(), order_, it->second.at);  // newest now
        }
        it->second.row_hash = row_hash(row);
        it->second.seq = ++seq_;
        dirty_.push_back(key);
        forget_beyond_max();
    }

    void forget_beyond_max() {
        while (remembered_.size() > max_remembered_) {
            const std::string oldest = order_.front();
            order_.pop_front();
            remembered_.erase(oldest);
            dirty_.push_back(oldest);  // erased from the state
        }
    }

    // Every remembered key whose row changed: its record again, enriched
    // with the new row. A key whose row is gone keeps waiting.
    void emit_changed(StageBatch& b, const TableAccess::Find& find) {
        for (const std::string& key : order_) {
            Remembered& m = remembered_.at(key);
            const TableValue* row = find(key);
            const std::uint64_t h = row_hash(row);
            if (row == nullptr || h == m.row_hash) {
                continue;
            }
            m.row_hash = h;
            Record again = m.raw;
            apply(again, *row);
            b.records.push_back(std::move(again));
            reemitted_->inc();
            dirty_.push_back(key);
        }
    }

    // The keys changed in this batch, into its state: "<hash> <seq>\n<record>"
    // (16 hex digits each), and under the key "" what the state belongs to.
    void flush_state(StageBatch& b) {
        if (write_meta_) {
            b.state.push_back(StateChange{"", meta(), false});
            write_meta_ = false;
        }
        if (dirty_.empty()) {
            return;
        }
        std::sort(dirty_.begin(), dirty_.end());
        dirty_.erase(std::unique(dirty_.begin(), dirty_.end()), dirty_.end());
        for (const auto& key : dirty_) {
            StateChange c;
            c.key = key;
            const auto it = remembered_.find(key);
            if (it == remembered_.end()) {
                c.erase = true;
            } else {
                c.value = fmt::format("{:016x} {:016x}\n", it->second.row_hash, it->second.seq);
                encode_record(it->second.raw, c.value);
            }
            b.state.push_back(std::move(c));
        }
        dirty_.clear();
    }

    // The table and key template the kept records belong to: state kept
    // under another (a reload changed them) is dropped.
    std::string meta() const { return table_name_ + "\n" + key_.text(); }

    static bool hex16(std::string_view text, std::uint64_t& out) {
        const auto r = std::from_chars(text.data(), text.data() + text.size(), out, 16);
        return text.size() == 16 && r.ec == std::errc() && r.ptr == text.data() + text.size();
    }

    void load_remembered(StageContext& ctx) {
        write_meta_ = true;
        if (!ctx.load_state) {
            return;
        }
        std::size_t bad = 0;
        std::optional<std::string> stored_meta;
        std::vector<std::pair<std::string, Remembered>> loaded;
        ctx.load_state([&](std::string_view key, std::string_view value) {
            if (key.empty()) {
                stored_meta = std::string(value);
                return;
            }
            Remembered m;
            if (value.size() < 34 || value[16] != ' ' || value[33] != '\n' || !hex16(value.substr(0, 16), m.row_hash) ||
                !hex16(value.substr(17, 16), m.seq) || !decode_record(value.substr(34), m.raw)) {
                ++bad;
                dirty_.emplace_back(key);  // erased
                return;
            }
            loaded.emplace_back(std::string(key), std::move(m));
        });
        if (stored_meta && *stored_meta != meta()) {
            log::info("{}: the table or key changed since the kept records were stored: {} forgotten", ctx.name,
                      loaded.size());
            for (auto& [key, m] : loaded) {
                dirty_.push_back(key);
            }
            loaded.clear();
        }
        // Least recently seen first, as before the restart.
        std::sort(loaded.begin(), loaded.end(), [](const auto& a, const auto& b) { return a.second.seq < b.second.seq; });
        for (auto& [key, m] : loaded) {
            seq_ = std::max(seq_, m.seq);
            order_.push_back(key);
            m.at = std::prev(order_.end());
            remembered_.emplace(key, std::move(m));
        }
        forget_beyond_max();  // max_remembered may have been lowered
        if (bad != 0) {
            log::warn("{}: {} kept records could not be read and were dropped", ctx.name, bad);
        }
    }

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
    bool emit_on_change_;
    std::size_t max_remembered_;
    std::unordered_map<std::string, Remembered> remembered_;
    std::list<std::string> order_;      // remembered keys, least recently seen first
    std::vector<std::string> dirty_;    // keys whose state this batch changes
    std::optional<std::uint64_t> seen_version_;  // the table's version at the last look
    std::uint64_t seq_ = 0;
    bool write_meta_ = false;
    Counter* reemitted_ = nullptr;
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
                {.name = "on_change", .type = OptionType::Enum, .default_value = "ignore",
                 .doc = "emit: the table side drives too: the latest record per key is kept (durably, as it came), "
                        "and when that key's row changes (or appears) it is emitted again, enriched with the new "
                        "row (sluice_enrich_reemitted_total). ignore: a change applies to the records after it.",
                 .choices = "ignore|emit"},
                {.name = "max_remembered", .type = OptionType::Int, .default_value = "10000",
                 .doc = "on_change = emit: most keys whose latest record is kept; beyond it the least recently "
                        "seen key is forgotten.",
                 .min = 1, .max = 10000000},
            },
        .make_stage = [](const Options& o) { return std::make_unique<EnrichStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
