// Rewrites records, in this order: renames, fields made tags, scale, offset,
// unit conversion, computed fields, constant tags, removals and the
// measurement name.

#include <charconv>
#include <cmath>
#include <optional>

#include "core/metrics.hpp"
#include "stages/stage_util.hpp"
#include "text/text.hpp"

namespace sluice::components {
namespace {

// "left<sep>right" with both sides trimmed and not empty.
std::pair<std::string, std::string> split_pair(std::string_view option, std::string_view item, std::string_view sep,
                                               std::string_view example) {
    const auto at = item.find(sep);
    if (at == std::string_view::npos) {
        throw ConfigError(fmt::format("option '{}': '{}' is not of the form {}", option, item, example));
    }
    const auto left = trim(item.substr(0, at));
    const auto right = trim(item.substr(at + sep.size()));
    if (left.empty() || right.empty()) {
        throw ConfigError(fmt::format("option '{}': '{}' is not of the form {}", option, item, example));
    }
    return {std::string(left), std::string(right)};
}

double number_of(std::string_view option, std::string_view item, std::string_view text) {
    double v = 0;
    const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
    if (res.ec != std::errc() || res.ptr != text.data() + text.size() || !std::isfinite(v)) {
        throw ConfigError(fmt::format("option '{}': '{}': '{}' is not a number", option, item, text));
    }
    return v;
}

struct Linear {
    std::string field;
    double factor = 1;
    double offset = 0;
};

struct Conversion {
    std::string field;
    std::string from, to;
};

struct Computed {
    std::string field;
    expr::Expression expression;
};

class MapStage final : public Stage {
public:
    explicit MapStage(const Options& o) {
        for (const auto& item : stages::list_option(o, "rename")) {
            renames_.push_back(split_pair("rename", item, "=", "\"old=new\""));
        }
        to_tags_ = stages::list_option(o, "to_tags");
        for (const auto& item : stages::list_option(o, "scale")) {
            auto [field, factor] = split_pair("scale", item, "=", "\"field=factor\"");
            scales_.push_back({field, number_of("scale", item, factor), 0});
        }
        for (const auto& item : stages::list_option(o, "offset")) {
            auto [field, amount] = split_pair("offset", item, "=", "\"field=amount\"");
            scales_.push_back({field, 1, number_of("offset", item, amount)});
        }
        for (const auto& item : stages::list_option(o, "convert")) {
            auto [field, units] = split_pair("convert", item, ":", "\"field:FROM->TO\", e.g. \"temperature:C->F\"");
            auto [from, to] = split_pair("convert", units, "->", "\"field:FROM->TO\", e.g. \"temperature:C->F\"");
            if (auto why = expr::check_units(from, to); !why.empty()) {
                throw ConfigError(fmt::format("option 'convert': '{}': {}", item, why));
            }
            conversions_.push_back({field, from, to});
        }
        for (const auto& item : stages::list_option(o, "compute")) {
            const auto at = item.find('=');
            const auto name = at == std::string::npos ? std::string_view() : trim(std::string_view(item).substr(0, at));
            if (name.empty() || (at + 1 < item.size() && item[at + 1] == '=')) {
                throw ConfigError(fmt::format(
                    "option 'compute': '{}' is not of the form \"field = expression\", e.g. \"dew = temperature - "
                    "(100 - humidity) / 5\"",
                    item));
            }
            std::string error;
            auto e = expr::Expression::parse(std::string_view(item).substr(at + 1), &error);
            if (!e) {
                throw ConfigError(fmt::format("option 'compute': '{}': {}", item, error));
            }
            computed_.push_back({std::string(name), std::move(*e)});
        }
        for (const auto& item : stages::list_option(o, "add_tags")) {
            tags_.push_back(split_pair("add_tags", item, "=", "\"name=value\""));
        }
        remove_ = stages::list_option(o, "remove");
        measurement_ = o.str_or("measurement", "");
    }

    void open(StageContext& ctx) override { metrics_ = ctx.metrics; }

