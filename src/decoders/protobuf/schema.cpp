#include "decoders/protobuf/schema.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <type_traits>
#include <unordered_map>

#include <fmt/format.h>

#include "core/options.hpp"
#include "decoders/protobuf_wire.hpp"

namespace sluice::decoders::pb {

const std::string* EnumType::find(std::int32_t number) const {
    const auto it = std::lower_bound(values.begin(), values.end(), number,
                                     [](const auto& v, std::int32_t n) { return v.first < n; });
    return it != values.end() && it->first == number ? &it->second : nullptr;
}

const FieldDesc* MessageType::sparse_field(std::uint32_t number) const {
    const auto it = std::lower_bound(sorted.begin(), sorted.end(), number, [this](int i, std::uint32_t n) {
        return fields[static_cast<std::size_t>(i)].number < n;
    });
    return it != sorted.end() && fields[static_cast<std::size_t>(*it)].number == number
               ? &fields[static_cast<std::size_t>(*it)]
               : nullptr;
}

namespace {

// Field numbers of google/protobuf/descriptor.proto (public and stable).
namespace fds {
constexpr std::uint32_t kFile = 1;  // FileDescriptorSet.file
}
namespace file {
constexpr std::uint32_t kPackage = 2;
constexpr std::uint32_t kMessageType = 4;
constexpr std::uint32_t kEnumType = 5;
}  // namespace file
namespace message {
constexpr std::uint32_t kName = 1;
constexpr std::uint32_t kField = 2;
constexpr std::uint32_t kNestedType = 3;
constexpr std::uint32_t kEnumType = 4;
constexpr std::uint32_t kOptions = 7;
constexpr std::uint32_t kOptionMapEntry = 7;  // MessageOptions.map_entry
}  // namespace message
namespace field {
constexpr std::uint32_t kName = 1;
constexpr std::uint32_t kNumber = 3;
constexpr std::uint32_t kLabel = 4;
constexpr std::uint32_t kType = 5;
constexpr std::uint32_t kTypeName = 6;
constexpr std::uint64_t kLabelRepeated = 3;
}  // namespace field
namespace enumeration {
constexpr std::uint32_t kName = 1;
constexpr std::uint32_t kValue = 2;
constexpr std::uint32_t kValueName = 1;
constexpr std::uint32_t kValueNumber = 2;
}  // namespace enumeration

// Message types nest in message types: bounded like payloads.
constexpr int kMaxNesting = 64;
constexpr std::size_t kDenseFieldNumbers = 4096;

struct RawField {
    std::string name;
    std::uint32_t number = 0;
    std::uint64_t label = 0;
    std::uint64_t type = 0;
    std::string type_name;
};

struct RawMessage {
    std::vector<RawField> fields;
    bool map_entry = false;
};

[[noreturn]] void broken(std::string_view what, const Reader& r) {
    throw ConfigError(fmt::format("descriptor set: {} ({}): not a FileDescriptorSet? Write one with protoc "
                                  "--include_imports --descriptor_set_out=FILE",
                                  what, r.error()));
}

// Calls `each(field, type, reader)` for every field of the message in
// `bytes`; `each` reads the value or returns false to have it skipped.
template <class Each>
void fields_of(std::string_view bytes, std::string_view what, Each each) {
    Reader r(bytes);
    while (!r.done()) {
        std::uint32_t f = 0;
        WireType t{};
        if (!r.tag(f, t)) {
            broken(what, r);
        }
        if (!each(f, t, r) && !r.skip(t, f)) {
            broken(what, r);
        }
    }
}

// Reads a field's value into `out` when its wire type fits `out`: a
// varint into an integer, a length-delimited value into a string (a copy)
// or a string_view (into the set). False (to be skipped) when it does not.
template <class T>
bool read(WireType t, Reader& r, T& out, std::string_view what) {
    constexpr bool varint = std::is_same_v<T, std::uint64_t>;
    if (t != (varint ? WireType::Varint : WireType::Len)) {
        return false;
    }
    bool ok = false;
    if constexpr (varint) {
        ok = r.varint(out);
    } else {
        std::string_view s;
        ok = r.len(s);
        out = T(s);
    }
    if (!ok) {
        broken(what, r);
    }
    return true;
}

class Loader {
public:
    void file(std::string_view bytes) {
        std::string package;
        std::vector<std::string_view> messages;
        std::vector<std::string_view> enums;
        fields_of(bytes, "a file", [&](std::uint32_t f, WireType t, Reader& r) {
            std::string_view s;
            switch (f) {
            case file::kPackage:
                return read(t, r, package, "a package name");
            case file::kMessageType:
                return read(t, r, s, "a message type") && (messages.push_back(s), true);
            case file::kEnumType:
                return read(t, r, s, "an enum type") && (enums.push_back(s), true);
            default:
                return false;
            }
        });
        const std::string scope = package.empty() ? "" : "." + package;
        for (const auto m : messages) {
            message(m, scope, 0);
        }
        for (const auto e : enums) {
            enumeration(e, scope);
        }
    }

