// Sparkplug B (Eclipse Sparkplug 3.0): the topic namespace
// spBv1.0/<group>/<type>/<edge node>[/<device>] and the protobuf Payload,
// read with the shared wire reader (decoders/protobuf_wire.hpp) and the
// field numbers of the specification's Payload and Metric messages.
//
// BIRTH messages name every metric with its alias and datatype; DATA and
// CMD messages may send aliases alone. The decoder keeps that map per edge
// node and device, commits it with the records of the frame that set it
// (Decoder::take_state), and loads it at start, so a restart between a
// BIRTH and its DATA still resolves the aliases.

#include "decoders/sparkplug_b/sparkplug_b.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/record_json.hpp"
#include "decoders/decoder_options.hpp"
#include "decoders/protobuf_wire.hpp"
#include "decoders/record_tree.hpp"
#include "text/base64.hpp"
#include "text/json.hpp"
#include "text/text_value.hpp"

namespace sluice::decoders {
namespace {

using pb::Reader;
using pb::WireType;

constexpr std::string_view kNamespace = "spBv1.0/";
constexpr std::string_view kLegacyState = "STATE/";

// Payload (Sparkplug B specification, section 7.3).
namespace payload {
constexpr std::uint32_t kTimestamp = 1;
constexpr std::uint32_t kMetric = 2;
constexpr std::uint32_t kSeq = 3;
}  // namespace payload
namespace metric {
constexpr std::uint32_t kName = 1;
constexpr std::uint32_t kAlias = 2;
constexpr std::uint32_t kTimestamp = 3;
constexpr std::uint32_t kDatatype = 4;
constexpr std::uint32_t kIsHistorical = 5;
constexpr std::uint32_t kIsTransient = 6;
constexpr std::uint32_t kIsNull = 7;
constexpr std::uint32_t kIntValue = 10;
constexpr std::uint32_t kLongValue = 11;
constexpr std::uint32_t kFloatValue = 12;
constexpr std::uint32_t kDoubleValue = 13;
constexpr std::uint32_t kBooleanValue = 14;
constexpr std::uint32_t kStringValue = 15;
constexpr std::uint32_t kBytesValue = 16;
}  // namespace metric

// DataType (section 6.4.16).
enum DataType : std::uint32_t {
    kUnknown = 0,
    kInt8 = 1,
    kInt16 = 2,
    kInt32 = 3,
    kInt64 = 4,
    kUInt8 = 5,
    kUInt16 = 6,
    kUInt32 = 7,
    kUInt64 = 8,
    kFloat = 9,
    kDouble = 10,
    kBoolean = 11,
    kString = 12,
    kDateTime = 13,
    kText = 14,
    kUUID = 15,
    kDataSet = 16,
    kBytes = 17,
    kFile = 18,
};

enum class Type { NBirth, NDeath, NData, NCmd, DBirth, DDeath, DData, DCmd, State };

std::optional<Type> type_of(std::string_view t) {
    static constexpr std::pair<std::string_view, Type> kTypes[] = {
        {"NBIRTH", Type::NBirth}, {"NDEATH", Type::NDeath}, {"NDATA", Type::NData}, {"NCMD", Type::NCmd},
        {"DBIRTH", Type::DBirth}, {"DDEATH", Type::DDeath}, {"DDATA", Type::DData}, {"DCMD", Type::DCmd},
    };
    for (const auto& [name, type] : kTypes) {
        if (name == t) {
            return type;
        }
    }
    return std::nullopt;
}

bool device_type(Type t) { return t == Type::DBirth || t == Type::DDeath || t == Type::DData || t == Type::DCmd; }

// spBv1.0/<group>/<type>/<edge node>[/<device>], or spBv1.0/STATE/<host>.
struct Topic {
    std::string_view group;
    Type type = Type::NData;
    std::string_view node;  // the host application's id for STATE
    std::string_view device;
    std::string_view session;  // "<group>/<type>/<node>[/<device>]" minus the type: see key()
};

std::optional<Topic> parse_topic(std::string_view t, std::string& why) {
    std::string_view rest = t.substr(kNamespace.size());
    std::string_view parts[5];
    std::size_t n = 0;
    while (n < 5) {
        const auto slash = rest.find('/');
        parts[n++] = rest.substr(0, slash);
        if (slash == std::string_view::npos) {
            rest = {};
            break;
        }
        rest.remove_prefix(slash + 1);
    }
    Topic topic;
    if (n == 2 && parts[0] == "STATE" && !parts[1].empty()) {
        topic.type = Type::State;
        topic.node = parts[1];
        return topic;
    }
    const auto type = n >= 3 ? type_of(parts[1]) : std::nullopt;
    const bool well_formed = type && !parts[0].empty() && !parts[2].empty() && rest.empty() &&
                             (device_type(*type) ? n == 4 && !parts[3].empty() : n == 3);
    if (!well_formed) {
        why = fmt::format("topic '{}' is not spBv1.0/<group>/<message type>/<edge node>[/<device>]",
                          t.substr(0, 256));
        return std::nullopt;
    }
    topic.group = parts[0];
    topic.type = *type;
    topic.node = parts[2];
    topic.device = n == 4 ? parts[3] : std::string_view();
    return topic;
}

// One metric as it is on the wire; views into the frame.
struct WireMetric {
    std::string_view name;
    std::optional<std::uint64_t> alias;
    std::optional<std::uint64_t> timestamp;
    std::optional<std::uint32_t> datatype;
    bool historical = false;
    bool transient = false;
    bool is_null = false;
    std::optional<std::uint64_t> int_value;  // int_value, long_value, boolean_value: the varint
    std::optional<float> float_value;
    std::optional<double> double_value;
    std::optional<std::string_view> text;  // string_value or bytes_value
};

struct KnownMetric {
    std::string name;
    std::uint32_t datatype = kUnknown;
};

// An edge node's or a device's metrics since its BIRTH.
struct Session {
    std::vector<KnownMetric> metrics;
    std::unordered_map<std::uint64_t, std::uint32_t> by_alias;
    std::unordered_map<std::string_view, std::uint32_t> by_name;  // views into metrics[i].name
    std::optional<std::uint64_t> bd_seq;                          // edge nodes: the NBIRTH's bdSeq
    int last_seq = -1;                                            // edge nodes: not stored
    std::vector<std::string> devices;  // edge nodes: their devices' session keys
    std::uint64_t seen = 0;            // when it last sent something (for eviction)
    std::size_t name_bytes = 0;        // of its metrics' names
    bool born = false;                 // false: only holds its devices (no NBIRTH known)

