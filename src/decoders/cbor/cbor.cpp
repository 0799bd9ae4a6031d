// CBOR (RFC 8949) into records: a compact decoder of our own, driven
// straight into the shared RecordTree (no intermediate value tree). Every
// declared length is checked against the bytes left before anything is read
// or reserved, so a frame costs time linear in its size and no more memory
// than it holds.

#include "decoders/cbor/cbor.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "decoders/decoder_options.hpp"
#include "decoders/record_tree.hpp"
#include "decoders/timestamp.hpp"
#include "text/text_value.hpp"

namespace sluice::decoders {
namespace {

constexpr std::uint8_t kMajorUint = 0;
constexpr std::uint8_t kMajorNint = 1;
constexpr std::uint8_t kMajorBytes = 2;
constexpr std::uint8_t kMajorText = 3;
constexpr std::uint8_t kMajorArray = 4;
constexpr std::uint8_t kMajorMap = 5;
constexpr std::uint8_t kMajorTag = 6;
constexpr std::uint8_t kMajorSimple = 7;
constexpr std::uint8_t kIndefinite = 31;
// Tags may wrap tags: bounded like nesting.
constexpr std::size_t kMaxTagDepth = 16;

// IEEE 754 half precision (RFC 8949 appendix D).
double half_to_double(std::uint16_t h) {
    const int exp = (h >> 10) & 0x1f;
    const int mant = h & 0x3ff;
    double v;
    if (exp == 0) {
        v = std::ldexp(mant, -24);
    } else if (exp != 31) {
        v = std::ldexp(mant + 1024, exp - 25);
    } else {
        v = mant == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
    }
    return (h & 0x8000) != 0 ? -v : v;
}

class Parser {
public:
    Parser(RecordTree& tree, std::string& text) : tree_(tree), text_(text) {}

    // Reads one top-level item at `at` of the frame [begin, end); `next` is
    // where it ended. False with error() set on failure.
    bool document(const std::uint8_t* begin, const std::uint8_t* at, const std::uint8_t* end,
                  const std::uint8_t*& next) {
        begin_ = begin;
        p_ = at;
        end_ = end;
        error_.clear();
        const bool ok = item(0, 0);
        if (!ok && error_.empty()) {
            error_ = fmt::format("{} (offset {})", tree_.error(), p_ - begin_);  // the tree refused an event
        }
        next = p_;
        return ok;
    }
    const std::string& error() const { return error_; }

private:
    struct Head {
        std::uint8_t major;
        std::uint8_t info;
        std::uint64_t arg;  // the value, length or count (not for info 31)
    };

    bool fail(std::string_view why) {
        error_ = fmt::format("cbor: {} (offset {})", why, p_ - begin_);
        return false;
    }

    std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }

    bool head(Head& h) {
        if (p_ == end_) {
            return fail("truncated: an item is missing");
        }
        const std::uint8_t b = *p_++;
        h.major = b >> 5;
        h.info = b & 0x1f;
        h.arg = h.info;
        if (h.info < 24 || h.info == kIndefinite) {
            return true;
        }
        if (h.info > 27) {
            --p_;
            return fail(fmt::format("reserved additional information {}", h.info));
        }
        const std::size_t n = std::size_t{1} << (h.info - 24);
        if (left() < n) {
            return fail("truncated: an argument is cut short");
        }
        h.arg = 0;
        for (std::size_t i = 0; i < n; ++i) {
            h.arg = (h.arg << 8) | *p_++;
        }
        return true;
    }

    // A definite or chunked (indefinite) string of `major` into text_.
    bool string_body(const Head& h) {
        text_.clear();
        if (h.info != kIndefinite) {
            if (h.arg > left()) {
                return fail("truncated: a string is longer than the frame");
            }
            text_.assign(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(h.arg));
            p_ += h.arg;
            return true;
        }
        for (;;) {
            if (p_ == end_) {
                return fail("truncated: an indefinite string has no end");
            }
            if (*p_ == 0xff) {
                ++p_;
                return true;
            }
            Head chunk;
            if (!head(chunk)) {
                return false;
            }
            if (chunk.major != h.major || chunk.info == kIndefinite) {
                return fail("a chunk of an indefinite string is not a definite string of its type");
            }
            if (chunk.arg > left()) {
                return fail("truncated: a string is longer than the frame");
            }
            text_.append(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(chunk.arg));
            p_ += chunk.arg;
        }
    }

