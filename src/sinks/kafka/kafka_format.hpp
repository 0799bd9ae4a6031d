#pragma once
// The librdkafka-free half of the kafka sink: the payload forms (json,
// influx line protocol, raw) and Kafka's murmur2, kept apart so unit tests
// need neither a broker nor librdkafka. Topics and keys are text/template.hpp.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"

namespace sluice::kafka {

enum class Format { Json, Influx, Raw };

std::optional<Format> parse_format(std::string_view name);

// Appends one record in line protocol (no trailing newline). Returns false,
// with `error`, when the record has no field line protocol can carry.
bool append_influx_line(std::string& out, const Record& r, std::string* error);

// The payload of one Kafka message. Raw: the string field `raw_field` as is
// (numbers and booleans as text), or the record's JSON when it is absent.
bool encode_payload(Format format, std::string_view raw_field, const Record& r, std::string& out,
                    std::string* error);
// The same, appended to `out` (left as it was when it returns false): the
// sink formats a whole batch into one buffer that librdkafka then refers to.
bool append_payload(Format format, std::string_view raw_field, const Record& r, std::string& out,
                    std::string* error);

// Kafka's murmur2 as the Java client computes it (seed 0x9747b28c), and the
// partition it picks for a key: (murmur2(key) & 0x7fffffff) % partitions.
std::uint32_t murmur2(std::string_view key);
std::int32_t murmur2_partition(std::string_view key, std::int32_t partitions);

}  // namespace sluice::kafka
