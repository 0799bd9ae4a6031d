#pragma once
// Records read back from their NDJSON form (core/record_json.hpp): what an
// exec decoder's or exec stage's command answers.
// {"time":"2026-11-22T06:10:00.5Z","measurement":"m","origin":"o","tags":{"k":"v"},"fields":{"x":1.5}}
// - time: RFC 3339 / ISO 8601 text, or an epoch number (unit by magnitude,
//   see timestamp.hpp);
// - tags: strings (numbers and booleans are taken as their text);
// - fields: numbers (integers stay integers, "1.0" is a double), booleans,
//   strings; null gives no field; objects and arrays are refused;
// - any other member is refused, so that a misspelt name is not silently
//   lost. Members left out keep what `r` held before.

#include <string>
#include <string_view>
#include <vector>

#include "core/component.hpp"
#include "core/record.hpp"
#include "text/json.hpp"

namespace sluice::decoders {

// Fills `r` from `v`; false with `error` set (naming the member) when `v`
// is not a record.
bool record_from_json(const JsonValue& v, Record& r, std::string& error);

// Both take at most 10,000 records from one answer (more is an error).
// An exec decoder's answer line: {"records":[...]} (Ok, each record
// starting from `base`), {"error":"..."} (Broken with that reason) or
// {"not_mine":true}. Anything else is Broken with the reason. `out` is
// appended to only on Ok.
DecodeStatus read_decoder_answer(std::string_view line, const Record& base, std::vector<Record>& out,
                                 std::string& error);
// An exec stage's answer line for the record `in`: a record (what it
// leaves out stays as `in` had it), an array of them (none: dropped), or
// {"error":"..."}. False with the reason; `out` is appended to only on true.
bool read_stage_answer(std::string_view line, const Record& in, std::vector<Record>& out, std::string& error);

}  // namespace sluice::decoders
