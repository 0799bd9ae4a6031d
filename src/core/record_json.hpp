#pragma once
// The NDJSON form of a record, used by the stdout and file sinks and by
// `sluice buffer export`:
// {"time":"2026-11-22T06:10:00.5Z","measurement":"m","origin":"stdin","tags":{..},"fields":{..}}

#include <cstdint>
#include <string>
#include <string_view>

#include "core/record.hpp"

namespace sluice {

void append_json_string(std::string& out, std::string_view s);
// RFC 3339 UTC with 0, 3, 6 or 9 fractional digits, whichever is exact.
void append_rfc3339(std::string& out, TimeNs t);
void append_record_json(std::string& out, const Record& r);
// Shortest round-trip decimal of a finite double, and an integer's digits.
void append_double(std::string& out, double d);
void append_int(std::string& out, std::int64_t i);

}  // namespace sluice
