// The TOML front end: sluice.toml → RawTables with positions → GatewayConfig.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "config/config_build.hpp"
#include "text/template.hpp"

// toml++ 3.3 asserts on some malformed table headers such as "[.a]" or
// "[[[x]]]" (marzer/tomlplusplus#294, #301): an abort in debug builds and,
// with NDEBUG, an assumption clang may optimise on. Its own error path right
// after the assertion is sound, but we cannot reach it without editing the
// library, so a failed assertion throws instead and is reported as a syntax
// error. This is the only file that includes toml++.
namespace sluice::toml_guard {
struct AssertionFailed {};
[[noreturn]] inline void assertion_failed() { throw AssertionFailed{}; }
}  // namespace sluice::toml_guard

#pragma push_macro("NDEBUG")
#undef NDEBUG
#define TOML_ASSERT(expr) ((expr) ? static_cast<void>(0) : ::sluice::toml_guard::assertion_failed())
#include <toml++/toml.h>
#pragma pop_macro("NDEBUG")

namespace sluice {

namespace {

using config_detail::find_component;

constexpr std::string_view kSections[] = {"gateway", "http", "tables", "pipelines"};
constexpr std::string_view kPipelineKeys[] = {"sources", "stages", "sinks", "buffer"};

SourcePos pos_of(const toml::source_region& r, const std::string& file) {
    return SourcePos{file, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

// toml++ 3.3 has undefined behaviour (an unreachable branch in
// is_non_ascii_horizontal_whitespace) whenever it tests a character such as
// U+00B0 or U+0430 for whitespace. It does that for non-ASCII text outside
// strings and comments (invalid TOML, so in its error paths) and after a
// line-ending backslash in a multi-line basic string. So a document with
// non-ASCII text is first parsed with every such character replaced by '@',
// which is valid in strings and comments and nowhere else: if that parses,
// the original only has non-ASCII text where toml++ handles it safely.

struct TextProblem {
    std::size_t offset = 0;
    std::string message;
};

std::size_t utf8_length(unsigned char lead) {
    if (lead < 0x80) {
        return 1;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
        return 2;
    }
    if (lead >= 0xE0 && lead <= 0xEF) {
        return 3;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        return 4;
    }
    return 0;
}

// The text with each non-ASCII character replaced by '@' (one byte each, so
// lines and columns stay the same); `replaced` marks those bytes.
std::optional<TextProblem> asciify(std::string_view t, std::string& out, std::vector<bool>& replaced) {
    out.clear();
    replaced.clear();
    std::size_t i = t.starts_with("\xEF\xBB\xBF") ? 3 : 0;
    while (i < t.size()) {
        const auto c = static_cast<unsigned char>(t[i]);
        // TOML allows no control characters but tab and line breaks, not
        // even in strings or comments.
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            return TextProblem{i, fmt::format("control character U+{:04X} is not allowed in TOML", unsigned{c})};
        }
        const std::size_t n = utf8_length(c);
        bool valid = n != 0 && i + n <= t.size();
        for (std::size_t k = 1; valid && k < n; ++k) {
            valid = (static_cast<unsigned char>(t[i + k]) & 0xC0) == 0x80;
        }
        if (!valid) {
            return TextProblem{i, "invalid UTF-8"};
        }
        out += n == 1 ? t[i] : '@';
        replaced.push_back(n != 1);
        i += n;
    }
    return std::nullopt;
}

// Byte offsets of the starts of lines, for turning toml++ positions back
// into offsets.
std::vector<std::size_t> line_starts(std::string_view t) {
    std::vector<std::size_t> out{0};
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] == '\n') {
            out.push_back(i + 1);
        }
    }
    return out;
}

// Offset of a 1-based line and column (counted in characters), or npos.
std::size_t offset_at(std::string_view t, const std::vector<std::size_t>& starts, std::size_t line,
                      std::size_t column) {
    if (line == 0 || line > starts.size() || column == 0) {
        return std::string_view::npos;
    }
    std::size_t i = starts[line - 1];
    for (std::size_t c = 1; c < column && i < t.size() && t[i] != '\n'; ++c) {
        const std::size_t n = utf8_length(static_cast<unsigned char>(t[i]));
        i += n == 0 ? 1 : n;
    }
    return i < t.size() ? i : std::string_view::npos;
}

