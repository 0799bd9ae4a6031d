#pragma once
// The protobuf wire format (protobuf.dev/programming-guides/encoding): the
// one reader of it, for the protobuf decoder, the descriptor sets that
// drive it, and the Sparkplug B payload; Avro's binary encoding shares its
// varints (zigzag longs) and little-endian floats. It reads a byte span in place and
// never allocates; every length is checked against the bytes left before
// it is used, varints are at most 10 bytes and groups nest a bounded number
// of levels, so reading costs time linear in the input.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sluice::decoders::pb {

enum class WireType : std::uint8_t { Varint = 0, I64 = 1, Len = 2, StartGroup = 3, EndGroup = 4, I32 = 5 };

// Field numbers are 1 to 2^29 - 1.
constexpr std::uint32_t kMaxFieldNumber = (1U << 29) - 1;
// Unknown groups inside unknown groups: as deep as nested messages go.
constexpr int kMaxGroupDepth = 64;

inline std::int64_t zigzag64(std::uint64_t v) {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}
inline std::int32_t zigzag32(std::uint64_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    return static_cast<std::int32_t>(u >> 1) ^ -static_cast<std::int32_t>(u & 1);
}

class Reader {
public:
    Reader() = default;
    Reader(const std::uint8_t* p, const std::uint8_t* end) : p_(p), end_(end) {}
    explicit Reader(std::string_view s)
        : p_(reinterpret_cast<const std::uint8_t*>(s.data())), end_(p_ + s.size()) {}

    bool done() const { return p_ == end_; }
    const std::uint8_t* pos() const { return p_; }
    std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
    // Why the last call returned false (a constant text).
    const char* error() const { return error_; }

    bool varint(std::uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (p_ == end_) {
                return fail("truncated varint");
            }
            const std::uint8_t b = *p_++;
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return true;
            }
        }
        return fail("varint longer than 10 bytes");
    }

    bool tag(std::uint32_t& field, WireType& type) {
        std::uint64_t v = 0;
        if (!varint(v)) {
            return false;
        }
        const std::uint64_t number = v >> 3;
        const auto wt = static_cast<std::uint8_t>(v & 7);
        if (number == 0 || number > kMaxFieldNumber) {
            return fail("field number out of range");
        }
        if (wt > 5) {
            return fail("invalid wire type");
        }
        field = static_cast<std::uint32_t>(number);
        type = static_cast<WireType>(wt);
        return true;
    }

    bool fixed32(std::uint32_t& v) {
        if (left() < 4) {
            return fail("truncated 32-bit value");
        }
        v = static_cast<std::uint32_t>(p_[0]) | static_cast<std::uint32_t>(p_[1]) << 8 |
            static_cast<std::uint32_t>(p_[2]) << 16 | static_cast<std::uint32_t>(p_[3]) << 24;
        p_ += 4;
        return true;
    }

    bool fixed64(std::uint64_t& v) {
        std::uint32_t lo = 0;
        std::uint32_t hi = 0;
        if (left() < 8) {
            return fail("truncated 64-bit value");
        }
        fixed32(lo);
        fixed32(hi);
        v = static_cast<std::uint64_t>(hi) << 32 | lo;
        return true;
    }

    bool f32(float& f) {
        std::uint32_t u = 0;
        if (!fixed32(u)) {
            return false;
        }
        std::memcpy(&f, &u, sizeof f);
        return true;
    }

    bool f64(double& d) {
        std::uint64_t u = 0;
        if (!fixed64(u)) {
            return false;
        }
        std::memcpy(&d, &u, sizeof d);
        return true;
    }

    // The next `n` bytes (already known to be there or not).
    bool take(std::uint64_t n, std::string_view& s) {
        if (n > left()) {
            return fail("length beyond the end of the data");
        }
        s = std::string_view(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
        p_ += n;
        return true;
    }

    // A length-delimited value: string, bytes, message or packed run.
    bool len(std::string_view& s) {
        std::uint64_t n = 0;
        return varint(n) && take(n, s);
    }

    // Skips the value of a field whose tag was just read; a group up to its
    // matching end.
    bool skip(WireType type, std::uint32_t field, int depth = 0) {
        std::uint64_t v = 0;
        std::string_view s;
        switch (type) {
        case WireType::Varint:
            return varint(v);
        case WireType::I64:
            return left() >= 8 ? (p_ += 8, true) : fail("truncated 64-bit value");
        case WireType::I32:
            return left() >= 4 ? (p_ += 4, true) : fail("truncated 32-bit value");
        case WireType::Len:
            return len(s);
        case WireType::EndGroup:
            return fail("group end without its start");
        case WireType::StartGroup:
            break;
        }
        if (depth >= kMaxGroupDepth) {
            return fail("groups nested too deep");
        }
        for (;;) {
            std::uint32_t f = 0;
            WireType t{};
            if (p_ == end_) {
                return fail("group without its end");
            }
            if (!tag(f, t)) {
                return false;
            }
            if (t == WireType::EndGroup) {
                return f == field ? true : fail("group ends with another field's number");
            }
            if (!skip(t, f, depth + 1)) {
                return false;
            }
        }
    }

private:
    bool fail(const char* why) {
        error_ = why;
        return false;
    }

    const std::uint8_t* p_ = nullptr;
    const std::uint8_t* end_ = nullptr;
    const char* error_ = "";
};

}  // namespace sluice::decoders::pb
