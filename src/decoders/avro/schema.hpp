#pragma once
// An Avro schema (avro.apache.org/docs/1.11.1/specification) read from its
// JSON form into a graph of nodes the decoder walks: primitives, records,
// enums, arrays, maps, unions, fixed, named types referenced by name (so
// recursive types are cycles of indices), and the logical types sluice
// maps (timestamps, date, decimal).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::decoders::avro {

enum class Kind : std::uint8_t { Null, Boolean, Int, Long, Float, Double, Bytes, String, Record, Enum, Array, Map,
                                 Union, Fixed };

enum class Logical : std::uint8_t {
    None,
    TimestampMillis,  // and local-timestamp-millis
    TimestampMicros,  // and local-timestamp-micros
    TimestampNanos,   // and local-timestamp-nanos (Avro 1.12)
    Date,
    Decimal,
};

struct Node {
    Kind kind = Kind::Null;
    Logical logical = Logical::None;
    std::string name;                               // records, enums, fixed: the full name
    std::vector<std::pair<std::string, int>> fields;  // records: name, node
    std::vector<std::string> symbols;               // enums
    std::vector<int> branches;                      // unions
    int items = -1;                                 // arrays: the items' node; maps: the values'
    std::size_t size = 0;                           // fixed
    int scale = 0;                                  // decimal
};

struct Schema {
    std::vector<Node> nodes;
    int root = -1;  // a record

    // Throws ConfigError naming what is wrong (a JSON error with its offset,
    // an unknown type name, a record without fields, ...).
    static Schema parse(std::string_view json);
};

}  // namespace sluice::decoders::avro
