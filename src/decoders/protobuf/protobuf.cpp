// Protobuf messages into records, driven by a descriptor set the user
// gives: a small dynamic decoder of the wire format (decoders/protobuf_wire.hpp)
// walking the message type's fields straight into the shared RecordTree.
// Time is linear in the frame: each byte is read once (a records_field
// frame twice), a field is found by number in constant time, and nesting,
// names and copies are bounded.

#include "decoders/protobuf/protobuf.hpp"

#include <charconv>
#include <unordered_map>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/record_json.hpp"
#include "decoders/decoder_options.hpp"
#include "decoders/protobuf_wire.hpp"
#include "decoders/record_tree.hpp"
#include "text/text_value.hpp"

namespace sluice::decoders {
namespace {

using pb::FieldDesc;
using pb::FieldType;
using pb::MessageType;
using pb::Reader;
using pb::Special;
using pb::WireType;

// The largest descriptor set read (protoc's for a big schema with its
// imports is some hundred KiB).
constexpr std::size_t kMaxDescriptorSetBytes = 16 * 1024 * 1024;

WireType wire_type_of(FieldType t) {
    switch (t) {
    case FieldType::Double:
    case FieldType::Fixed64:
    case FieldType::Sfixed64:
        return WireType::I64;
    case FieldType::Float:
    case FieldType::Fixed32:
    case FieldType::Sfixed32:
        return WireType::I32;
    case FieldType::String:
    case FieldType::Bytes:
    case FieldType::Message:
        return WireType::Len;
    case FieldType::Group:
        return WireType::StartGroup;
    default:
        return WireType::Varint;
    }
}

// Repeated scalars may come packed: all values in one length-delimited run.
bool packable(FieldType t) {
    const WireType w = wire_type_of(t);
    return w == WireType::Varint || w == WireType::I64 || w == WireType::I32;
}

bool accepts(const FieldDesc& f, WireType t) {
    return t == wire_type_of(f.type) || (f.repeated && t == WireType::Len && packable(f.type));
}

// Per nesting level: how many elements each repeated field has had so
// far (they may come apart, between other fields), cleared on the next
// message at that level by the fields touched only.
struct Counts {
    std::vector<std::uint32_t> n;
    std::vector<std::size_t> touched;
    void reset(std::size_t fields) {
        for (const std::size_t i : touched) {
            n[i] = 0;
        }
        touched.clear();
        if (n.size() < fields) {
            n.resize(fields, 0);
        }
    }
    std::uint32_t next(std::size_t i) {
        if (n[i] == 0) {
            touched.push_back(i);
        }
        return n[i]++;
    }
};

class Parser {
public:
    Parser(const ProtobufConfig& config, RecordTree& tree)
        : config_(config), tree_(tree), counts_(RecordTree::kMaxDepth + 2) {
        const MessageType& root = config_.schema.messages[0];
        for (const FieldDesc& f : root.fields) {
            if (f.name == config_.records_field) {
                records_ = &f;
            }
        }
    }

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) {
        const MessageType& root = config_.schema.messages[0];
        Reader r(frame.payload);
        begin_ = r.pos();
        // Not ours unless the frame starts with a field of the message in
        // its wire type: text and other binary formats fail this at once.
        std::uint32_t number = 0;
        WireType type{};
        if (r.done() || !r.tag(number, type) || root.field(number) == nullptr ||
            !accepts(*root.field(number), type)) {
            return DecodeStatus::NotMine;
        }
        const std::size_t first = out.size();
        tree_.start_frame(frame.payload.size());
        error_.clear();
        path_.clear();
        const bool ok = records_ == nullptr ? one_record(frame, out) : divided(frame, out);
        if (ok) {
            return DecodeStatus::Ok;
        }
        error = !error_.empty() ? error_ : tree_.error();
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
        return DecodeStatus::Broken;
    }

private:
    bool one_record(const Frame& frame, std::vector<Record>& out) {
        Reader r(frame.payload);
        tree_.reset(out, frame.origin);
        return tree_.start_object() && body(config_.schema.messages[0], r, 0, 0, 0) && tree_.end_object();
    }

