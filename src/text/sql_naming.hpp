#pragma once
// Where a SQL sink writes a record: the schema and table rendered from the
// record by templates in sluice's one dialect ("{gateway}_{measurement}"),
// made safe as identifiers, and the user's CREATE TABLE template with
// {schema} and {table} filled in. Shared by the CrateDB and PostgreSQL sinks.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/record.hpp"
#include "text/template.hpp"

namespace sluice::sql {

// Lower-cases and maps everything outside [a-z0-9_] to '_', drops leading
// '_' (names CrateDB reserves for system tables) and cuts the result to
// `max_bytes` (PostgreSQL: 63); empty → "x".
std::string sanitise_identifier(std::string_view s, std::size_t max_bytes = 255);
// "name" (sanitised names never hold quotes).
std::string quote_identifier(std::string_view s);

struct Target {
    std::string schema;  // sanitised
    std::string table;   // sanitised
    std::string key() const { return schema + "." + table; }
};

// Schema: the template, or `fallback_schema` when the record lacks a name
// it needs. Table: the template, else the measurement, else "readings".
Target target_for(const Record& r, const Template& schema, const Template& table, std::string_view fallback_schema,
                  std::size_t max_bytes = 255);

// {schema} and {table} replaced by the quoted identifiers.
std::string render_ddl(std::string_view ddl_tmpl, const Target& t);

}  // namespace sluice::sql
