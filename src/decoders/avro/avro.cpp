// Avro's binary encoding into records, driven by the schema's node graph
// (schema.hpp) straight into the shared RecordTree. Avro's longs are the
// protobuf wire format's zigzag varints, so the same reader reads both
// (decoders/protobuf_wire.hpp). Every length is checked against the bytes
// left; array and map items are counted against the frame's size, so items
// that take no bytes (nulls, empty records) cannot make a small frame loop.

#include "decoders/avro/avro.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "core/record_json.hpp"
#include "decoders/decoder_options.hpp"
#include "decoders/protobuf_wire.hpp"
#include "decoders/record_tree.hpp"
#include "text/text_value.hpp"

namespace sluice::decoders {
namespace {

using avro::Kind;
using avro::Logical;
using avro::Node;
using pb::Reader;

constexpr std::size_t kMaxSchemaBytes = 1024 * 1024;
constexpr std::size_t kMaxSchemas = 10'000;

class Parser {
public:
    Parser(RecordTree& tree, const std::string& separator) : tree_(tree), sep_(separator) {}

    // One datum of `schema` from all of `payload` into the tree; offsets
    // in errors count from `offset` (the bytes of the frame before the datum).
    bool datum(const avro::Schema& schema, std::string_view payload, std::size_t frame_bytes, std::size_t offset) {
        schema_ = &schema;
        r_ = Reader(payload);
        begin_ = r_.pos();
        offset_ = offset;
        error_.clear();
        path_.clear();
        values_budget_ = frame_bytes * RecordTree::kNameBudgetFactor + RecordTree::kNameBudgetSlack;
        values_left_ = values_budget_;
        if (!value(schema.root, true)) {
            return false;
        }
        if (!r_.done()) {
            at_ = r_.pos();
            return fail(fmt::format("{} bytes after the record", r_.left()));
        }
        return true;
    }
    std::string error() const { return error_.empty() ? tree_.error() : error_; }

private:
    // The offset is where the value that failed starts.
    bool fail(std::string_view why) {
        if (error_.empty()) {
            const std::size_t at = static_cast<std::size_t>(at_ - begin_) + offset_;
            error_ = path_.empty() ? fmt::format("avro: {} (offset {})", why, at)
                                   : fmt::format("avro: {} (offset {}, field '{}')", why, at, path_);
        }
        return false;
    }

    bool long_value(std::int64_t& v) {
        std::uint64_t u = 0;
        if (!r_.varint(u)) {
            return fail(r_.error());
        }
        v = pb::zigzag64(u);
        return true;
    }

    bool length(std::string_view& s) {
        std::int64_t n = 0;
        if (!long_value(n)) {
            return false;
        }
        if (n < 0) {
            return fail(fmt::format("negative length {}", n));
        }
        return r_.take(static_cast<std::uint64_t>(n), s) || fail(r_.error());
    }

    const Node& node(int i) const { return schema_->nodes[static_cast<std::size_t>(i)]; }

    // A timestamp: the record's time as a single field at its level, else
    // RFC 3339 text.
    bool time(TimeNs t, bool single) {
        if (single) {
            return tree_.time(t);
        }
        text_.clear();
        append_rfc3339(text_, t);
        return tree_.string(text_);
    }

    bool timestamp(std::int64_t v, Logical l, bool single) {
        const std::int64_t per = l == Logical::TimestampMillis   ? 1'000'000
                                 : l == Logical::TimestampMicros ? 1'000
                                                                 : 1;
        if (v > std::numeric_limits<TimeNs>::max() / per || v < std::numeric_limits<TimeNs>::min() / per) {
            return fail(fmt::format("timestamp {} is out of range", v));
        }
        return time(v * per, single);
    }

