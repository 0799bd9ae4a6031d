// Checking raw option values against OptionSpec tables, and the typed value
// syntax (durations, sizes, ${ENV}, secrets) shared by every config front end.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include "core/options.hpp"
#include "text/text.hpp"

namespace sluice {

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

void set_error(std::string* error, std::string text) {
    if (error != nullptr) {
        *error = std::move(text);
    }
}

// A non-negative decimal number "12", "1.5", ".5" split into its integer
// digits and fraction digits; the caller scales each by a unit without going
// through floating point, so "0.1s" is exactly 100ms.
struct Decimal {
    std::string_view whole;
    std::string_view fraction;
};

std::optional<Decimal> take_decimal(std::string_view& s) {
    std::size_t i = 0;
    while (i < s.size() && is_digit(s[i])) {
        ++i;
    }
    Decimal d{s.substr(0, i), {}};
    if (i < s.size() && s[i] == '.') {
        std::size_t j = i + 1;
        while (j < s.size() && is_digit(s[j])) {
            ++j;
        }
        d.fraction = s.substr(i + 1, j - i - 1);
        i = j;
    }
    if (d.whole.empty() && d.fraction.empty()) {
        return std::nullopt;
    }
    s.remove_prefix(i);
    return d;
}

// whole * unit + floor(fraction * unit); false past `limit`.
bool scale(const Decimal& d, std::uint64_t unit, std::uint64_t limit, std::uint64_t& out) {
    std::uint64_t v = 0;
    for (char c : d.whole) {
        if (__builtin_mul_overflow(v, std::uint64_t{10}, &v) ||
            __builtin_add_overflow(v, static_cast<std::uint64_t>(c - '0'), &v)) {
            return false;
        }
    }
    if (__builtin_mul_overflow(v, unit, &v)) {
        return false;
    }
    // floor(unit * 0.d1d2...dk), innermost digit first: each step is
    // (d * unit + carry) / 10, which stays below 10 * unit and whose nested
    // floors equal the floor of the exact value.
    std::uint64_t frac = 0;
    for (auto it = d.fraction.rbegin(); it != d.fraction.rend(); ++it) {
        frac = (static_cast<std::uint64_t>(*it - '0') * unit + frac) / 10;
    }
    if (__builtin_add_overflow(v, frac, &v) || v > limit) {
        return false;
    }
    out = v;
    return true;
}

struct Unit {
    std::string_view name;
    std::uint64_t factor;
};

constexpr Unit kDurationUnits[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xC2\xB5s", 1000ULL},  // µs
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
    {"d", 86400ULL * 1000000000ULL},
};

constexpr Unit kSizeUnits[] = {
    {"b", 1ULL},
    {"k", 1ULL << 10},
    {"kib", 1ULL << 10},
    {"kb", 1000ULL},
    {"m", 1ULL << 20},
    {"mib", 1ULL << 20},
    {"mb", 1000ULL * 1000ULL},
    {"g", 1ULL << 30},
    {"gib", 1ULL << 30},
    {"gb", 1000ULL * 1000ULL * 1000ULL},
    {"t", 1ULL << 40},
    {"tib", 1ULL << 40},
    {"tb", 1000ULL * 1000ULL * 1000ULL * 1000ULL},
};

std::string quoted(std::string_view s) {
    // Error messages quote the user's text; keep them one line and short.
    std::string out = "\"";
    std::size_t n = 0;
    for (char c : s) {
        if (++n > 64) {
            out += "...";
            break;
        }
        if (c == '\n') {
            out += "\\n";
        } else if (c == '"') {
            out += "\\\"";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += '?';
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

// Optimal string alignment distance (Levenshtein plus adjacent
// transpositions, the most common typo), case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    std::vector<std::size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
    for (std::size_t j = 0; j <= m; ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= n; ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= m; ++j) {
            const std::size_t cost = ascii_lower(a[i - 1]) == ascii_lower(b[j - 1]) ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && ascii_lower(a[i - 1]) == ascii_lower(b[j - 2]) && ascii_lower(a[i - 2]) == ascii_lower(b[j - 1])) {
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
            }
        }
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[m];
}

template <class S>
std::optional<std::string> closest(std::string_view word, std::span<const S> candidates) {
    if (word.empty() || word.size() > 256) {
        return std::nullopt;
    }
    // Roughly one typo per three characters, at least one, at most three.
    const std::size_t limit = std::clamp<std::size_t>((word.size() + 1) / 3, 1, 3);
    std::optional<std::string> best;
    std::size_t best_distance = limit + 1;
    for (const auto& c : candidates) {
        const std::string_view cand(c);
        if (cand.empty() || cand.size() > word.size() + limit || word.size() > cand.size() + limit) {
            continue;
        }
        const std::size_t d = edit_distance(word, cand);
        if (d < best_distance) {
            best_distance = d;
            best = std::string(cand);
        }
    }
    return best;
}

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

std::string join(std::span<const std::string_view> items, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) {
            out += sep;
        }
        out += items[i];
    }
    return out;
}

