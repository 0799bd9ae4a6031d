#include "sinks/cratedb/cratedb_protocol.hpp"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "core/record_json.hpp"

namespace sluice::cratedb {
namespace {

class Parser {
public:
    explicit Parser(std::string_view s) : s_(s) {}

    std::optional<Json> document(std::string* error) {
        auto v = value(0);
        ws();
        if (v && pos_ != s_.size()) {
            fail("trailing characters");
            v.reset();
        }
        if (!v && error) {
            *error = fmt::format("invalid JSON at offset {}: {}", pos_, why_);
        }
        return v;
    }

private:
    // Deep nesting from a broken peer must not blow the stack.
    static constexpr int kMaxDepth = 64;

    void ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
            ++pos_;
        }
    }
    std::nullopt_t fail(const char* why) {
        if (why_.empty()) {
            why_ = why;
        }
        return std::nullopt;
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) == word) {
            pos_ += word.size();
            return true;
        }
        return false;
    }

    std::optional<Json> value(int depth) {
        if (depth > kMaxDepth) {
            return fail("nested too deeply");
        }
        ws();
        if (pos_ >= s_.size()) {
            return fail("unexpected end");
        }
        const char c = s_[pos_];
        if (c == '{') {
            return object(depth);
        }
        if (c == '[') {
            return array(depth);
        }
        if (c == '"') {
            auto str = string();
            if (!str) {
                return std::nullopt;
            }
            return Json{std::move(*str)};
        }
        if (literal("true")) {
            return Json{true};
        }
        if (literal("false")) {
            return Json{false};
        }
        if (literal("null")) {
            return Json{nullptr};
        }
        return number();
    }

    std::optional<Json> number() {
        const std::size_t start = pos_;
        while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' ||
                                    s_[pos_] == '+' || s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
        }
        if (start == pos_) {
            return fail("unexpected character");
        }
        std::string text(s_.substr(start, pos_ - start));
        char* end = nullptr;
        const double d = std::strtod(text.c_str(), &end);
        if (end != text.c_str() + text.size()) {
            return fail("bad number");
        }
        return Json{d};
    }

    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::optional<unsigned> hex4() {
        if (pos_ + 4 > s_.size()) {
            return fail("short \\u escape");
        }
        unsigned v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') {
                v |= static_cast<unsigned>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                v |= static_cast<unsigned>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                v |= static_cast<unsigned>(c - 'A' + 10);
            } else {
                return fail("bad \\u escape");
            }
        }
        return v;
    }

    std::optional<std::string> string() {
        ++pos_;  // opening quote
        std::string out;
        while (pos_ < s_.size()) {
            const char c = s_[pos_++];
            if (c == '"') {
                return out;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= s_.size()) {
                break;
            }
            const char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    auto cp = hex4();
                    if (!cp) {
                        return std::nullopt;
                    }
                    unsigned code = *cp;
                    if (code >= 0xD800 && code < 0xDC00 && literal("\\u")) {
                        auto lo = hex4();
                        if (!lo) {
                            return std::nullopt;
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (*lo - 0xDC00);
                    }
                    put_utf8(out, code);
                    break;
                }
                default: return fail("bad escape");
            }
        }
        return fail("unterminated string");
    }

    std::optional<Json> array(int depth) {
        ++pos_;
        auto arr = std::make_shared<Json::Array>();
        ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
            return Json{arr};
        }
        while (true) {
            auto v = value(depth + 1);
            if (!v) {
                return std::nullopt;
            }
            arr->push_back(std::move(*v));
            ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ']') {
                ++pos_;
                return Json{arr};
            }
            return fail("expected ',' or ']'");
        }
    }

    std::optional<Json> object(int depth) {
        ++pos_;
        auto obj = std::make_shared<Json::Object>();
        ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
            return Json{obj};
        }
        while (true) {
            ws();
            if (pos_ >= s_.size() || s_[pos_] != '"') {
                return fail("expected a key");
            }
            auto key = string();
            if (!key) {
                return std::nullopt;
            }
            ws();
            if (pos_ >= s_.size() || s_[pos_] != ':') {
                return fail("expected ':'");
            }
            ++pos_;
            auto v = value(depth + 1);
            if (!v) {
                return std::nullopt;
            }
            obj->emplace_back(std::move(*key), std::move(*v));
            ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == '}') {
                ++pos_;
                return Json{obj};
            }
            return fail("expected ',' or '}'");
        }
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    std::string why_;
};