    // Big-endian two's complement, scaled: the unscaled integer exactly (up
    // to 32 bytes), then one correctly rounded conversion of
    // "<digits>e-<scale>"; longer ones as near as a double sum goes.
    bool decimal(std::string_view bytes, int scale) {
        const bool negative = !bytes.empty() && (static_cast<unsigned char>(bytes[0]) & 0x80) != 0;
        magnitude_.assign(bytes);
        if (negative) {  // two's complement: invert and add one
            for (char& c : magnitude_) {
                c = static_cast<char>(~static_cast<unsigned char>(c));
            }
            for (auto it = magnitude_.rbegin(); it != magnitude_.rend(); ++it) {
                *it = static_cast<char>(static_cast<unsigned char>(*it) + 1);
                if (*it != 0) {
                    break;
                }
            }
        }
        std::string_view m = magnitude_;
        while (!m.empty() && m.front() == 0) {
            m.remove_prefix(1);
        }
        if (m.size() > 32) {
            double v = 0;
            for (const char c : m) {
                v = v * 256 + static_cast<unsigned char>(c);
            }
            v /= std::pow(10.0, scale);
            return tree_.real(negative ? -v : v);
        }
        // The magnitude in decimal, by long division (no 128-bit integers on
        // 32-bit ARM); at most 32 bytes, so at most 78 digits.
        work_.assign(m);
        text_.clear();
        for (bool more = true; more;) {
            unsigned rem = 0;
            more = false;
            for (char& c : work_) {
                const unsigned cur = rem * 256 + static_cast<unsigned char>(c);
                c = static_cast<char>(cur / 10);
                rem = cur % 10;
                more = more || c != 0;
            }
            text_ += static_cast<char>('0' + rem);
        }
        std::reverse(text_.begin(), text_.end());
        text_ += fmt::format("e-{}", scale);
        double v = 0;
        std::from_chars(text_.data(), text_.data() + text_.size(), v);
        return tree_.real(negative ? -v : v);
    }

    bool value(int i, bool single) {
        const Node& n = node(i);
        at_ = r_.pos();
        // Every value counts, also those that take no bytes (nulls, empty
        // records, fixed of size 0): a schema cannot make a small frame
        // expand into much work.
        if (values_left_ == 0) {
            return fail(fmt::format("the schema makes this frame more than {} values ({} times its size and {} "
                                    "more)",
                                    values_budget_, RecordTree::kNameBudgetFactor, RecordTree::kNameBudgetSlack));
        }
        --values_left_;
        switch (n.kind) {
        case Kind::Null:
            return tree_.null();
        case Kind::Boolean: {
            std::string_view b;
            if (!r_.take(1, b)) {
                return fail(r_.error());
            }
            if (b[0] != 0 && b[0] != 1) {
                return fail(fmt::format("boolean byte {}", static_cast<int>(static_cast<unsigned char>(b[0]))));
            }
            return tree_.boolean(b[0] == 1);
        }
        case Kind::Int:
        case Kind::Long: {
            std::int64_t v = 0;
            if (!long_value(v)) {
                return false;
            }
            if (n.kind == Kind::Int &&
                (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())) {
                return fail(fmt::format("int {} is out of range", v));
            }
            if (n.logical == Logical::Date) {
                text_.clear();
                append_date(text_, v);
                return tree_.string(text_);
            }
            if (n.logical != Logical::None) {
                return timestamp(v, n.logical, single);
            }
            return tree_.integer(v);
        }
        case Kind::Float: {
            float f = 0;
            return (r_.f32(f) || fail(r_.error())) && tree_.real(f);
        }
        case Kind::Double: {
            double d = 0;
            return (r_.f64(d) || fail(r_.error())) && tree_.real(d);
        }
        case Kind::Bytes:
        case Kind::String: {
            std::string_view s;
            if (!length(s)) {
                return false;
            }
            if (n.kind == Kind::String) {
                return valid_utf8(s) ? tree_.string(s) : fail("invalid UTF-8 in a string");
            }
            return n.logical == Logical::Decimal ? decimal(s, n.scale) : tree_.bytes(s);
        }
        case Kind::Fixed: {
            std::string_view s;
            if (!r_.take(n.size, s)) {
                return fail(r_.error());
            }
            return n.logical == Logical::Decimal ? decimal(s, n.scale) : tree_.bytes(s);
        }
        case Kind::Enum: {
            std::int64_t v = 0;
            if (!long_value(v)) {
                return false;
            }
            if (v < 0 || static_cast<std::uint64_t>(v) >= n.symbols.size()) {
                return fail(fmt::format("enum index {} of {} symbols", v, n.symbols.size()));
            }
            return tree_.string(n.symbols[static_cast<std::size_t>(v)]);
        }
        case Kind::Union: {
            std::int64_t b = 0;
            if (!long_value(b)) {
                return false;
            }
            if (b < 0 || static_cast<std::uint64_t>(b) >= n.branches.size()) {
                return fail(fmt::format("union branch {} of {}", b, n.branches.size()));
            }
            return value(n.branches[static_cast<std::size_t>(b)], single);
        }
        case Kind::Record:
            return record(n);
        case Kind::Array:
        case Kind::Map:
            return blocks(n);
        }
        return fail("unknown type");
    }

