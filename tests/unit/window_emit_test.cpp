// What one window becomes in the window stage's output (emit.hpp), without
// a stage: the aggregate fields of a pane, and the window id.

#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "stages/window/config.hpp"
#include "stages/window/emit.hpp"
#include "window_test_util.hpp"

namespace sluice::testing {
namespace {

using window::PaneData;
using window::SketchMapping;

std::string fields_text(const std::vector<Field>& fields) {
    std::string s;
    for (const auto& f : fields) {
        std::visit([&](const auto& v) { s += fmt::format("{}{}={}", s.empty() ? "" : " ", f.name, v); }, f.value);
    }
    return s;
}

TEST(WindowEmit, AggregatesOfOnePane) {
    const window::Config c = window::parse_config(window_options(
        {{"fields", "temp,hum,volt"},
         {"aggregates", "count,sum,min,max,mean,stddev,first,last,rate,delta,p0,p100"}}));
    const SketchMapping m(c.accuracy, c.max_buckets);
    PaneData d;
    d.reset(c.fields.size());
    auto add = [&](std::size_t field, std::int64_t t, double x) {
        d.fields[field].acc.add(t, x);
        d.fields[field].sketch.add(x, m);
    };
    add(0, t_s(0), 10);
    add(0, t_s(20), 20);
    add(0, t_s(40), 30);
    add(1, t_s(5), 50);  // one value: no stddev, no rate
    // volt has no values: no fields at all

    std::vector<Field> out;
    append_aggregates(out, c.fields, d, m);
    ASSERT_EQ(out.size(), 12u + 10u);
    // Percentiles come from the sketch (within its accuracy), kept within min and max.
    const double p0 = std::get<double>(out[10].value);
    const double p100 = std::get<double>(out[11].value);
    EXPECT_EQ(out[10].name, "temp_p0");
    EXPECT_EQ(out[11].name, "temp_p100");
    EXPECT_NEAR(p0, 10, 10 * c.accuracy);
    EXPECT_NEAR(p100, 30, 30 * c.accuracy);
    EXPECT_GE(p0, 10);
    EXPECT_LE(p100, 30);
    out.erase(out.begin() + 10, out.begin() + 12);
    EXPECT_EQ(fields_text(out),
              "temp_count=3 temp_sum=60 temp_min=10 temp_max=30 temp_mean=20 temp_stddev=10 temp_first=10 "
              "temp_last=30 temp_rate=0.5 temp_delta=20 "
              "hum_count=1 hum_sum=50 hum_min=50 hum_max=50 hum_mean=50 hum_first=50 hum_last=50 hum_delta=0 "
              "hum_p0=50 hum_p100=50");
}

TEST(WindowEmit, WindowIdIsStableAcrossReleases) {
    std::string key;
    window::append_key_component(key, std::string_view("m"));
    window::append_key_component(key, std::string_view("a"));
    // Downstream may deduplicate by this id: it must not change.
    EXPECT_EQ(window::window_id("window", key, kT0), "751535bb33063ca7");
    EXPECT_NE(window::window_id("window2", key, kT0), window::window_id("window", key, kT0));
    EXPECT_NE(window::window_id("window", key, kT0 + 1), window::window_id("window", key, kT0));
    std::string other;
    window::append_key_component(other, std::string_view("m"));
    window::append_key_component(other, std::string_view("b"));
    EXPECT_NE(window::window_id("window", other, kT0), window::window_id("window", key, kT0));
}

}  // namespace
}  // namespace sluice::testing
