#pragma once
// The pure parts of the PostgreSQL sink (no libpq), kept apart so unit tests
// reach them: the table layout (ts, tags jsonb, fields jsonb and the typed
// columns chosen in `columns`), the statements, a record's values in
// PostgreSQL's text input form, COPY's text format, the SQLSTATE table, and
// the search for the rows a server refuses.

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/record.hpp"
#include "text/sql_naming.hpp"

namespace sluice::postgresql {

// PostgreSQL cuts identifiers to NAMEDATALEN - 1 bytes.
inline constexpr std::size_t kMaxIdentifier = 63;
// Bind parameters of one statement (the protocol counts them in 16 bits).
inline constexpr std::size_t kMaxParameters = 65535;

// A typed column that takes the value of the tag or field of the same name.
struct Column {
    std::string source;  // tag or field name, as in the record
    std::string name;    // the column: source, sanitised
    std::string type;    // SQL type as written ("double precision")
};

struct Layout {
    std::vector<Column> columns;   // after ts, tags, fields
    std::vector<std::string> key;  // "ts" and column names; empty: no key (COPY)
    std::size_t width() const { return 3 + columns.size(); }
};

// From the `columns` option ("temperature=double precision", "node=text")
// and the `key` option (["ts", "node"]: each "ts" or a column). Nullopt with
// `error` naming the entry for anything malformed.
std::optional<Layout> make_layout(const std::vector<std::string>& columns, const std::vector<std::string>& key,
                                  std::string* error);

// The statements that create a table of the default shape: CREATE TABLE IF
// NOT EXISTS ... (ts timestamptz NOT NULL, tags jsonb, fields jsonb, the
// typed columns, PRIMARY KEY (key) when one is set), then an index on ts
// unless the key already starts with it.
std::vector<std::string> default_ddl(const Layout& l, const sql::Target& t);
std::string create_schema(const sql::Target& t);

// COPY "schema"."table" (ts, tags, fields, ...) FROM STDIN
std::string copy_statement(const Layout& l, const sql::Target& t);
// INSERT INTO ... VALUES ($1, ..), (..) ... ON CONFLICT (key) DO NOTHING
// for `rows` rows.
std::string insert_statement(const Layout& l, const sql::Target& t, std::size_t rows);
// Rows per INSERT statement: as many as fit the parameter limit, at most 1000.
std::size_t insert_rows_per_statement(const Layout& l);

// A record's values in column order as PostgreSQL's text input (nullopt:
// NULL): ts as RFC 3339 (PostgreSQL keeps microseconds), tags and fields
// not mapped to a column as JSON objects, each column's tag or field as
// text. `out` is resized and its strings reused. False (with `why`) when a
// value cannot be stored: a NUL byte outside JSON, which no PostgreSQL text
// holds.
bool row_values(const Record& r, const Layout& l, std::vector<std::optional<std::string>>& out, std::string* why);
// One line of COPY's text format: tab-separated, \N for NULL, backslash,
// tab, newline and carriage return escaped.
void append_copy_row(std::string& out, std::span<const std::optional<std::string>> values);

enum class Action {
    Retry,         // connection, resources, permissions, a mistake in the DDL: keep the rows
    Reject,        // the row's data (class 22, 23): dead letter
    CreateTable,   // 42P01: the table is missing (dropped behind the sink's back)
    CreateSchema,  // 3F000: the schema is missing
};
Action action_for_sqlstate(std::string_view sqlstate);

// The 1-based line of a COPY error's context ("COPY t, line 37, column x:
// ..."), 0 if it names none.
std::size_t copy_line(std::string_view context);

// One try at writing some rows, in a subtransaction the caller rolls back
// when it fails.
struct Attempt {
    enum Kind { Written, Refused, Failed } kind = Written;
    std::string message;  // Refused, Failed: the server's (or libpq's) words
    // Refused: the refused row is among rows[from, to) of the attempt, and
    // rows before `from` were accepted. {0, 0}: anywhere.
    std::size_t from = 0;
    std::size_t to = 0;
};
using WriteRows = std::function<Attempt(std::span<const std::size_t> rows)>;

// Writes `rows` (batch indices) through `write`; a refused attempt is split
// until each refused row stands alone, using the attempt's hint while few
// rows were refused and halving after that, so a batch of n rows with b bad
// ones takes O(b log n) attempts. Refused rows are added to `rejected` with
// the server's message. Empty on success, else the message of a Failed attempt.
std::string write_isolating(std::span<const std::size_t> rows, const WriteRows& write,
                            std::vector<std::pair<std::size_t, std::string>>& rejected);

}  // namespace sluice::postgresql
