#pragma once
// Writes protobuf wire format for tests, fuzz seeds and benchmarks: payloads
// field by field, and the FileDescriptorSet of a schema of our own (the
// field numbers of google/protobuf/descriptor.proto), so that the decoder
// can be tested without protoc. tests/integration/test_protobuf.py checks
// the same decoder against protoc's own descriptor sets.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::testing::pb {

class Message {
public:
    Message& varint(std::uint32_t field, std::uint64_t v) {
        tag(field, 0);
        put_varint(v);
        return *this;
    }
    Message& sint(std::uint32_t field, std::int64_t v) {
        return varint(field, (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
    }
    Message& fixed64(std::uint32_t field, std::uint64_t v) {
        tag(field, 1);
        put_le(v, 8);
        return *this;
    }
    Message& fixed32(std::uint32_t field, std::uint32_t v) {
        tag(field, 5);
        put_le(v, 4);
        return *this;
    }
    Message& f64(std::uint32_t field, double d) {
        std::uint64_t u = 0;
        std::memcpy(&u, &d, sizeof u);
        return fixed64(field, u);
    }
    Message& f32(std::uint32_t field, float f) {
        std::uint32_t u = 0;
        std::memcpy(&u, &f, sizeof u);
        return fixed32(field, u);
    }
    Message& bytes(std::uint32_t field, std::string_view s) {
        tag(field, 2);
        put_varint(s.size());
        out_.append(s);
        return *this;
    }
    Message& message(std::uint32_t field, const Message& m) { return bytes(field, m.out_); }
    // Packed varints.
    Message& packed(std::uint32_t field, const std::vector<std::uint64_t>& vs) {
        Message run;
        for (const auto v : vs) {
            run.put_varint(v);
        }
        return bytes(field, run.out_);
    }
    Message& raw(std::string_view s) {
        out_.append(s);
        return *this;
    }
    Message& tag(std::uint32_t field, int wire_type) {
        put_varint((static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint64_t>(wire_type));
        return *this;
    }
    const std::string& str() const { return out_; }

private:
    void put_varint(std::uint64_t v) {
        while (v >= 0x80) {
            out_ += static_cast<char>((v & 0x7f) | 0x80);
            v >>= 7;
        }
        out_ += static_cast<char>(v);
    }
    void put_le(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) {
            out_ += static_cast<char>((v >> (8 * i)) & 0xff);
        }
    }
    std::string out_;
};

// FieldDescriptorProto.Type and .Label values.
enum Type : int {
    kDouble = 1, kFloat = 2, kInt64 = 3, kUint64 = 4, kInt32 = 5, kFixed64 = 6, kFixed32 = 7, kBool = 8,
    kString = 9, kGroup = 10, kMessage = 11, kBytes = 12, kUint32 = 13, kEnum = 14, kSfixed32 = 15,
    kSfixed64 = 16, kSint32 = 17, kSint64 = 18,
};

struct FieldSpec {
    std::string name;
    std::uint32_t number;
    int type;
    bool repeated = false;
    std::string type_name;  // ".pkg.Type" for messages and enums
};

inline Message field_type(const FieldSpec& f) {
    Message m;
    m.bytes(1, f.name).varint(3, f.number).varint(4, f.repeated ? 3 : 1).varint(5, static_cast<std::uint64_t>(f.type));
    if (!f.type_name.empty()) {
        m.bytes(6, f.type_name);
    }
    return m;
}

inline Message message_type(std::string_view name, const std::vector<FieldSpec>& fields,
                            const std::vector<Message>& nested = {}, const std::vector<Message>& enums = {},
                            bool map_entry = false) {
    Message m;
    m.bytes(1, name);
    for (const auto& f : fields) {
        m.message(2, field_type(f));
    }
    for (const auto& n : nested) {
        m.message(3, n);
    }
    for (const auto& e : enums) {
        m.message(4, e);
    }
    if (map_entry) {
        m.message(7, Message().varint(7, 1));
    }
    return m;
}

inline Message enum_type(std::string_view name, const std::vector<std::pair<std::string, int>>& values) {
    Message e;
    e.bytes(1, name);
    for (const auto& [n, v] : values) {
        e.message(2, Message().bytes(1, n).varint(2, static_cast<std::uint64_t>(static_cast<std::int64_t>(v))));
    }
    return e;
}

inline Message file(std::string_view name, std::string_view package, const std::vector<Message>& messages,
                    const std::vector<Message>& enums = {}) {
    Message f;
    f.bytes(1, name).bytes(2, package);
    for (const auto& m : messages) {
        f.message(4, m);
    }
    for (const auto& e : enums) {
        f.message(5, e);
    }
    return f;
}

inline std::string descriptor_set(const std::vector<Message>& files) {
    Message s;
    for (const auto& f : files) {
        s.message(1, f);
    }
    return s.str();
}

// The schema of the tests, benches and fuzz seeds, as .proto:
//
//   package plant;
//   message Reading {
//     message Location { double lat = 1; double lon = 2; }
//     enum Status { UNKNOWN = 0; OK = 1; FAULT = 2; }
//     string device = 1;  double temperature = 2;  sint32 offset = 3;
//     repeated int32 samples = 4;  Location location = 5;
//     google.protobuf.Timestamp time = 6;  Status status = 7;
//     map<string, double> extra = 8;  bytes raw = 9;
//     repeated Reading children = 10;  google.protobuf.DoubleValue humidity = 11;
//     uint64 counter = 12;  bool ok = 13;  float ratio = 14;
//     fixed32 f32 = 15;  sfixed64 s64 = 16;  map<int32, Location> spots = 17;
//     group Legacy = 18 { int32 a = 1; }   (proto2)
//     repeated google.protobuf.Timestamp marks = 19;  map<bool, string> flags = 20;
//   }
//   message Batch { string gateway = 1; repeated Reading readings = 2;
//                   google.protobuf.Timestamp time = 3; }
//
// google.protobuf.Timestamp and DoubleValue are left out of the set on
// purpose: the decoder knows them by name.
inline std::string plant_descriptor_set() {
    const Message location = message_type("Location", {{"lat", 1, kDouble}, {"lon", 2, kDouble}});
    const Message status = enum_type("Status", {{"UNKNOWN", 0}, {"OK", 1}, {"FAULT", 2}});
    const Message extra_entry =
        message_type("ExtraEntry", {{"key", 1, kString}, {"value", 2, kDouble}}, {}, {}, true);
    const Message spots_entry = message_type(
        "SpotsEntry", {{"key", 1, kInt32}, {"value", 2, kMessage, false, ".plant.Reading.Location"}}, {}, {}, true);
    const Message legacy = message_type("Legacy", {{"a", 1, kInt32}});
    const Message flags_entry =
        message_type("FlagsEntry", {{"key", 1, kBool}, {"value", 2, kString}}, {}, {}, true);
    const Message reading = message_type(
        "Reading",
        {{"device", 1, kString},
         {"temperature", 2, kDouble},
         {"offset", 3, kSint32},
         {"samples", 4, kInt32, true},
         {"location", 5, kMessage, false, ".plant.Reading.Location"},
         {"time", 6, kMessage, false, ".google.protobuf.Timestamp"},
         {"status", 7, kEnum, false, ".plant.Reading.Status"},
         {"extra", 8, kMessage, true, ".plant.Reading.ExtraEntry"},
         {"raw", 9, kBytes},
         {"children", 10, kMessage, true, ".plant.Reading"},
         {"humidity", 11, kMessage, false, ".google.protobuf.DoubleValue"},
         {"counter", 12, kUint64},
         {"ok", 13, kBool},
         {"ratio", 14, kFloat},
         {"f32", 15, kFixed32},
         {"s64", 16, kSfixed64},
         {"spots", 17, kMessage, true, ".plant.Reading.SpotsEntry"},
         {"legacy", 18, kGroup, false, ".plant.Reading.Legacy"},
         {"marks", 19, kMessage, true, ".google.protobuf.Timestamp"},
         {"flags", 20, kMessage, true, ".plant.Reading.FlagsEntry"}},
        {location, extra_entry, spots_entry, legacy, flags_entry}, {status});
    const Message batch = message_type("Batch", {{"gateway", 1, kString},
                                                 {"readings", 2, kMessage, true, ".plant.Reading"},
                                                 {"time", 3, kMessage, false, ".google.protobuf.Timestamp"}});
    return descriptor_set({file("plant.proto", "plant", {reading, batch})});
}

inline Message timestamp(std::int64_t seconds, std::int32_t nanos) {
    Message t;
    t.varint(1, static_cast<std::uint64_t>(seconds));
    if (nanos != 0) {
        t.varint(2, static_cast<std::uint64_t>(static_cast<std::int64_t>(nanos)));
    }
    return t;
}

// A plant.Reading as a device would send it.
inline Message plant_reading(std::string_view device, double temperature, std::int64_t seconds) {
    Message r;
    r.bytes(1, device)
        .f64(2, temperature)
        .sint(3, -3)
        .packed(4, {1, 2, 300})
        .message(5, Message().f64(1, 47.5).f64(2, 8.25))
        .message(6, timestamp(seconds, 250'000'000))
        .varint(7, 2)
        .message(8, Message().bytes(1, "pressure").f64(2, 1013.5))
        .message(11, Message().f64(1, 41.5))
        .varint(12, 18'000'000'000'000'000'000ULL)
        .varint(13, 1);
    return r;
}

}  // namespace sluice::testing::pb