// In the multi-line basic string starting at `begin` ("""), the offset of a
// non-ASCII character right after a line-ending backslash, if any.
std::optional<std::size_t> bad_line_ending_backslash(std::string_view t, std::size_t begin) {
    auto at = [&](std::size_t i) { return i < t.size() ? t[i] : '\0'; };
    for (std::size_t i = begin + 3; i < t.size();) {
        if (t[i] == '"' && at(i + 1) == '"' && at(i + 2) == '"') {
            return std::nullopt;
        }
        if (t[i] != '\\') {
            ++i;
            continue;
        }
        std::size_t j = i + 1;
        while (at(j) == ' ' || at(j) == '\t' || at(j) == '\r' || at(j) == '\n') {
            ++j;
        }
        if (j > i + 1 && (static_cast<unsigned char>(at(j)) & 0x80) != 0) {
            return j;
        }
        i = j > i + 1 ? j : i + 2;  // past the escaped character, e.g. \\ or \"
    }
    return std::nullopt;
}

SourcePos offset_pos(std::string_view text, std::size_t offset, const std::string& file) {
    int line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    return SourcePos{file, line, config_detail::column_of(text.substr(line_start), offset - line_start)};
}

bool before(const SourcePos& a, const SourcePos& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
}

class TomlLoader {
public:
    TomlLoader(std::string origin, const Registry& registry, Diagnostics& diag)
        : origin_(std::move(origin)), registry_(registry), diag_(diag) {}

    std::optional<GatewayConfig> load(std::string_view text) {
        const std::size_t errors_before = diag_.size();
        auto doc = parse(text);
        if (!doc) {
            return std::nullopt;
        }
        const RawTable root = table_of(*doc);

        GatewayConfig config;
        config.origin = origin_;
        const SourcePos file_pos{origin_, 0, 0};
        const RawTable empty;
        const RawTable* gateway = &empty;
        const RawTable* http = &empty;
        SourcePos gateway_pos = file_pos;
        SourcePos http_pos = file_pos;
        const RawEntry* pipelines = nullptr;
        const RawEntry* tables = nullptr;

        for (const auto& e : root) {
            if (e.key == "gateway" || e.key == "http") {
                const RawTable* t = e.value.as_table();
                if (t == nullptr) {
                    diag_.error(e.key_pos, fmt::format("'{}' must be a section ([{}]), not {}", e.key, e.key,
                                                       e.value.describe()));
                    continue;
                }
                (e.key == "gateway" ? gateway : http) = t;
                (e.key == "gateway" ? gateway_pos : http_pos) = e.value.pos;
            } else if (e.key == "pipelines") {
                pipelines = &e;
            } else if (e.key == "tables") {
                tables = &e;
            } else {
                std::string msg = fmt::format("unknown section '{}'", e.key);
                if (auto near = did_you_mean(e.key, std::span<const std::string_view>(kSections))) {
                    msg += fmt::format(" (did you mean '{}'?)", *near);
                } else {
                    msg += " (sections: gateway, http, tables, pipelines)";
                }
                diag_.error(e.key_pos, std::move(msg));
            }
        }
        config.gateway = resolve_options(gateway_option_specs(), *gateway, "[gateway]", gateway_pos, diag_);
        config.http = resolve_options(http_option_specs(), *http, "[http]", http_pos, diag_);
        if (tables != nullptr) {
            if (const RawTable* t = tables->value.as_table()) {
                for (const auto& te : *t) {
                    if (auto spec = table(te)) {
                        config.tables.push_back(std::move(*spec));
                    }
                }
            } else {
                diag_.error(tables->key_pos, fmt::format("'tables' must be a table of tables ([tables.NAME]), not {}",
                                                         tables->value.describe()));
            }
        }

        if (pipelines == nullptr) {
            diag_.error(file_pos, "no pipelines: add a [pipelines.NAME] section with sources and sinks");
        } else if (const RawTable* t = pipelines->value.as_table()) {
            if (t->empty()) {
                diag_.error(pipelines->key_pos, "no pipelines: add a [pipelines.NAME] section with sources and sinks");
            }
            for (const auto& p : *t) {
                config.pipelines.push_back(pipeline(p));
            }
        } else {
            diag_.error(pipelines->key_pos,
                        fmt::format("'pipelines' must be a table of pipelines ([pipelines.NAME]), not {}",
                                    pipelines->value.describe()));
        }
        check_table_references(config);
        config_detail::check_sink_paths(config, diag_);
        if (diag_.size() != errors_before) {
            return std::nullopt;
        }
        return config;
    }

private:
    std::optional<toml::table> parse(std::string_view text) {
        std::string ascii;
        std::vector<bool> replaced;
        if (auto bad = asciify(text, ascii, replaced)) {
            diag_.error(offset_pos(text, bad->offset, origin_), std::move(bad->message));
            return std::nullopt;
        }
        if (ascii.size() != text.size()) {
            const auto starts = line_starts(ascii);
            // A failure at a replaced character means non-ASCII text outside strings.
            auto report = [&](const SourcePos& pos, std::string message) {
                const std::size_t off = offset_at(ascii, starts, pos.line, pos.column);
                if (off != std::string_view::npos && replaced[off]) {
                    message = off > 0 && ascii[off - 1] == '\\'
                                  ? "invalid escape sequence in a string"
                                  : "non-ASCII characters are only allowed in strings and comments";
                }
                diag_.error(pos, std::move(message));
            };
            try {
                const toml::table probe = toml::parse(ascii, origin_);
                const auto original_starts = line_starts(text);
                if (auto bad = check_multiline_strings(probe, text, original_starts)) {
                    diag_.error(offset_pos(text, *bad, origin_),
                                "a line-ending backslash in a multi-line string must not be followed by a non-ASCII "
                                "character (write it as \\uXXXX)");
                    return std::nullopt;
                }
            } catch (const toml::parse_error& e) {
                report(pos_of(e.source(), origin_), std::string(e.description()));
                return std::nullopt;
            } catch (const toml_guard::AssertionFailed&) {
                report(bad_header_pos(ascii), "invalid table header: expected a name after '['");
                return std::nullopt;
            }
        }
        try {
            return toml::parse(text, origin_);
        } catch (const toml::parse_error& e) {
            diag_.error(pos_of(e.source(), origin_), std::string(e.description()));
        } catch (const toml_guard::AssertionFailed&) {
            diag_.error(bad_header_pos(text), "invalid table header: expected a name after '['");
        }
        return std::nullopt;
    }