std::optional<std::string> read_small_file(const std::string& path, std::string* error) {
    constexpr std::size_t kMaxSecretBytes = 1 << 20;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        set_error(error, fmt::format("cannot read secret file '{}': {}", path, std::strerror(errno)));
        return std::nullopt;
    }
    std::string data;
    char buf[4096];
    bool too_big = false;
    bool failed = false;
    for (;;) {
        const std::size_t n = std::fread(buf, 1, sizeof buf, f);
        data.append(buf, n);
        if (data.size() > kMaxSecretBytes) {
            too_big = true;
            break;
        }
        if (n < sizeof buf) {
            failed = std::ferror(f) != 0;
            break;
        }
    }
    const int saved = errno;
    std::fclose(f);
    if (too_big) {
        set_error(error, fmt::format("secret file '{}' is larger than 1MiB", path));
        return std::nullopt;
    }
    if (failed) {
        set_error(error, fmt::format("cannot read secret file '{}': {}", path, std::strerror(saved)));
        return std::nullopt;
    }
    while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) {
        data.pop_back();
    }
    return data;
}

// ------------------------------------------------------------ resolve_options

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
            bool textual = false;
            auto s = expanded(*raw_, *raw_->as_string(), textual);
            if (!s) {
                return std::nullopt;
            }
            std::string error;
            auto parsed = parse_duration(*s, &error);
            if (!parsed) {
                fail(error);
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
            bool textual = false;
            auto s = expanded(*raw_, *raw_->as_string(), textual);
            if (!s) {
                return std::nullopt;
            }
            std::string error;
            auto parsed = parse_size(*s, &error);
            if (!parsed) {
                fail(error);
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

// ------------------------------------------------------------------ helpers

std::string_view option_type_name(OptionType t) {
    switch (t) {
        case OptionType::String:
            return "string";
        case OptionType::Int:
            return "integer";
        case OptionType::Float:
            return "number";
        case OptionType::Bool:
            return "bool";
        case OptionType::Duration:
            return "duration";
        case OptionType::Size:
            return "size";
        case OptionType::Secret:
            return "secret";
        case OptionType::List:
            return "list";
        case OptionType::Enum:
            return "enum";
    }
    return "?";
}

std::string RawValue::describe() const {
    switch (v.index()) {
        case 0:
            return "a string";
        case 1:
            return "an integer";
        case 2:
            return "a float";
        case 3:
            return "a boolean";
        case 4:
            return "an array";
        case 5:
            return "a table";
        default:
            return "a value";
    }
}

const RawEntry* find_entry(const RawTable& table, std::string_view key) {
    for (const auto& e : table) {
        if (e.key == key) {
            return &e;
        }
    }
    return nullptr;
}

std::optional<std::string> did_you_mean(std::string_view word, std::span<const std::string> candidates) {
    return closest(word, candidates);
}

std::optional<std::string> did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
    return closest(word, candidates);
}

// ---------------------------------------------------------- durations, sizes

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string* error) {
    std::string_view s = trim(text);
    if (s.empty()) {
        set_error(error, "empty duration; write e.g. \"10s\"");
        return std::nullopt;
    }
    if (s.front() == '-') {
        set_error(error, fmt::format("duration {} must not be negative", quoted(text)));
        return std::nullopt;
    }
    std::uint64_t total = 0;
    bool first = true;
    while (!s.empty()) {
        auto number = take_decimal(s);
        if (!number) {
            set_error(error, fmt::format("invalid duration {}: expected a number at {}", quoted(text), quoted(s)));
            return std::nullopt;
        }
        while (!s.empty() && s.front() == ' ') {
            s.remove_prefix(1);
        }
        std::size_t n = 0;
        while (n < s.size() && (is_alpha(s[n]) || static_cast<unsigned char>(s[n]) >= 0x80)) {
            ++n;
        }
        const std::string_view unit_text = s.substr(0, n);
        if (unit_text.empty()) {
            const bool zero = first && number->whole.find_first_not_of('0') == std::string_view::npos &&
                              number->fraction.find_first_not_of('0') == std::string_view::npos;
            if (zero && s.empty()) {
                return std::chrono::nanoseconds(0);
            }
            set_error(error, fmt::format("invalid duration {}: duration needs a unit, e.g. \"10s\" "
                                         "(units: ns, us, ms, s, m, h, d)",
                                         quoted(text)));
            return std::nullopt;
        }
        const Unit* unit = nullptr;
        for (const auto& u : kDurationUnits) {
            if (u.name == unit_text) {
                unit = &u;
            }
        }
        if (unit == nullptr) {
            set_error(error, fmt::format("invalid duration {}: unknown unit {} (units: ns, us, ms, s, m, h, d)",
                                         quoted(text), quoted(unit_text)));
            return std::nullopt;
        }
        std::uint64_t part = 0;
        if (!scale(*number, unit->factor, static_cast<std::uint64_t>(kInt64Max), part) ||
            __builtin_add_overflow(total, part, &total) || total > static_cast<std::uint64_t>(kInt64Max)) {
            set_error(error, fmt::format("duration {} is too large", quoted(text)));
            return std::nullopt;
        }
        s.remove_prefix(n);
        while (!s.empty() && s.front() == ' ') {
            s.remove_prefix(1);
        }
        first = false;
    }
    return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error) {
    std::string_view s = trim(text);
    if (s.empty()) {
        set_error(error, "empty size; write e.g. \"64MiB\"");
        return std::nullopt;
    }
    if (s.front() == '-') {
        set_error(error, fmt::format("size {} must not be negative", quoted(text)));
        return std::nullopt;
    }
    auto number = take_decimal(s);
    if (!number) {
        set_error(error, fmt::format("invalid size {}: expected a number, e.g. \"64MiB\"", quoted(text)));
        return std::nullopt;
    }
    s = trim(s);
    std::uint64_t factor = 1;
    if (!s.empty()) {
        const Unit* unit = nullptr;
        for (const auto& u : kSizeUnits) {
            if (iequals(u.name, s)) {
                unit = &u;
            }
        }
        if (unit == nullptr) {
            set_error(error, fmt::format("invalid size {}: unknown unit {} (units: B, KB, MB, GB, KiB, MiB, GiB)",
                                         quoted(text), quoted(s)));
            return std::nullopt;
        }
        factor = unit->factor;
    }
    std::uint64_t bytes = 0;
    if (!scale(*number, factor, static_cast<std::uint64_t>(kInt64Max), bytes)) {
        set_error(error, fmt::format("size {} is too large", quoted(text)));
        return std::nullopt;
    }
    return bytes;
}

