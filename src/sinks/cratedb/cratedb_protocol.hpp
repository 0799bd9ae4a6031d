#pragma once
// The pure parts of the CrateDB sink (no I/O), kept apart so unit tests can
// reach them: table naming, request bodies, response parsing and the
// error-code table.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/record.hpp"
#include "text/json.hpp"
#include "text/sql_naming.hpp"
#include "text/template.hpp"

namespace sluice::cratedb {

using sql::quote_identifier;
using sql::render_ddl;
using sql::sanitise_identifier;
using sql::Target;

// Parses a schema or table option in the one template dialect
// (text/template.hpp). `{kind}`, the measurement's old name here, is read as
// `{measurement}`; `used_kind` tells the caller to warn that it is deprecated.
std::optional<Template> naming_template(std::string_view text, std::string* error, bool* used_kind = nullptr);

// Schema: template, or "doc" when the record lacks a name. Table: template,
// or the measurement, or "readings" when the measurement is empty too.
Target target_for(const Record& r, const Template& schema, const Template& table);

inline constexpr std::string_view kDefaultDdl =
    "CREATE TABLE IF NOT EXISTS {schema}.{table} (ts TIMESTAMP WITH TIME ZONE, tags OBJECT(DYNAMIC), "
    "fields OBJECT(DYNAMIC), month TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('month', ts)) "
    "PARTITIONED BY (month)";

std::string insert_statement(const Target& t);
// {"stmt": ..., "bulk_args": [[ts_ms, {tags}, {fields}], ...]}
std::string bulk_body(const Target& t, std::span<const Record* const> rows);
std::string stmt_body(std::string_view stmt);

enum class Action { Retry, Reject, CreateTable, AlreadyExists };
// Maps a CrateDB error code (error.code) to what the sink does.
Action action_for_code(std::int64_t code);

struct SqlError {
    std::int64_t code = 0;
    std::string message;
};
// The error of a non-2xx answer ({"error": {"message", "code"}}), if any.
std::optional<SqlError> parse_error(std::string_view body);

struct RowResult {
    bool ok = true;
    std::string message;  // for a refused row
};
// The per-row results of a bulk answer; nullopt (with error) when the body
// is not a bulk answer or has the wrong number of results.
std::optional<std::vector<RowResult>> parse_bulk_results(std::string_view body, std::size_t expected,
                                                         std::string* error);

}  // namespace sluice::cratedb