    Session() = default;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    Session(Session&&) = default;
    Session& operator=(Session&&) = default;

    // Fills the lookups; call once metrics is complete (views into it).
    void index(const std::vector<std::optional<std::uint64_t>>& aliases) {
        by_alias.clear();
        by_name.clear();
        name_bytes = 0;
        born = true;
        for (std::uint32_t i = 0; i < metrics.size(); ++i) {
            name_bytes += metrics[i].name.size();
            by_name.emplace(metrics[i].name, i);
            if (aliases[i]) {
                by_alias.emplace(*aliases[i], i);
            }
        }
    }
};

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out += static_cast<char>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    out += static_cast<char>(v);
}

constexpr std::uint64_t kStateVersion = 1;

void put_optional(std::string& out, std::optional<std::uint64_t> v) {
    put_varint(out, v ? 1 : 0);
    if (v) {
        put_varint(out, *v);
    }
}

bool get_optional(Reader& r, std::optional<std::uint64_t>& v) {
    std::uint64_t has = 0;
    std::uint64_t x = 0;
    if (!r.varint(has) || has > 1 || (has == 1 && !r.varint(x))) {
        return false;
    }
    v = has == 1 ? std::optional<std::uint64_t>(x) : std::nullopt;
    return true;
}

// The stored form of a session: version, bdSeq (a presence flag, then the
// value if present), the number of metrics, then per metric its datatype,
// alias (flag, value), name length and name; all varints but the name.
std::string encode_session(const Session& s, const std::vector<std::optional<std::uint64_t>>& aliases) {
    std::string out;
    put_varint(out, kStateVersion);
    put_optional(out, s.bd_seq);
    put_varint(out, s.metrics.size());
    for (std::size_t i = 0; i < s.metrics.size(); ++i) {
        put_varint(out, s.metrics[i].datatype);
        put_optional(out, aliases[i]);
        put_varint(out, s.metrics[i].name.size());
        out += s.metrics[i].name;
    }
    return out;
}

std::optional<Session> decode_session(std::string_view bytes) {
    Reader r(bytes);
    std::uint64_t version = 0;
    std::uint64_t count = 0;
    Session s;
    if (!r.varint(version) || version != kStateVersion || !get_optional(r, s.bd_seq) || !r.varint(count) ||
        count > bytes.size()) {
        return std::nullopt;
    }
    std::vector<std::optional<std::uint64_t>> aliases;
    for (std::uint64_t i = 0; i < count; ++i) {
        std::uint64_t datatype = 0;
        std::optional<std::uint64_t> alias;
        std::uint64_t len = 0;
        std::string_view name;
        if (!r.varint(datatype) || datatype > 0xffffffff || !get_optional(r, alias) || !r.varint(len) ||
            !r.take(len, name)) {
            return std::nullopt;
        }
        s.metrics.push_back({std::string(name), static_cast<std::uint32_t>(datatype)});
        aliases.push_back(alias);
    }
    if (!r.done()) {
        return std::nullopt;
    }
    s.index(aliases);
    return s;
}

class SparkplugDecoder final : public Decoder {
public:
    explicit SparkplugDecoder(SparkplugConfig config) : config_(std::move(config)) {}

