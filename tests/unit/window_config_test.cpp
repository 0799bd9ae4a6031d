// The window stage's options read into its Config (config.hpp), and the
// fingerprint of the settings that shape its stored state (checkpoint.hpp).

#include <gtest/gtest.h>

#include "stages/window/checkpoint.hpp"
#include "stages/window/config.hpp"
#include "window_test_util.hpp"

namespace sluice::testing {
namespace {

using window::Agg;
using window::Config;
using window::parse_config;
using window::state_fingerprint;

Config config(const std::vector<std::pair<std::string, std::string>>& kv) { return parse_config(window_options(kv)); }

TEST(WindowConfig, PanesAreTheGcdOfSizeAndHop) {
    const Config tumbling = config({{"size", "1m"}});
    EXPECT_EQ(tumbling.kind, window::WindowKind::Tumbling);
    EXPECT_EQ(tumbling.hop, 60 * kSec);
    EXPECT_EQ(tumbling.pane, 60 * kSec);
    const Config hopping = config({{"kind", "hopping"}, {"size", "1m"}, {"hop", "10s"}});
    EXPECT_EQ(hopping.hop, 10 * kSec);
    EXPECT_EQ(hopping.pane, 10 * kSec);
    const Config uneven = config({{"kind", "hopping"}, {"size", "1m"}, {"hop", "25s"}});
    EXPECT_EQ(uneven.pane, 5 * kSec);
    const Config session = config({{"kind", "session"}, {"gap", "5m"}});
    EXPECT_EQ(session.gap, 300 * kSec);
    EXPECT_EQ(session.pane, 0);
}

TEST(WindowConfig, AggregatesPerFieldWithTheirOutputNames) {
    const Config c = config({{"fields", "temp,hum"},
                             {"aggregates", "count,mean,p99.9,temp:stddev,volt:max,mean"}});
    ASSERT_EQ(c.fields.size(), 3u);  // volt is aggregated because an entry names it
    EXPECT_EQ(c.fields[0].name, "temp");
    EXPECT_EQ(c.fields[1].name, "hum");
    EXPECT_EQ(c.fields[2].name, "volt");
    std::vector<std::string> temp;
    for (const auto& a : c.fields[0].aggs) {
        temp.push_back(a.out_name);
    }
    // The repeated "mean" is applied once.
    EXPECT_EQ(temp, (std::vector<std::string>{"temp_count", "temp_mean", "temp_p99_9", "temp_stddev"}));
    EXPECT_EQ(c.fields[0].aggs[2].agg, Agg::Percentile);
    EXPECT_DOUBLE_EQ(c.fields[0].aggs[2].q, 0.999);
    EXPECT_EQ(c.fields[1].aggs.size(), 3u);
    ASSERT_EQ(c.fields[2].aggs.size(), 1u);
    EXPECT_EQ(c.fields[2].aggs[0].out_name, "volt_max");
    EXPECT_TRUE(c.percentiles);
    EXPECT_FALSE(config({{"fields", "temp"}, {"aggregates", "mean,max"}}).percentiles);
}

TEST(WindowConfig, ClockLimits) {
    const Config c = config({});
    EXPECT_EQ(c.min_valid_time, 1'577'836'800 * kSec);  // 2020-01-01T00:00:00Z
    EXPECT_EQ(c.max_future, 3600 * kSec);
    EXPECT_EQ(config({{"min_valid_time", "off"}}).min_valid_time, -window::kTimeLimit);
}

// The fingerprint the stage stores in its meta entry.
std::uint64_t stored_fingerprint(const std::vector<std::pair<std::string, std::string>>& kv) {
    WindowHarness h(kv);
    h.feed({rec(t_s(1), {}, {})});
    window::Meta meta;
    EXPECT_TRUE(window::decode_meta(h.store.at(window::kMetaKey), meta));
    return meta.fingerprint;
}

TEST(WindowCheckpoint, FingerprintIsStableAcrossReleases) {
    // A different value here discards every stored window state on upgrade.
    const std::vector<std::pair<std::string, std::string>> kv = {
        {"kind", "hopping"}, {"size", "1m"},          {"hop", "10s"},
        {"group_by", "node"}, {"fields", "temp,hum"}, {"aggregates", "mean,p99"}};
    EXPECT_EQ(state_fingerprint(config(kv)), 12541934566941867637ull);
    EXPECT_EQ(stored_fingerprint(kv), state_fingerprint(config(kv)));
}

TEST(WindowCheckpoint, FingerprintFollowsTheSettingsThatShapeTheState) {
    const std::vector<std::pair<std::string, std::string>> base = {
        {"kind", "hopping"}, {"size", "1m"}, {"hop", "10s"}, {"group_by", "node"}, {"fields", "temp"}};
    const std::uint64_t fp = state_fingerprint(config(base));
    auto with = [&](std::string key, std::string value) {
        auto kv = base;
        bool replaced = false;
        for (auto& [k, v] : kv) {
            if (k == key) {
                v = value;
                replaced = true;
            }
        }
        if (!replaced) {
            kv.emplace_back(std::move(key), std::move(value));
        }
        return state_fingerprint(config(kv));
    };
    // Read anew from the same stored state.
    EXPECT_EQ(with("allowed_lateness", "5s"), fp);
    EXPECT_EQ(with("max_groups", "10"), fp);
    EXPECT_EQ(with("measurement", "climate"), fp);
    EXPECT_EQ(with("emit_partial", "1s"), fp);
    EXPECT_EQ(with("aggregates", "sum,stddev,rate"), fp);
    EXPECT_EQ(with("percentile_accuracy", "0.02"), fp);  // no percentiles kept
    // Stored differently.
    EXPECT_NE(with("size", "2m"), fp);
    EXPECT_NE(with("hop", "20s"), fp);
    EXPECT_NE(with("time", "processing"), fp);
    EXPECT_NE(with("group_by", "node,site"), fp);
    EXPECT_NE(with("group_by_fields", "unit"), fp);
    EXPECT_NE(with("fields", "temp,hum"), fp);
    EXPECT_NE(with("aggregates", "mean,p99"), fp);
    EXPECT_NE(state_fingerprint(config({{"kind", "session"}, {"gap", "1m"}})),
              state_fingerprint(config({{"kind", "session"}, {"gap", "2m"}})));
    auto with_p99 = base;
    with_p99.emplace_back("aggregates", "p99");
    auto finer = with_p99;
    finer.emplace_back("percentile_accuracy", "0.005");
    EXPECT_NE(state_fingerprint(config(with_p99)), state_fingerprint(config(finer)));
}

}  // namespace
}  // namespace sluice::testing