std::string format_duration(std::chrono::nanoseconds d) {
    std::int64_t ns = d.count();
    if (ns == 0) {
        return "0s";
    }
    std::string out;
    std::uint64_t v = 0;
    if (ns < 0) {
        out = "-";
        v = static_cast<std::uint64_t>(-(ns + 1)) + 1;
    } else {
        v = static_cast<std::uint64_t>(ns);
    }
    // Largest units first; every part is a whole number so the text parses
    // back to exactly the same value.
    static constexpr Unit kParts[] = {
        {"d", 86400ULL * 1000000000ULL}, {"h", 3600ULL * 1000000000ULL}, {"m", 60ULL * 1000000000ULL},
        {"s", 1000000000ULL},            {"ms", 1000000ULL},             {"us", 1000ULL},
        {"ns", 1ULL},
    };
    for (const auto& p : kParts) {
        if (v >= p.factor) {
            out += fmt::format("{}{}", v / p.factor, p.name);
            v %= p.factor;
        }
    }
    return out;
}

std::string format_size(std::uint64_t bytes) {
    if (bytes == 0) {
        return "0B";
    }
    static constexpr Unit kBinary[] = {{"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}};
    static constexpr Unit kDecimal[] = {{"TB", 1000000000000ULL}, {"GB", 1000000000ULL}, {"MB", 1000000ULL}, {"KB", 1000ULL}};
    for (const auto& u : kBinary) {
        if (bytes % u.factor == 0) {
            return fmt::format("{}{}", bytes / u.factor, u.name);
        }
    }
    for (const auto& u : kDecimal) {
        if (bytes % u.factor == 0) {
            return fmt::format("{}{}", bytes / u.factor, u.name);
        }
    }
    return fmt::format("{}B", bytes);
}

// ---------------------------------------------------------- env and secrets

std::optional<std::string> expand_env(std::string_view text, std::string* error) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (c != '$') {
            out += c;
            ++i;
            continue;
        }
        if (text.substr(i, 3) == "$${") {
            out += "${";
            i += 3;
            continue;
        }
        if (text.substr(i, 2) != "${") {
            out += c;
            ++i;
            continue;
        }
        const auto close = text.find('}', i + 2);
        if (close == std::string_view::npos) {
            set_error(error, "unterminated '${' (write '$${' for a literal '${')");
            return std::nullopt;
        }
        std::string_view inner = text.substr(i + 2, close - i - 2);
        std::optional<std::string_view> fallback;
        if (const auto sep = inner.find(":-"); sep != std::string_view::npos) {
            fallback = inner.substr(sep + 2);
            inner = inner.substr(0, sep);
        }
        bool valid = !inner.empty() && !is_digit(inner.front());
        for (char ch : inner) {
            valid = valid && (is_alpha(ch) || is_digit(ch) || ch == '_');
        }
        if (!valid) {
            set_error(error, fmt::format("invalid environment variable name {} in '${{...}}'", quoted(inner)));
            return std::nullopt;
        }
        const std::string name(inner);
        const char* value = std::getenv(name.c_str());
        if (value != nullptr && (*value != '\0' || !fallback)) {
            out += value;
        } else if (fallback) {
            out += *fallback;
        } else {
            set_error(error, fmt::format("environment variable '{}' is not set", name));
            return std::nullopt;
        }
        i = close + 1;
    }
    return out;
}