void append_field_value(std::string& out, const FieldValue& v) {
    if (const auto* d = std::get_if<double>(&v)) {
        // JSON has no NaN or infinity; null keeps the row insertable.
        if (std::isfinite(*d)) {
            out += fmt::format("{}", *d);
        } else {
            out += "null";
        }
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        out += fmt::format("{}", *i);
    } else if (const auto* b = std::get_if<bool>(&v)) {
        out += *b ? "true" : "false";
    } else {
        append_json_string(out, std::get<std::string>(v));
    }
}

}  // namespace

const Json* Json::get(std::string_view key) const {
    if (const auto* o = std::get_if<std::shared_ptr<Object>>(&v)) {
        for (const auto& [k, val] : **o) {
            if (k == key) {
                return &val;
            }
        }
    }
    return nullptr;
}

const Json::Array* Json::array() const {
    const auto* a = std::get_if<std::shared_ptr<Array>>(&v);
    return a ? a->get() : nullptr;
}

const std::string* Json::string() const { return std::get_if<std::string>(&v); }

std::optional<double> Json::number() const {
    if (const auto* d = std::get_if<double>(&v)) {
        return *d;
    }
    return std::nullopt;
}

std::optional<Json> parse_json(std::string_view text, std::string* error) { return Parser(text).document(error); }

std::string sanitise_identifier(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        if (c >= 'A' && c <= 'Z') {
            out += static_cast<char>(c - 'A' + 'a');
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            out += c;
        } else {
            out += '_';
        }
    }
    // CrateDB reserves names starting with '_' for system columns/tables.
    while (!out.empty() && out.front() == '_') {
        out.erase(0, 1);
    }
    if (out.empty()) {
        out = "x";
    }
    return out;
}

std::string quote_identifier(std::string_view s) { return fmt::format("\"{}\"", s); }

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

Target target_for(const Record& r, const Template& schema, const Template& table) {
    Target t;
    std::string text;
    t.schema = sanitise_identifier(schema.render(r, text) ? text : "doc");
    if (table.render(r, text)) {
        t.table = sanitise_identifier(text);
    } else if (!r.measurement.empty()) {
        t.table = sanitise_identifier(r.measurement);
    } else {
        t.table = "readings";
    }
    return t;
}

std::string render_ddl(std::string_view ddl_tmpl, const Target& t) {
    std::string out;
    std::size_t i = 0;
    while (i < ddl_tmpl.size()) {
        if (ddl_tmpl.substr(i, 8) == "{schema}") {
            out += quote_identifier(t.schema);
            i += 8;
        } else if (ddl_tmpl.substr(i, 7) == "{table}") {
            out += quote_identifier(t.table);
            i += 7;
        } else {
            out += ddl_tmpl[i++];
        }
    }
    return out;
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
        out += fmt::format("[{},{{", ms);
        bool first = true;
        for (const auto& tag : r->tags) {
            if (!first) {
                out += ',';
            }
            first = false;
            append_json_string(out, tag.name);
            out += ':';
            append_json_string(out, tag.value);
        }
        out += "},{";
        first = true;
        for (const auto& f : r->fields) {
            if (!first) {
                out += ',';
            }
            first = false;
            append_json_string(out, f.name);
            out += ':';
            append_field_value(out, f.value);
        }
        out += "}]";
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
    const Json* err = doc->get("error");
    if (!err) {
        return std::nullopt;
    }
    SqlError out;
    if (const Json* m = err->get("message"); m && m->string()) {
        out.message = *m->string();
    } else if (err->string()) {
        out.message = *err->string();
    }
    if (const Json* c = err->get("code"); c && c->number()) {
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
    const Json* results = doc->get("results");
    const Json::Array* arr = results ? results->array() : nullptr;
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
        const Json& r = (*arr)[i];
        const Json* rc = r.get("rowcount");
        if (rc && rc->number() && *rc->number() == -2) {
            out[i].ok = false;
            // Newer CrateDB 5.x releases add the reason per row, as
            // "error": {"code", "message"} or "error_message".
            if (const Json* e = r.get("error")) {
                if (const Json* m = e->get("message"); m && m->string()) {
                    out[i].message = *m->string();
                } else if (e->string()) {
                    out[i].message = *e->string();
                }
            }
            if (out[i].message.empty()) {
                if (const Json* m = r.get("error_message"); m && m->string()) {
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
