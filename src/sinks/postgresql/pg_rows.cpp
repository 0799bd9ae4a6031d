#include "sinks/postgresql/pg_rows.hpp"

#include <algorithm>
#include <cmath>
#include <deque>

#include <fmt/format.h>

#include "core/record_json.hpp"

namespace sluice::postgresql {
namespace {

using sql::quote_identifier;

// After this many refused rows in one write, hints narrower than half the
// rest are no longer followed: each hinted retry sends the rest of the
// rows again, halving bounds the total.
constexpr std::size_t kHintedRefusals = 16;

bool type_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ' ' ||
           c == '(' || c == ')' || c == ',' || c == '[' || c == ']' || c == '.';
}

std::string table_name(const sql::Target& t) {
    return quote_identifier(t.schema) + "." + quote_identifier(t.table);
}

std::string column_names(const Layout& l) {
    std::string out = "ts, tags, fields";
    for (const auto& c : l.columns) {
        out += ", ";
        out += quote_identifier(c.name);
    }
    return out;
}

std::string key_names(const Layout& l) {
    std::string out;
    for (const auto& k : l.key) {
        if (!out.empty()) {
            out += ", ";
        }
        out += quote_identifier(k);
    }
    return out;
}

void field_text(std::string& out, const FieldValue& v) {
    out.clear();
    if (const auto* d = std::get_if<double>(&v)) {
        if (std::isnan(*d)) {
            out = "NaN";
        } else if (std::isinf(*d)) {
            out = *d > 0 ? "Infinity" : "-Infinity";
        } else {
            append_double(out, *d);
        }
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        append_int(out, *i);
    } else if (const auto* b = std::get_if<bool>(&v)) {
        out = *b ? "true" : "false";
    } else {
        out = std::get<std::string>(v);
    }
}

bool mapped(const Layout& l, std::string_view name) {
    return std::any_of(l.columns.begin(), l.columns.end(), [&](const Column& c) { return c.source == name; });
}

}  // namespace

std::optional<Layout> make_layout(const std::vector<std::string>& columns, const std::vector<std::string>& key,
                                  std::string* error) {
    Layout l;
    for (const auto& entry : columns) {
        const auto eq = entry.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
            *error = fmt::format("columns entry '{}' is not \"name=SQL type\" (e.g. \"temperature=double precision\")",
                                 entry);
            return std::nullopt;
        }
        Column c;
        c.source = entry.substr(0, eq);
        c.type = entry.substr(eq + 1);
        while (!c.type.empty() && c.type.front() == ' ') {
            c.type.erase(0, 1);
        }
        if (c.type.empty() || !std::all_of(c.type.begin(), c.type.end(), type_char_ok)) {
            *error = fmt::format("columns entry '{}': '{}' is not a SQL type name", entry, c.type);
            return std::nullopt;
        }
        c.name = sql::sanitise_identifier(c.source, kMaxIdentifier);
        for (const auto& other : l.columns) {
            if (other.name == c.name) {
                *error = fmt::format("columns entry '{}': column \"{}\" is already given", entry, c.name);
                return std::nullopt;
            }
        }
        if (c.name == "ts" || c.name == "tags" || c.name == "fields") {
            *error = fmt::format("columns entry '{}': \"{}\" is a column of every table already", entry, c.name);
            return std::nullopt;
        }
        l.columns.push_back(std::move(c));
    }
    for (const auto& k : key) {
        const bool known = k == "ts" || std::any_of(l.columns.begin(), l.columns.end(),
                                                    [&](const Column& c) { return c.name == k; });
        if (!known) {
            *error = fmt::format("key entry '{}' is neither \"ts\" nor a column from the columns option", k);
            return std::nullopt;
        }
        if (std::find(l.key.begin(), l.key.end(), k) != l.key.end()) {
            *error = fmt::format("key entry '{}' is given twice", k);
            return std::nullopt;
        }
        l.key.push_back(k);
    }
    return l;
}

std::vector<std::string> default_ddl(const Layout& l, const sql::Target& t) {
    std::string create = fmt::format("CREATE TABLE IF NOT EXISTS {} (ts timestamptz NOT NULL, tags jsonb, fields jsonb",
                                     table_name(t));
    for (const auto& c : l.columns) {
        create += fmt::format(", {} {}", quote_identifier(c.name), c.type);
    }
    if (!l.key.empty()) {
        create += fmt::format(", PRIMARY KEY ({})", key_names(l));
    }
    create += ')';
    std::vector<std::string> out{std::move(create)};
    if (l.key.empty() || l.key.front() != "ts") {
        const std::string index = sql::sanitise_identifier(t.table + "_ts_idx", kMaxIdentifier);
        out.push_back(fmt::format("CREATE INDEX IF NOT EXISTS {} ON {} (ts)", quote_identifier(index), table_name(t)));
    }
    return out;
}

std::string create_schema(const sql::Target& t) {
    return fmt::format("CREATE SCHEMA IF NOT EXISTS {}", quote_identifier(t.schema));
}

std::string copy_statement(const Layout& l, const sql::Target& t) {
    return fmt::format("COPY {} ({}) FROM STDIN", table_name(t), column_names(l));
}

std::size_t insert_rows_per_statement(const Layout& l) {
    return std::min<std::size_t>(1000, kMaxParameters / l.width());
}

std::string insert_statement(const Layout& l, const sql::Target& t, std::size_t rows) {
    std::string out = fmt::format("INSERT INTO {} ({}) VALUES ", table_name(t), column_names(l));
    std::size_t n = 1;
    for (std::size_t r = 0; r < rows; ++r) {
        out += r == 0 ? "(" : ", (";
        for (std::size_t c = 0; c < l.width(); ++c) {
            out += c == 0 ? "$" : ", $";
            out += std::to_string(n++);
        }
        out += ')';
    }
    out += " ON CONFLICT";
    if (!l.key.empty()) {
        out += fmt::format(" ({})", key_names(l));
    }
    out += " DO NOTHING";
    return out;
}