    // One record per element of the records field, each with the
    // message's other fields (and its time when the element has none).
    bool divided(const Frame& frame, std::vector<Record>& out) {
        const MessageType& root = config_.schema.messages[0];
        const MessageType& element = config_.schema.messages[static_cast<std::size_t>(records_->message)];
        const std::size_t first = out.size();
        Reader r(frame.payload);
        tree_.reset(out, frame.origin);
        tree_.start_array();
        while (!r.done()) {
            std::uint32_t number = 0;
            WireType type{};
            if (!tag(r, number, type)) {
                return false;
            }
            if (number != records_->number || type != WireType::Len) {
                if (!r.skip(type, number)) {
                    return wire_error(r);
                }
                continue;
            }
            std::string_view s;
            if (!r.len(s)) {
                return wire_error(r);
            }
            Reader sub(s);
            path_ = records_->name;
            if (!tree_.start_object() || !body(element, sub, 1, 0, 0) || !tree_.end_object()) {
                return false;
            }
        }
        tree_.end_array();

        common_.clear();
        Reader again(frame.payload);
        tree_.reset(common_, frame.origin);
        path_.clear();
        if (!tree_.start_object() || !body(root, again, 0, 0, records_->number) || !tree_.end_object()) {
            return false;
        }
        const Record& c = common_.front();
        std::size_t copied = 0;
        for (const Field& f : c.fields) {
            copied += f.name.size() + (std::holds_alternative<std::string>(f.value)
                                           ? std::get<std::string>(f.value).size()
                                           : sizeof(f.value));
        }
        // The copies count against the frame's name budget with the
        // elements' own names: a small frame cannot fan out into much more.
        std::size_t used = 0;
        for (std::size_t i = first; i < out.size(); ++i) {
            for (const Field& f : out[i].fields) {
                used += f.name.size();
            }
        }
        const std::size_t budget = frame.payload.size() * RecordTree::kNameBudgetFactor + RecordTree::kNameBudgetSlack;
        if (used + copied * (out.size() - first) > budget) {
            return fail(fmt::format("copying the message's other fields ({} bytes) into {} records would take more "
                                    "than {} bytes",
                                    copied, out.size() - first, budget));
        }
        // Each record gets the common fields it has none of by name: one
        // pass over its own fields, names looked up in a hash map.
        common_index_.clear();
        for (std::size_t j = 0; j < c.fields.size(); ++j) {
            common_index_.insert_or_assign(c.fields[j].name, j);
        }
        for (std::size_t i = first; i < out.size(); ++i) {
            Record& rec = out[i];
            taken_.assign(c.fields.size(), false);
            for (const Field& f : rec.fields) {
                if (const auto it = common_index_.find(f.name); it != common_index_.end()) {
                    taken_[it->second] = true;
                }
            }
            for (std::size_t j = 0; j < c.fields.size(); ++j) {
                if (!taken_[j]) {
                    rec.fields.push_back(c.fields[j]);
                }
            }
            if (rec.time_ns == 0) {  // no time of its own (an epoch 0 looks the same)
                rec.time_ns = c.time_ns;
            }
        }
        return true;
    }

    bool fail(std::string_view why) {
        if (error_.empty()) {
            error_ = path_.empty() ? fmt::format("protobuf: {}", why)
                                   : fmt::format("protobuf: {} (field '{}')", why, path_);
        }
        return false;
    }
    bool wire_error(const Reader& r) {
        return fail(fmt::format("{} at offset {}", r.error(), r.pos() - begin_));
    }
    bool tag(Reader& r, std::uint32_t& number, WireType& type) { return r.tag(number, type) || wire_error(r); }