    // The offset of the first unsafe line-ending backslash in any multi-line
    // basic string of the document.
    static std::optional<std::size_t> check_multiline_strings(const toml::node& n, std::string_view text,
                                                              const std::vector<std::size_t>& starts) {
        if (const auto* t = n.as_table()) {
            for (auto&& [k, v] : *t) {
                if (auto bad = check_multiline_strings(v, text, starts)) {
                    return bad;
                }
            }
        } else if (const auto* a = n.as_array()) {
            for (const auto& el : *a) {
                if (auto bad = check_multiline_strings(el, text, starts)) {
                    return bad;
                }
            }
        } else if (n.is_string()) {
            const auto& b = n.source().begin;
            const std::size_t off = offset_at(text, starts, b.line, b.column);
            if (off != std::string_view::npos && text.substr(off, 3) == "\"\"\"") {
                return bad_line_ending_backslash(text, off);
            }
        }
        return std::nullopt;
    }

    // Where toml++ most likely gave up when its assertion fired: the first
    // line starting with '[' or '[[' that is not followed by a key.
    SourcePos bad_header_pos(std::string_view text) const {
        int line = 1;
        std::size_t start = 0;
        while (start <= text.size()) {
            const auto end = std::min(text.find('\n', start), text.size());
            std::size_t i = start;
            auto skip_blank = [&] {
                while (i < end && (text[i] == ' ' || text[i] == '\t')) {
                    ++i;
                }
            };
            skip_blank();
            if (i < end && text[i] == '[') {
                ++i;
                if (i < end && text[i] == '[') {
                    ++i;
                }
                skip_blank();
                const char c = i < end ? text[i] : '\n';
                const bool key_start = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                       c == '_' || c == '-' || c == '"' || c == '\'' || c == ']';
                if (!key_start) {
                    return SourcePos{origin_, line, config_detail::column_of(text.substr(start), i - start)};
                }
            }
            start = end + 1;
            ++line;
        }
        return SourcePos{origin_, 0, 0};
    }

