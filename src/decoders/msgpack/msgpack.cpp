// MessagePack into records: a compact decoder of our own, following the
// format's specification (https://github.com/msgpack/msgpack/blob/master/spec.md),
// driven straight into the shared RecordTree. Every declared length is
// checked against the bytes left before anything is read, so a frame costs
// time linear in its size and no more memory than it holds.

#include "decoders/msgpack/msgpack.hpp"

#include <bit>
#include <cstdint>
#include <iterator>
#include <limits>

#include <fmt/format.h>

#include "decoders/decoder_options.hpp"
#include "decoders/record_tree.hpp"
#include "text/text_value.hpp"

namespace sluice::decoders {
namespace {

// The timestamp extension type (the spec's "Timestamp extension type").
constexpr std::int8_t kTimestampExt = -1;

// Where a record starts at `p`: a map or an array (fixmap, fixarray,
// array/map 16/32); null for anything else.
const std::uint8_t* document_start(const std::uint8_t* p, const std::uint8_t* end) {
    if (p == end) {
        return nullptr;
    }
    const std::uint8_t b = *p;
    return (b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf) ? p : nullptr;
}

class Parser {
public:
    Parser(RecordTree& tree, std::string& text) : tree_(tree), text_(text) {}

    bool document(const std::uint8_t* begin, const std::uint8_t* at, const std::uint8_t* end,
                  const std::uint8_t*& next) {
        begin_ = begin;
        p_ = at;
        end_ = end;
        error_.clear();
        const bool ok = item(0);
        if (!ok && error_.empty()) {
            error_ = fmt::format("{} (offset {})", tree_.error(), p_ - begin_);  // the tree refused an event
        }
        next = p_;
        return ok;
    }
    const std::string& error() const { return error_; }

private:
    bool fail(std::string_view why) {
        error_ = fmt::format("msgpack: {} (offset {})", why, p_ - begin_);
        return false;
    }

    std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }

    // A big-endian unsigned integer of `n` bytes.
    bool be(std::size_t n, std::uint64_t& v) {
        if (left() < n) {
            return fail("truncated: a value is cut short");
        }
        v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            v = (v << 8) | *p_++;
        }
        return true;
    }

    // `n` raw bytes into text_.
    bool bytes(std::uint64_t n) {
        if (n > left()) {
            return fail("truncated: a string is longer than the frame");
        }
        text_.assign(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
        p_ += n;
        return true;
    }

    bool str(std::uint64_t n) {
        if (!bytes(n)) {
            return false;
        }
        if (!valid_utf8(text_)) {
            return fail("invalid UTF-8 in a string");
        }
        return true;
    }

    bool uint(std::uint64_t v) {
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return tree_.real(static_cast<double>(v));
        }
        return tree_.integer(static_cast<std::int64_t>(v));
    }

