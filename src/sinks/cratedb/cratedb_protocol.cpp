#include "sinks/cratedb/cratedb_protocol.hpp"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "core/record_json.hpp"

namespace sluice::cratedb {

Target target_for(const Record& r, const Template& schema, const Template& table) {
    return sql::target_for(r, schema, table, "doc");
}

std::optional<Template> naming_template(std::string_view text, std::string* error, bool* used_kind) {
    std::string rewritten;
    for (std::size_t i = 0; i < text.size();) {
        if (text.substr(i, 2) == "{{") {
            rewritten += "{{";
            i += 2;
        } else if (text.substr(i, 6) == "{kind}") {
            rewritten += "{measurement}";
            i += 6;
            if (used_kind != nullptr) {
                *used_kind = true;
            }
        } else {
            rewritten += text[i++];
        }
    }
    return Template::parse(rewritten, error);
}

std::string insert_statement(const Target& t) {
    return fmt::format("INSERT INTO {}.{} (ts, tags, fields) VALUES (?, ?, ?)", quote_identifier(t.schema),
                       quote_identifier(t.table));
}

std::string stmt_body(std::string_view stmt) {
    std::string out = "{\"stmt\":";
    append_json_string(out, stmt);
    out += '}';
    return out;
}

std::string bulk_body(const Target& t, std::span<const Record* const> rows) {
    std::string out = "{\"stmt\":";
    append_json_string(out, insert_statement(t));
    out += ",\"bulk_args\":[";
    bool first_row = true;
    for (const Record* r : rows) {
        if (!first_row) {
            out += ',';
        }
        first_row = false;
        // Floor division keeps pre-1970 times on the right millisecond.
        std::int64_t ms = r->time_ns / 1'000'000;
        if (r->time_ns % 1'000'000 < 0) {
            --ms;
        }
        out += fmt::format("[{},", ms);
        append_tags_json(out, r->tags);
        out += ',';
        // A whole double keeps its fraction: the dynamic column CrateDB
        // creates for its first value must be a double, not a bigint.
        append_fields_json(out, r->fields, JsonDouble::KeepFraction);
        out += ']';
    }
    out += "]}";
    return out;
}

Action action_for_code(std::int64_t code) {
    switch (code) {
        case 4002:  // invalid table name
        case 4003:  // value fails a column's validation
        case 4008:  // column unknown (a strict user DDL)
        case 4009:  // type mismatch
        case 4091:  // duplicate primary key
        case 4092:  // version conflict
            return Action::Reject;
        case 4041:  // unknown table
        case 4045:  // unknown schema
            return Action::CreateTable;
        case 4093:  // table already exists
            return Action::AlreadyExists;
        default:
            // 4000 (SQL), 4010/4011 (auth), 5000 (internal), 5030 (shard
            // unavailable) and anything unknown: the data is kept and retried,
            // since dropping it to dead letters on a configuration mistake
            // would be worse than waiting for a fix.
            return Action::Retry;
    }
}

std::optional<SqlError> parse_error(std::string_view body) {
    auto doc = parse_json(body, nullptr);
    if (!doc) {
        return std::nullopt;
    }
    const JsonValue* err = doc->get("error");
    if (!err) {
        return std::nullopt;
    }
    SqlError out;
    if (const JsonValue* m = err->get("message"); m && m->string()) {
        out.message = *m->string();
    } else if (err->string()) {
        out.message = *err->string();
    }
    if (const JsonValue* c = err->get("code"); c && c->number()) {
        out.code = static_cast<std::int64_t>(*c->number());
    }
    return out;
}

std::optional<std::vector<RowResult>> parse_bulk_results(std::string_view body, std::size_t expected,
                                                         std::string* error) {
    auto doc = parse_json(body, error);
    if (!doc) {
        return std::nullopt;
    }
    const JsonValue* results = doc->get("results");
    const JsonValue::Array* arr = results ? results->array() : nullptr;
    if (!arr) {
        if (error) {
            *error = "the bulk answer has no \"results\" array";
        }
        return std::nullopt;
    }
    if (arr->size() != expected) {
        if (error) {
            *error = fmt::format("the bulk answer has {} results for {} rows", arr->size(), expected);
        }
        return std::nullopt;
    }
    std::vector<RowResult> out(arr->size());
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const JsonValue& r = (*arr)[i];
        const JsonValue* rc = r.get("rowcount");
        if (rc && rc->number() && *rc->number() == -2) {
            out[i].ok = false;
            // Newer CrateDB 5.x releases add the reason per row, as
            // "error": {"code", "message"} or "error_message".
            if (const JsonValue* e = r.get("error")) {
                if (const JsonValue* m = e->get("message"); m && m->string()) {
                    out[i].message = *m->string();
                } else if (e->string()) {
                    out[i].message = *e->string();
                }
            }
            if (out[i].message.empty()) {
                if (const JsonValue* m = r.get("error_message"); m && m->string()) {
                    out[i].message = *m->string();
                }
            }
            if (out[i].message.empty()) {
                out[i].message = "CrateDB refused the row";
            }
        }
    }
    return out;
}

}  // namespace sluice::cratedb
