// The buffer's row format (see README.md for the byte layout). Every length
// and count is checked against the bytes that are left before it is used, and
// only canonical encodings are accepted, so decode(x) succeeding implies
// encode(decode(x)) == x (the fuzz target checks exactly that).

#include <cassert>
#include <cstring>
#include <limits>

#include "buffer/buffer.hpp"

namespace sluice {

namespace {

constexpr unsigned char kFormatVersion = 1;

enum FieldType : unsigned char {
    kDouble = 1,
    kInt = 2,
    kFalse = 3,
    kTrue = 4,
    kString = 5,
};

// Encoding computes the exact size first and then writes through a raw
// pointer: one resize per record instead of a capacity check per byte (this
// runs for every record the gateway keeps).

std::size_t varint_size(std::uint64_t v) {
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

std::size_t string_size(std::string_view s) {
    return varint_size(s.size()) + s.size();
}

char* put_varint(char* p, std::uint64_t v) {
    while (v >= 0x80) {
        *p++ = static_cast<char>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    *p++ = static_cast<char>(v);
    return p;
}

char* put_fixed64(char* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        p[i] = static_cast<char>(v >> (8 * i));
    }
    return p + 8;
}

char* put_string(char* p, std::string_view s) {
    p = put_varint(p, s.size());
    if (!s.empty()) {
        std::memcpy(p, s.data(), s.size());
    }
    return p + s.size();
}

std::uint64_t zigzag(std::int64_t v) {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t unzigzag(std::uint64_t v) {
    return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

class Reader {
public:
    explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

    std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
    void skip(std::size_t n) { p_ += n; }  // n <= left()

    bool byte(unsigned char& out) {
        if (p_ == end_) {
            return false;
        }
        out = static_cast<unsigned char>(*p_++);
        return true;
    }

    bool varint(std::uint64_t& out) {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ == end_) {
                return false;
            }
            auto b = static_cast<unsigned char>(*p_++);
            if (shift == 63 && b > 1) {
                return false;  // would overflow 64 bits
            }
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                if (b == 0 && shift != 0) {
                    return false;  // overlong: not what encode writes
                }
                out = v;
                return true;
            }
        }
        return false;
    }

    bool fixed64(std::uint64_t& out) {
        if (left() < 8) {
            return false;
        }
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) {
            v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p_[i])) << (8 * i);
        }
        p_ += 8;
        out = v;
        return true;
    }

    bool string(std::string& out) {
        std::uint64_t n = 0;
        if (!varint(n) || n > left()) {
            return false;
        }
        out.assign(p_, static_cast<std::size_t>(n));
        p_ += n;
        return true;
    }

    // A count of entries each at least `min_entry` bytes long: a count that
    // cannot fit in what is left is rejected before anything is allocated.
    bool count(std::size_t min_entry, std::size_t& out) {
        std::uint64_t n = 0;
        if (!varint(n) || n > left() / min_entry) {
            return false;
        }
        out = static_cast<std::size_t>(n);
        return true;
    }

private:
    const char* p_;
    const char* end_;
};

bool decode_value(Reader& in, unsigned char type, FieldValue& value) {
    switch (type) {
        case kDouble: {
            std::uint64_t bits = 0;
            if (!in.fixed64(bits)) {
                return false;
            }
            double d = 0;
            std::memcpy(&d, &bits, sizeof d);
            value = d;
            return true;
        }
        case kInt: {
            std::uint64_t v = 0;
            if (!in.varint(v)) {
                return false;
            }
            value = unzigzag(v);
            return true;
        }
        case kFalse:
            value = false;
            return true;
        case kTrue:
            value = true;
            return true;
        case kString: {
            // Reuse the string already held (decoding into the same Record
            // again and again then allocates nothing).
            if (!std::holds_alternative<std::string>(value)) {
                value.emplace<std::string>();
            }
            return in.string(std::get<std::string>(value));
        }
        default:
            return false;
    }
}

}  // namespace

