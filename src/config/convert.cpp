// Converting one raw value to the typed value its OptionSpec asks for: type,
// range, choices, ${ENV} expansion and secrets, with the messages users see.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "config/resolve.hpp"
#include "core/option_text.hpp"
#include "core/suggest.hpp"
#include "core/units.hpp"
#include "text/text.hpp"

namespace sluice {

namespace {

using option_text::join;
using option_text::quoted;

std::vector<std::string_view> split_choices(std::string_view choices) {
    std::vector<std::string_view> out;
    while (!choices.empty()) {
        const auto bar = choices.find('|');
        out.push_back(trim(choices.substr(0, bar)));
        if (bar == std::string_view::npos) {
            break;
        }
        choices.remove_prefix(bar + 1);
    }
    return out;
}

class Resolver {
public:
    Resolver(std::string_view context, Diagnostics& diag) : context_(context), diag_(diag) {}

    // Converts one value; reports and returns nullopt on error.
    std::optional<OptionValue> convert(const OptionSpec& spec, const RawValue& raw, bool is_default) {
        spec_ = &spec;
        raw_ = &raw;
        is_default_ = is_default;
        switch (spec.type) {
            case OptionType::String:
                return to_string();
            case OptionType::Secret:
                return to_secret();
            case OptionType::Int:
                return to_int();
            case OptionType::Float:
                return to_float();
            case OptionType::Bool:
                return to_bool();
            case OptionType::Duration:
                return to_duration();
            case OptionType::Size:
                return to_size();
            case OptionType::List:
                return to_list();
            case OptionType::Enum:
                return to_enum();
        }
        return std::nullopt;
    }

private:
    void fail(const SourcePos& pos, std::string_view what) {
        if (is_default_) {
            // A bad default is a bug in a component's option table; say so
            // instead of blaming the user's config.
            diag_.error(pos, fmt::format("internal error: default of option '{}' for {}: {}", spec_->name,
                                         context_, what));
            return;
        }
        // "option 'x' for sink 'y' must be ..." reads as a sentence; other
        // reasons (an unset variable, a bad duration) follow a colon.
        const char* sep = what.starts_with("must ") ? " " : ": ";
        diag_.error(pos, fmt::format("option '{}' for {}{}{}", spec_->name, context_, sep, what));
    }
    void fail(std::string_view what) { fail(raw_->pos, what); }

    void wrong_type(const RawValue& v, std::string_view wanted) {
        fail(v.pos, fmt::format("must be {}, not {}", wanted, v.describe()));
    }

    // ${ENV} expansion of a string value. Sets `textual` when the value came
    // from the environment (or from text), since then "5" may be an integer.
    std::optional<std::string> expanded(const RawValue& v, const std::string& s, bool& textual) {
        textual = v.from_text;
        if (is_default_) {
            return s;  // defaults are ours, not the user's: no expansion
        }
        if (s.find('$') == std::string::npos) {
            return s;
        }
        std::string error;
        auto out = expand_env(s, &error);
        if (!out) {
            fail(v.pos, error);
            return std::nullopt;
        }
        if (s.find("${") != std::string::npos) {
            textual = true;
        }
        return out;
    }

    // The value as text if it is a string; reports a type error otherwise.
    std::optional<std::string> text_of(std::string_view wanted, bool& textual) {
        const std::string* s = raw_->as_string();
        if (s == nullptr) {
            wrong_type(*raw_, wanted);
            return std::nullopt;
        }
        return expanded(*raw_, *s, textual);
    }

    bool check_length(std::size_t n, std::string_view what) {
        const double d = static_cast<double>(n);
        if (d >= spec_->min && d <= spec_->max) {
            return true;
        }
        if (spec_->min == 1 && !std::isfinite(spec_->max)) {
            fail("must not be empty");
            return false;
        }
        fail(fmt::format("must have {} {}", range_text(spec_->min, spec_->max, [](double x) {
                             return fmt::format("{}", static_cast<std::uint64_t>(x));
                         }), what));
        return false;
    }

    template <class F>
    static std::string range_text(double min, double max, F show) {
        const bool has_min = std::isfinite(min);
        const bool has_max = std::isfinite(max);
        if (has_min && has_max) {
            return fmt::format("between {} and {}", show(min), show(max));
        }
        if (has_min) {
            return fmt::format("at least {}", show(min));
        }
        return fmt::format("at most {}", show(max));
    }

    std::optional<OptionValue> to_string() {
        bool textual = false;
        auto s = text_of("a string", textual);
        if (!s || !check_length(s->size(), "characters")) {
            return std::nullopt;
        }
        return OptionValue(std::move(*s));
    }

    std::optional<OptionValue> to_secret() {
        const std::string* s = raw_->as_string();
        if (s == nullptr) {
            wrong_type(*raw_, "a string");
            return std::nullopt;
        }
        std::optional<std::string> value;
        if (is_default_) {
            value = *s;
        } else {
            std::string error;
            value = resolve_secret(*s, &error);
            if (!value) {
                fail(error);
                return std::nullopt;
            }
        }
        if (!check_length(value->size(), "characters")) {
            return std::nullopt;
        }
        return OptionValue(std::move(*value));
    }