    void open(const DecoderContext& ctx) override {
        auto& m = metrics();
        const Labels labels{{"component", ctx.component}};
        seq_gaps_ = &m.counter("sluice_sparkplug_sequence_gaps_total",
                               "Messages from an edge node whose seq did not follow the one before (lost or reordered "
                               "messages)",
                               labels);
        unknown_aliases_ = &m.counter("sluice_sparkplug_unknown_alias_frames_total",
                                      "DATA and CMD messages with metrics no BIRTH named (dead letters; the edge "
                                      "node should be asked to rebirth)",
                                      labels);
        stale_deaths_ = &m.counter("sluice_sparkplug_stale_deaths_total",
                                   "NDEATH messages whose bdSeq is not the current session's (ignored)", labels);
        sessions_gauge_ = &m.gauge("sluice_sparkplug_sessions", "Edge nodes and devices whose aliases are known",
                                   labels);
        evicted_ = &m.counter("sluice_sparkplug_evicted_sessions_total",
                              "Edge nodes and devices whose aliases were dropped to make room for a new BIRTH (the "
                              "least recently heard from, at max_sessions)",
                              labels);
        dropped_metrics_ = &m.counter("sluice_sparkplug_dropped_metrics_total",
                                      "Metrics left out by historical = \"drop\" or transient = \"drop\"", labels);
        component_ = ctx.component;
        std::size_t dropped = 0;
        if (ctx.load_state) {
            ctx.load_state([&](std::string_view key, std::string_view value) {
                auto s = decode_session(value);
                if (!s || sessions_.size() >= config_.max_sessions) {
                    // Not kept: erased with the first batch, so that it cannot
                    // come back stale after a later restart.
                    ++dropped;
                    changes_.push_back({std::string(key), {}, true});
                    return;
                }
                sessions_.insert_or_assign(std::string(key), std::move(*s));
            });
        }
        // Each edge node knows its devices (so that its death ends theirs).
        for (auto& [k, session] : sessions_) {
            (void)session;
            const auto slash = k.find('/');
            const auto second = slash == std::string::npos ? std::string::npos : k.find('/', slash + 1);
            if (second != std::string::npos) {
                devices_of_.emplace_back(k.substr(0, second), k);
            }
        }
        for (auto& [node, device] : devices_of_) {
            sessions_[node].devices.push_back(std::move(device));  // a node without its NBIRTH is not born
        }
        devices_of_.clear();
        if (dropped > 0) {
            log::warn("{}: sparkplug_b: {} stored alias maps could not be read or were over max_sessions (dropped); "
                      "their edge nodes' DATA will be dead letters until they send BIRTH again",
                      component_, dropped);
        }
        if (!sessions_.empty()) {
            log::info("{}: sparkplug_b: aliases of {} edge nodes and devices loaded", component_, sessions_.size());
        }
        sessions_gauge_->set(static_cast<double>(sessions_.size()));
    }

    void take_state(std::vector<StateChange>& out) override {
        for (auto& c : changes_) {
            out.push_back(std::move(c));
        }
        changes_.clear();
    }

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        std::optional<Topic> topic;
        std::string why;
        if (frame.origin.starts_with(kLegacyState) && frame.origin.size() > kLegacyState.size() &&
            frame.origin.find('/', kLegacyState.size()) == std::string::npos) {
            topic.emplace();  // STATE/<host> of Sparkplug B before 3.0
            topic->type = Type::State;
            topic->node = std::string_view(frame.origin).substr(kLegacyState.size());
        } else if (!frame.origin.starts_with(kNamespace)) {
            return DecodeStatus::NotMine;
        } else {
            topic = parse_topic(frame.origin, why);
        }
        const std::size_t first = out.size();
        error.clear();
        const bool ok = topic ? (topic->type == Type::State ? state(frame, *topic, out, why)
                                                            : message(frame, *topic, out, why))
                              : false;
        if (metrics_.capacity() > 4096) {
            metrics_ = {};  // one huge frame must not pin its metrics
            resolved_ = {};
        }
        if (!ok) {
            out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
            error = "sparkplug_b: " + why;
            return DecodeStatus::Broken;
        }
        return DecodeStatus::Ok;
    }

private:
    static std::string key(const Topic& t, bool device) {
        std::string k;
        k.reserve(t.group.size() + t.node.size() + t.device.size() + 2);
        k.append(t.group).append("/").append(t.node);
        if (device) {
            k.append("/").append(t.device);
        }
        return k;
    }

    static void tags(Record& r, const Topic& t) {
        r.tags.push_back({"group", std::string(t.group)});
        r.tags.push_back({"edge_node", std::string(t.node)});
        if (!t.device.empty()) {
            r.tags.push_back({"device", std::string(t.device)});
        }
    }

    // ms since the epoch as TimeNs; nullopt when out of range.
    static std::optional<TimeNs> ms_time(std::uint64_t ms) {
        if (ms > static_cast<std::uint64_t>(std::numeric_limits<TimeNs>::max() / 1'000'000)) {
            return std::nullopt;
        }
        return static_cast<TimeNs>(ms) * 1'000'000;
    }

