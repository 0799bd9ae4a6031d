#pragma once
// The NDJSON form of a record, used by the stdout and file sinks and by
// `sluice buffer export`:
// {"time":"2026-11-22T06:10:00.5Z","measurement":"m","origin":"stdin","tags":{..},"fields":{..}}

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"

namespace sluice {

void append_json_string(std::string& out, std::string_view s);
// RFC 3339 UTC with 0, 3, 6 or 9 fractional digits, whichever is exact.
void append_rfc3339(std::string& out, TimeNs t);
// A date, days since 1970-01-01, as YYYY-MM-DD (any int32 day count).
void append_date(std::string& out, std::int64_t days);
// How a double with no fraction is written: Shortest "3" (the records'
// NDJSON), or KeepFraction "3.0", so that a reader that types numbers by
// their form (a table read back, CrateDB's dynamic columns) sees a double.
enum class JsonDouble { Shortest, KeepFraction };
// The record's NDJSON form; KeepFraction where it is read back typed (the
// exec stage's command).
void append_record_json(std::string& out, const Record& r, JsonDouble form = JsonDouble::Shortest);
// A field value as JSON, the one writer of every JSON output (records, table
// values, CrateDB rows): strings escaped, integers as digits, booleans,
// doubles in their shortest round-trip form (see JsonDouble); NaN and
// infinities, which JSON lacks, as null.
void append_field_value_json(std::string& out, const FieldValue& v, JsonDouble form = JsonDouble::Shortest);
// Fields as a JSON object: {"name":value,...}, in order.
void append_fields_json(std::string& out, const std::vector<Field>& fields, JsonDouble form = JsonDouble::Shortest);
// Tags as a JSON object of strings: {"name":"value",...}, in order.
void append_tags_json(std::string& out, const std::vector<Tag>& tags);
// Shortest round-trip decimal of a finite double, and an integer's digits.
void append_double(std::string& out, double d);
void append_int(std::string& out, std::int64_t i);

}  // namespace sluice