    bool record(const Node& n) {
        if (!tree_.start_object()) {
            return false;
        }
        const std::size_t path_len = path_.size();
        for (const auto& [name, type] : n.fields) {
            path_.resize(path_len);
            if (path_len != 0) {
                path_ += sep_;
            }
            path_ += name;
            if (!tree_.key(name) || !value(type, true)) {
                return false;
            }
        }
        path_.resize(path_len);
        return tree_.end_object();
    }

    // Arrays and maps: blocks of a count (negative: its absolute value, then
    // the block's size in bytes) and that many items, up to a count of 0.
    bool blocks(const Node& n) {
        const bool map = n.kind == Kind::Map;
        if (!(map ? tree_.start_object() : tree_.start_array())) {
            return false;
        }
        for (;;) {
            std::int64_t count = 0;
            if (!long_value(count)) {
                return false;
            }
            if (count == 0) {
                break;
            }
            if (count < 0) {
                std::int64_t bytes = 0;
                if (count == std::numeric_limits<std::int64_t>::min() || !long_value(bytes)) {
                    return error_.empty() ? fail("a block count out of range") : false;
                }
                if (bytes < 0) {
                    return fail(fmt::format("a block of negative size {}", bytes));
                }
                count = -count;
            }
            if (static_cast<std::uint64_t>(count) > values_left_) {
                return fail(fmt::format("a block of {} items: more than this frame can hold", count));
            }
            for (std::int64_t k = 0; k < count; ++k) {
                if (map) {
                    std::string_view key;
                    if (!length(key)) {
                        return false;
                    }
                    if (!valid_utf8(key)) {
                        return fail("invalid UTF-8 in a map key");
                    }
                    if (!tree_.key(key)) {
                        return false;
                    }
                }
                if (!value(n.items, false)) {
                    return false;
                }
            }
        }
        return map ? tree_.end_object() : tree_.end_array();
    }

    RecordTree& tree_;
    const std::string& sep_;
    const avro::Schema* schema_ = nullptr;
    Reader r_;
    const std::uint8_t* begin_ = nullptr;
    std::size_t values_budget_ = 0;
    std::size_t values_left_ = 0;
    std::size_t offset_ = 0;
    const std::uint8_t* at_ = nullptr;  // where the current value starts
    std::string magnitude_;
    std::string work_;
    std::string error_;
    std::string path_;  // the current field's dotted name, for errors
    std::string text_;
};

class AvroDecoder final : public Decoder {
public:
    explicit AvroDecoder(AvroConfig config)
        : config_(std::move(config)), tree_(config_.separator, "avro"), parser_(tree_, config_.separator) {}

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        const std::string_view p = frame.payload;
        const avro::Schema* schema = config_.schema ? &*config_.schema : nullptr;
        std::string_view datum = p;
        if (schema == nullptr) {
            // Confluent: magic byte 0, schema id, datum.
            if (p.size() < 5 || p[0] != 0) {
                return DecodeStatus::NotMine;
            }
            const std::uint32_t id = static_cast<std::uint32_t>(static_cast<unsigned char>(p[1])) << 24 |
                                     static_cast<std::uint32_t>(static_cast<unsigned char>(p[2])) << 16 |
                                     static_cast<std::uint32_t>(static_cast<unsigned char>(p[3])) << 8 |
                                     static_cast<std::uint32_t>(static_cast<unsigned char>(p[4]));
            const auto it = config_.schemas.find(id);
            if (it == config_.schemas.end()) {
                error = fmt::format("avro: schema id {} is not in schemas_dir", id);
                return DecodeStatus::Broken;
            }
            schema = &it->second;
            datum = p.substr(5);
        } else if (p.empty()) {
            return DecodeStatus::NotMine;
        }
        const std::size_t first = out.size();
        tree_.start_frame(p.size());
        tree_.reset(out, frame.origin);
        if (parser_.datum(*schema, datum, p.size(), p.size() - datum.size())) {
            return DecodeStatus::Ok;
        }
        error = parser_.error();
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
        return DecodeStatus::Broken;
    }

private:
    AvroConfig config_;
    RecordTree tree_;
    Parser parser_;
};

avro::Schema schema_file(std::string_view option, const std::string& path) {
    const std::string text = option_file(option, path, kMaxSchemaBytes);
    try {
        return avro::Schema::parse(text);
    } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: '{}': {}", option, path, e.what()));
    }
}

