// The DDSketch: the relative error bound, merging, collapsing, the codec.

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "stages/window/sketch.hpp"
#include "stages/window/window_state.hpp"

namespace sluice::window {
namespace {

double truth(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

void expect_within(const DDSketch& s, const std::vector<double>& values, const SketchMapping& m) {
    for (double q : {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0}) {
        const double want = truth(values, q);
        const double got = s.quantile(q, m);
        EXPECT_LE(std::abs(got - want), m.relative_accuracy() * std::abs(want) + 1e-300)
            << "q=" << q << " got " << got << " want " << want;
    }
}

TEST(DDSketch, RelativeErrorOnKnownDistributions) {
    for (double alpha : {0.05, 0.01, 0.001}) {
        const SketchMapping m(alpha, 65536);  // wide enough that nothing collapses
        std::mt19937_64 rng(1);
        std::vector<std::vector<double>> sets(4);
        std::uniform_real_distribution<double> uni(0.001, 1000);
        std::exponential_distribution<double> expo(0.1);
        std::lognormal_distribution<double> logn(0, 3);
        std::normal_distribution<double> norm(0, 50);  // negatives and positives
        for (int i = 0; i < 50000; ++i) {
            sets[0].push_back(uni(rng));
            sets[1].push_back(expo(rng));
            sets[2].push_back(logn(rng));
            sets[3].push_back(i % 100 == 0 ? 0.0 : norm(rng));
        }
        for (const auto& values : sets) {
            DDSketch s;
            for (double v : values) {
                s.add(v, m);
            }
            EXPECT_EQ(s.count(), values.size());
            expect_within(s, values, m);
        }
    }
}

TEST(DDSketch, MergeEqualsOneSketchOfEverything) {
    const SketchMapping m(0.01, 2048);
    std::mt19937_64 rng(2);
    std::lognormal_distribution<double> logn(1, 2);
    DDSketch all;
    DDSketch parts[5];
    std::vector<double> values;
    for (int i = 0; i < 20000; ++i) {
        const double v = logn(rng) * (i % 3 == 0 ? -1 : 1);
        values.push_back(v);
        all.add(v, m);
        parts[i % 5].add(v, m);
    }
    DDSketch merged;
    for (const auto& p : parts) {
        merged.merge(p, m);
    }
    for (double q = 0; q <= 1.0; q += 0.01) {
        EXPECT_EQ(merged.quantile(q, m), all.quantile(q, m)) << q;
    }
    expect_within(merged, values, m);
}

TEST(DDSketch, BucketCountIsBoundedByCollapsingTheSmallest) {
    const SketchMapping m(0.01, 64);
    DDSketch s;
    std::vector<double> values;
    for (int e = -200; e <= 200; ++e) {
        const double v = std::pow(10.0, e / 10.0);
        values.push_back(v);
        s.add(v, m);
    }
    std::string bytes;
    s.encode(bytes);
    // 64 buckets at most, whatever the spread.
    DDSketch back;
    std::string_view in(bytes);
    ASSERT_TRUE(back.decode(in, m));
    EXPECT_EQ(back.count(), values.size());
    // The top quantiles are still within the bound; the lowest were merged.
    for (double q : {0.995, 1.0}) {
        const double want = truth(values, q);
        EXPECT_LE(std::abs(back.quantile(q, m) - want), 0.01 * want) << q;
    }
    EXPECT_GT(back.quantile(0.0, m), truth(values, 0.0));
    const SketchMapping tight(0.01, 8);
    std::string_view again(bytes);
    EXPECT_FALSE(back.decode(again, tight));  // wider than this mapping allows
}

TEST(DDSketch, CodecRoundTripAndRejects) {
    const SketchMapping m(0.01, 2048);
    DDSketch s;
    for (double v : {-5.0, 0.0, 0.0, 1.0, 2.0, 1e9}) {
        s.add(v, m);
    }
    std::string bytes;
    s.encode(bytes);
    DDSketch back;
    std::string_view in(bytes);
    ASSERT_TRUE(back.decode(in, m));
    EXPECT_TRUE(in.empty());
    for (double q : {0.0, 0.2, 0.5, 0.8, 1.0}) {
        EXPECT_EQ(back.quantile(q, m), s.quantile(q, m));
    }
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        std::string_view part(bytes.data(), cut);
        DDSketch x;
        EXPECT_FALSE(x.decode(part, m) && part.empty() && x.count() == s.count()) << cut;
    }
}

TEST(WindowState, PaneCodecRoundTrip) {
    const SketchMapping m(0.01, 2048);
    PaneData p;
    p.reset(3);
    p.records = 4;
    p.max_t = 123456789;
    p.fields[0].acc.add(5, 1.5);
    p.fields[0].acc.add(7, -2.5);
    p.fields[0].sketch.add(1.5, m);
    p.fields[0].sketch.add(-2.5, m);
    p.fields[2].acc.add(9, 1e300);
    p.fields[2].sketch.add(1e300, m);
    std::string bytes;
    encode_pane(p, bytes, &m);
    PaneData back;
    ASSERT_TRUE(decode_pane(bytes, back, 3, &m));
    std::string again;
    encode_pane(back, again, &m);
    EXPECT_EQ(again, bytes);
    EXPECT_FALSE(decode_pane(bytes, back, 2, &m));       // another field count
    EXPECT_FALSE(decode_pane(bytes, back, 3, nullptr));  // no sketches expected
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        EXPECT_FALSE(decode_pane(std::string_view(bytes.data(), cut), back, 3, &m)) << cut;
    }
    Meta meta{42, -5, 7, Meta::kNone, 99};
    std::string mb;
    encode_meta(meta, mb);
    Meta mback;
    ASSERT_TRUE(decode_meta(mb, mback));
    EXPECT_EQ(mback.fingerprint, 42u);
    EXPECT_EQ(mback.watermark, -5);
    EXPECT_EQ(mback.closed_through, Meta::kNone);
}

TEST(WindowState, KeysKeepTimeOrder) {
    std::string a;
    std::string b;
    make_state_key(a, kPanePrefix, "g", -10);
    make_state_key(b, kPanePrefix, "g", 5);
    EXPECT_LT(a, b);
    char prefix = 0;
    std::string_view group;
    std::int64_t start = 0;
    ASSERT_TRUE(split_state_key(a, prefix, group, start));
    EXPECT_EQ(prefix, kPanePrefix);
    EXPECT_EQ(group, "g");
    EXPECT_EQ(start, -10);
}

}  // namespace
}  // namespace sluice::window