    Schema resolve(std::string_view root) {
        std::string name = root.starts_with('.') ? std::string(root) : "." + std::string(root);
        Schema s;
        if (index_of(name, s) < 0) {
            throw ConfigError(fmt::format("message '{}' is not in the descriptor set{}", root, known_messages()));
        }
        if (s.messages[0].special != Special::None) {
            throw ConfigError(fmt::format("message '{}' is a well-known type; name a message of your own", root));
        }
        // Breadth first over the types the message reaches.
        for (std::size_t i = 0; i < s.messages.size(); ++i) {
            if (s.messages[i].special != Special::None) {
                continue;
            }
            const RawMessage& raw = messages_.at("." + s.messages[i].name);
            MessageType m;
            m.name = s.messages[i].name;
            m.map_entry = raw.map_entry;
            for (const RawField& rf : raw.fields) {
                m.fields.push_back(field(rf, m.name, s));
            }
            index(m);
            if (m.map_entry) {
                check_map_entry(m);
            }
            s.messages[i] = std::move(m);
        }
        return s;
    }

private:
    void message(std::string_view bytes, const std::string& scope, int depth) {
        if (depth >= kMaxNesting) {
            throw ConfigError(fmt::format("descriptor set: message types nested deeper than {} levels", kMaxNesting));
        }
        std::string name;
        RawMessage m;
        std::vector<std::string_view> nested;
        std::vector<std::string_view> enums;
        fields_of(bytes, "a message type", [&](std::uint32_t f, WireType t, Reader& r) {
            std::string_view s;
            switch (f) {
            case message::kName:
                return read(t, r, name, "a message name");
            case message::kField:
                return read(t, r, s, "a field") && (m.fields.push_back(raw_field(s)), true);
            case message::kNestedType:
                return read(t, r, s, "a nested type") && (nested.push_back(s), true);
            case message::kEnumType:
                return read(t, r, s, "an enum type") && (enums.push_back(s), true);
            case message::kOptions:
                if (!read(t, r, s, "message options")) {
                    return false;
                }
                fields_of(s, "message options", [&](std::uint32_t of, WireType ot, Reader& orr) {
                    std::uint64_t v = 0;
                    if (of == message::kOptionMapEntry && read(ot, orr, v, "map_entry")) {
                        m.map_entry = v != 0;
                        return true;
                    }
                    return false;
                });
                return true;
            default:
                return false;
            }
        });
        const std::string full = scope + "." + name;
        for (const auto n : nested) {
            message(n, full, depth + 1);
        }
        for (const auto e : enums) {
            enumeration(e, full);
        }
        messages_.emplace(full, std::move(m));
    }

    static RawField raw_field(std::string_view bytes) {
        RawField rf;
        fields_of(bytes, "a field", [&](std::uint32_t f, WireType t, Reader& r) {
            std::uint64_t v = 0;
            switch (f) {
            case field::kName:
                return read(t, r, rf.name, "a field name");
            case field::kNumber:
                if (!read(t, r, v, "a field number")) {
                    return false;
                }
                if (v == 0 || v > kMaxFieldNumber) {
                    throw ConfigError(fmt::format("descriptor set: field '{}' has number {}, outside 1 to {}",
                                                  rf.name, static_cast<std::int64_t>(v), kMaxFieldNumber));
                }
                rf.number = static_cast<std::uint32_t>(v);
                return true;
            case field::kLabel:
                return read(t, r, rf.label, "a field label");
            case field::kType:
                return read(t, r, rf.type, "a field type");
            case field::kTypeName:
                return read(t, r, rf.type_name, "a type name");
            default:
                return false;
            }
        });
        return rf;
    }

