#pragma once
// How a sink writes one record as a message payload: json, influx line
// protocol or one field raw. Shared by the sinks that send a message per
// record (kafka, mqtt), with their `format` and `raw_field` options.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "core/record.hpp"

namespace sluice::payload {

enum class Format { Json, Influx, Raw };

std::optional<Format> parse_format(std::string_view name);

// Appends one record in line protocol (no trailing newline). Returns false,
// with `error`, when the record has no field line protocol can carry.
bool append_influx_line(std::string& out, const Record& r, std::string* error);

// The payload of one message. Raw: the string field `raw_field` as is
// (numbers and booleans as text), or the record's JSON when it is absent.
bool encode_payload(Format format, std::string_view raw_field, const Record& r, std::string& out,
                    std::string* error);
// The same, appended to `out` (left as it was when it returns false): a sink
// may format a whole batch into one buffer.
bool append_payload(Format format, std::string_view raw_field, const Record& r, std::string& out,
                    std::string* error);

// The `format` and `raw_field` options, worded once for every sink.
std::vector<OptionSpec> option_specs();

}  // namespace sluice::payload
