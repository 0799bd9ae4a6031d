#pragma once
// A DDSketch (Masson, Rim and Lee, "DDSketch: A Fast and Fully-Mergeable
// Quantile Sketch with Relative-Error Guarantees", VLDB 2019), written for
// the window stage's percentiles.
//
// Values are counted in logarithmic buckets: bucket i holds the magnitudes
// in (γ^(i-1), γ^i] with γ = (1 + α) / (1 - α), and is read back as
// 2γ^i / (γ + 1). Every value of a bucket is within a relative distance α of
// that estimate, so quantile(q) is within α·|x| of x, the value of rank
// floor(q·(n-1)) in the sorted input — as long as no bucket that rank falls
// into was collapsed (see below). Positive and negative magnitudes have a
// store each; magnitudes below the smallest normal double count as zero.
//
// Memory is bounded: a store spans at most `max_buckets` consecutive bucket
// indices (2048 at α = 1% cover magnitudes over a factor of about 10^17). A
// value that would widen a store further is merged into its lowest bucket
// (the smallest magnitudes): quantiles landing there lose the guarantee.
// Counts per bucket saturate at 2^32 - 1.
//
// Sketches merge exactly (bucket-wise addition), which is what makes the
// window stage's panes work: a window's sketch is the merge of its panes'.

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::window {

class SketchMapping {
public:
    SketchMapping(double relative_accuracy, std::uint32_t max_buckets);

    double relative_accuracy() const { return alpha_; }
    std::uint32_t max_buckets() const { return max_buckets_; }
    // The bucket of a magnitude >= kMinMagnitude.
    int index(double magnitude) const { return static_cast<int>(std::ceil(std::log(magnitude) * multiplier_)); }
    // The estimate of bucket `i`: within α of every value the bucket holds.
    double value(int i) const { return 2.0 * std::exp(static_cast<double>(i) * log_gamma_) / (gamma_ + 1.0); }

    static constexpr double kMinMagnitude = 2.2250738585072014e-308;  // the smallest normal double

private:
    double alpha_;
    double gamma_;
    double log_gamma_;
    double multiplier_;  // 1 / ln γ
    std::uint32_t max_buckets_;
};

// Consecutive bucket counts starting at index `offset`. 16 bytes plus the
// counts: one of these lives in every pane of every group.
class SketchStore {
public:
    SketchStore() = default;
    SketchStore(const SketchStore& o) { *this = o; }
    SketchStore(SketchStore&& o) noexcept = default;
    SketchStore& operator=(const SketchStore& o) {
        if (this != &o) {
            assign(o.counts());
            offset = o.offset;
        }
        return *this;
    }
    SketchStore& operator=(SketchStore&& o) noexcept = default;

    std::span<std::uint32_t> counts() { return {buf_.get(), size_}; }
    std::span<const std::uint32_t> counts() const { return {buf_.get(), size_}; }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    void clear() {
        buf_.reset();
        size_ = 0;
        offset = 0;
    }
    void add(int index, std::uint32_t n, std::uint32_t max_buckets);
    void merge(const SketchStore& o, std::uint32_t max_buckets);
    std::uint64_t total() const;
    // `n` zeroed counts (the offset is left as it is).
    void zeroed(std::size_t n);

    std::int32_t offset = 0;

private:
    void assign(std::span<const std::uint32_t> c);
    void reshape(std::int64_t lo, std::int64_t hi);

    std::unique_ptr<std::uint32_t[]> buf_;
    std::uint32_t size_ = 0;
};

class DDSketch {
public:
    void add(double x, const SketchMapping& m) {
        if (x >= SketchMapping::kMinMagnitude) {
            pos_.add(m.index(x), 1, m.max_buckets());
        } else if (x <= -SketchMapping::kMinMagnitude) {
            neg_.add(m.index(-x), 1, m.max_buckets());
        } else {
            ++zero_;
        }
    }
    void merge(const DDSketch& o, const SketchMapping& m);
    void clear() {
        pos_.clear();
        neg_.clear();
        zero_ = 0;
    }
    std::uint64_t count() const { return zero_ + pos_.total() + neg_.total(); }
    // Where an add() of a positive value will most likely write (a prefetch hint).
    const void* hot() const { return pos_.counts().data(); }
    // The estimate of the value of rank floor(q·(count-1)); 0 when empty.
    double quantile(double q, const SketchMapping& m) const;

    // Compact binary form (varints, empty buckets at the ends left out).
    void encode(std::string& out) const;
    // The same into a buffer of at least encoded_bound() bytes; returns the end.
    char* encode(char* p) const;
    std::size_t encoded_bound() const { return 10 + 2 * 20 + 5 * (pos_.size() + neg_.size()); }
    // Reads what encode() wrote from the front of `in` and advances it.
    // False for anything malformed or wider than m.max_buckets().
    bool decode(std::string_view& in, const SketchMapping& m);

private:
    SketchStore pos_;
    SketchStore neg_;
    std::uint64_t zero_ = 0;
};

// Little helpers shared with the state codec.
inline char* put_varint(char* p, std::uint64_t v) {
    while (v >= 0x80) {
        *p++ = static_cast<char>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    *p++ = static_cast<char>(v);
    return p;
}
inline void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}
bool get_varint(std::string_view& in, std::uint64_t& v);
inline std::uint64_t zigzag(std::int64_t v) {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

}  // namespace sluice::window