    // A map key: a string, or an integer written in decimal.
    bool key() {
        if (p_ == end_) {
            return fail("truncated: a map key is missing");
        }
        const std::uint8_t b = *p_++;
        std::uint64_t n = 0;
        if (b >= 0xa0 && b <= 0xbf) {
            n = b & 0x1f;
        } else if (b >= 0xd9 && b <= 0xdb) {
            if (!be(std::size_t{1} << (b - 0xd9), n)) {
                return false;
            }
        } else if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) {
            std::int64_t i = 0;
            std::uint64_t u = 0;
            bool is_unsigned = false;
            if (b <= 0x7f) {
                i = b;
            } else if (b >= 0xe0) {
                i = static_cast<std::int8_t>(b);
            } else if (b <= 0xcf) {
                if (!be(std::size_t{1} << (b - 0xcc), u)) {
                    return false;
                }
                is_unsigned = true;
            } else {
                const std::size_t w = std::size_t{1} << (b - 0xd0);
                if (!be(w, u)) {
                    return false;
                }
                i = w == 8 ? static_cast<std::int64_t>(u) : static_cast<std::int64_t>(u << (64 - 8 * w)) >> (64 - 8 * w);
            }
            text_.clear();
            if (is_unsigned) {
                fmt::format_to(std::back_inserter(text_), "{}", u);
            } else {
                fmt::format_to(std::back_inserter(text_), "{}", i);
            }
            return tree_.key(text_);
        } else {
            --p_;
            return fail("a map key is neither a string nor an integer");
        }
        return str(n) && tree_.key(text_);
    }

    bool container(std::uint64_t n, std::size_t depth, bool map) {
        if (depth >= RecordTree::kMaxDepth) {
            return fail(fmt::format("nested deeper than {} levels", RecordTree::kMaxDepth));
        }
        // Every element takes at least a byte: a count beyond the bytes left
        // is a lie, refused before a single element is read.
        if (map ? n > left() / 2 : n > left()) {
            return fail(map ? "truncated: a map has more pairs than the frame has bytes"
                            : "truncated: an array has more elements than the frame has bytes");
        }
        if (!(map ? tree_.start_object() : tree_.start_array())) {
            return false;
        }
        for (std::uint64_t i = 0; i < n; ++i) {
            if (map && !key()) {
                return false;
            }
            if (!item(depth + 1)) {
                return false;
            }
        }
        return map ? tree_.end_object() : tree_.end_array();
    }

    // An extension value of `n` bytes and its type: the timestamp type is a
    // time, any other is kept as base64url text (RecordTree::bytes).
    bool ext(std::uint64_t n) {
        if (left() < 1) {
            return fail("truncated: an extension has no type");
        }
        const auto type = static_cast<std::int8_t>(*p_++);
        if (type != kTimestampExt) {
            if (!bytes(n)) {
                return false;
            }
            return tree_.bytes(text_);
        }
        std::uint64_t a = 0;
        std::uint64_t b = 0;
        std::int64_t seconds = 0;
        std::uint32_t nanos = 0;
        if (n == 4) {  // timestamp 32: seconds
            if (!be(4, a)) {
                return false;
            }
            seconds = static_cast<std::int64_t>(a);
        } else if (n == 8) {  // timestamp 64: 30 bits of ns, 34 of seconds
            if (!be(8, a)) {
                return false;
            }
            nanos = static_cast<std::uint32_t>(a >> 34);
            seconds = static_cast<std::int64_t>(a & 0x3ffffffffULL);
        } else if (n == 12) {  // timestamp 96: 32 bits of ns, signed 64 of seconds
            if (!be(4, a) || !be(8, b)) {
                return false;
            }
            nanos = static_cast<std::uint32_t>(a);
            seconds = static_cast<std::int64_t>(b);
        } else {
            return fail(fmt::format("a timestamp of {} bytes (4, 8 or 12)", n));
        }
        constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
        if (nanos > 999'999'999 || seconds > kLimit || seconds < -kLimit) {
            return fail("a timestamp out of range");
        }
        return tree_.time(seconds * 1'000'000'000 + nanos);
    }

    bool item(std::size_t depth) {
        if (p_ == end_) {
            return fail("truncated: a value is missing");
        }
        const std::uint8_t b = *p_++;
        std::uint64_t n = 0;
        if (b <= 0x7f) {
            return tree_.integer(b);
        }
        if (b >= 0xe0) {
            return tree_.integer(static_cast<std::int8_t>(b));
        }
        if (b <= 0x8f) {
            return container(b & 0x0f, depth, true);
        }
        if (b <= 0x9f) {
            return container(b & 0x0f, depth, false);
        }
        if (b <= 0xbf) {
            return str(b & 0x1f) && tree_.string(text_);
        }
        switch (b) {
        case 0xc0:
            return tree_.null();
        case 0xc2:
            return tree_.boolean(false);
        case 0xc3:
            return tree_.boolean(true);
        case 0xc4:
        case 0xc5:
        case 0xc6:  // bin 8/16/32: base64url text (RecordTree::bytes)
            if (!be(std::size_t{1} << (b - 0xc4), n) || !bytes(n)) {
                return false;
            }
            return tree_.bytes(text_);
        case 0xc7:
        case 0xc8:
        case 0xc9:  // ext 8/16/32
            return be(std::size_t{1} << (b - 0xc7), n) && ext(n);
        case 0xca:
            return be(4, n) && tree_.real(std::bit_cast<float>(static_cast<std::uint32_t>(n)));
        case 0xcb:
            return be(8, n) && tree_.real(std::bit_cast<double>(n));
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:  // uint 8/16/32/64
            return be(std::size_t{1} << (b - 0xcc), n) && uint(n);
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3: {  // int 8/16/32/64, sign-extended
            const std::size_t w = std::size_t{1} << (b - 0xd0);
            if (!be(w, n)) {
                return false;
            }
            const auto v = w == 8 ? static_cast<std::int64_t>(n)
                                  : static_cast<std::int64_t>(n << (64 - 8 * w)) >> (64 - 8 * w);
            return tree_.integer(v);
        }
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:  // fixext 1/2/4/8/16
            return ext(std::uint64_t{1} << (b - 0xd4));
        case 0xd9:
        case 0xda:
        case 0xdb:  // str 8/16/32
            return be(std::size_t{1} << (b - 0xd9), n) && str(n) && tree_.string(text_);
        case 0xdc:
        case 0xdd:  // array 16/32
            return be(b == 0xdc ? 2 : 4, n) && container(n, depth, false);
        case 0xde:
        case 0xdf:  // map 16/32
            return be(b == 0xde ? 2 : 4, n) && container(n, depth, true);
        default:
            --p_;
            return fail("byte 0xc1 is never used");
        }
    }

    RecordTree& tree_;
    std::string& text_;
    std::string error_;
    const std::uint8_t* begin_ = nullptr;
    const std::uint8_t* p_ = nullptr;
    const std::uint8_t* end_ = nullptr;
};

class MsgpackDecoder final : public Decoder {
public:
    explicit MsgpackDecoder(const MsgpackConfig& config) : tree_(config.separator, "msgpack"), parser_(tree_, text_) {}

    // Several objects back to back in one frame (a stream), in turn.
    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        const DecodeStatus st = decode_documents(tree_, "msgpack", frame, out, error, document_start, parser_);
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

std::unique_ptr<Decoder> make_msgpack_decoder(const MsgpackConfig& config) {
    return std::make_unique<MsgpackDecoder>(config);
}

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_msgpack() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "msgpack";
        d.summary = "MessagePack maps or arrays of maps, several per frame; the timestamp extension gives the record's time";
        d.options = {decoders::separator_option_spec()};
        d.make_decoder = [](const Options& o) -> std::unique_ptr<Decoder> {
            decoders::MsgpackConfig c;
            c.separator = decoders::option_string(o, "separator", ".");
            return decoders::make_msgpack_decoder(c);
        };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