    // ------------------------------------------------ toml → RawValue

    RawTable table_of(const toml::table& t) {
        RawTable out;
        out.reserve(t.size());
        for (auto&& [k, v] : t) {
            RawEntry e;
            e.key = std::string(k.str());
            e.key_pos = pos_of(k.source(), origin_);
            e.value = value_of(v);
            if (e.value.pos.line == 0) {
                // Tables made implicitly by a dotted header have no position of their own.
                e.value.pos = e.key_pos;
            }
            out.push_back(std::move(e));
        }
        // toml++ keeps keys sorted; messages read better in file order.
        std::stable_sort(out.begin(), out.end(),
                         [](const RawEntry& a, const RawEntry& b) { return before(a.key_pos, b.key_pos); });
        return out;
    }

    RawValue value_of(const toml::node& n) {
        RawValue out;
        out.pos = pos_of(n.source(), origin_);
        switch (n.type()) {
            case toml::node_type::table:
                out.v = table_of(*n.as_table());
                break;
            case toml::node_type::array: {
                RawArray arr;
                const toml::array& a = *n.as_array();
                arr.reserve(a.size());
                for (const auto& el : a) {
                    arr.push_back(value_of(el));
                }
                out.v = std::move(arr);
                break;
            }
            case toml::node_type::string:
                out.v = n.as_string()->get();
                break;
            case toml::node_type::integer:
                out.v = n.as_integer()->get();
                break;
            case toml::node_type::floating_point:
                out.v = n.as_floating_point()->get();
                break;
            case toml::node_type::boolean:
                out.v = n.as_boolean()->get();
                break;
            default:
                // Dates and times: no option takes one, and passing them on
                // as text would hide a likely mistake.
                diag_.error(out.pos, "dates and times are not supported as option values; quote the value");
                out.v = std::string();
                break;
        }
        return out;
    }

    // ------------------------------------------------ sections

    std::optional<TableSpec> table(const RawEntry& entry) {
        TableSpec spec;
        spec.name = entry.key;
        spec.pos = entry.value.pos;
        if (!config_detail::valid_name(spec.name)) {
            diag_.error(entry.key_pos, fmt::format("invalid table name '{}': use 1 to 64 letters, digits, '_', "
                                                   "'-' or '.'",
                                                   spec.name));
        }
        const RawTable* t = entry.value.as_table();
        if (t == nullptr) {
            diag_.error(entry.key_pos, fmt::format("table '{}' must be a section ([tables.{}]), not {}", spec.name,
                                                   spec.name, entry.value.describe()));
            return std::nullopt;
        }
        spec.options = resolve_options(table_option_specs(), *t, fmt::format("[tables.{}]", spec.name), spec.pos,
                                       diag_);
        return spec;
    }