    void status(const Frame& frame, std::vector<Record>& out, const Topic& t, bool online, TimeNs time) {
        if (config_.status_measurement.empty()) {
            return;
        }
        Record& r = out.emplace_back();
        r.origin = frame.origin;
        r.measurement = config_.status_measurement;
        r.time_ns = time;
        tags(r, t);
        r.fields.push_back({"online", FieldValue{online}});
    }

    // spBv1.0/STATE/<host>: {"online": true, "timestamp": ms} (3.0) or
    // ONLINE / OFFLINE (earlier versions).
    bool state(const Frame& frame, const Topic& t, std::vector<Record>& out, std::string& why) {
        bool online = false;
        TimeNs time = 0;
        if (frame.payload == "ONLINE" || frame.payload == "OFFLINE") {
            online = frame.payload == "ONLINE";
        } else {
            std::string err;
            const auto doc = parse_json(frame.payload, &err, 4);
            const JsonValue* on = doc ? doc->get("online") : nullptr;
            if (on == nullptr || !std::holds_alternative<bool>(on->v)) {
                why = fmt::format("STATE of '{}' is neither {{\"online\": true|false, ...}} nor ONLINE/OFFLINE",
                                  t.node.substr(0, 256));
                return false;
            }
            online = std::get<bool>(on->v);
            // A timestamp out of range (or not a number) leaves the arrival time.
            constexpr double kMaxMs = static_cast<double>(std::numeric_limits<TimeNs>::max() / 1'000'000);
            if (const JsonValue* ts = doc->get("timestamp"); ts != nullptr && ts->number() && *ts->number() >= 0 &&
                                                              *ts->number() < kMaxMs) {
                time = ms_time(static_cast<std::uint64_t>(*ts->number())).value_or(0);
            }
        }
        if (!config_.status_measurement.empty()) {
            Record& r = out.emplace_back();
            r.origin = frame.origin;
            r.measurement = config_.status_measurement;
            r.time_ns = time;
            r.tags.push_back({"host", std::string(t.node)});
            r.fields.push_back({"online", FieldValue{online}});
        }
        return true;
    }

    bool wire(const Reader& r, std::string& why, std::string_view what) {
        why = fmt::format("{}: {} at offset {}", what, r.error(), r.pos() - begin_);
        return false;
    }

    // Reads the Payload: its timestamp, seq and metrics (into metrics_).
    bool read_payload(const Frame& frame, std::optional<std::uint64_t>& timestamp, std::optional<std::uint64_t>& seq,
                      std::string& why) {
        Reader r(frame.payload);
        begin_ = r.pos();
        metrics_.clear();
        while (!r.done()) {
            std::uint32_t number = 0;
            WireType type{};
            if (!r.tag(number, type)) {
                return wire(r, why, "payload");
            }
            std::uint64_t v = 0;
            std::string_view s;
            if (number == payload::kTimestamp && type == WireType::Varint) {
                if (!r.varint(v)) {
                    return wire(r, why, "payload timestamp");
                }
                timestamp = v;
            } else if (number == payload::kSeq && type == WireType::Varint) {
                if (!r.varint(v)) {
                    return wire(r, why, "payload seq");
                }
                seq = v;
            } else if (number == payload::kMetric && type == WireType::Len) {
                if (!r.len(s)) {
                    return wire(r, why, "metric");
                }
                if (!read_metric(s, metrics_.emplace_back(), why)) {
                    return false;
                }
            } else if (!r.skip(type, number)) {
                return wire(r, why, "payload");
            }
        }
        return true;
    }

    bool read_metric(std::string_view bytes, WireMetric& m, std::string& why) {
        Reader r(bytes);
        while (!r.done()) {
            std::uint32_t number = 0;
            WireType type{};
            if (!r.tag(number, type)) {
                return wire(r, why, "metric");
            }
            std::uint64_t v = 0;
            std::string_view s;
            bool ok = true;
            if (type == WireType::Varint) {
                ok = r.varint(v);
                switch (number) {
                case metric::kAlias:
                    m.alias = v;
                    break;
                case metric::kTimestamp:
                    m.timestamp = v;
                    break;
                case metric::kDatatype:
                    m.datatype = static_cast<std::uint32_t>(v);
                    break;
                case metric::kIsHistorical:
                    m.historical = v != 0;
                    break;
                case metric::kIsTransient:
                    m.transient = v != 0;
                    break;
                case metric::kIsNull:
                    m.is_null = v != 0;
                    break;
                case metric::kIntValue:
                case metric::kLongValue:
                case metric::kBooleanValue:
                    m.int_value = v;
                    break;
                default:
                    break;
                }
            } else if (type == WireType::Len && (number == metric::kName || number == metric::kStringValue ||
                                                 number == metric::kBytesValue)) {
                ok = r.len(s);
                if (number == metric::kName) {
                    m.name = s;
                } else {
                    m.text = s;
                }
            } else if (type == WireType::I32 && number == metric::kFloatValue) {
                float f = 0;
                ok = r.f32(f);
                m.float_value = f;
            } else if (type == WireType::I64 && number == metric::kDoubleValue) {
                double d = 0;
                ok = r.f64(d);
                m.double_value = d;
            } else {
                ok = r.skip(type, number);  // metadata, properties, datasets, templates, extensions
            }
            if (!ok) {
                return wire(r, why, "metric");
            }
        }
        return true;
    }