    void process(StageBatch& b) override {
        for (auto& r : b.records) {
            apply(r);
        }
    }

private:
    void apply(Record& r) {
        for (const auto& rename : renames_) {
            // Named references, not a structured binding: clang before 16
            // cannot capture a binding in the lambdas below.
            const std::string& from = rename.first;
            const std::string& to = rename.second;
            if (from == to) {
                continue;
            }
            if (r.field(from) != nullptr) {
                std::erase_if(r.fields, [&](const Field& f) { return f.name == to; });
                for (auto& f : r.fields) {
                    if (f.name == from) {
                        f.name = to;
                    }
                }
            }
            if (r.tag(from) != nullptr) {
                std::erase_if(r.tags, [&](const Tag& t) { return t.name == to; });
                for (auto& t : r.tags) {
                    if (t.name == from) {
                        t.name = to;
                    }
                }
            }
        }
        for (const auto& name : to_tags_) {
            for (std::size_t i = 0; i < r.fields.size(); ++i) {
                if (r.fields[i].name == name) {
                    stages::set_tag(r, name, field_text(r.fields[i].value));
                    r.fields.erase(r.fields.begin() + static_cast<std::ptrdiff_t>(i));
                    break;
                }
            }
        }
        for (const auto& s : scales_) {
            if (Field* f = stages::find_field(r, s.field)) {
                double v;
                if (stages::field_number(f->value, v)) {
                    f->value = v * s.factor + s.offset;
                } else {
                    missed();
                }
            }
        }
        for (const auto& c : conversions_) {
            if (Field* f = stages::find_field(r, c.field)) {
                double v;
                if (stages::field_number(f->value, v)) {
                    f->value = *expr::convert_unit(v, c.from, c.to);
                } else {
                    missed();
                }
            }
        }
        for (const auto& c : computed_) {
            const expr::Value v = c.expression.eval(r);
            switch (v.type) {
                case expr::Value::Type::Number:
                    stages::set_field(r, c.field, v.num);
                    break;
                case expr::Value::Type::Bool:
                    stages::set_field(r, c.field, v.boolean);
                    break;
                case expr::Value::Type::String:
                    stages::set_field(r, c.field, v.str);
                    break;
                case expr::Value::Type::Missing:
                    missed();
                    break;
            }
        }
        for (const auto& [name, value] : tags_) {
            stages::set_tag(r, name, value);
        }
        for (const auto& name : remove_) {
            std::erase_if(r.fields, [&](const Field& f) { return f.name == name; });
            std::erase_if(r.tags, [&](const Tag& t) { return t.name == name; });
        }
        if (!measurement_.empty()) {
            r.measurement = measurement_;
        }
    }

    // A computed field whose inputs were missing, or a scale/convert of a
    // field that is not a number: the record goes on, the field unchanged.
    void missed() {
        if (metrics_ != nullptr) {
            metrics_->errors->inc();
        }
    }

    std::vector<std::pair<std::string, std::string>> renames_;
    std::vector<std::string> to_tags_;
    std::vector<Linear> scales_;
    std::vector<Conversion> conversions_;
    std::vector<Computed> computed_;
    std::vector<std::pair<std::string, std::string>> tags_;
    std::vector<std::string> remove_;
    std::string measurement_;
    ComponentMetrics* metrics_ = nullptr;
};

}  // namespace

const Descriptor& stage_map() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "map",
        .summary = "Rewrites records: rename, scale/offset, unit conversion, computed fields, tags, removals",
        .options =
            {
                {.name = "rename", .type = OptionType::List, .default_value = "",
                 .doc = "Renames fields and tags: [\"temp=temperature\"]. Applied first."},
                {.name = "to_tags", .type = OptionType::List, .default_value = "",
                 .doc = "Fields turned into tags (their value as text), e.g. [\"device\"] for a device id sent as "
                        "a JSON member."},
                {.name = "scale", .type = OptionType::List, .default_value = "",
                 .doc = "Multiplies numeric fields: [\"value=0.1\"]."},
                {.name = "offset", .type = OptionType::List, .default_value = "",
                 .doc = "Adds to numeric fields (after scale): [\"value=-2.5\"]."},
                {.name = "convert", .type = OptionType::List, .default_value = "",
                 .doc = "Converts numeric fields between units in place: [\"temperature:C->F\", \"pressure:Pa->hPa\"]. "
                        "Units: C, F, K; Pa, hPa, kPa, MPa, bar, mbar, psi, atm, mmHg, inHg; m, cm, mm, km, in, ft, "
                        "mi; m/s, km/h, mph, kn; kg, g, mg, lb, oz; J, kJ, Wh, kWh; W, mW, kW; V, mV; A, mA; s, ms, "
                        "min, h; ratio, %, ppm."},
                {.name = "compute", .type = OptionType::List, .default_value = "",
                 .doc = "Sets fields from expressions, in order: [\"dew = temperature - (100 - humidity) / 5\", "
                        "\"temp_f = convert(temperature, 'C', 'F')\"]. Operators + - * / %, comparisons, and/or/not, "
                        "functions abs, min, max, round, floor, ceil, sqrt, pow, exp, ln, log10, convert. A result "
                        "that is missing (an input absent, a division by zero) leaves the field unset and counts as "
                        "an error."},
                {.name = "add_tags", .type = OptionType::List, .default_value = "",
                 .doc = "Sets constant tags: [\"site=lab\"]."},
                {.name = "remove", .type = OptionType::List, .default_value = "",
                 .doc = "Removes fields and tags by name."},
                {.name = "measurement", .type = OptionType::String, .default_value = "",
                 .doc = "Sets the measurement name. Empty: unchanged."},
            },
        .make_stage = [](const Options& o) { return std::make_unique<MapStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
