#pragma once
// Small helpers the stages in src/stages/* share (header-only: each stage is
// its own library).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/component.hpp"
#include "expr/expr.hpp"
#include "core/record_json.hpp"
#include "text/template.hpp"

namespace sluice::stages {

// A record a stage refuses, kept as its NDJSON form with the reason.
inline DeadLetter dead_record(const Record& r, std::int64_t now_ns, std::string reason) {
    DeadLetter d;
    d.time_ns = now_ns;
    d.origin = r.origin;
    d.reason = std::move(reason);
    append_record_json(d.payload, r);
    return d;
}

// A list option whose default is empty (an unset option has no value).
inline std::vector<std::string> list_option(const Options& o, std::string_view name) {
    return o.list_or_empty(name);
}

// Options holding expressions and key templates are parsed when the stage
// is built; errors name the option (the pipeline adds the position).
inline expr::Expression expression_option(const Options& o, std::string_view name) {
    std::string error;
    auto e = expr::Expression::parse(o.str_or(std::string(name), ""), &error);
    if (!e) {
        throw ConfigError(fmt::format("option '{}': {}", name, error));
    }
    return std::move(*e);
}

inline Template key_option(const Options& o, std::string_view name) {
    const std::string text = o.str_or(std::string(name), "");
    if (text.empty()) {
        throw ConfigError(fmt::format("option '{}': empty key template; write e.g. \"{{node}}/{{sensor}}\"", name));
    }
    std::string error;
    auto k = Template::parse(text, &error);
    if (!k) {
        throw ConfigError(fmt::format("option '{}': {}", name, error));
    }
    return std::move(*k);
}

// What a stage does with a record it cannot place (no table row, no join
// partner): the `*_policy`-style Enum options "pass|drop|dead_letter".
enum class Refusal { Pass, Drop, DeadLetter };

inline Refusal refusal_option(const Options& o, std::string_view name) {
    const std::string v = o.str_or(std::string(name), "");
    if (v == "drop") {
        return Refusal::Drop;
    }
    if (v == "dead_letter") {
        return Refusal::DeadLetter;
    }
    return Refusal::Pass;
}

// Sets (or adds) a field / tag by name.
inline void set_field(Record& r, std::string_view name, FieldValue v) {
    for (auto& f : r.fields) {
        if (f.name == name) {
            f.value = std::move(v);
            return;
        }
    }
    r.fields.push_back(Field{std::string(name), std::move(v)});
}

inline void set_tag(Record& r, std::string_view name, std::string v) {
    for (auto& t : r.tags) {
        if (t.name == name) {
            t.value = std::move(v);
            return;
        }
    }
    r.tags.push_back(Tag{std::string(name), std::move(v)});
}

inline Field* find_field(Record& r, std::string_view name) {
    for (auto& f : r.fields) {
        if (f.name == name) {
            return &f;
        }
    }
    return nullptr;
}

// A field's value as a number (integers and floats), or false.
inline bool field_number(const FieldValue& v, double& out) {
    if (const auto* d = std::get_if<double>(&v)) {
        out = *d;
        return true;
    }
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        out = static_cast<double>(*i);
        return true;
    }
    return false;
}

}  // namespace sluice::stages