    // The fields of message `m` from `r` into the tree's current object,
    // up to the end of `r` or, for a group, its end tag. `skip` names a
    // field to pass over (the records field).
    bool body(const MessageType& m, Reader& r, std::size_t depth, std::uint32_t group, std::uint32_t skip) {
        if (depth >= counts_.size()) {  // the tree stops nesting first
            return fail("nested too deep");
        }
        Counts& counts = counts_[depth];
        counts.reset(m.fields.size());
        const std::size_t path_len = path_.size();
        while (!r.done()) {
            path_.resize(path_len);
            std::uint32_t number = 0;
            WireType type{};
            if (!tag(r, number, type)) {
                return false;
            }
            if (type == WireType::EndGroup) {
                return number == group && group != 0 ? true : fail("a group end that does not match");
            }
            const FieldDesc* f = number == skip ? nullptr : m.field(number);
            if (f == nullptr || !accepts(*f, type)) {
                // Unknown fields (a newer schema's) and ones in another wire
                // type are passed over, as protobuf's own parsers do.
                if (!r.skip(type, number)) {
                    return wire_error(r);
                }
                continue;
            }
            if (path_len != 0) {
                path_ += config_.separator;
            }
            path_ += f->name;
            const std::size_t index = static_cast<std::size_t>(f - m.fields.data());
            bool ok = false;
            if (f->repeated && type == WireType::Len && packable(f->type)) {
                ok = packed(*f, r, counts, index);
            } else if (f->repeated && f->message >= 0 && message_type(*f).map_entry) {
                ok = map_entry(*f, r, depth);
            } else if (f->repeated) {
                ok = element_key(*f, counts.next(index)) && value(*f, type, r, depth, false);
            } else {
                ok = tree_.key(f->name) && value(*f, type, r, depth, true);
            }
            if (!ok) {
                return false;
            }
        }
        path_.resize(path_len);
        return group == 0 ? true : fail("a group without its end");
    }

    const MessageType& message_type(const FieldDesc& f) const {
        return config_.schema.messages[static_cast<std::size_t>(f.message)];
    }

    // "name<separator>index" as the key of a repeated field's element.
    bool element_key(const FieldDesc& f, std::uint32_t index) {
        key_ = f.name;
        key_ += config_.separator;
        char buf[16];
        const auto res = std::to_chars(buf, buf + sizeof buf, index);
        key_.append(buf, res.ptr);
        return tree_.key(key_);
    }

    bool packed(const FieldDesc& f, Reader& r, Counts& counts, std::size_t index);
    bool map_entry(const FieldDesc& f, Reader& r, std::size_t depth);

    // One value of field `f` (its key given) in wire type `type`. `single`:
    // not an element of a repeated or map field, so a Timestamp may be the
    // record's time (the tree decides by the level).
    bool value(const FieldDesc& f, WireType type, Reader& r, std::size_t depth, bool single) {
        switch (type) {
        case WireType::Varint: {
            std::uint64_t v = 0;
            return (r.varint(v) || wire_error(r)) && varint_value(f, v);
        }
        case WireType::I64: {
            std::uint64_t v = 0;
            if (!r.fixed64(v)) {
                return wire_error(r);
            }
            if (f.type == FieldType::Double) {
                double d = 0;
                std::memcpy(&d, &v, sizeof d);
                return tree_.real(d);
            }
            return f.type == FieldType::Fixed64 ? unsigned_value(v) : tree_.integer(static_cast<std::int64_t>(v));
        }
        case WireType::I32: {
            std::uint32_t v = 0;
            if (!r.fixed32(v)) {
                return wire_error(r);
            }
            if (f.type == FieldType::Float) {
                float fl = 0;
                std::memcpy(&fl, &v, sizeof fl);
                return tree_.real(fl);
            }
            return tree_.integer(f.type == FieldType::Fixed32 ? std::int64_t{v}
                                                             : std::int64_t{static_cast<std::int32_t>(v)});
        }
        case WireType::Len: {
            std::string_view s;
            if (!r.len(s)) {
                return wire_error(r);
            }
            if (f.type == FieldType::String) {
                return valid_utf8(s) ? tree_.string(s) : fail("invalid UTF-8 in a string");
            }
            if (f.type == FieldType::Bytes) {
                return tree_.bytes(s);
            }
            Reader sub(s);
            return message_value(message_type(f), sub, depth, single);
        }
        case WireType::StartGroup:
            return tree_.start_object() && body(message_type(f), r, depth + 1, f.number, 0) && tree_.end_object();
        case WireType::EndGroup:
            break;
        }
        return fail("a group end where a value belongs");
    }