    // The metric's value as a field value by its datatype; nullopt: no field
    // (null, no value, or a type sluice does not map: datasets, templates,
    // property sets, arrays).
    static std::optional<FieldValue> value(const WireMetric& m, std::uint32_t datatype) {
        if (m.is_null) {
            return std::nullopt;
        }
        const auto number = [&]() -> std::optional<std::uint64_t> { return m.int_value; };
        switch (datatype) {
        case kInt8:
            return number() ? std::optional<FieldValue>(std::int64_t{static_cast<std::int8_t>(*number())})
                            : std::nullopt;
        case kInt16:
            return number() ? std::optional<FieldValue>(std::int64_t{static_cast<std::int16_t>(*number())})
                            : std::nullopt;
        case kInt32:
            return number() ? std::optional<FieldValue>(std::int64_t{static_cast<std::int32_t>(*number())})
                            : std::nullopt;
        case kUInt8:
        case kUInt16:
        case kUInt32:
            return number() ? std::optional<FieldValue>(std::int64_t{static_cast<std::uint32_t>(*number())})
                            : std::nullopt;
        case kInt64:
            return number() ? std::optional<FieldValue>(static_cast<std::int64_t>(*number())) : std::nullopt;
        case kUInt64:
            if (!number()) {
                return std::nullopt;
            }
            if (*number() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return FieldValue{static_cast<double>(*number())};
            }
            return FieldValue{static_cast<std::int64_t>(*number())};
        case kFloat:
            if (m.float_value && std::isfinite(*m.float_value)) {
                return FieldValue{static_cast<double>(*m.float_value)};
            }
            return std::nullopt;
        case kDouble:
            if (m.double_value && std::isfinite(*m.double_value)) {
                return FieldValue{*m.double_value};
            }
            return std::nullopt;
        case kBoolean:
            return number() ? std::optional<FieldValue>(*number() != 0) : std::nullopt;
        case kDateTime: {
            const auto t = number() ? ms_time(*number()) : std::nullopt;
            if (!t) {
                return std::nullopt;
            }
            std::string text;
            append_rfc3339(text, *t);
            return FieldValue{std::move(text)};
        }
        case kString:
        case kText:
        case kUUID:
            if (m.text && valid_utf8(*m.text)) {
                return FieldValue{std::string(*m.text)};
            }
            return std::nullopt;
        case kBytes:
        case kFile:
            if (m.text) {
                std::string text;
                append_base64(text, *m.text, Base64::Url, false);
                return FieldValue{std::move(text)};
            }
            return std::nullopt;
        default:
            return std::nullopt;
        }
    }

