// Splits each record into several: by named groups of fields, or one record
// per field.

#include <fnmatch.h>

#include "core/metrics.hpp"
#include "stages/stage_util.hpp"

namespace sluice::components {
namespace {

struct Group {
    std::string measurement;
    std::vector<std::string> patterns;  // field names; '*' and '?' match like file names
};

bool matches(const std::vector<std::string>& patterns, const std::string& name) {
    for (const auto& p : patterns) {
        if (p == name || (p.find_first_of("*?[") != std::string::npos && fnmatch(p.c_str(), name.c_str(), 0) == 0)) {
            return true;
        }
    }
    return false;
}

class DivideStage final : public Stage {
public:
    explicit DivideStage(const Options& o) {
        for (const auto& item : stages::list_option(o, "groups")) {
            const auto colon = item.find(':');
            Group g;
            std::string_view rest = item;
            if (colon != std::string::npos) {
                g.measurement = std::string(item.substr(0, colon));
                while (!g.measurement.empty() && g.measurement.back() == ' ') {
                    g.measurement.pop_back();
                }
                while (!g.measurement.empty() && g.measurement.front() == ' ') {
                    g.measurement.erase(0, 1);
                }
                rest = std::string_view(item).substr(colon + 1);
            }
            std::string word;
            for (char c : rest) {
                if (c == ' ' || c == '\t' || c == ',' || c == '+') {
                    if (!word.empty()) {
                        g.patterns.push_back(std::move(word));
                        word.clear();
                    }
                } else {
                    word += c;
                }
            }
            if (!word.empty()) {
                g.patterns.push_back(std::move(word));
            }
            if (colon == std::string::npos || g.measurement.empty() || g.patterns.empty()) {
                throw ConfigError(fmt::format("option 'groups': '{}' is not of the form \"measurement: field field*\", "
                                              "e.g. \"climate: temperature humidity\"",
                                              item));
            }
            groups_.push_back(std::move(g));
        }
        per_field_ = o.boolean("per_field");
        if (per_field_ == !groups_.empty()) {
            throw ConfigError("set either 'groups' or per_field = true");
        }
        keep_rest_ = o.str_or("rest", "") == "keep";
        field_tag_ = o.str_or("field_tag", "");
        value_field_ = o.str_or("value_field", "");
    }

    void open(StageContext& ctx) override { metrics_ = ctx.metrics; }

    void process(StageBatch& b) override {
        out_.clear();
        for (auto& r : b.records) {
            if (per_field_) {
                split_fields(r);
            } else {
                split_groups(r);
            }
        }
        b.records.swap(out_);
        out_.clear();
    }

private:
    Record shell(const Record& r) const {
        Record s;
        s.time_ns = r.time_ns;
        s.measurement = r.measurement;
        s.origin = r.origin;
        s.tags = r.tags;
        return s;
    }

    void split_fields(Record& r) {
        for (auto& f : r.fields) {
            Record s = shell(r);
            if (!field_tag_.empty()) {
                stages::set_tag(s, field_tag_, f.name);
                s.fields.push_back(Field{value_field_, std::move(f.value)});
            } else {
                s.fields.push_back(std::move(f));
            }
            out_.push_back(std::move(s));
        }
        if (r.fields.empty() && metrics_ != nullptr) {
            metrics_->dropped->inc();
        }
    }

    void split_groups(Record& r) {
        std::vector<bool> used(r.fields.size(), false);
        const std::size_t before = out_.size();
        for (const auto& g : groups_) {
            Record s;
            for (std::size_t i = 0; i < r.fields.size(); ++i) {
                if (matches(g.patterns, r.fields[i].name)) {
                    if (s.fields.empty()) {
                        s = shell(r);
                        s.measurement = g.measurement;
                    }
                    s.fields.push_back(r.fields[i]);
                    used[i] = true;
                }
            }
            if (!s.fields.empty()) {
                out_.push_back(std::move(s));
            }
        }
        if (keep_rest_) {
            Record s;
            for (std::size_t i = 0; i < r.fields.size(); ++i) {
                if (!used[i]) {
                    if (s.fields.empty()) {
                        s = shell(r);
                    }
                    s.fields.push_back(std::move(r.fields[i]));
                }
            }
            if (!s.fields.empty()) {
                out_.push_back(std::move(s));
            }
        }
        if (out_.size() == before && metrics_ != nullptr) {
            metrics_->dropped->inc();  // no field in any group (and the rest dropped)
        }
    }

    std::vector<Group> groups_;
    bool per_field_ = false;
    bool keep_rest_ = true;
    std::string field_tag_;
    std::string value_field_;
    std::vector<Record> out_;
    ComponentMetrics* metrics_ = nullptr;
};

}  // namespace

const Descriptor& stage_divide() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "divide",
        .summary = "Splits each record into several by groups of fields, or into one record per field",
        .options =
            {
                {.name = "groups", .type = OptionType::List, .default_value = "",
                 .doc = "One output record per group that has any of its fields: [\"climate: temperature humidity\", "
                        "\"power: voltage current p_*\"] (measurement, then field names or patterns with * and ?). "
                        "Each output keeps the time, origin and tags."},
                {.name = "rest", .type = OptionType::Enum, .default_value = "keep",
                 .doc = "Fields in no group: keep (one more record with the original measurement) or drop.",
                 .choices = "keep|drop"},
                {.name = "per_field", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Instead of groups: one record per field, keeping the measurement and tags."},
                {.name = "field_tag", .type = OptionType::String, .default_value = "",
                 .doc = "With per_field: put the field's name into this tag and name the field value_field, so "
                        "every output has the same field name (e.g. field_tag = \"sensor\")."},
                {.name = "value_field", .type = OptionType::String, .default_value = "value",
                 .doc = "The field name used with field_tag.", .min = 1},
            },
        .make_stage = [](const Options& o) { return std::make_unique<DivideStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