    // Every table a component links to (OptionLink: the table and enrich
    // stages) must be declared; a joined table names two other plain
    // tables and is written by no component.
    void check_table_references(const GatewayConfig& config) {
        std::vector<std::string> names;
        std::vector<std::string> joined;
        for (const auto& t : config.tables) {
            names.push_back(t.name);
            if (!t.options.str_or("left", "").empty() || !t.options.str_or("right", "").empty()) {
                joined.push_back(t.name);
            }
        }
        for (const auto& t : config.tables) {
            const std::string left = t.options.str_or("left", "");
            const std::string right = t.options.str_or("right", "");
            // Errors name the option, where it was written.
            const auto at = [&](std::string_view option) {
                const SourcePos p = t.options.pos(option);
                return p.line != 0 ? p : t.pos;
            };
            const auto bad = [&](std::string_view option, std::string_view why) {
                diag_.error(at(option), fmt::format("option '{}' for [tables.{}]: {}", option, t.name, why));
            };
            if (left.empty() && right.empty()) {
                for (const std::string_view option : {"right_key", "join"}) {
                    if (t.options.is_explicit(option)) {
                        bad(option, "belongs to a joined table: add left and right");
                    }
                }
                continue;
            }
            if (t.options.is_explicit("max_keys")) {
                bad("max_keys", "a joined table has its left table's keys: set max_keys there");
            }
            if (left.empty() || right.empty()) {
                bad(left.empty() ? "right" : "left", "a joined table names both its tables: left and right");
                continue;
            }
            if (!t.options.str_or("csv", "").empty()) {
                bad("csv", "a joined table is kept from its two tables and takes no csv");
            }
            for (const std::string_view option : {"left", "right"}) {
                const std::string side = t.options.str(option);
                if (side == t.name) {
                    bad(option, "a joined table cannot join itself");
                } else if (std::find(names.begin(), names.end(), side) == names.end()) {
                    std::string msg = fmt::format("table '{}' is not declared", side);
                    if (auto near = did_you_mean(side, std::span<const std::string>(names))) {
                        msg += fmt::format(" (did you mean '{}'?)", *near);
                    }
                    bad(option, msg);
                } else if (std::find(joined.begin(), joined.end(), side) != joined.end()) {
                    bad(option, fmt::format("'{}' is a joined table itself; join plain tables", side));
                }
            }
            if (left == right && left != t.name) {
                bad("right", "left and right must be two different tables");
            }
            std::string why;
            if (!Template::parse(t.options.str_or("right_key", ""), &why)) {
                bad("right_key", why);
            }
        }
        for (const auto& link : component_links(config)) {
            if (link.use.link == OptionLink::WritesTable &&
                std::find(joined.begin(), joined.end(), link.use.name) != joined.end()) {
                const ComponentSpec& c = *link.component;
                diag_.error(link.use.pos.line != 0 ? link.use.pos : c.pos,
                            fmt::format("{} '{}' writes table '{}', which is a joined table (kept from its two "
                                        "tables): write one of those",
                                        kind_name(c.kind), c.id, link.use.name));
            }
        }
        for (const auto& link : component_links(config)) {
            const std::string& name = link.use.name;
            if (!links_table(link.use.link) || std::find(names.begin(), names.end(), name) != names.end()) {
                continue;
            }
            const ComponentSpec& c = *link.component;
            std::string msg =
                fmt::format("{} '{}' uses table '{}', which is not declared", kind_name(c.kind), c.id, name);
            if (auto near = did_you_mean(name, std::span<const std::string>(names))) {
                msg += fmt::format(" (did you mean '{}'?)", *near);
            } else {
                msg += fmt::format(": add a [tables.{}] section", name);
            }
            diag_.error(link.use.pos.line != 0 ? link.use.pos : c.pos, std::move(msg));
        }
    }

    PipelineSpec pipeline(const RawEntry& entry) {
        PipelineSpec p;
        p.name = entry.key;
        p.pos = entry.value.pos;
        if (!config_detail::valid_name(p.name)) {
            diag_.error(entry.key_pos, fmt::format("invalid pipeline name '{}': use 1 to 64 letters, digits, '_', "
                                                   "'-' or '.'",
                                                   p.name));
        }
        const RawTable* t = entry.value.as_table();
        if (t == nullptr) {
            diag_.error(entry.key_pos, fmt::format("pipeline '{}' must be a table ([pipelines.{}]), not {}", p.name,
                                                   p.name, entry.value.describe()));
            return p;
        }
        const std::string header = fmt::format("[pipelines.{}]", p.name);
        p.options = resolve_options(pipeline_option_specs(), *t, header, p.pos, diag_, kPipelineKeys);

        const RawEntry* buffer = find_entry(*t, "buffer");
        const RawTable empty;
        const RawTable* buffer_table = &empty;
        SourcePos buffer_pos = p.pos;
        if (buffer != nullptr) {
            if (const RawTable* bt = buffer->value.as_table()) {
                buffer_table = bt;
                buffer_pos = buffer->value.pos;
            } else {
                diag_.error(buffer->key_pos, fmt::format("'buffer' must be a table ([pipelines.{}.buffer]), not {}",
                                                         p.name, buffer->value.describe()));
            }
        }
        p.buffer = resolve_options(buffer_option_specs(), *buffer_table, fmt::format("[pipelines.{}.buffer]", p.name),
                                   buffer_pos, diag_);

        for (const auto& t_entry : components(*t, "sources", p.name)) {
            if (const Descriptor* d = component_type(Kind::Source, *t_entry.first, t_entry.second)) {
                p.sources.push_back(config_detail::build_source(*d, *t_entry.first, t_entry.second, registry_, diag_));
            }
        }
        for (const auto& t_entry : components(*t, "stages", p.name)) {
            if (const Descriptor* d = component_type(Kind::Stage, *t_entry.first, t_entry.second)) {
                p.stages.push_back(config_detail::build_component(*d, *t_entry.first, t_entry.second, diag_));
            }
        }
        for (const auto& t_entry : components(*t, "sinks", p.name)) {
            if (const Descriptor* d = component_type(Kind::Sink, *t_entry.first, t_entry.second)) {
                p.sinks.push_back(config_detail::build_component(*d, *t_entry.first, t_entry.second, diag_));
            }
        }
        config_detail::finish_pipeline(p, diag_);
        return p;
    }