    bool message(const Frame& frame, const Topic& t, std::vector<Record>& out, std::string& why) {
        std::optional<std::uint64_t> timestamp;
        std::optional<std::uint64_t> seq;
        if (!read_payload(frame, timestamp, seq, why)) {
            return false;
        }
        const bool device = device_type(t.type);
        const std::string node_key = key(t, false);
        const std::string session_key = device ? key(t, true) : node_key;
        const bool birth = t.type == Type::NBirth || t.type == Type::DBirth;
        const bool death = t.type == Type::NDeath || t.type == Type::DDeath;
        // The node's seq counts every message it sends but NDEATH (and the
        // commands, which a host sends), whatever becomes of the message.
        if (t.type == Type::NData || t.type == Type::DData || t.type == Type::DBirth || t.type == Type::DDeath) {
            check_seq(node_key, seq);
        }
        TimeNs payload_time = 0;
        if (timestamp) {
            const auto pt = ms_time(*timestamp);
            if (!pt) {
                why = fmt::format("payload timestamp {} ms is out of range", *timestamp);
                return false;
            }
            payload_time = *pt;
        }

        // Which name and datatype each metric has: from the message itself
        // (BIRTH), or from the session's BIRTH by alias or name.
        resolved_.clear();
        Session* session = nullptr;
        if (!birth) {
            const auto it = sessions_.find(session_key);
            session = it == sessions_.end() || !it->second.born ? nullptr : &it->second;
        }
        // Names the frame carries count against the shared budget; names
        // resolved from a BIRTH may add up to four times the session's own.
        std::size_t name_bytes = 0;
        const std::size_t budget = frame.payload.size() * RecordTree::kNameBudgetFactor +
                                   RecordTree::kNameBudgetSlack + (session != nullptr ? 4 * session->name_bytes : 0);
        for (std::size_t i = 0; i < metrics_.size(); ++i) {
            const WireMetric& m = metrics_[i];
            std::string_view name = m.name;
            std::uint32_t datatype = m.datatype.value_or(kUnknown);
            if (session != nullptr && (name.empty() || !m.datatype)) {
                const KnownMetric* known = nullptr;
                if (m.alias) {
                    const auto a = session->by_alias.find(*m.alias);
                    known = a == session->by_alias.end() ? nullptr : &session->metrics[a->second];
                }
                if (known == nullptr && !name.empty()) {
                    const auto n = session->by_name.find(name);
                    known = n == session->by_name.end() ? nullptr : &session->metrics[n->second];
                }
                if (known != nullptr) {
                    name = name.empty() ? std::string_view(known->name) : name;
                    datatype = m.datatype.value_or(known->datatype);
                }
            }
            if (birth && (name.empty() || datatype == kUnknown)) {
                why = fmt::format("{} metric {} has no {}", type_name(t.type), i + 1,
                                  name.empty() ? "name" : "datatype");
                return false;
            }
            if (!birth && !death && (name.empty() || datatype == kUnknown)) {
                unknown(t, m, session != nullptr, why);
                return false;
            }
            if (name.size() > RecordTree::kMaxNameBytes) {
                why = fmt::format("metric {} has a name longer than {} bytes", i + 1, RecordTree::kMaxNameBytes);
                return false;
            }
            name_bytes += name.size();
            if (name_bytes > budget) {
                why = fmt::format("the metrics' names would take more than {} bytes ({} times the frame's size and "
                                  "{} more, and four times the names of the BIRTH)",
                                  budget, RecordTree::kNameBudgetFactor, RecordTree::kNameBudgetSlack);
                return false;
            }
            resolved_.push_back({name, datatype});
        }

        // What the message does to the sessions comes after every check: a
        // frame that is Broken changes nothing.
        const std::size_t first = out.size();
        if (!records(frame, t, payload_time, out, why)) {
            return false;
        }
        const TimeNs arrival = 0;  // the chain gives records without a time the frame's arrival
        switch (t.type) {
        case Type::NBirth: {
            forget_node(frame, node_key, out, payload_time);
            make_room(node_key, node_key);
            Session& s = birth_session(node_key);
            s.last_seq = seq && *seq <= 255 ? static_cast<int>(*seq) : -1;
            status(frame, out, t, true, payload_time);
            break;
        }
        case Type::DBirth: {
            const bool known = sessions_.contains(session_key);
            make_room(session_key, node_key);
            birth_session(session_key);
            if (!known) {
                sessions_[node_key].devices.push_back(session_key);  // a node without its NBIRTH is not born
            }
            status(frame, out, t, true, payload_time);
            break;
        }
        case Type::NDeath:
            if (!death_matches(node_key)) {
                stale_deaths_->inc();
                out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                break;
            }
            // An NDEATH is the node's MQTT will, written when it connected:
            // its time is the arrival's.
            forget_node(frame, node_key, out, arrival);
            status(frame, out, t, false, arrival);
            break;
        case Type::DDeath:
            forget(session_key);
            status(frame, out, t, false, payload_time);
            break;
        default:
            break;
        }
        if (const auto it = sessions_.find(node_key); it != sessions_.end()) {
            it->second.seen = ++clock_;
        }
        if (const auto it = sessions_.find(session_key); device && it != sessions_.end()) {
            it->second.seen = clock_;
        }
        sessions_gauge_->set(static_cast<double>(sessions_.size()));
        return true;
    }

    static std::string_view type_name(Type t) {
        static constexpr std::string_view kNames[] = {"NBIRTH", "NDEATH", "NDATA", "NCMD", "DBIRTH",
                                                      "DDEATH", "DDATA",  "DCMD",  "STATE"};
        return kNames[static_cast<int>(t)];
    }

    void unknown(const Topic& t, const WireMetric& m, bool have_session, std::string& why) {
        unknown_aliases_->inc();
        const std::string what =
            m.alias ? fmt::format("alias {}", *m.alias) : fmt::format("metric '{}'", m.name.substr(0, 256));
        const std::string whose = device_type(t.type)
                                      ? fmt::format("device {}/{}/{}", t.group, t.node, t.device)
                                      : fmt::format("edge node {}/{}", t.group, t.node);
        why = have_session ? fmt::format("{} of {}: {} is not in its {}", type_name(t.type), whose, what,
                                         device_type(t.type) ? "DBIRTH" : "NBIRTH")
                           : fmt::format("{} of {}: {} is unknown: no {} seen", type_name(t.type), whose, what,
                                         device_type(t.type) ? "DBIRTH" : "NBIRTH");
    }