bool row_values(const Record& r, const Layout& l, std::vector<std::optional<std::string>>& out, std::string* why) {
    out.resize(l.width());
    auto slot = [&](std::size_t i) -> std::string& {
        if (!out[i]) {
            out[i].emplace();
        }
        out[i]->clear();
        return *out[i];
    };
    append_rfc3339(slot(0), r.time_ns);
    std::string& tags = slot(1);
    std::string& fields = slot(2);
    if (l.columns.empty()) {
        append_tags_json(tags, r.tags);
        append_fields_json(fields, r.fields);
    } else {
        tags += '{';
        for (const auto& t : r.tags) {
            if (!mapped(l, t.name)) {
                if (tags.size() > 1) {
                    tags += ',';
                }
                append_json_string(tags, t.name);
                tags += ':';
                append_json_string(tags, t.value);
            }
        }
        tags += '}';
        fields += '{';
        for (const auto& f : r.fields) {
            if (!mapped(l, f.name)) {
                if (fields.size() > 1) {
                    fields += ',';
                }
                append_json_string(fields, f.name);
                fields += ':';
                append_field_value_json(fields, f.value);
            }
        }
        fields += '}';
    }
    for (std::size_t c = 0; c < l.columns.size(); ++c) {
        const Column& col = l.columns[c];
        auto& value = out[3 + c];
        if (const Field* f = r.field(col.source)) {
            field_text(slot(3 + c), f->value);
        } else if (const std::string* t = r.tag(col.source)) {
            slot(3 + c) = *t;
        } else {
            value.reset();
            continue;
        }
        if (value->find('\0') != std::string::npos) {
            *why = fmt::format("the value for column \"{}\" holds a NUL byte, which PostgreSQL text cannot store",
                               col.name);
            return false;
        }
    }
    return true;
}

void append_copy_row(std::string& out, std::span<const std::optional<std::string>> values) {
    bool first = true;
    for (const auto& v : values) {
        if (!first) {
            out += '\t';
        }
        first = false;
        if (!v) {
            out += "\\N";
            continue;
        }
        for (const char c : *v) {
            switch (c) {
                case '\\': out += "\\\\"; break;
                case '\t': out += "\\t"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                default: out += c;
            }
        }
    }
    out += '\n';
}

Action action_for_sqlstate(std::string_view s) {
    if (s.size() != 5) {
        return Action::Retry;
    }
    if (s == "42P01") {
        return Action::CreateTable;
    }
    if (s == "3F000") {
        return Action::CreateSchema;
    }
    // 22: data exception (a bad value, an encoding error, a number out of
    // range); 23: integrity constraint violation (NOT NULL, CHECK, UNIQUE,
    // foreign key). Everything else (08 connection, 53 resources, 57
    // operator intervention, 40 serialisation, 42 syntax or permission, 25
    // transaction state, XX internal) keeps the rows and retries: dead
    // letters for a configuration mistake would be worse than waiting.
    if (s.starts_with("22") || s.starts_with("23")) {
        return Action::Reject;
    }
    return Action::Retry;
}

std::size_t copy_line(std::string_view context) {
    // The COPY frame is the last of the context; trigger or function frames
    // before it can say "line" too.
    const auto frame = context.rfind("COPY ");
    if (frame == std::string_view::npos) {
        return 0;
    }
    const auto at = context.find(", line ", frame);
    if (at == std::string_view::npos) {
        return 0;
    }
    std::size_t n = 0;
    std::size_t digits = 0;
    for (std::size_t i = at + 7; i < context.size() && context[i] >= '0' && context[i] <= '9' && digits < 9; ++i) {
        n = n * 10 + static_cast<std::size_t>(context[i] - '0');
        ++digits;
    }
    return n;
}

std::string write_isolating(std::span<const std::size_t> rows, const WriteRows& write,
                            std::vector<std::pair<std::size_t, std::string>>& rejected) {
    std::deque<std::vector<std::size_t>> work;
    work.emplace_back(rows.begin(), rows.end());
    std::size_t refused = 0;
    while (!work.empty()) {
        std::vector<std::size_t> part = std::move(work.front());
        work.pop_front();
        if (part.empty()) {
            continue;
        }
        Attempt a = write(part);
        if (a.kind == Attempt::Written) {
            continue;
        }
        if (a.kind == Attempt::Failed) {
            return a.message;
        }
        if (part.size() == 1) {
            rejected.emplace_back(part.front(), std::move(a.message));
            ++refused;
            continue;
        }
        std::size_t from = a.from;
        std::size_t to = a.to;
        if (to <= from || to > part.size()) {
            from = 0;
            to = part.size();
        }
        // Past a few refusals, a hint only keeps the accepted prefix: the
        // rest is halved instead of being sent again whole for each row.
        if (refused >= kHintedRefusals && to - from < (part.size() - from) / 2) {
            to = part.size();
        }
        const auto at = [&](std::size_t i) { return part.begin() + static_cast<std::ptrdiff_t>(i); };
        work.emplace_back(part.begin(), at(from));  // accepted before the refusal
        if (to - from == 1) {
            rejected.emplace_back(part[from], std::move(a.message));
            ++refused;
        } else {
            const std::size_t mid = from + (to - from) / 2;
            work.emplace_back(at(from), at(mid));
            work.emplace_back(at(mid), at(to));
        }
        work.emplace_back(at(to), part.end());
    }
    return {};
}

}  // namespace sluice::postgresql