    bool message_value(const MessageType& m, Reader& r, std::size_t depth, bool single) {
        if (m.special == Special::Timestamp) {
            return timestamp(r, single);
        }
        if (m.special == Special::Wrapper) {
            return wrapped(m.fields.front(), r);
        }
        return tree_.start_object() && body(m, r, depth + 1, 0, 0) && tree_.end_object();
    }

    bool unsigned_value(std::uint64_t v) {
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return tree_.real(static_cast<double>(v));
        }
        return tree_.integer(static_cast<std::int64_t>(v));
    }

    bool varint_value(const FieldDesc& f, std::uint64_t v) {
        switch (f.type) {
        case FieldType::Int32:
            return tree_.integer(static_cast<std::int32_t>(static_cast<std::uint32_t>(v)));
        case FieldType::Uint32:
            return tree_.integer(static_cast<std::uint32_t>(v));
        case FieldType::Sint32:
            return tree_.integer(pb::zigzag32(v));
        case FieldType::Sint64:
            return tree_.integer(pb::zigzag64(v));
        case FieldType::Uint64:
            return unsigned_value(v);
        case FieldType::Bool:
            return tree_.boolean(v != 0);
        case FieldType::Enum: {
            const auto n = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
            const std::string* name = config_.schema.enums[static_cast<std::size_t>(f.enumeration)].find(n);
            return name != nullptr ? tree_.string(*name) : tree_.integer(n);
        }
        default:
            return tree_.integer(static_cast<std::int64_t>(v));
        }
    }

    // A field's default, for a map entry or wrapper without its value.
    bool default_value(const FieldDesc& f, std::size_t depth) {
        switch (f.type) {
        case FieldType::Double:
        case FieldType::Float:
            return tree_.real(0);
        case FieldType::Bool:
            return tree_.boolean(false);
        case FieldType::String:
            return tree_.string("");
        case FieldType::Bytes:
            return tree_.bytes("");
        case FieldType::Message:
        case FieldType::Group: {
            Reader empty;
            return message_value(message_type(f), empty, depth, false);
        }
        default:
            return varint_value(f, 0);
        }
    }

    // google.protobuf.Timestamp: seconds (1) and nanos (2) since the epoch.
    bool timestamp(Reader& r, bool single) {
        std::int64_t seconds = 0;
        std::int64_t nanos = 0;
        while (!r.done()) {
            std::uint32_t number = 0;
            WireType type{};
            std::uint64_t v = 0;
            if (!tag(r, number, type)) {
                return false;
            }
            if ((number == 1 || number == 2) && type == WireType::Varint) {
                if (!r.varint(v)) {
                    return wire_error(r);
                }
                (number == 1 ? seconds : nanos) =
                    number == 1 ? static_cast<std::int64_t>(v) : static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
            } else if (!r.skip(type, number)) {
                return wire_error(r);
            }
        }
        // TimeNs holds about ±292 years around 1970.
        constexpr std::int64_t kMaxSeconds = std::numeric_limits<TimeNs>::max() / 1'000'000'000 - 1;
        if (seconds > kMaxSeconds || seconds < -kMaxSeconds || nanos < 0 || nanos >= 1'000'000'000) {
            return fail(fmt::format("a Timestamp out of range ({} s, {} ns)", seconds, nanos));
        }
        const TimeNs t = seconds * 1'000'000'000 + nanos;
        if (single) {
            return tree_.time(t);
        }
        time_text_.clear();
        append_rfc3339(time_text_, t);
        return tree_.string(time_text_);
    }