std::optional<std::string> resolve_secret(std::string_view text, std::string* error) {
    // The '@' forms are decided on what the user wrote, never on what an
    // environment variable expands to, so a password from the environment
    // that starts with '@' stays a password.
    constexpr std::string_view kCredential = "@credential:";
    if (text.starts_with("@@")) {
        return expand_env(text.substr(1), error);
    }
    if (text.starts_with(kCredential)) {
        auto name = expand_env(text.substr(kCredential.size()), error);
        if (!name) {
            return std::nullopt;
        }
        if (name->empty() || name->find('/') != std::string::npos || *name == "." || *name == "..") {
            set_error(error, fmt::format("invalid credential name {}", quoted(*name)));
            return std::nullopt;
        }
        const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
        if (dir == nullptr || *dir == '\0') {
            set_error(error, fmt::format("'@credential:{}' needs $CREDENTIALS_DIRECTORY, which systemd sets "
                                         "for units with LoadCredential=",
                                         *name));
            return std::nullopt;
        }
        return read_small_file(std::string(dir) + "/" + *name, error);
    }
    if (text.starts_with("@")) {
        auto path = expand_env(text.substr(1), error);
        if (!path) {
            return std::nullopt;
        }
        if (path->empty()) {
            set_error(error, "'@' must be followed by a file path (write '@@' for a literal '@')");
            return std::nullopt;
        }
        if (path->find('/') == std::string::npos && ::access(path->c_str(), F_OK) != 0) {
            // No slash and no such file: this may be a literal secret that
            // happens to begin with '@' (one Z85 key in 85 does). Never echo it.
            set_error(error, fmt::format("the value begins with '@', so it names a secret file, and there is no "
                                         "such file ({}); a secret that itself begins with '@' is written "
                                         "'@@...' (the value is not shown)",
                                         std::strerror(errno)));
            return std::nullopt;
        }
        return read_small_file(*path, error);
    }
    return expand_env(text, error);
}

