#include "stages/window/sketch.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace sluice::window {

namespace {

constexpr std::uint32_t kMaxCount = std::numeric_limits<std::uint32_t>::max();
// Bucket indices stay far from int32's ends (at α = 0.01% the smallest
// normal double needs about -3.5 million), so index arithmetic cannot overflow.
constexpr std::int64_t kMaxIndex = 1 << 28;
// Room added on the side a store grows, so a drifting value does not
// reallocate the counts on every new bucket.
constexpr std::int64_t kGrowSlack = 8;

void sat_add(std::uint32_t& c, std::uint64_t n) {
    const std::uint64_t s = static_cast<std::uint64_t>(c) + n;
    c = s > kMaxCount ? kMaxCount : static_cast<std::uint32_t>(s);
}

}  // namespace

SketchMapping::SketchMapping(double relative_accuracy, std::uint32_t max_buckets)
    : alpha_(relative_accuracy), max_buckets_(max_buckets) {
    if (!(relative_accuracy > 0 && relative_accuracy < 1) || max_buckets < 1) {
        throw std::invalid_argument("sketch: relative accuracy must be in (0, 1) and max_buckets at least 1");
    }
    gamma_ = (1 + alpha_) / (1 - alpha_);
    log_gamma_ = std::log(gamma_);
    multiplier_ = 1 / log_gamma_;
}

void SketchStore::zeroed(std::size_t n) {
    buf_ = n == 0 ? nullptr : std::make_unique<std::uint32_t[]>(n);  // value-initialised: zeros
    size_ = static_cast<std::uint32_t>(n);
}

void SketchStore::assign(std::span<const std::uint32_t> c) {
    zeroed(c.size());
    std::copy(c.begin(), c.end(), buf_.get());
}

void SketchStore::reshape(std::int64_t lo, std::int64_t hi) {
    SketchStore out;
    out.zeroed(static_cast<std::size_t>(hi - lo + 1));
    const auto src = counts();
    const auto dst = out.counts();
    for (std::size_t i = 0; i < src.size(); ++i) {
        if (src[i] == 0) {
            continue;
        }
        // Buckets below the new range collapse into its lowest one.
        const std::int64_t j = std::max<std::int64_t>(offset + static_cast<std::int64_t>(i), lo);
        sat_add(dst[static_cast<std::size_t>(j - lo)], src[i]);
    }
    buf_ = std::move(out.buf_);
    size_ = out.size_;
    offset = static_cast<std::int32_t>(lo);
}

void SketchStore::add(int index, std::uint32_t n, std::uint32_t max_buckets) {
    if (size_ == 0) {
        offset = index;
        zeroed(1);
        buf_[0] = n;
        return;
    }
    const std::int64_t lo = offset;
    const std::int64_t hi = lo + static_cast<std::int64_t>(size_) - 1;
    std::int64_t i = index;
    if (i >= lo && i <= hi) {
        sat_add(buf_[static_cast<std::size_t>(i - lo)], n);
        return;
    }
    std::int64_t new_lo = std::min(lo, i);
    std::int64_t new_hi = std::max(hi, i);
    const auto limit = static_cast<std::int64_t>(max_buckets);
    if (new_hi - new_lo + 1 > limit) {
        new_lo = new_hi - limit + 1;  // collapse the smallest magnitudes
    } else {
        const std::int64_t room = std::min(kGrowSlack, limit - (new_hi - new_lo + 1));
        if (i > hi) {
            new_hi += room;
        } else {
            new_lo -= room;
        }
    }
    reshape(new_lo, new_hi);
    i = std::max(i, new_lo);
    sat_add(buf_[static_cast<std::size_t>(i - new_lo)], n);
}

void SketchStore::merge(const SketchStore& o, std::uint32_t max_buckets) {
    if (o.size_ == 0) {
        return;
    }
    if (size_ == 0) {
        *this = o;
        return;
    }
    // Widen once to cover the other store, then add bucket by bucket.
    const std::int64_t o_lo = o.offset;
    const std::int64_t o_hi = o_lo + static_cast<std::int64_t>(o.size_) - 1;
    const std::int64_t lo = offset;
    const std::int64_t hi = lo + static_cast<std::int64_t>(size_) - 1;
    if (o_lo < lo || o_hi > hi) {
        std::int64_t new_lo = std::min(lo, o_lo);
        const std::int64_t new_hi = std::max(hi, o_hi);
        if (new_hi - new_lo + 1 > static_cast<std::int64_t>(max_buckets)) {
            new_lo = new_hi - static_cast<std::int64_t>(max_buckets) + 1;
        }
        reshape(new_lo, new_hi);
    }
    const std::int64_t base = offset;
    for (std::size_t k = 0; k < o.size_; ++k) {
        if (o.buf_[k] != 0) {
            const std::int64_t j = std::max<std::int64_t>(o_lo + static_cast<std::int64_t>(k), base);
            sat_add(buf_[static_cast<std::size_t>(j - base)], o.buf_[k]);
        }
    }
}