    bool text_item(const Head& h) {
        if (!string_body(h)) {
            return false;
        }
        if (!valid_utf8(text_)) {
            return fail("invalid UTF-8 in a text string");
        }
        return true;
    }

    // A map key: text, or an integer written in decimal (compact encodings
    // number their keys).
    bool key() {
        Head h;
        if (!head(h)) {
            return false;
        }
        if (h.major == kMajorText) {
            return text_item(h) && tree_.key(text_);
        }
        if ((h.major == kMajorUint || h.major == kMajorNint) && h.info != kIndefinite) {
            text_.clear();
            if (h.major == kMajorUint) {
                fmt::format_to(std::back_inserter(text_), "{}", h.arg);
            } else if (h.arg == std::numeric_limits<std::uint64_t>::max()) {
                text_ = "-18446744073709551616";  // -1 - (2^64 - 1)
            } else {
                fmt::format_to(std::back_inserter(text_), "-{}", h.arg + 1);
            }
            return tree_.key(text_);
        }
        return fail("a map key is neither a text string nor an integer");
    }

    bool number_item(const Head& h) {
        if (h.major == kMajorUint) {
            if (h.arg > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return tree_.real(static_cast<double>(h.arg));
            }
            return tree_.integer(static_cast<std::int64_t>(h.arg));
        }
        // -1 - arg
        if (h.arg > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return tree_.real(-1.0 - static_cast<double>(h.arg));
        }
        return tree_.integer(-1 - static_cast<std::int64_t>(h.arg));
    }

    // A number for tag 1 (epoch seconds): integer or float.
    bool epoch_item(std::optional<TimeNs>& t) {
        Head h;
        if (!head(h)) {
            return false;
        }
        if ((h.major == kMajorUint || h.major == kMajorNint) && h.info != kIndefinite) {
            if (h.arg > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return fail("tag 1: the time is out of range");
            }
            const auto s = static_cast<std::int64_t>(h.arg);
            t = epoch_to_ns(h.major == kMajorUint ? s : -1 - s, EpochUnit::Seconds);
            return true;
        }
        double d = 0;
        if (h.major == kMajorSimple && simple_float(h, d)) {
            t = epoch_to_ns(d, EpochUnit::Seconds);
            return true;
        }
        return fail("tag 1 (epoch time) does not hold a number");
    }

    static bool simple_float(const Head& h, double& d) {
        if (h.info == 25) {
            d = half_to_double(static_cast<std::uint16_t>(h.arg));
        } else if (h.info == 26) {
            d = std::bit_cast<float>(static_cast<std::uint32_t>(h.arg));
        } else if (h.info == 27) {
            d = std::bit_cast<double>(h.arg);
        } else {
            return false;
        }
        return true;
    }

    bool item(std::size_t depth, std::size_t tags) {
        Head h;
        if (!head(h)) {
            return false;
        }
        switch (h.major) {
        case kMajorUint:
        case kMajorNint:
            if (h.info == kIndefinite) {
                return fail("an integer cannot be indefinite");
            }
            return number_item(h);
        case kMajorBytes:
            // RFC 8949 section 6.1: byte strings become base64url text.
            if (!string_body(h)) {
                return false;
            }
            return tree_.bytes(text_);
        case kMajorText:
            return text_item(h) && tree_.string(text_);
        case kMajorArray:
            return container(h, depth, false);
        case kMajorMap:
            return container(h, depth, true);
        case kMajorTag:
            return tagged(h, depth, tags);
        default:
            return simple(h);
        }
    }

    bool container(const Head& h, std::size_t depth, bool map) {
        if (depth >= RecordTree::kMaxDepth) {
            return fail(fmt::format("nested deeper than {} levels", RecordTree::kMaxDepth));
        }
        const bool indefinite = h.info == kIndefinite;
        // Every item takes at least a byte: a count beyond the bytes left is
        // a lie, refused before a single element is read.
        if (!indefinite && (map ? h.arg > left() / 2 : h.arg > left())) {
            return fail(map ? "truncated: a map has more pairs than the frame has bytes"
                            : "truncated: an array has more elements than the frame has bytes");
        }
        if (!(map ? tree_.start_object() : tree_.start_array())) {
            return false;
        }
        for (std::uint64_t i = 0; indefinite || i < h.arg; ++i) {
            if (indefinite) {
                if (p_ == end_) {
                    return fail(map ? "truncated: an indefinite map has no end" : "truncated: an indefinite array has no end");
                }
                if (*p_ == 0xff) {
                    ++p_;
                    break;
                }
            }
            if (map && !key()) {
                return false;
            }
            if (!item(depth + 1, 0)) {
                return false;
            }
        }
        return map ? tree_.end_object() : tree_.end_array();
    }