    // The metric records of the message: one per metric timestamp (and
    // historical flag, with historical = "tag").
    bool records(const Frame& frame, const Topic& t, TimeNs payload_time, std::vector<Record>& out,
                 std::string& why) {
        groups_.clear();
        const bool birth_or_death = t.type == Type::NBirth || t.type == Type::NDeath;
        const bool command = t.type == Type::NCmd || t.type == Type::DCmd;
        for (std::size_t i = 0; i < metrics_.size(); ++i) {
            const WireMetric& m = metrics_[i];
            if ((m.historical && config_.historical == "drop") || (m.transient && config_.transient == "drop")) {
                dropped_metrics_->inc();
                continue;
            }
            if (birth_or_death && resolved_[i].first == "bdSeq") {
                continue;  // the session's number, not a reading
            }
            auto v = resolved_[i].first.empty() ? std::nullopt : value(m, resolved_[i].second);
            if (!v) {
                continue;
            }
            TimeNs time = payload_time;
            if (m.timestamp) {
                const auto mt = ms_time(*m.timestamp);
                if (!mt) {
                    why = fmt::format("metric '{}': timestamp {} ms is out of range", resolved_[i].first.substr(0, 256),
                                      *m.timestamp);
                    return false;
                }
                time = *mt;
            }
            const int flags = (m.historical && config_.historical == "tag" ? 1 : 0) |
                              (m.transient && config_.transient == "tag" ? 2 : 0);
            const auto [it, added] = groups_.try_emplace({time, flags}, out.size());
            if (added) {
                Record& r = out.emplace_back();
                r.origin = frame.origin;
                r.time_ns = time;
                tags(r, t);
                if ((flags & 1) != 0) {
                    r.tags.push_back({"historical", "true"});
                }
                if ((flags & 2) != 0) {
                    r.tags.push_back({"transient", "true"});
                }
                if (command) {
                    r.tags.push_back({"command", "true"});  // a value asked for, not one measured
                }
            }
            out[it->second].fields.push_back({std::string(resolved_[i].first), std::move(*v)});
        }
        if (groups_.size() > 4096) {
            groups_ = {};  // one huge frame must not pin its table
        }
        return true;
    }

    struct GroupKey {
        TimeNs time;
        int flags;  // 1: tagged historical, 2: tagged transient
        bool operator==(const GroupKey&) const = default;
    };
    struct GroupHash {
        std::size_t operator()(const GroupKey& k) const {
            return std::hash<TimeNs>()(k.time) ^ (static_cast<std::size_t>(k.flags) * 0x9e3779b97f4a7c15ULL);
        }
    };

    Session& birth_session(const std::string& k) {
        Session s;
        std::vector<std::optional<std::uint64_t>> aliases;
        for (std::size_t i = 0; i < metrics_.size(); ++i) {
            s.metrics.push_back({std::string(resolved_[i].first), resolved_[i].second});
            aliases.push_back(metrics_[i].alias);
            if (resolved_[i].first == "bdSeq" && metrics_[i].int_value) {
                s.bd_seq = metrics_[i].int_value;
            }
        }
        s.index(aliases);
        changes_.push_back({k, encode_session(s, aliases), false});
        Session& at = sessions_[k];
        s.devices = std::move(at.devices);  // a DBIRTH again: the node keeps its list
        at = std::move(s);
        return at;
    }

    // A device: its map, and its place in its node's list.
    void forget(const std::string& k) {
        if (sessions_.erase(k) == 0) {
            return;
        }
        changes_.push_back({k, {}, true});
        const auto slash = k.rfind('/');
        if (const auto node = sessions_.find(k.substr(0, slash)); node != sessions_.end()) {
            auto& d = node->second.devices;
            d.erase(std::remove(d.begin(), d.end(), k), d.end());
        }
    }

    // An edge node and its devices (they are offline with it).
    void forget_node(const Frame& frame, const std::string& node_key, std::vector<Record>& out, TimeNs time) {
        const auto it = sessions_.find(node_key);
        if (it == sessions_.end()) {
            return;
        }
        for (const std::string& device : it->second.devices) {
            if (sessions_.erase(device) > 0) {
                changes_.push_back({device, {}, true});
                device_offline(frame, out, device, time);
            }
        }
        if (it->second.born) {
            changes_.push_back({node_key, {}, true});
        }
        sessions_.erase(it);
    }

    void device_offline(const Frame& frame, std::vector<Record>& out, std::string_view device_key, TimeNs time) {
        if (config_.status_measurement.empty()) {
            return;
        }
        const auto a = device_key.find('/');
        const auto b = device_key.find('/', a + 1);
        Topic t;
        t.group = device_key.substr(0, a);
        t.node = device_key.substr(a + 1, b - a - 1);
        t.device = device_key.substr(b + 1);
        status(frame, out, t, false, time);
    }

