#pragma once
// A protobuf message type as the decoder needs it, read from a
// FileDescriptorSet (`protoc --include_imports --descriptor_set_out=F`):
// the message and every message and enum type it reaches, by field number.
// The descriptor set is read with the same wire reader as the payloads,
// using the field numbers of google/protobuf/descriptor.proto.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::decoders::pb {

// FieldDescriptorProto.Type
enum class FieldType : std::uint8_t {
    Double = 1,
    Float = 2,
    Int64 = 3,
    Uint64 = 4,
    Int32 = 5,
    Fixed64 = 6,
    Fixed32 = 7,
    Bool = 8,
    String = 9,
    Group = 10,
    Message = 11,
    Bytes = 12,
    Uint32 = 13,
    Enum = 14,
    Sfixed32 = 15,
    Sfixed64 = 16,
    Sint32 = 17,
    Sint64 = 18,
};

// Message types the decoder knows without a descriptor: a
// google.protobuf.Timestamp is a time, a wrapper (google.protobuf.Int32Value
// and the rest) is its value.
enum class Special : std::uint8_t { None, Timestamp, Wrapper };

struct EnumType {
    std::string name;
    std::vector<std::pair<std::int32_t, std::string>> values;  // sorted by number

    const std::string* find(std::int32_t number) const;
};

struct FieldDesc {
    std::string name;
    std::uint32_t number = 0;
    FieldType type = FieldType::Int32;
    bool repeated = false;
    int message = -1;  // Message/Group: index into Schema::messages
    int enumeration = -1;  // Enum: index into Schema::enums
};

struct MessageType {
    std::string name;  // full name without the leading dot
    std::vector<FieldDesc> fields;
    Special special = Special::None;
    bool map_entry = false;  // a map<K, V> field's entry: key = 1, value = 2

    const FieldDesc* field(std::uint32_t number) const {
        if (number < by_number.size()) {
            const int i = by_number[number];
            return i < 0 ? nullptr : &fields[static_cast<std::size_t>(i)];
        }
        return sparse_field(number);
    }

    // Field index by number, dense up to the largest number below 4096;
    // larger numbers by binary search over sorted.
    std::vector<int> by_number;
    std::vector<int> sorted;

private:
    const FieldDesc* sparse_field(std::uint32_t number) const;
};

struct Schema {
    std::vector<MessageType> messages;  // messages[0] is the one decoded
    std::vector<EnumType> enums;

    // Reads `descriptor_set` and resolves `message` (a full name, such as
    // "plant.Reading"; a leading dot is allowed) and what it reaches.
    // Throws ConfigError naming the problem.
    static Schema load(std::string_view descriptor_set, std::string_view message);
};

}  // namespace sluice::decoders::pb
