#include "text/sql_naming.hpp"

#include <fmt/format.h>

namespace sluice::sql {

std::string sanitise_identifier(std::string_view s, std::size_t max_bytes) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        if (c >= 'A' && c <= 'Z') {
            out += static_cast<char>(c - 'A' + 'a');
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            out += c;
        } else if (out.empty()) {
            continue;  // would become a leading '_', dropped below anyway
        } else {
            out += '_';
        }
    }
    std::size_t lead = 0;
    while (lead < out.size() && out[lead] == '_') {
        ++lead;
    }
    out.erase(0, lead);
    if (out.size() > max_bytes) {
        out.resize(max_bytes);
    }
    if (out.empty()) {
        out.push_back('x');  // (not = "x": GCC 12 warns falsely, -Wrestrict)
    }
    return out;
}

std::string quote_identifier(std::string_view s) { return fmt::format("\"{}\"", s); }

Target target_for(const Record& r, const Template& schema, const Template& table, std::string_view fallback_schema,
                  std::size_t max_bytes) {
    Target t;
    std::string text;
    t.schema = sanitise_identifier(schema.render(r, text) ? std::string_view(text) : fallback_schema, max_bytes);
    if (table.render(r, text)) {
        t.table = sanitise_identifier(text, max_bytes);
    } else if (!r.measurement.empty()) {
        t.table = sanitise_identifier(r.measurement, max_bytes);
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

}  // namespace sluice::sql