    bool tagged(const Head& h, std::size_t depth, std::size_t tags) {
        if (h.info == kIndefinite) {
            return fail("a tag cannot be indefinite");
        }
        if (tags >= kMaxTagDepth) {
            return fail(fmt::format("more than {} tags on one item", kMaxTagDepth));
        }
        if (h.arg == 0) {
            // Standard date/time string (RFC 3339).
            Head s;
            if (!head(s)) {
                return false;
            }
            if (s.major != kMajorText || !text_item(s)) {
                return error_.empty() ? fail("tag 0 (date/time) does not hold a text string") : false;
            }
            const auto t = parse_iso8601(text_);
            if (!t) {
                return fail(fmt::format("tag 0: cannot read '{}' as a time", excerpt(text_)));
            }
            return tree_.time(*t);
        }
        if (h.arg == 1) {
            std::optional<TimeNs> t;
            if (!epoch_item(t)) {
                return false;
            }
            if (!t) {
                return fail("tag 1: the time is out of range");
            }
            return tree_.time(*t);
        }
        if (h.arg == 2 || h.arg == 3) {
            // Bignums: the magnitude as big-endian bytes; a number as near as a double goes.
            Head s;
            if (!head(s)) {
                return false;
            }
            if (s.major != kMajorBytes || !string_body(s)) {
                return error_.empty() ? fail("a bignum tag does not hold a byte string") : false;
            }
            double v = 0;
            for (const char c : text_) {
                v = v * 256 + static_cast<unsigned char>(c);
            }
            return tree_.real(h.arg == 2 ? v : -1 - v);
        }
        // Other tags (self-described CBOR, URIs, ...): the item as it is.
        return item(depth, tags + 1);
    }

    bool simple(const Head& h) {
        switch (h.info) {
        case 20:
            return tree_.boolean(false);
        case 21:
            return tree_.boolean(true);
        case 22:  // null
        case 23:  // undefined
            return tree_.null();
        case kIndefinite:
            --p_;
            return fail("a break outside an indefinite item");
        default:
            break;
        }
        double d = 0;
        if (simple_float(h, d)) {
            return tree_.real(d);
        }
        return fail(fmt::format("unassigned simple value {}", h.arg));
    }

    RecordTree& tree_;
    std::string& text_;  // the last string read (reused)
    std::string error_;
    const std::uint8_t* begin_ = nullptr;
    const std::uint8_t* p_ = nullptr;
    const std::uint8_t* end_ = nullptr;
};

// Where the document starts after the self-describe tag (0xd9d9f7), if any;
// null when what is there cannot be a record (not a map or an array).
const std::uint8_t* record_start(const std::uint8_t* p, const std::uint8_t* end) {
    if (end - p >= 3 && p[0] == 0xd9 && p[1] == 0xd9 && p[2] == 0xf7) {
        p += 3;
    }
    if (p == end) {
        return nullptr;
    }
    const std::uint8_t major = *p >> 5;
    return major == kMajorArray || major == kMajorMap ? p : nullptr;
}

class CborDecoder final : public Decoder {
public:
    explicit CborDecoder(const CborConfig& config) : tree_(config.separator, "cbor"), parser_(tree_, text_) {}

    // A CBOR sequence (RFC 8742): several documents in one frame, in turn.
    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        const DecodeStatus st = decode_documents(tree_, "cbor", frame, out, error, record_start, parser_);
        trim();
        return st;
    }

private:
    void trim() {
        if (text_.capacity() > 256 * 1024) {
            text_ = std::string();  // one huge frame must not pin its copy
        }
    }

    RecordTree tree_;
    std::string text_;
    Parser parser_;
};

}  // namespace

std::unique_ptr<Decoder> make_cbor_decoder(const CborConfig& config) { return std::make_unique<CborDecoder>(config); }

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_cbor() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "cbor";
        d.summary = "CBOR (RFC 8949) maps or arrays of maps, several per frame; time tags 0/1 give the record's time";
        d.options = {decoders::separator_option_spec()};
        d.make_decoder = [](const Options& o) -> std::unique_ptr<Decoder> {
            decoders::CborConfig c;
            c.separator = decoders::option_string(o, "separator", ".");
            return decoders::make_cbor_decoder(c);
        };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