std::uint64_t SketchStore::total() const {
    std::uint64_t n = 0;
    for (auto c : counts()) {
        n += c;
    }
    return n;
}

void DDSketch::merge(const DDSketch& o, const SketchMapping& m) {
    pos_.merge(o.pos_, m.max_buckets());
    neg_.merge(o.neg_, m.max_buckets());
    zero_ += o.zero_;
}

double DDSketch::quantile(double q, const SketchMapping& m) const {
    const std::uint64_t n = count();
    if (n == 0) {
        return 0;
    }
    q = std::clamp(q, 0.0, 1.0);
    const double rank = q * static_cast<double>(n - 1);
    std::uint64_t seen = 0;
    // Most negative first: the negative store from its highest magnitude down.
    const auto neg = neg_.counts();
    const auto pos = pos_.counts();
    for (std::size_t k = neg.size(); k-- > 0;) {
        seen += neg[k];
        if (static_cast<double>(seen) > rank) {
            return -m.value(neg_.offset + static_cast<int>(k));
        }
    }
    seen += zero_;
    if (static_cast<double>(seen) > rank) {
        return 0;
    }
    for (std::size_t k = 0; k < pos.size(); ++k) {
        seen += pos[k];
        if (static_cast<double>(seen) > rank) {
            return m.value(pos_.offset + static_cast<int>(k));
        }
    }
    // Only reachable when saturated counts disagree with the total.
    return pos.empty() ? 0 : m.value(pos_.offset + static_cast<int>(pos.size()) - 1);
}

bool get_varint(std::string_view& in, std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (in.empty()) {
            return false;
        }
        const auto b = static_cast<std::uint8_t>(in.front());
        in.remove_prefix(1);
        if (shift == 63 && b > 1) {
            return false;
        }
        v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return true;
        }
    }
    return false;
}

namespace {

char* encode_store(const SketchStore& s, char* p) {
    const auto counts = s.counts();
    std::size_t first = 0;
    std::size_t last = counts.size();
    while (first < last && counts[first] == 0) {
        ++first;
    }
    while (last > first && counts[last - 1] == 0) {
        --last;
    }
    p = put_varint(p, last - first);
    if (last == first) {
        return p;
    }
    p = put_varint(p, zigzag(static_cast<std::int64_t>(s.offset) + static_cast<std::int64_t>(first)));
    for (std::size_t k = first; k < last; ++k) {
        p = put_varint(p, counts[k]);
    }
    return p;
}

bool decode_store(std::string_view& in, SketchStore& s, std::uint32_t max_buckets) {
    s.clear();
    std::uint64_t n = 0;
    if (!get_varint(in, n) || n > max_buckets || n > in.size()) {
        return false;
    }
    if (n == 0) {
        return true;
    }
    std::uint64_t z = 0;
    if (!get_varint(in, z)) {
        return false;
    }
    const std::int64_t offset = unzigzag(z);
    if (offset < -kMaxIndex || offset > kMaxIndex) {
        return false;
    }
    s.offset = static_cast<std::int32_t>(offset);
    s.zeroed(static_cast<std::size_t>(n));
    for (auto& c : s.counts()) {
        std::uint64_t v = 0;
        if (!get_varint(in, v) || v > kMaxCount) {
            return false;
        }
        c = static_cast<std::uint32_t>(v);
    }
    return true;
}

}  // namespace

char* DDSketch::encode(char* p) const {
    p = put_varint(p, zero_);
    p = encode_store(pos_, p);
    return encode_store(neg_, p);
}

void DDSketch::encode(std::string& out) const {
    const std::size_t n = out.size();
    out.resize(n + encoded_bound());
    char* end = encode(out.data() + n);
    out.resize(static_cast<std::size_t>(end - out.data()));
}

bool DDSketch::decode(std::string_view& in, const SketchMapping& m) {
    clear();
    if (!get_varint(in, zero_) || !decode_store(in, pos_, m.max_buckets()) ||
        !decode_store(in, neg_, m.max_buckets())) {
        clear();
        return false;
    }
    return true;
}

}  // namespace sluice::window