    bool int_in_range(std::int64_t v) {
        const double d = static_cast<double>(v);
        if (d >= spec_->min && d <= spec_->max) {
            return true;
        }
        fail(fmt::format("must be {}, got {}",
                         range_text(spec_->min, spec_->max,
                                    [](double x) { return fmt::format("{}", static_cast<std::int64_t>(x)); }),
                         v));
        return false;
    }

    // A number written as text (-e strings, URLs, ${ENV}): an optional
    // leading '+', and nothing after the number.
    template <class T>
    std::optional<T> text_number(const std::string& text, std::string_view what) {
        std::string_view t = trim(text);
        if (!t.empty() && t.front() == '+') {
            t.remove_prefix(1);
        }
        T v{};
        const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
            fail(fmt::format("must be {}, got {}", what, quoted(text)));
            return std::nullopt;
        }
        return v;
    }

    std::optional<OptionValue> to_int() {
        std::int64_t v = 0;
        if (const auto* i = std::get_if<std::int64_t>(&raw_->v)) {
            v = *i;
        } else if (raw_->as_string() != nullptr) {
            bool textual = false;
            auto s = expanded(*raw_, *raw_->as_string(), textual);
            if (!s) {
                return std::nullopt;
            }
            if (!textual) {
                wrong_type(*raw_, "an integer");
                return std::nullopt;
            }
            auto parsed = text_number<std::int64_t>(*s, "an integer");
            if (!parsed) {
                return std::nullopt;
            }
            v = *parsed;
        } else {
            wrong_type(*raw_, "an integer");
            return std::nullopt;
        }
        if (!int_in_range(v)) {
            return std::nullopt;
        }
        return OptionValue(v);
    }

    std::optional<OptionValue> to_float() {
        double v = 0;
        if (const auto* i = std::get_if<std::int64_t>(&raw_->v)) {
            v = static_cast<double>(*i);
        } else if (const auto* d = std::get_if<double>(&raw_->v)) {
            v = *d;
        } else if (raw_->as_string() != nullptr) {
            bool textual = false;
            auto s = expanded(*raw_, *raw_->as_string(), textual);
            if (!s) {
                return std::nullopt;
            }
            if (!textual) {
                wrong_type(*raw_, "a number");
                return std::nullopt;
            }
            auto parsed = text_number<double>(*s, "a number");
            if (!parsed) {
                return std::nullopt;
            }
            v = *parsed;
        } else {
            wrong_type(*raw_, "a number");
            return std::nullopt;
        }
        if (!std::isfinite(v)) {
            fail("must be a finite number");
            return std::nullopt;
        }
        if (v < spec_->min || v > spec_->max) {
            fail(fmt::format("must be {}, got {}",
                             range_text(spec_->min, spec_->max, [](double x) { return fmt::format("{}", x); }),
                             v));
            return std::nullopt;
        }
        return OptionValue(v);
    }

    std::optional<OptionValue> to_bool() {
        if (const auto* b = std::get_if<bool>(&raw_->v)) {
            return OptionValue(*b);
        }
        if (raw_->as_string() != nullptr) {
            bool textual = false;
            auto s = expanded(*raw_, *raw_->as_string(), textual);
            if (!s) {
                return std::nullopt;
            }
            if (!textual) {
                fail("must be true or false (without quotes)");
                return std::nullopt;
            }
            const std::string_view t = trim(*s);
            for (std::string_view yes : {"true", "yes", "on", "1"}) {
                if (iequals(t, yes)) {
                    return OptionValue(true);
                }
            }
            for (std::string_view no : {"false", "no", "off", "0"}) {
                if (iequals(t, no)) {
                    return OptionValue(false);
                }
            }
            fail(fmt::format("must be true or false, got {}", quoted(*s)));
            return std::nullopt;
        }
        wrong_type(*raw_, "true or false");
        return std::nullopt;
    }

    // The raw string value, expanded, read by `parse` (parse_duration,
    // parse_size); nullopt after reporting why not.
    template <class Parse>
    auto parsed_text(Parse parse) -> decltype(parse(std::string_view(), nullptr)) {
        bool textual = false;
        auto s = expanded(*raw_, *raw_->as_string(), textual);
        if (!s) {
            return std::nullopt;
        }
        std::string error;
        auto parsed = parse(*s, &error);
        if (!parsed) {
            fail(error);
        }
        return parsed;
    }