std::map<std::uint32_t, avro::Schema> read_schema_dir(const std::string& dir);

// Every <id>.avsc of the directory, by id.
std::map<std::uint32_t, avro::Schema> schema_dir(const std::string& dir) {
    try {
        return read_schema_dir(dir);
    } catch (const std::filesystem::filesystem_error& e) {
        throw ConfigError(fmt::format("schemas_dir: cannot read '{}': {}", dir, e.code().message()));
    }
}

std::map<std::uint32_t, avro::Schema> read_schema_dir(const std::string& dir) {
    std::map<std::uint32_t, avro::Schema> out;
    std::map<std::uint32_t, std::string> files;
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) {
        throw ConfigError(fmt::format("schemas_dir: cannot read '{}': {}", dir, ec.message()));
    }
    for (const auto& entry : it) {
        const std::string name = entry.path().filename().string();
        std::uint32_t id = 0;
        const auto res = std::from_chars(name.data(), name.data() + name.size(), id);
        if (res.ec != std::errc() || std::string_view(res.ptr) != ".avsc") {
            continue;  // not <id>.avsc
        }
        if (out.size() >= kMaxSchemas) {
            throw ConfigError(fmt::format("schemas_dir: '{}' has more than {} schemas", dir, kMaxSchemas));
        }
        if (const auto [f, added] = files.emplace(id, name); !added) {
            throw ConfigError(fmt::format("schemas_dir: '{}' and '{}' both give schema id {}", f->second, name, id));
        }
        out.emplace(id, schema_file("schemas_dir", entry.path().string()));
    }
    if (out.empty()) {
        throw ConfigError(fmt::format("schemas_dir: '{}' has no <id>.avsc files", dir));
    }
    return out;
}

}  // namespace

std::unique_ptr<Decoder> make_avro_decoder(AvroConfig config) {
    if (config.schema.has_value() == !config.schemas.empty()) {
        throw ConfigError("set one of schema (plain Avro) and schemas_dir (the Confluent wire format)");
    }
    return std::make_unique<AvroDecoder>(std::move(config));
}

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_avro() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "avro";
        d.summary = "Avro records by a schema file (plain binary) or by schema id (the Confluent wire format); "
                    "timestamp logical types give the record's time";
        d.options = {
            {.name = "schema",
             .type = OptionType::String,
             .doc = "The schema (.avsc JSON, a record) of plain binary Avro: every frame is one record. Read once "
                    "at start."},
            {.name = "schemas_dir",
             .type = OptionType::String,
             .doc = "For the Confluent wire format (a zero byte, the schema id in 4 bytes, the record): a directory "
                    "of <id>.avsc files, read once at start. Set this or schema."},
            decoders::separator_option_spec(),
        };
        d.make_decoder = [](const Options& o) -> std::unique_ptr<Decoder> {
            decoders::AvroConfig c;
            const std::string schema = decoders::option_string(o, "schema", "");
            const std::string dir = decoders::option_string(o, "schemas_dir", "");
            if (schema.empty() == dir.empty()) {
                throw ConfigError("set one of schema (plain Avro) and schemas_dir (the Confluent wire format)");
            }
            if (!schema.empty()) {
                c.schema = decoders::schema_file("schema", schema);
            } else {
                c.schemas = decoders::schema_dir(dir);
            }
            c.separator = decoders::option_string(o, "separator", ".");
            return decoders::make_avro_decoder(std::move(c));
        };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
