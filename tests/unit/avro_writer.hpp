#pragma once
// Avro's binary encoding (the Avro 1.11 specification), written by hand for
// tests, fuzz seeds and benchmarks, and the schema they share.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sluice::testing::avro {

struct Datum {
    std::string b;
    Datum& lng(std::int64_t v) {
        auto u = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
        while (u >= 0x80) {
            b += static_cast<char>((u & 0x7f) | 0x80);
            u >>= 7;
        }
        b += static_cast<char>(u);
        return *this;
    }
    Datum& str(std::string_view s) {
        lng(static_cast<std::int64_t>(s.size()));
        b.append(s);
        return *this;
    }
    Datum& dbl(double d) {
        char c[8];
        std::memcpy(c, &d, 8);
        b.append(c, 8);
        return *this;
    }
    Datum& flt(float f) {
        char c[4];
        std::memcpy(c, &f, 4);
        b.append(c, 4);
        return *this;
    }
    Datum& raw(std::string_view s) {
        b.append(s);
        return *this;
    }
};

inline constexpr std::string_view kSchema = R"({
  "type": "record", "name": "Reading", "namespace": "plant",
  "fields": [
    {"name": "device", "type": "string"},
    {"name": "temperature", "type": "double"},
    {"name": "count", "type": "long"},
    {"name": "ok", "type": "boolean"},
    {"name": "time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "location", "type": {"type": "record", "name": "Location",
      "fields": [{"name": "lat", "type": "float"}, {"name": "lon", "type": "float"}]}},
    {"name": "samples", "type": {"type": "array", "items": "int"}},
    {"name": "extra", "type": {"type": "map", "values": "double"}},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OK", "FAULT"]}},
    {"name": "note", "type": ["null", "string"]},
    {"name": "raw", "type": "bytes"},
    {"name": "id", "type": {"type": "fixed", "name": "Id", "size": 4}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}},
    {"name": "marks", "type": {"type": "array", "items": {"type": "long", "logicalType": "timestamp-micros"}}},
    {"name": "next", "type": ["null", "Reading"]}
  ]
})";

// A reading as a device would write it; `next` null.
inline Datum reading(std::string_view device, double temperature) {
    Datum d;
    d.str(device).dbl(temperature).lng(-42).raw("\x01").lng(1'700'000'000'250);
    d.flt(47.5F).flt(8.25F);
    d.lng(3).lng(1).lng(2).lng(300).lng(0);             // samples: one block of 3
    d.lng(-1).lng(13).str("pressure").dbl(1013.5).lng(0);  // extra: a block with its size
    d.lng(1);                                           // FAULT
    d.lng(1).str("hello");                              // note: the string branch
    d.str(std::string("\x00\xff", 2));
    d.raw("abcd");
    d.lng(19'675);                   // 2023-11-14
    d.str(std::string("\xff\x38", 2));  // -200 → -2.00
    d.lng(1).lng(1'700'000'000'000'001).lng(0);
    d.lng(0);  // next: null
    return d;
}

}  // namespace sluice::testing::avro