void encode_record(const Record& r, std::string& out) {
    std::size_t size = 1 + 8 + string_size(r.measurement) + string_size(r.origin) + varint_size(r.tags.size()) +
                       varint_size(r.fields.size());
    for (const auto& t : r.tags) {
        size += string_size(t.name) + string_size(t.value);
    }
    for (const auto& f : r.fields) {
        size += 1 + string_size(f.name);
        if (const auto* i = std::get_if<std::int64_t>(&f.value)) {
            size += varint_size(zigzag(*i));
        } else if (const auto* str = std::get_if<std::string>(&f.value)) {
            size += string_size(*str);
        } else if (std::holds_alternative<double>(f.value)) {
            size += 8;
        }
    }
    const std::size_t at = out.size();
    out.resize(at + size);
    char* p = out.data() + at;
    *p++ = static_cast<char>(kFormatVersion);
    p = put_fixed64(p, static_cast<std::uint64_t>(r.time_ns));
    p = put_string(p, r.measurement);
    p = put_string(p, r.origin);
    p = put_varint(p, r.tags.size());
    for (const auto& t : r.tags) {
        p = put_string(p, t.name);
        p = put_string(p, t.value);
    }
    p = put_varint(p, r.fields.size());
    for (const auto& f : r.fields) {
        if (const auto* d = std::get_if<double>(&f.value)) {
            *p++ = static_cast<char>(kDouble);
            p = put_string(p, f.name);
            std::uint64_t bits = 0;
            std::memcpy(&bits, d, sizeof bits);
            p = put_fixed64(p, bits);
        } else if (const auto* i = std::get_if<std::int64_t>(&f.value)) {
            *p++ = static_cast<char>(kInt);
            p = put_string(p, f.name);
            p = put_varint(p, zigzag(*i));
        } else if (const auto* b = std::get_if<bool>(&f.value)) {
            *p++ = static_cast<char>(*b ? kTrue : kFalse);
            p = put_string(p, f.name);
        } else {
            *p++ = static_cast<char>(kString);
            p = put_string(p, f.name);
            p = put_string(p, std::get<std::string>(f.value));
        }
    }
    assert(p == out.data() + out.size());
}

bool decode_record(std::string_view bytes, Record& out) {
    Reader in(bytes);
    unsigned char version = 0;
    if (!in.byte(version) || version != kFormatVersion) {
        return false;
    }
    std::uint64_t time = 0;
    if (!in.fixed64(time)) {
        return false;
    }
    out.time_ns = static_cast<TimeNs>(time);
    if (!in.string(out.measurement) || !in.string(out.origin)) {
        return false;
    }
    std::size_t ntags = 0;
    if (!in.count(2, ntags)) {  // a tag is at least two empty strings
        return false;
    }
    // resize rather than clear: surviving elements keep their string capacity.
    out.tags.resize(ntags);
    for (auto& t : out.tags) {
        if (!in.string(t.name) || !in.string(t.value)) {
            return false;
        }
    }
    std::size_t nfields = 0;
    if (!in.count(2, nfields)) {  // type byte + empty name
        return false;
    }
    out.fields.resize(nfields);
    for (auto& f : out.fields) {
        unsigned char type = 0;
        if (!in.byte(type) || !in.string(f.name) || !decode_value(in, type, f.value)) {
            return false;
        }
    }
    return in.left() == 0;
}

void encode_pack(std::string_view bytes, std::span<const std::uint32_t> sizes, std::string& out) {
    std::size_t size = 1 + varint_size(sizes.size()) + bytes.size();
    for (const std::uint32_t n : sizes) {
        size += varint_size(n);
    }
    const std::size_t at = out.size();
    out.resize(at + size);
    char* p = out.data() + at;
    *p++ = static_cast<char>(kPackVersion);
    p = put_varint(p, sizes.size());
    std::size_t from = 0;
    for (const std::uint32_t n : sizes) {
        p = put_string(p, bytes.substr(from, n));
        from += n;
    }
    assert(p == out.data() + out.size());
}

TimeNs record_time(std::string_view encoded) {
    Reader in(encoded);
    unsigned char version = 0;
    std::uint64_t time = 0;
    if (!in.byte(version) || !in.fixed64(time)) {
        return 0;
    }
    return static_cast<TimeNs>(time);
}

bool split_row(std::string_view body, std::uint64_t n, std::vector<std::string_view>& out) {
    out.clear();
    if (n == 1) {
        out.push_back(body);
        return true;
    }
    Reader in(body);
    unsigned char version = 0;
    std::uint64_t count = 0;
    // Each record takes at least two bytes (its length and version byte).
    if (n == 0 || !in.byte(version) || version != kPackVersion || !in.varint(count) || count != n ||
        count > in.left() / 2) {
        return false;
    }
    const char* at = body.data() + (body.size() - in.left());
    for (std::uint64_t k = 0; k < count; ++k) {
        std::uint64_t len = 0;
        const std::size_t before = in.left();
        if (!in.varint(len) || len == 0 || len > in.left()) {
            return false;
        }
        at += before - in.left();
        out.emplace_back(at, static_cast<std::size_t>(len));
        at += len;
        in.skip(static_cast<std::size_t>(len));
    }
    return in.left() == 0;
}

}  // namespace sluice
