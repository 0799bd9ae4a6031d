#include "stages/window/window_state.hpp"

#include <bit>
#include <cmath>
#include <cstring>

namespace sluice::window {

namespace {

constexpr std::uint8_t kVersion = 1;
// A pane holds at most this many fields (the stage refuses more in its config).
constexpr std::uint64_t kMaxFields = 1024;

void put_i64(std::string& out, std::int64_t v) { put_varint(out, zigzag(v)); }

bool get_i64(std::string_view& in, std::int64_t& v) {
    std::uint64_t u = 0;
    if (!get_varint(in, u)) {
        return false;
    }
    v = unzigzag(u);
    return true;
}

bool get_f64(std::string_view& in, double& v) {
    if (in.size() < 8) {
        return false;
    }
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) {
        bits |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[static_cast<std::size_t>(i)])) << (8 * i);
    }
    in.remove_prefix(8);
    v = std::bit_cast<double>(bits);
    return true;
}

bool get_u8(std::string_view& in, std::uint8_t& v) {
    if (in.empty()) {
        return false;
    }
    v = static_cast<std::uint8_t>(in.front());
    in.remove_prefix(1);
    return true;
}

}  // namespace

void FieldAcc::merge(const FieldAcc& o) {
    if (o.n == 0) {
        return;
    }
    if (n == 0) {
        *this = o;
        return;
    }
    const double na = static_cast<double>(n);
    const double nb = static_cast<double>(o.n);
    const double d = o.sum / nb - sum / na;
    // Chan, Golub and LeVeque's pairwise update of M2.
    m2 = m2 + o.m2 + d * d * na * nb / (na + nb);
    n += o.n;
    sum += o.sum;
    min = o.min < min ? o.min : min;
    max = o.max > max ? o.max : max;
    if (o.first_t < first_t) {
        first_t = o.first_t;
        first_v = o.first_v;
    }
    if (o.last_t >= last_t) {
        last_t = o.last_t;
        last_v = o.last_v;
    }
}

void PaneData::reset(std::size_t nfields) {
    records = 0;
    max_t = std::numeric_limits<std::int64_t>::min();
    fields.resize(nfields);
    for (auto& f : fields) {
        f.acc.clear();
        f.sketch.clear();
    }
}

void PaneData::merge(const PaneData& o, const SketchMapping* m) {
    records += o.records;
    max_t = o.max_t > max_t ? o.max_t : max_t;
    for (std::size_t i = 0; i < fields.size() && i < o.fields.size(); ++i) {
        fields[i].acc.merge(o.fields[i].acc);
        if (m != nullptr) {
            fields[i].sketch.merge(o.fields[i].sketch, *m);
        }
    }
}

void encode_pane(const PaneData& p, std::string& out, const SketchMapping* m) {
    // Written through a pointer into room reserved for the worst case: this
    // runs once per changed pane and batch, so it is on the hot path.
    std::size_t bound = 1 + 3 * 10;
    for (const auto& f : p.fields) {
        bound += 1 + 3 * 10 + 6 * 8 + (m != nullptr ? f.sketch.encoded_bound() : 0);
    }
    const std::size_t start = out.size();
    out.resize(start + bound);
    char* w = out.data() + start;
    auto f64 = [&](double v) {
        const auto bits = std::bit_cast<std::uint64_t>(v);
        for (int i = 0; i < 8; ++i) {
            *w++ = static_cast<char>((bits >> (8 * i)) & 0xff);
        }
    };
    *w++ = static_cast<char>(kVersion);
    w = put_varint(w, p.records);
    w = put_varint(w, zigzag(p.max_t));
    w = put_varint(w, p.fields.size());
    for (const auto& fs : p.fields) {
        const FieldAcc& f = fs.acc;
        if (f.n == 0) {
            *w++ = 0;
            continue;
        }
        *w++ = 1;
        w = put_varint(w, f.n);
        f64(f.sum);
        f64(f.m2);
        f64(f.min);
        f64(f.max);
        w = put_varint(w, zigzag(f.first_t));
        f64(f.first_v);
        w = put_varint(w, zigzag(f.last_t));
        f64(f.last_v);
        if (m != nullptr) {
            w = fs.sketch.encode(w);
        }
    }
    out.resize(static_cast<std::size_t>(w - out.data()));
}