    std::optional<OptionValue> to_duration() {
        std::chrono::nanoseconds d{0};
        if (const auto* i = std::get_if<std::int64_t>(&raw_->v)) {
            if (*i != 0) {
                fail(fmt::format("duration needs a unit, e.g. \"{}s\"", *i));
                return std::nullopt;
            }
        } else if (const auto* f = std::get_if<double>(&raw_->v)) {
            if (*f != 0.0) {
                fail("duration needs a unit, e.g. \"10s\"");
                return std::nullopt;
            }
        } else if (raw_->as_string() != nullptr) {
            auto parsed = parsed_text(parse_duration);
            if (!parsed) {
                return std::nullopt;
            }
            d = *parsed;
        } else {
            wrong_type(*raw_, "a duration such as \"10s\"");
            return std::nullopt;
        }
        const double secs = static_cast<double>(d.count()) / 1e9;
        if (secs < spec_->min || secs > spec_->max) {
            auto show = [](double x) {
                const double ns = std::min(x * 1e9, 9.2e18);
                return format_duration(std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns))));
            };
            fail(fmt::format("must be {}, got {}", range_text(spec_->min, spec_->max, show), format_duration(d)));
            return std::nullopt;
        }
        return OptionValue(static_cast<std::int64_t>(d.count()));
    }

    std::optional<OptionValue> to_size() {
        std::uint64_t bytes = 0;
        if (const auto* i = std::get_if<std::int64_t>(&raw_->v)) {
            if (*i < 0) {
                fail(fmt::format("must not be negative, got {}", *i));
                return std::nullopt;
            }
            bytes = static_cast<std::uint64_t>(*i);
        } else if (raw_->as_string() != nullptr) {
            auto parsed = parsed_text(parse_size);
            if (!parsed) {
                return std::nullopt;
            }
            bytes = *parsed;
        } else {
            wrong_type(*raw_, "a size such as \"64MiB\"");
            return std::nullopt;
        }
        const double b = static_cast<double>(bytes);
        if (b < spec_->min || b > spec_->max) {
            auto show = [](double x) { return format_size(static_cast<std::uint64_t>(std::min(x, 1.8e19))); };
            fail(fmt::format("must be {}, got {}", range_text(spec_->min, spec_->max, show), format_size(bytes)));
            return std::nullopt;
        }
        // Options::size() reads the stored int64 back as unsigned.
        return OptionValue(static_cast<std::int64_t>(bytes));
    }

    std::optional<OptionValue> to_list() {
        std::vector<std::string> items;
        bool ok = true;
        if (const auto* arr = raw_->as_array()) {
            items.reserve(arr->size());
            for (const auto& el : *arr) {
                const std::string* s = el.as_string();
                if (s == nullptr) {
                    fail(el.pos.line != 0 ? el.pos : raw_->pos,
                         fmt::format("must be a list of strings; an element is {}", el.describe()));
                    ok = false;
                    continue;
                }
                bool textual = false;
                auto e = expanded(el, *s, textual);
                if (!e) {
                    ok = false;
                    continue;
                }
                items.emplace_back(trim(*e));
            }
        } else if (const std::string* s = raw_->as_string()) {
            // Comma-separated: from -e strings and URLs, and accepted from
            // TOML too since `decode = "json"` is what people write.
            bool textual = false;
            auto e = expanded(*raw_, *s, textual);
            if (!e) {
                return std::nullopt;
            }
            std::string_view rest = *e;
            while (!trim(rest).empty()) {
                const auto comma = rest.find(',');
                const auto item = trim(rest.substr(0, comma));
                if (!item.empty()) {
                    items.emplace_back(item);
                }
                if (comma == std::string_view::npos) {
                    break;
                }
                rest.remove_prefix(comma + 1);
            }
        } else {
            wrong_type(*raw_, "a list of strings");
            return std::nullopt;
        }
        if (!ok || !check_length(items.size(), "elements")) {
            return std::nullopt;
        }
        return OptionValue(std::move(items));
    }

    std::optional<OptionValue> to_enum() {
        const auto choices = split_choices(spec_->choices);
        const std::string* s = raw_->as_string();
        if (s == nullptr) {
            fail(raw_->pos, fmt::format("must be one of {}, not {}", join(choices, ", "), raw_->describe()));
            return std::nullopt;
        }
        bool textual = false;
        auto e = expanded(*raw_, *s, textual);
        if (!e) {
            return std::nullopt;
        }
        for (auto c : choices) {
            if (c == *e) {
                return OptionValue(std::move(*e));
            }
        }
        std::string msg = fmt::format("must be one of {}, got {}", join(choices, ", "), quoted(*e));
        if (auto near = did_you_mean(*e, std::span<const std::string_view>(choices))) {
            msg += fmt::format(" (did you mean '{}'?)", *near);
        }
        fail(msg);
        return std::nullopt;
    }

    std::string_view context_;
    Diagnostics& diag_;
    const OptionSpec* spec_ = nullptr;
    const RawValue* raw_ = nullptr;
    bool is_default_ = false;
};

}  // namespace

std::optional<OptionValue> convert_option_value(const OptionSpec& spec, const RawValue& raw, bool is_default,
                                                std::string_view context, Diagnostics& diag) {
    Resolver resolver(context, diag);
    return resolver.convert(spec, raw, is_default);
}

}  // namespace sluice
