#include <gtest/gtest.h>

#include <string>
#include <unordered_map>

#include "buffer/buffer.hpp"
#include "stats/hub.hpp"
#include "stats/rate.hpp"

namespace sluice::stats {
namespace {

TEST(RateWindow, NoRateBeforeTwoSamples) {
    RateWindow w;
    EXPECT_EQ(w.rate(1), 0);
    w.sample(100, 50);
    EXPECT_EQ(w.rate(1), 0);
    EXPECT_EQ(w.total(), 50u);
}

TEST(RateWindow, SteadyRateOverEachWindow) {
    RateWindow w;
    // 25 per second for 20 minutes, sampled each second.
    for (int s = 0; s <= 1200; ++s) {
        w.sample(1000.0 + s, static_cast<std::uint64_t>(25 * s));
    }
    EXPECT_DOUBLE_EQ(w.rate(1), 25);
    EXPECT_DOUBLE_EQ(w.rate(60), 25);
    EXPECT_NEAR(w.rate(900), 25, 1e-9);
    EXPECT_EQ(w.total(), 25u * 1200);
}

TEST(RateWindow, WindowsSeeOnlyTheirOwnSpan) {
    RateWindow w;
    std::uint64_t total = 0;
    double t = 0;
    // 10 minutes at 100/s, then 30 s at 0.
    for (int s = 0; s < 600; ++s) {
        w.sample(t, total);
        t += 1;
        total += 100;
    }
    for (int s = 0; s < 30; ++s) {
        w.sample(t, total);
        t += 1;
    }
    EXPECT_EQ(w.rate(1), 0);
    // The last minute: 30 s of 100/s (the first sample of the minute is
    // 60 s back), then 30 s of nothing.
    EXPECT_NEAR(w.rate(60), 50, 2);
    // 15 min span reaches back to the start: ~10 min of 100/s over ~10.5 min.
    EXPECT_NEAR(w.rate(900), 100.0 * 600 / 629, 5);
}

TEST(RateWindow, EarlyRatesUseWhatWasSampled) {
    RateWindow w;
    for (int s = 0; s <= 10; ++s) {
        w.sample(s, static_cast<std::uint64_t>(7 * s));
    }
    EXPECT_DOUBLE_EQ(w.rate(60), 7);
    EXPECT_DOUBLE_EQ(w.rate(900), 7);
}

TEST(LatencyHistogram, BucketsAreLogSpacedAndClamped) {
    EXPECT_EQ(LatencyHistogram::bucket_of(0), 0u);
    EXPECT_EQ(LatencyHistogram::bucket_of(-1), 0u);
    EXPECT_EQ(LatencyHistogram::bucket_of(1e9), LatencyHistogram::kBuckets - 1);
    for (double v : {2e-6, 1e-4, 0.003, 0.25, 1.0, 42.0}) {
        const auto b = LatencyHistogram::bucket_of(v);
        const double mid = LatencyHistogram::bucket_value(b);
        EXPECT_NEAR(mid / v, 1.0, 0.1) << v;  // a bucket is a quarter octave wide
    }
}

TEST(LatencyHistogram, SummaryQuantilesAndAverage) {
    LatencyHistogram h;
    h.observe(0.010, 98);
    h.observe(1.0, 2);
    const auto s = LatencyHistogram::summarize(h.snapshot(), nullptr);
    EXPECT_EQ(s.count, 100u);
    EXPECT_NEAR(s.avg, (0.98 + 2.0) / 100, 1e-6);
    EXPECT_NEAR(s.p50, 0.010, 0.001);
    EXPECT_NEAR(s.p99, 1.0, 0.1);
}

TEST(LatencyWindow, CoversTheLastMinute) {
    LatencyHistogram h;
    LatencyWindow w;
    h.observe(5.0, 10);  // old
    for (int s = 0; s < 61; ++s) {
        w.sample(h);
    }
    EXPECT_EQ(w.last_minute().count, 0u);  // nothing in the last 60 samples
    h.observe(0.002, 4);
    w.sample(h);
    const auto sum = w.last_minute();
    EXPECT_EQ(sum.count, 4u);
    EXPECT_NEAR(sum.p99, 0.002, 0.0003);
}

TEST(PipelineStats, EndToEndObservedAsSinksConfirm) {
    PipelineStats p("p");
    p.sinks.push_back(std::make_unique<SinkStats>());
    p.sinks.push_back(std::make_unique<SinkStats>());
    const std::int64_t t0 = 1'000'000'000'000;
    p.committed(1, 10, t0, 0.001);
    p.committed(11, 20, t0 + 1'000'000'000, 0.001);
    // Sink 0 confirms 15 rows 2 s after the first batch arrived.
    p.sink_confirmed(0, 15, t0 + 2'000'000'000);
    auto s0 = LatencyHistogram::summarize(p.sinks[0]->end_to_end.snapshot(), nullptr);
    EXPECT_EQ(s0.count, 15u);
    EXPECT_NEAR(s0.p50, 2.0, 0.2);
    // Confirming the same rows again observes nothing new.
    p.sink_confirmed(0, 15, t0 + 3'000'000'000);
    EXPECT_EQ(p.sinks[0]->end_to_end.snapshot().count, 15u);
    p.sink_confirmed(0, 20, t0 + 3'000'000'000);
    EXPECT_EQ(p.sinks[0]->end_to_end.snapshot().count, 20u);
    p.sink_confirmed(1, 20, t0 + 3'000'000'000);
    EXPECT_EQ(p.sinks[1]->end_to_end.snapshot().count, 20u);
    EXPECT_EQ(p.end_to_end.snapshot().count, 40u);
    EXPECT_EQ(LatencyHistogram::summarize(p.commit_latency.snapshot(), nullptr).count, 2u);
}

TEST(StatsHub, TopicsAreBoundedAndTheRestIsOther) {
    StatsHub hub;
    hub.set_max_topics(2);
    std::unordered_map<std::string, TopicDelta> batch;
    batch["a"] = {10, 100, 0};
    batch["b"] = {20, 200, 1};
    hub.add_topics("p", batch, 1000);
    batch.clear();
    batch["c"] = {5, 50, 0};
    batch["a"] = {1, 10, 0};
    hub.add_topics("p", batch, 1001);
    const auto topics = hub.topics_json();
    EXPECT_NE(topics.find("\"topic\":\"a\",\"pipeline\":\"p\",\"events\":{\"total\":11"), std::string::npos)
        << topics;
    EXPECT_EQ(topics.find("\"topic\":\"c\""), std::string::npos) << topics;
    EXPECT_NE(topics.find("\"other\":{\"events\":{\"total\":5"), std::string::npos) << topics;
    EXPECT_TRUE(hub.topic_json("c").empty());
    EXPECT_NE(hub.topic_json("b").find("\"dead_letters\":1"), std::string::npos);
    const auto all = hub.stats_json();
    EXPECT_NE(all.find("\"topics\":{\"tracked\":2,\"max\":2"), std::string::npos) << all;
}

TEST(StatsHub, HistoryGrowsBoundedAndFiltersBySince) {
    StatsHub hub;
    std::string last;
    const auto sub = hub.subscribe([&](const std::string& point) { last = point; });
    EXPECT_EQ(hub.latest_point_json(), "{}");
    for (int s = 0; s < 905; ++s) {
        hub.tick(s, 1'700'000'000.0 + s);
    }
    EXPECT_EQ(hub.history_size(), 900u);
    EXPECT_EQ(last, hub.latest_point_json());
    EXPECT_NE(last.find("\"time\":1700000904"), std::string::npos) << last;
    const auto recent = hub.history_json(1'700'000'902.0);
    EXPECT_EQ(recent.find("1700000902,"), std::string::npos) << recent;
    EXPECT_NE(recent.find("\"time\":1700000903"), std::string::npos) << recent;
    EXPECT_NE(recent.find("\"time\":1700000904"), std::string::npos) << recent;
    hub.unsubscribe(sub);
    hub.tick(905, 1'700'000'905.0);
    EXPECT_NE(last.find("1700000904"), std::string::npos);
}

TEST(StatsHub, PipelineFiguresFromItsCounters) {
    StatsHub hub;
    Counter records, frames, sent;
    auto p = std::make_shared<PipelineStats>("p");
    p->records = &records;
    auto src = std::make_unique<SourceStats>();
    src->id = "in";
    src->type = "simulate";
    src->frames = &frames;
    p->sources.push_back(std::move(src));
    auto sink = std::make_unique<SinkStats>();
    sink->id = "out";
    sink->type = "file";
    sink->sent = &sent;
    p->sinks.push_back(std::move(sink));
    p->buffer_max_bytes = 1000;
    p->buffer = [] {
        auto b = std::make_shared<BufferStats>();
        b->rows = 3;
        b->bytes = 250;
        sluice::SinkStats st;
        st.sink = "out";
        st.lag_rows = 3;
        b->sinks.push_back(st);
        return std::shared_ptr<const BufferStats>(b);
    };
    hub.add_pipeline(p);
    for (int s = 0; s <= 10; ++s) {
        hub.tick(s, 1'700'000'000.0 + s);
        frames.inc(40);
        records.inc(20);
        sent.inc(20);
    }
    const auto js = hub.stats_json();
    EXPECT_NE(js.find("\"events\":{\"total\":400,\"rate_1s\":40,\"rate_1m\":40,\"rate_15m\":40}"),
              std::string::npos)
        << js;
    EXPECT_NE(js.find("\"buffer\":{\"rows\":3,\"bytes\":250,\"max_bytes\":1000,\"fill\":0.25}"), std::string::npos)
        << js;
    EXPECT_NE(js.find("\"lag_rows\":3"), std::string::npos) << js;
    const auto task = hub.task_json("p", "out");
    EXPECT_NE(task.find("\"kind\":\"sink\",\"type\":\"file\""), std::string::npos) << task;
    EXPECT_TRUE(hub.task_json("p", "nope").empty());
    EXPECT_TRUE(hub.task_json("q", "out").empty());
    hub.remove_pipeline(p.get());
    EXPECT_NE(hub.stats_json().find("\"pipelines\":{}"), std::string::npos);
}

}  // namespace
}  // namespace sluice::stats