    void enumeration(std::string_view bytes, const std::string& scope) {
        std::string name;
        EnumType e;
        fields_of(bytes, "an enum type", [&](std::uint32_t f, WireType t, Reader& r) {
            std::string_view s;
            if (f == enumeration::kName) {
                return read(t, r, name, "an enum name");
            }
            if (f != enumeration::kValue || !read(t, r, s, "an enum value")) {
                return false;
            }
            std::pair<std::int32_t, std::string> v;
            fields_of(s, "an enum value", [&](std::uint32_t vf, WireType vt, Reader& vr) {
                std::uint64_t n = 0;
                if (vf == enumeration::kValueName) {
                    return read(vt, vr, v.second, "an enum value name");
                }
                if (vf == enumeration::kValueNumber && read(vt, vr, n, "an enum value number")) {
                    v.first = static_cast<std::int32_t>(n);
                    return true;
                }
                return false;
            });
            e.values.push_back(std::move(v));
            return true;
        });
        // Aliases (allow_alias) share a number: the first name stays.
        std::stable_sort(e.values.begin(), e.values.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        e.values.erase(std::unique(e.values.begin(), e.values.end(),
                                   [](const auto& a, const auto& b) { return a.first == b.first; }),
                       e.values.end());
        e.name = (scope + "." + name).substr(1);
        enums_.emplace("." + e.name, std::move(e));
    }

    // The index of a message type in s.messages, added when new; -1 when
    // the descriptor set does not have it.
    int index_of(const std::string& full, Schema& s) {
        if (const auto it = message_index_.find(full); it != message_index_.end()) {
            return it->second;
        }
        MessageType m;
        m.name = full.substr(1);
        if (full == ".google.protobuf.Timestamp") {
            m.special = Special::Timestamp;
        } else if (const auto* w = wrapper(full)) {
            m.special = Special::Wrapper;
            m.fields.push_back({.name = "value", .number = 1, .type = *w});
            index(m);
        } else if (!messages_.contains(full)) {
            return -1;
        }
        s.messages.push_back(std::move(m));
        const int i = static_cast<int>(s.messages.size() - 1);
        message_index_.emplace(full, i);
        return i;
    }

    static const FieldType* wrapper(std::string_view full) {
        static const std::array<std::pair<std::string_view, FieldType>, 9> kWrappers{{
            {".google.protobuf.DoubleValue", FieldType::Double},
            {".google.protobuf.FloatValue", FieldType::Float},
            {".google.protobuf.Int64Value", FieldType::Int64},
            {".google.protobuf.UInt64Value", FieldType::Uint64},
            {".google.protobuf.Int32Value", FieldType::Int32},
            {".google.protobuf.UInt32Value", FieldType::Uint32},
            {".google.protobuf.BoolValue", FieldType::Bool},
            {".google.protobuf.StringValue", FieldType::String},
            {".google.protobuf.BytesValue", FieldType::Bytes},
        }};
        for (const auto& [name, type] : kWrappers) {
            if (name == full) {
                return &type;
            }
        }
        return nullptr;
    }

    FieldDesc field(const RawField& rf, const std::string& owner, Schema& s) {
        FieldDesc f;
        f.name = rf.name;
        f.number = rf.number;
        f.repeated = rf.label == field::kLabelRepeated;
        const auto where = [&] { return fmt::format("field '{}' of {}", rf.name, owner); };
        if (rf.name.empty() || rf.number == 0) {
            throw ConfigError(fmt::format("descriptor set: a field of {} has no name or number", owner));
        }
        std::uint64_t type = rf.type;
        if (type == 0 && !rf.type_name.empty()) {  // written by hand: the name says which kind
            type = enums_.contains(rf.type_name) ? static_cast<std::uint64_t>(FieldType::Enum)
                                                 : static_cast<std::uint64_t>(FieldType::Message);
        }
        if (type < 1 || type > 18) {
            throw ConfigError(fmt::format("descriptor set: {} has unknown type {}", where(), type));
        }
        f.type = static_cast<FieldType>(type);
        if (f.type == FieldType::Message || f.type == FieldType::Group) {
            f.message = index_of(rf.type_name, s);
            if (f.message < 0) {
                throw ConfigError(fmt::format("descriptor set: {} has type '{}', which is not in the set (write it "
                                              "with protoc --include_imports)",
                                              where(), rf.type_name));
            }
        } else if (f.type == FieldType::Enum) {
            const auto it = enums_.find(rf.type_name);
            if (it == enums_.end()) {
                throw ConfigError(fmt::format("descriptor set: {} has enum type '{}', which is not in the set (write "
                                              "it with protoc --include_imports)",
                                              where(), rf.type_name));
            }
            const auto [e, added] = enum_index_.emplace(rf.type_name, static_cast<int>(s.enums.size()));
            if (added) {
                s.enums.push_back(it->second);
            }
            f.enumeration = e->second;
        }
        return f;
    }

    // A map<K, V> field's entry type: key = 1 of an integer, bool or string
    // type, value = 2.
    static void check_map_entry(const MessageType& m) {
        const FieldDesc* k = m.field(1);
        const FieldDesc* v = m.field(2);
        const bool key_ok = k != nullptr && !k->repeated && k->type != FieldType::Double &&
                            k->type != FieldType::Float && k->type != FieldType::Bytes &&
                            k->type != FieldType::Message && k->type != FieldType::Group &&
                            k->type != FieldType::Enum;
        if (!key_ok || v == nullptr || v->repeated) {
            throw ConfigError(fmt::format("descriptor set: map entry type {} does not have a key (1) of an integer, "
                                          "bool or string type and a value (2)",
                                          m.name));
        }
    }

    static void index(MessageType& m) {
        std::uint32_t max = 0;
        for (std::size_t i = 0; i < m.fields.size(); ++i) {
            max = std::max(max, m.fields[i].number);
            m.sorted.push_back(static_cast<int>(i));
        }
        std::sort(m.sorted.begin(), m.sorted.end(),
                  [&m](int a, int b) { return m.fields[static_cast<std::size_t>(a)].number < m.fields[static_cast<std::size_t>(b)].number; });
        for (std::size_t i = 1; i < m.sorted.size(); ++i) {
            const auto& a = m.fields[static_cast<std::size_t>(m.sorted[i - 1])];
            const auto& b = m.fields[static_cast<std::size_t>(m.sorted[i])];
            if (a.number == b.number) {
                throw ConfigError(fmt::format("descriptor set: fields '{}' and '{}' of {} have the same number {}",
                                              a.name, b.name, m.name, a.number));
            }
        }
        m.by_number.assign(std::min<std::size_t>(max + 1, kDenseFieldNumbers), -1);
        for (std::size_t i = 0; i < m.fields.size(); ++i) {
            if (m.fields[i].number < m.by_number.size()) {
                m.by_number[m.fields[i].number] = static_cast<int>(i);
            }
        }
    }

    std::string known_messages() const {
        std::vector<std::string_view> names;
        for (const auto& [name, m] : messages_) {
            if (!m.map_entry) {
                names.push_back(std::string_view(name).substr(1));
            }
        }
        if (names.empty()) {
            return " (it has no message types)";
        }
        std::sort(names.begin(), names.end());
        std::string out = " (it has ";
        for (std::size_t i = 0; i < names.size() && i < 20; ++i) {
            out += i == 0 ? "" : ", ";
            out += names[i];
        }
        return out + (names.size() > 20 ? fmt::format(" and {} more)", names.size() - 20) : ")");
    }

    std::unordered_map<std::string, RawMessage> messages_;
    std::unordered_map<std::string, EnumType> enums_;
    std::unordered_map<std::string, int> message_index_;
    std::unordered_map<std::string, int> enum_index_;
};

}  // namespace

Schema Schema::load(std::string_view descriptor_set, std::string_view message) {
    Loader loader;
    fields_of(descriptor_set, "the set", [&](std::uint32_t f, WireType t, Reader& r) {
        std::string_view s;
        if (f == fds::kFile && read(t, r, s, "a file")) {
            loader.file(s);
            return true;
        }
        return false;
    });
    return loader.resolve(message);
}

}  // namespace sluice::decoders::pb