    // The tables of an array-of-tables key such as "sources".
    std::vector<std::pair<const RawTable*, SourcePos>> components(const RawTable& pipeline, std::string_view key,
                                                                  const std::string& name) {
        std::vector<std::pair<const RawTable*, SourcePos>> out;
        const RawEntry* e = find_entry(pipeline, key);
        if (e == nullptr) {
            return out;
        }
        const RawArray* arr = e->value.as_array();
        if (arr == nullptr) {
            diag_.error(e->key_pos, fmt::format("'{}' must be an array of tables: write [[pipelines.{}.{}]]", key,
                                                name, key));
            return out;
        }
        for (const auto& el : *arr) {
            if (const RawTable* t = el.as_table()) {
                out.emplace_back(t, el.pos);
            } else {
                diag_.error(el.pos, fmt::format("entries of '{}' must be tables, not {}", key, el.describe()));
            }
        }
        return out;
    }

    const Descriptor* component_type(Kind kind, const RawTable& t, const SourcePos& pos) {
        const RawEntry* type = find_entry(t, "type");
        if (type == nullptr) {
            const auto names = registry_.names(kind);
            std::string list;
            for (const auto& n : names) {
                list += (list.empty() ? "" : ", ") + n;
            }
            diag_.error(pos, fmt::format("a {} needs a 'type' (one of: {})", kind_name(kind), list));
            return nullptr;
        }
        const std::string* name = type->value.as_string();
        if (name == nullptr) {
            diag_.error(type->value.pos,
                        fmt::format("the type of a {} must be a string, not {}", kind_name(kind), type->value.describe()));
            return nullptr;
        }
        return find_component(registry_, kind, *name, type->value.pos, diag_);
    }

    std::string origin_;
    const Registry& registry_;
    Diagnostics& diag_;
};

}  // namespace

std::optional<GatewayConfig> load_config_text(std::string_view toml, std::string_view origin, const Registry& registry,
                                              Diagnostics& diag) {
    TomlLoader loader(std::string(origin), registry, diag);
    const std::size_t warned = diag.warnings().size();
    auto config = loader.load(toml);
    log_warnings(diag, warned);
    return config;
}

std::optional<GatewayConfig> load_config_file(const std::filesystem::path& path, const Registry& registry,
                                              Diagnostics& diag) {
    constexpr std::size_t kMaxConfigBytes = 16 << 20;
    const std::string name = path.string();
    std::FILE* f = std::fopen(name.c_str(), "rb");
    if (f == nullptr) {
        diag.error({}, fmt::format("cannot read config file '{}': {}", name, std::strerror(errno)));
        return std::nullopt;
    }
    std::string text;
    char buf[8192];
    bool failed = false;
    for (;;) {
        const std::size_t n = std::fread(buf, 1, sizeof buf, f);
        text.append(buf, n);
        if (text.size() > kMaxConfigBytes) {
            std::fclose(f);
            diag.error({}, fmt::format("config file '{}' is larger than 16MiB", name));
            return std::nullopt;
        }
        if (n < sizeof buf) {
            failed = std::ferror(f) != 0;
            break;
        }
    }
    const int saved = errno;
    std::fclose(f);
    if (failed) {
        diag.error({}, fmt::format("cannot read config file '{}': {}", name, std::strerror(saved)));
        return std::nullopt;
    }
    return load_config_text(text, name, registry, diag);
}

}  // namespace sluice