bool decode_pane(std::string_view in, PaneData& out, std::size_t nfields, const SketchMapping* m) {
    out.reset(nfields);
    std::uint8_t version = 0;
    std::uint64_t n = 0;
    if (!get_u8(in, version) || version != kVersion || !get_varint(in, out.records) || !get_i64(in, out.max_t) ||
        !get_varint(in, n) || n > kMaxFields || n != nfields) {
        return false;
    }
    for (std::size_t i = 0; i < nfields; ++i) {
        std::uint8_t present = 0;
        if (!get_u8(in, present) || present > 1) {
            return false;
        }
        if (present == 0) {
            continue;
        }
        FieldAcc& f = out.fields[i].acc;
        if (!get_varint(in, f.n) || f.n == 0 || f.n > out.records || !get_f64(in, f.sum) || !get_f64(in, f.m2) || !get_f64(in, f.min) || !get_f64(in, f.max) || !get_i64(in, f.first_t) ||
            !get_f64(in, f.first_v) || !get_i64(in, f.last_t) || !get_f64(in, f.last_v)) {
            return false;
        }
        if (m != nullptr && (!out.fields[i].sketch.decode(in, *m) || out.fields[i].sketch.count() > f.n)) {
            return false;
        }
    }
    return in.empty();
}

void encode_meta(const Meta& m, std::string& out) {
    out.push_back(static_cast<char>(kVersion));
    put_varint(out, m.fingerprint);
    put_i64(out, m.watermark);
    put_i64(out, m.max_event);
    put_i64(out, m.closed_through);
    put_i64(out, m.processing_clock);
}

bool decode_meta(std::string_view in, Meta& out) {
    std::uint8_t version = 0;
    return get_u8(in, version) && version == kVersion && get_varint(in, out.fingerprint) &&
           get_i64(in, out.watermark) && get_i64(in, out.max_event) && get_i64(in, out.closed_through) &&
           get_i64(in, out.processing_clock) && in.empty();
}

void append_key_component(std::string& key, const std::string* value) {
    if (value == nullptr) {
        key.push_back(0);
        return;
    }
    append_key_component(key, std::string_view(*value));
}

void append_key_component(std::string& key, std::string_view value) {
    key.push_back(1);
    put_varint(key, value.size());
    key.append(value);
}

bool decode_group_key(std::string_view key, std::vector<std::optional<std::string>>& out) {
    out.clear();
    while (!key.empty()) {
        std::uint8_t present = 0;
        get_u8(key, present);
        if (present == 0) {
            out.emplace_back();
            continue;
        }
        std::uint64_t len = 0;
        if (present != 1 || !get_varint(key, len) || len > key.size()) {
            return false;
        }
        out.emplace_back(std::string(key.substr(0, static_cast<std::size_t>(len))));
        key.remove_prefix(static_cast<std::size_t>(len));
    }
    return true;
}

void make_state_key(std::string& out, char prefix, std::string_view group_key, std::int64_t start) {
    out.clear();
    out.push_back(prefix);
    out.append(group_key);
    // Big-endian with the sign bit flipped: byte order follows time order.
    const std::uint64_t u = static_cast<std::uint64_t>(start) ^ (1ull << 63);
    for (int i = 7; i >= 0; --i) {
        out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
    }
}

bool split_state_key(std::string_view key, char& prefix, std::string_view& group_key, std::int64_t& start) {
    if (key.size() < 9 || (key[0] != kPanePrefix && key[0] != kSessionPrefix)) {
        return false;
    }
    prefix = key[0];
    group_key = key.substr(1, key.size() - 9);
    std::uint64_t u = 0;
    for (std::size_t i = key.size() - 8; i < key.size(); ++i) {
        u = (u << 8) | static_cast<std::uint8_t>(key[i]);
    }
    start = static_cast<std::int64_t>(u ^ (1ull << 63));
    return true;
}

}  // namespace sluice::window