// ---------------------------------------------------------- resolve_options

Options resolve_options(std::span<const OptionSpec> specs, const RawTable& table, std::string_view context,
                        const SourcePos& owner_pos, Diagnostics& diag, std::span<const std::string_view> passthrough) {
    Options out;
    Resolver resolver(context, diag);
    auto find_spec = [&](std::string_view name) -> const OptionSpec* {
        for (const auto& s : specs) {
            if (s.name == name) {
                return &s;
            }
        }
        return nullptr;
    };

    std::vector<std::string_view> seen;
    for (const auto& entry : table) {
        if (std::find(passthrough.begin(), passthrough.end(), entry.key) != passthrough.end()) {
            continue;
        }
        const OptionSpec* spec = find_spec(entry.key);
        if (spec == nullptr) {
            std::vector<std::string_view> names;
            for (const auto& s : specs) {
                names.push_back(s.name);
            }
            std::vector<std::string_view> candidates = names;
            candidates.insert(candidates.end(), passthrough.begin(), passthrough.end());
            std::string msg = fmt::format("unknown option '{}' for {}", entry.key, context);
            if (auto near = did_you_mean(entry.key, std::span<const std::string_view>(candidates))) {
                msg += fmt::format(" (did you mean '{}'?)", *near);
            } else if (!names.empty()) {
                msg += fmt::format(" (valid options: {})", join(names, ", "));
            } else {
                msg += " (it takes no options)";
            }
            diag.error(entry.key_pos, std::move(msg));
            continue;
        }
        if (std::find(seen.begin(), seen.end(), spec->name) != seen.end()) {
            diag.error(entry.key_pos, fmt::format("option '{}' for {} is given twice", entry.key, context));
            continue;
        }
        seen.push_back(spec->name);
        auto value = resolver.convert(*spec, entry.value, false);
        if (!value) {
            continue;
        }
        const SourcePos& pos = entry.value.pos.line != 0 || !entry.value.pos.file.empty() ? entry.value.pos
                                                                                          : entry.key_pos;
        out.set(std::string(spec->name), Options::Entry{spec->type, std::move(*value), pos, true});
    }

    for (const auto& spec : specs) {
        if (std::find(seen.begin(), seen.end(), spec.name) != seen.end()) {
            continue;
        }
        seen.push_back(spec.name);
        if (spec.required) {
            diag.error(owner_pos, fmt::format("{} needs option '{}'", context, spec.name));
            continue;
        }
        if (spec.default_value.empty()) {
            continue;
        }
        RawValue raw;
        raw.v = std::string(spec.default_value);
        raw.pos = owner_pos;
        raw.from_text = true;
        auto value = resolver.convert(spec, raw, true);
        if (value) {
            out.set(std::string(spec.name), Options::Entry{spec.type, std::move(*value), owner_pos, false});
        }
    }
    return out;
}

}  // namespace sluice