    // A wrapper (google.protobuf.Int32Value, ...): its value field.
    bool wrapped(const FieldDesc& f, Reader& r) {
        bool seen = false;
        while (!r.done()) {
            std::uint32_t number = 0;
            WireType type{};
            if (!tag(r, number, type)) {
                return false;
            }
            if (number == 1 && type == wire_type_of(f.type) && !seen) {
                seen = true;
                if (!value(f, type, r, 0, true)) {
                    return false;
                }
            } else if (!r.skip(type, number)) {
                return wire_error(r);
            }
        }
        return seen || default_value(f, 0);
    }

private:
    const ProtobufConfig& config_;
    RecordTree& tree_;
    const FieldDesc* records_ = nullptr;
    const std::uint8_t* begin_ = nullptr;
    std::vector<Counts> counts_;  // by depth; never resized (references are kept)
    std::vector<Record> common_;
    std::unordered_map<std::string_view, std::size_t> common_index_;  // views into common_
    std::vector<bool> taken_;
    std::string path_;  // the current field's dotted name, for errors
    std::string key_;
    std::string map_key_;
    std::string time_text_;
    std::string error_;
};

bool Parser::packed(const FieldDesc& f, Reader& r, Counts& counts, std::size_t index) {
    std::string_view s;
    if (!r.len(s)) {
        return wire_error(r);
    }
    Reader run(s);
    const WireType type = wire_type_of(f.type);
    while (!run.done()) {
        if (!element_key(f, counts.next(index)) || !value(f, type, run, 0, false)) {
            return false;
        }
    }
    return true;
}

// A map<K, V> field's entry: key (1) and value (2), in either order; the
// key becomes the last part of the value's name.
bool Parser::map_entry(const FieldDesc& f, Reader& r, std::size_t depth) {
    std::string_view s;
    if (!r.len(s)) {
        return wire_error(r);
    }
    const MessageType& entry = message_type(f);
    const FieldDesc* key_field = entry.field(1);
    const FieldDesc* value_field = entry.field(2);
    if (key_field == nullptr || value_field == nullptr) {
        return fail("a map entry type without its key or value field");
    }
    Reader scan(s);
    Reader value_at;  // where the value starts, after its tag
    WireType value_type{};
    bool has_value = false;
    // Without its key an entry has the key type's default.
    map_key_ = key_field->type == FieldType::String ? "" : key_field->type == FieldType::Bool ? "false" : "0";
    while (!scan.done()) {
        std::uint32_t number = 0;
        WireType type{};
        if (!tag(scan, number, type)) {
            return false;
        }
        if (number == 1 && type == wire_type_of(key_field->type)) {
            std::uint64_t v = 0;
            std::string_view k;
            map_key_.clear();
            if (type == WireType::Len) {
                if (!scan.len(k)) {
                    return wire_error(scan);
                }
                if (!valid_utf8(k)) {
                    return fail("invalid UTF-8 in a map key");
                }
                map_key_.assign(k);
                continue;
            }
            // Integer and bool keys, written in decimal (as in protobuf's JSON).
            const auto* before = scan.pos();
            if (type == WireType::Varint ? !scan.varint(v) : !scan.skip(type, number)) {
                return wire_error(scan);
            }
            Reader again(before, scan.pos());
            char buf[24];
            std::int64_t i = 0;
            switch (key_field->type) {
            case FieldType::Bool:
                map_key_ = v != 0 ? "true" : "false";
                continue;
            case FieldType::Sint32:
                i = pb::zigzag32(v);
                break;
            case FieldType::Sint64:
                i = pb::zigzag64(v);
                break;
            case FieldType::Int32:
                i = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
                break;
            case FieldType::Uint32:
                i = static_cast<std::uint32_t>(v);
                break;
            case FieldType::Fixed32:
            case FieldType::Sfixed32: {
                std::uint32_t u = 0;
                again.fixed32(u);
                i = key_field->type == FieldType::Fixed32 ? std::int64_t{u} : std::int64_t{static_cast<std::int32_t>(u)};
                break;
            }
            case FieldType::Fixed64:
            case FieldType::Sfixed64:
            case FieldType::Uint64: {
                std::uint64_t u = v;
                if (key_field->type != FieldType::Uint64) {
                    again.fixed64(u);
                }
                if (key_field->type != FieldType::Sfixed64) {
                    const auto res = std::to_chars(buf, buf + sizeof buf, u);
                    map_key_.assign(buf, res.ptr);
                    continue;
                }
                i = static_cast<std::int64_t>(u);
                break;
            }
            default:
                i = static_cast<std::int64_t>(v);
                break;
            }
            const auto res = std::to_chars(buf, buf + sizeof buf, i);
            map_key_.assign(buf, res.ptr);
            continue;
        }
        if (number == 2 && accepts(*value_field, type)) {
            value_at = scan;
            value_type = type;
            has_value = true;
        }
        if (!scan.skip(type, number)) {
            return wire_error(scan);
        }
    }
    key_ = f.name;
    key_ += config_.separator;
    key_ += map_key_;
    if (!tree_.key(key_)) {
        return false;
    }
    if (!has_value) {
        return default_value(*value_field, depth);
    }
    return value(*value_field, value_type, value_at, depth, false);
}