    // At max_sessions, the least recently heard from session makes room
    // for `k` (not `keep`, the node of a device being born).
    void make_room(const std::string& k, const std::string& keep) {
        while (!sessions_.contains(k) && sessions_.size() >= config_.max_sessions) {
            auto victim = sessions_.end();
            for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
                if (it->first != keep && (victim == sessions_.end() || it->second.seen < victim->second.seen)) {
                    victim = it;
                }
            }
            if (victim == sessions_.end()) {
                return;
            }
            if (!evict_logged_) {
                evict_logged_ = true;
                log::warn("{}: sparkplug_b: more than max_sessions ({}) edge nodes and devices: the least recently "
                          "heard from are dropped (sluice_sparkplug_evicted_sessions_total; logged once)",
                          component_, config_.max_sessions);
            }
            const std::string victim_key = victim->first;
            evicted_->inc();
            if (std::count(victim_key.begin(), victim_key.end(), '/') == 1) {
                evicted_->inc(victim->second.devices.size());
                Frame none;
                std::vector<Record> ignored;
                forget_node(none, victim_key, ignored, 0);
            } else {
                forget(victim_key);
            }
        }
    }

    // An NDEATH ends the session only when its bdSeq is the NBIRTH's (a
    // broker delivers an old session's will late).
    bool death_matches(const std::string& node_key) {
        const auto it = sessions_.find(node_key);
        if (it == sessions_.end() || !it->second.bd_seq) {
            return true;
        }
        for (std::size_t i = 0; i < metrics_.size(); ++i) {
            if (resolved_[i].first == "bdSeq" && metrics_[i].int_value) {
                return *metrics_[i].int_value == *it->second.bd_seq;
            }
        }
        return true;
    }

    // seq runs 0 to 255 and wraps; anything else is a gap too.
    void check_seq(const std::string& node_key, std::optional<std::uint64_t> seq) {
        const auto it = sessions_.find(node_key);
        if (!seq || it == sessions_.end()) {
            return;
        }
        if (*seq > 255) {
            seq_gaps_->inc();
            it->second.last_seq = -1;
            return;
        }
        const int now = static_cast<int>(*seq);
        if (it->second.last_seq >= 0 && now != ((it->second.last_seq + 1) & 0xff)) {
            seq_gaps_->inc();
        }
        it->second.last_seq = now;
    }

    SparkplugConfig config_;
    std::string component_;
    std::unordered_map<std::string, Session> sessions_;
    std::vector<StateChange> changes_;
    std::vector<WireMetric> metrics_;                                // reused per frame
    std::vector<std::pair<std::string_view, std::uint32_t>> resolved_;  // name, datatype per metric
    std::unordered_map<GroupKey, std::size_t, GroupHash> groups_;
    const std::uint8_t* begin_ = nullptr;
    // Registered in open(); these stand in before (tests, fuzzers).
    Counter own_counter_;
    Gauge own_gauge_;
    Counter* seq_gaps_ = &own_counter_;
    Counter* unknown_aliases_ = &own_counter_;
    Counter* stale_deaths_ = &own_counter_;
    Gauge* sessions_gauge_ = &own_gauge_;
    Counter* evicted_ = &own_counter_;
    Counter* dropped_metrics_ = &own_counter_;
    std::vector<std::pair<std::string, std::string>> devices_of_;  // open(): node key, device key
    std::uint64_t clock_ = 0;  // counts messages: Session::seen
    bool evict_logged_ = false;
};

}  // namespace

std::unique_ptr<Decoder> make_sparkplug_decoder(const SparkplugConfig& config) {
    return std::make_unique<SparkplugDecoder>(config);
}

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_sparkplug_b() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "sparkplug_b";
        d.summary = "Sparkplug B over MQTT (spBv1.0/<group>/<type>/<edge node>[/<device>]): metrics as typed fields, "
                    "aliases from BIRTH kept across restarts, online/offline status";
        d.options = {
            {.name = "status_measurement",
             .type = OptionType::String,
             .default_value = "sparkplug_status",
             .doc = "Measurement of the records BIRTH, DEATH and STATE messages give (field online, tags group, "
                    "edge_node, device or host); empty: none."},
            {.name = "historical",
             .type = OptionType::Enum,
             .default_value = "tag",
             .doc = "Metrics flagged is_historical: tag (their own records with tag historical = \"true\"), keep "
                    "(like the others) or drop (counted in sluice_sparkplug_dropped_metrics_total).",
             .choices = "tag|keep|drop"},
            {.name = "transient",
             .type = OptionType::Enum,
             .default_value = "tag",
             .doc = "Metrics flagged is_transient (the spec says not to store them): tag (their own records with tag "
                    "transient = \"true\"), keep (like the others) or drop (counted in "
                    "sluice_sparkplug_dropped_metrics_total).",
             .choices = "tag|keep|drop"},
            {.name = "max_sessions",
             .type = OptionType::Int,
             .default_value = "10000",
             .doc = "Edge nodes and devices whose aliases are kept; a BIRTH beyond drops the least recently heard "
                    "from (sluice_sparkplug_evicted_sessions_total).",
             .min = 1,
             .max = 1000000},
        };
        d.make_decoder = [](const Options& o) -> std::unique_ptr<Decoder> {
            decoders::SparkplugConfig c;
            c.status_measurement = decoders::option_string(o, "status_measurement", "sparkplug_status");
            c.historical = decoders::option_string(o, "historical", "tag");
            c.transient = decoders::option_string(o, "transient", "tag");
            c.max_sessions = o.has("max_sessions") ? static_cast<std::size_t>(o.integer("max_sessions")) : 10000;
            return decoders::make_sparkplug_decoder(c);
        };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