class ProtobufDecoder final : public Decoder {
public:
    explicit ProtobufDecoder(ProtobufConfig config)
        : config_(std::move(config)), tree_(config_.separator, "protobuf"), parser_(config_, tree_) {}

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        return parser_.decode(frame, out, error);
    }

private:
    ProtobufConfig config_;
    RecordTree tree_;
    Parser parser_;
};

}  // namespace

std::unique_ptr<Decoder> make_protobuf_decoder(ProtobufConfig config) {
    if (config.schema.messages.empty()) {
        throw ConfigError("no message type");
    }
    if (!config.records_field.empty()) {
        const MessageType& root = config.schema.messages[0];
        const FieldDesc* found = nullptr;
        for (const FieldDesc& f : root.fields) {
            if (f.name == config.records_field) {
                found = &f;
            }
        }
        if (found == nullptr || !found->repeated || found->type != FieldType::Message ||
            config.schema.messages[static_cast<std::size_t>(found->message)].special != Special::None ||
            config.schema.messages[static_cast<std::size_t>(found->message)].map_entry) {
            throw ConfigError(fmt::format("records_field: {} has no repeated message field '{}'", root.name,
                                          config.records_field));
        }
    }
    return std::make_unique<ProtobufDecoder>(std::move(config));
}

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_protobuf() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "protobuf";
        d.summary = "Protobuf messages of a type from a descriptor set (protoc --descriptor_set_out): fields by name, "
                    "nested messages dotted, Timestamps as times";
        d.options = {
            {.name = "descriptor_set",
             .type = OptionType::String,
             .doc = "The FileDescriptorSet with the message type, written by `protoc --include_imports "
                    "--descriptor_set_out=FILE your.proto`. Read once at start.",
             .required = true,
             .min = 1},
            {.name = "message",
             .type = OptionType::String,
             .doc = "The full name of the frame's message type, with its package: \"plant.Reading\".",
             .required = true,
             .min = 1},
            {.name = "records_field",
             .type = OptionType::String,
             .doc = "A repeated message field of the message whose elements are the records, each with the "
                    "message's other fields (a batch of readings with its device's name); unset: one record "
                    "per message."},
            decoders::separator_option_spec(),
        };
        d.make_decoder = [](const Options& o) -> std::unique_ptr<Decoder> {
            decoders::ProtobufConfig c;
            const std::string path = o.str("descriptor_set");
            const std::string set = decoders::option_file("descriptor_set", path, decoders::kMaxDescriptorSetBytes);
            try {
                c.schema = decoders::pb::Schema::load(set, o.str("message"));
            } catch (const ConfigError& e) {
                throw ConfigError(fmt::format("{} (descriptor_set = '{}')", e.what(), path));
            }
            c.separator = decoders::option_string(o, "separator", ".");
            c.records_field = decoders::option_string(o, "records_field", "");
            return decoders::make_protobuf_decoder(std::move(c));
        };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
