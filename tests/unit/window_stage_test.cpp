// Golden tests of the window stage: input records with times → the exact
// output records (percentiles, which are estimates, are checked against the
// sketch's error bound in window_sketch_test.cpp and below).

#include <algorithm>
#include <random>
#include <set>

#include "core/metrics.hpp"
#include "stages/window/window_state.hpp"
#include "window_test_util.hpp"

namespace sluice::testing {
namespace {

Tag tag(std::string n, std::string v) { return Tag{std::move(n), std::move(v)}; }
Field fd(std::string n, double v) { return Field{std::move(n), v}; }
Field fi(std::string n, std::int64_t v) { return Field{std::move(n), v}; }

TEST(WindowStage, TumblingEveryAggregate) {
    WindowHarness h({{"size", "1m"},
                     {"group_by", "node"},
                     {"fields", "temp"},
                     {"aggregates", "count,sum,min,max,mean,stddev,first,last,rate,delta"}});
    auto out = h.feed({
        rec(t_s(0), {tag("node", "a")}, {fd("temp", 10)}),
        rec(t_s(20), {tag("node", "a")}, {fd("temp", 20)}),
        rec(t_s(30), {tag("node", "b")}, {fi("temp", 5), Field{"note", std::string("x")}}),
        rec(t_s(40), {tag("node", "a")}, {fd("temp", 30)}),
    });
    EXPECT_TRUE(out.empty());
    // The watermark reaches 60 s: the first minute closes for both nodes.
    out = h.feed({rec(t_s(60), {tag("node", "a")}, {fd("temp", 100)})});
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "60000 m node=a | window_start=0 window_end=60000 count=3 temp_count=3 temp_sum=60 "
                              "temp_min=10 temp_max=30 temp_mean=20 temp_stddev=10 temp_first=10 temp_last=30 "
                              "temp_rate=0.5 temp_delta=20",
                              "60000 m node=b | window_start=0 window_end=60000 count=1 temp_count=1 temp_sum=5 "
                              "temp_min=5 temp_max=5 temp_mean=5 temp_first=5 temp_last=5 temp_delta=0",
                          }));
    EXPECT_TRUE(h.dead.empty());
}

TEST(WindowStage, EndOfInputClosesEveryWindow) {
    for (const char* kind : {"tumbling", "hopping", "session"}) {
        std::vector<std::pair<std::string, std::string>> kv{{"kind", kind}, {"group_by", "node"}, {"fields", "temp"},
                                                            {"aggregates", "count"}};
        if (std::string(kind) == "session") {
            kv.push_back({"gap", "30s"});
        } else {
            kv.push_back({"size", "1m"});
        }
        if (std::string(kind) == "hopping") {
            kv.push_back({"hop", "30s"});
        }
        WindowHarness h(kv);
        auto out = h.feed({rec(t_s(0), {tag("node", "a")}, {fd("temp", 1)}),
                           rec(t_s(5), {tag("node", "b")}, {fd("temp", 2)})});
        EXPECT_TRUE(out.empty()) << kind;
        out = h.end_of_input();
        // a and b each: one window (two for hopping: [-30 s, 30 s) and [0, 60 s)).
        EXPECT_EQ(out.size(), std::string(kind) == "hopping" ? 4u : 2u) << kind;
        EXPECT_TRUE(h.dead.empty()) << kind;
        EXPECT_TRUE(h.end_of_input().empty()) << kind;  // nothing is left open
    }
}

TEST(WindowStage, WindowIdIsStageGroupAndStart) {
    WindowHarness h({{"size", "10s"}, {"group_by", "node"}});
    h.feed({rec(t_s(1), {tag("node", "a")}, {})});
    auto out = h.feed({rec(t_s(10), {tag("node", "a")}, {})});
    ASSERT_EQ(out.size(), 1u);
    std::string key;
    window::append_key_component(key, std::string_view("m"));
    window::append_key_component(key, std::string_view("a"));
    std::uint64_t id = window::fnv1a("window");
    id = window::fnv1a(std::string_view("\0", 1), id);
    id = window::fnv1a(key, id);
    char be[8];
    for (int i = 0; i < 8; ++i) {
        be[i] = static_cast<char>((static_cast<std::uint64_t>(kT0) >> (8 * (7 - i))) & 0xff);
    }
    id = window::fnv1a(std::string_view(be, 8), id);
    const Field* f = out[0].field("window_id");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(std::get<std::string>(f->value), fmt::format("{:016x}", id));
}

TEST(WindowStage, HoppingWindowsFromPanes) {
    WindowHarness h({{"kind", "hopping"}, {"size", "30s"}, {"hop", "10s"}, {"fields", "v"},
                     {"aggregates", "count,sum"}});
    // Each window closes as soon as the watermark passes its end, even in
    // the middle of a batch.
    auto out = h.feed({
        rec(t_s(5), {}, {fd("v", 1)}),
        rec(t_s(15), {}, {fd("v", 2)}),
        rec(t_s(25), {}, {fd("v", 3)}),
    });
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "10000 m | window_start=-20000 window_end=10000 count=1 v_count=1 v_sum=1",
                              "20000 m | window_start=-10000 window_end=20000 count=2 v_count=2 v_sum=3",
                          }));
    out = h.feed({rec(t_s(35), {}, {fd("v", 4)}), rec(t_s(100), {}, {fd("v", 100)})});
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "30000 m | window_start=0 window_end=30000 count=3 v_count=3 v_sum=6",
                              "40000 m | window_start=10000 window_end=40000 count=3 v_count=3 v_sum=9",
                              "50000 m | window_start=20000 window_end=50000 count=2 v_count=2 v_sum=7",
                              "60000 m | window_start=30000 window_end=60000 count=1 v_count=1 v_sum=4",
                          }));
}

TEST(WindowStage, HoppingWithUnevenHopUsesGcdPanes) {
    // size 10 s, hop 4 s: panes of 2 s; windows start at multiples of 4 s.
    WindowHarness h({{"kind", "hopping"}, {"size", "10s"}, {"hop", "4s"}, {"fields", "v"}, {"aggregates", "sum"}});
    auto out = h.feed({rec(t_s(1), {}, {fd("v", 1)}), rec(t_s(3), {}, {fd("v", 2)})});
    EXPECT_EQ(texts(out), (std::vector<std::string>{"2000 m | window_start=-8000 window_end=2000 count=1 v_sum=1"}));
    out = h.feed({rec(t_s(9), {}, {fd("v", 4)}), rec(t_s(30), {}, {fd("v", 0)})});
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "6000 m | window_start=-4000 window_end=6000 count=2 v_sum=3",
                              "10000 m | window_start=0 window_end=10000 count=3 v_sum=7",
                              "14000 m | window_start=4000 window_end=14000 count=1 v_sum=4",
                              "18000 m | window_start=8000 window_end=18000 count=1 v_sum=4",
                          }));
}

TEST(WindowStage, SessionWindowsSplitAndMerge) {
    WindowHarness h({{"kind", "session"}, {"gap", "10s"}, {"group_by", "node"}, {"fields", "v"},
                     {"aggregates", "sum,first,last"}, {"allowed_lateness", "60s"}});
    h.feed({
        rec(t_s(0), {tag("node", "a")}, {fd("v", 1)}),
        rec(t_s(3), {tag("node", "b")}, {fd("v", 7)}),
        rec(t_s(5), {tag("node", "a")}, {fd("v", 2)}),
        rec(t_s(12), {tag("node", "a")}, {fd("v", 3)}),
        // d: two sessions, then a record between them joins them into one.
        rec(t_s(0), {tag("node", "d")}, {fd("v", 1)}),
        rec(t_s(16), {tag("node", "d")}, {fd("v", 3)}),
        rec(t_s(8), {tag("node", "d")}, {fd("v", 2)}),
        rec(t_s(40), {tag("node", "a")}, {fd("v", 4)}),
    });
    auto out = h.feed({rec(t_s(120), {tag("node", "c")}, {fd("v", 0)})});
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "13000 m node=b | window_start=3000 window_end=13000 count=1 v_sum=7 v_first=7 v_last=7",
                              "22000 m node=a | window_start=0 window_end=22000 count=3 v_sum=6 v_first=1 v_last=3",
                              "26000 m node=d | window_start=0 window_end=26000 count=3 v_sum=6 v_first=1 v_last=3",
                              "50000 m node=a | window_start=40000 window_end=50000 count=1 v_sum=4 v_first=4 v_last=4",
                          }));
}

TEST(WindowStage, OutOfOrderWithinLatenessAndLateBeyondIt) {
    WindowHarness h({{"size", "10s"}, {"allowed_lateness", "5s"}, {"fields", "v"}, {"aggregates", "sum,first,last"}});
    auto& late = metrics().counter("sluice_window_late_records_total", "", {{"component", "test/window"}});
    const auto late_before = late.value();
    auto out = h.feed({
        rec(t_s(1), {}, {fd("v", 1)}),
        rec(t_s(12), {}, {fd("v", 10)}),  // watermark 7 s
        rec(t_s(8), {}, {fd("v", 2)}),    // out of order, its window [0, 10) is still open
    });
    EXPECT_TRUE(out.empty());
    out = h.feed({rec(t_s(16), {}, {fd("v", 20)})});  // watermark 11 s: [0, 10) closes
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "10000 m | window_start=0 window_end=10000 count=2 v_sum=3 v_first=1 v_last=2",
                          }));
    out = h.feed({rec(t_s(9), {}, {fd("v", 5)})});  // its window has closed: late
    EXPECT_TRUE(out.empty());
    ASSERT_EQ(h.dead.size(), 1u);
    EXPECT_NE(h.dead[0].reason.find("late record: time 2024-01-01T00:00:09Z is 2s behind the watermark "
                                    "2024-01-01T00:00:11Z (allowed_lateness 5s)"),
              std::string::npos)
        << h.dead[0].reason;
    EXPECT_NE(h.dead[0].payload.find("\"v\":5"), std::string::npos) << h.dead[0].payload;
    EXPECT_EQ(late.value() - late_before, 1u);
    out = h.feed({rec(t_s(30), {}, {fd("v", 0)})});
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "20000 m | window_start=10000 window_end=20000 count=2 v_sum=30 v_first=10 v_last=20",
                          }));
}

TEST(WindowStage, LateRecordsToANamedStream) {
    WindowHarness h({{"size", "10s"}, {"late", "stream"}, {"late_stream", "late_readings"}});
    h.feed({rec(t_s(25), {tag("node", "a")}, {fd("v", 1)})});
    h.feed({rec(t_s(3), {tag("node", "a")}, {fd("v", 2)})});
    EXPECT_TRUE(h.dead.empty());
    ASSERT_EQ(h.streams.size(), 1u);
    EXPECT_EQ(h.streams[0].first, "late_readings");
    EXPECT_EQ(h.streams[0].second.time_ns, t_s(3));
    EXPECT_EQ(*h.streams[0].second.tag("node"), "a");
}

TEST(WindowStage, LateRecordsDropped) {
    WindowHarness h({{"size", "10s"}, {"late", "drop"}});
    h.feed({rec(t_s(25), {}, {})});
    const auto before = h.cm.dropped->value();
    h.feed({rec(t_s(3), {}, {})});
    EXPECT_TRUE(h.dead.empty());
    EXPECT_TRUE(h.streams.empty());
    EXPECT_EQ(h.cm.dropped->value() - before, 1u);
}

TEST(WindowStage, GroupByFieldsAndMeasurementOption) {
    WindowHarness h({{"size", "10s"}, {"group_by", "node"}, {"group_by_fields", "unit"}, {"measurement", "per10s"},
                     {"fields", "v"}, {"aggregates", "max"}});
    h.feed({rec(t_s(1), {tag("node", "a")}, {Field{"unit", std::string("C")}, fd("v", 1)}),
            rec(t_s(2), {tag("node", "a")}, {Field{"unit", std::string("F")}, fd("v", 40)}),
            rec(t_s(3), {}, {fd("v", 9)})});
    auto out = h.feed({rec(t_s(10), {}, {})});
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "10000 per10s | window_start=0 window_end=10000 count=1 v_max=9",
                              "10000 per10s node=a unit=C | window_start=0 window_end=10000 count=1 v_max=1",
                              "10000 per10s node=a unit=F | window_start=0 window_end=10000 count=1 v_max=40",
                          }));
}

TEST(WindowStage, PerFieldAggregatesAndPercentileNames) {
    WindowHarness h({{"size", "10s"}, {"fields", "a"}, {"aggregates", "mean,b:max,b:p99.9,a:p50"}});
    h.feed({rec(t_s(1), {}, {fd("a", 2), fd("b", 3)}), rec(t_s(2), {}, {fd("a", 4), fd("b", 3)})});
    auto out = h.feed({rec(t_s(10), {}, {})});
    ASSERT_EQ(out.size(), 1u);
    std::vector<std::string> names;
    for (const auto& f : out[0].fields) {
        names.push_back(f.name);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"window_start", "window_end", "window_id", "count", "a_mean", "a_p50",
                                               "b_max", "b_p99_9"}));
    // Both b values are 3: the estimate is clamped into [min, max].
    EXPECT_EQ(std::get<double>(out[0].field("b_p99_9")->value), 3.0);
    EXPECT_NEAR(std::get<double>(out[0].field("a_p50")->value), 2.0, 2.0 * 0.01);
}

TEST(WindowStage, PercentilesWithinTheStatedError) {
    WindowHarness h({{"size", "1m"}, {"fields", "latency"}, {"aggregates", "p50,p90,p99,p99.9"},
                     {"percentile_accuracy", "0.01"}});
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(3.0, 1.5);
    std::vector<double> values;
    std::vector<Record> in;
    for (int i = 0; i < 20000; ++i) {
        const double v = dist(rng);
        values.push_back(v);
        in.push_back(rec(t_s(i * 0.001), {}, {fd("latency", v)}));
    }
    h.feed(std::move(in));
    auto out = h.feed({rec(t_s(60), {}, {})});
    ASSERT_EQ(out.size(), 1u);
    std::sort(values.begin(), values.end());
    for (const auto& [name, q] : std::vector<std::pair<std::string, double>>{
             {"latency_p50", 0.5}, {"latency_p90", 0.9}, {"latency_p99", 0.99}, {"latency_p99_9", 0.999}}) {
        const double truth = values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
        const double got = std::get<double>(out[0].field(name)->value);
        EXPECT_LE(std::abs(got - truth), 0.01 * truth) << name << " got " << got << " want " << truth;
    }
}

TEST(WindowStage, EvictionEmitsTheOldestGroupEarly) {
    WindowHarness h({{"size", "1m"}, {"group_by", "node"}, {"max_groups", "2"}});
    auto& evictions = metrics().counter("sluice_window_evictions_total", "", {{"component", "test/window"}});
    const auto before = evictions.value();
    h.feed({rec(t_s(1), {tag("node", "a")}, {}), rec(t_s(2), {tag("node", "b")}, {}),
            rec(t_s(3), {tag("node", "a")}, {})});
    // c is the third group: b (least recently updated) is evicted and emitted early.
    auto out = h.feed({rec(t_s(4), {tag("node", "c")}, {})});
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "60000 m node=b | window_start=0 window_end=60000 count=1 evicted=true",
                          }));
    EXPECT_EQ(evictions.value() - before, 1u);
    out = h.feed({rec(t_s(60), {tag("node", "a")}, {})});  // closes the first minute
    EXPECT_EQ(texts(out), (std::vector<std::string>{
                              "60000 m node=a | window_start=0 window_end=60000 count=2",
                              "60000 m node=c | window_start=0 window_end=60000 count=1",
                          }));
}

TEST(WindowStage, EvictionCanDrop) {
    WindowHarness h({{"size", "1m"}, {"group_by", "node"}, {"max_groups", "1"}, {"evict", "drop"}});
    h.feed({rec(t_s(1), {tag("node", "a")}, {})});
    auto out = h.feed({rec(t_s(2), {tag("node", "b")}, {})});
    EXPECT_TRUE(out.empty());
    out = h.feed({rec(t_s(61), {tag("node", "b")}, {})});
    EXPECT_EQ(texts(out), (std::vector<std::string>{"60000 m node=b | window_start=0 window_end=60000 count=1"}));
}

TEST(WindowStage, IdleTimeoutClosesOpenWindows) {
    WindowHarness h({{"size", "1m"}, {"idle_timeout", "30s"}, {"group_by", "node"}});
    EXPECT_GT(h.stage->tick_interval().count(), 0);
    EXPECT_EQ(texts(h.feed({rec(t_s(1), {tag("node", "a")}, {}), rec(t_s(70), {tag("node", "b")}, {})})),
              (std::vector<std::string>{"60000 m node=a | window_start=0 window_end=60000 count=1"}));
    h.mono += 29 * kSec;
    EXPECT_TRUE(h.tick().empty());
    h.mono += 1 * kSec;
    EXPECT_EQ(texts(h.tick()),
              (std::vector<std::string>{"120000 m node=b | window_start=60000 window_end=120000 count=1"}));
    EXPECT_TRUE(h.tick().empty());
    // Records for the windows the idle close passed are late now.
    h.feed({rec(t_s(80), {tag("node", "b")}, {})});
    EXPECT_EQ(h.dead.size(), 1u);
}

TEST(WindowStage, PartialUpdatesAreMarkedAndFinalFollows) {
    WindowHarness h({{"size", "1m"}, {"emit_partial", "5s"}, {"fields", "v"}, {"aggregates", "sum"}});
    EXPECT_TRUE(h.feed({rec(t_s(1), {}, {fd("v", 1)})}).empty());
    h.mono += 5 * kSec;
    EXPECT_EQ(texts(h.feed({rec(t_s(2), {}, {fd("v", 2)})})),
              (std::vector<std::string>{"60000 m | window_start=0 window_end=60000 count=2 partial=true v_sum=3"}));
    h.mono += 5 * kSec;
    EXPECT_TRUE(h.tick().empty());  // nothing changed since
    EXPECT_EQ(texts(h.feed({rec(t_s(60), {}, {fd("v", 5)})})),
              (std::vector<std::string>{"60000 m | window_start=0 window_end=60000 count=2 v_sum=3"}));
}

TEST(WindowStage, ProcessingTimeUsesTheMonotonicClock) {
    WindowHarness h({{"size", "10s"}, {"time", "processing"}, {"fields", "v"}, {"aggregates", "sum"}});
    EXPECT_GT(h.stage->tick_interval().count(), 0);
    h.wall = t_s(3);  // processing time starts at the wall clock: 3 s into the first window
    h.feed({rec(0, {}, {fd("v", 1)}), rec(0, {}, {fd("v", 2)})});
    h.wall = t_s(-3600);  // the wall clock steps back an hour: processing time does not
    h.mono += 6 * kSec;
    EXPECT_TRUE(h.feed({rec(0, {}, {fd("v", 4)})}).empty());
    h.mono += 1 * kSec;
    EXPECT_EQ(texts(h.tick()), (std::vector<std::string>{"10000 m | window_start=0 window_end=10000 count=3 v_sum=7"}));
}

TEST(WindowStage, ConfigErrorsNameTheProblem) {
    auto fails = [](const std::vector<std::pair<std::string, std::string>>& kv, const std::string& what) {
        try {
            components::stage_window().make_stage(window_options(kv));
            ADD_FAILURE() << "accepted: " << what;
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        }
    };
    fails({{"kind", "hopping"}}, "needs 'hop'");
    fails({{"kind", "session"}}, "needs 'gap'");
    fails({{"hop", "5s"}}, "'hop' is for kind = \"hopping\"");
    fails({{"kind", "hopping"}, {"size", "10s"}, {"hop", "20s"}}, "must not be longer");
    fails({{"aggregates", "maen"}, {"fields", "v"}}, "did you mean 'mean'");
    fails({{"aggregates", "p101"}, {"fields", "v"}}, "unknown aggregate 'p101'");
    fails({{"late", "stream"}}, "needs 'late_stream'");
    fails({{"late_stream", "x"}}, "only used with late = \"stream\"");
    fails({{"min_valid_time", "yesterday"}}, "min_valid_time");
    fails({{"kind", "hopping"}, {"size", "1h"}, {"hop", "7ms"}}, "panes");
}

// ------------------------------------------------------------ persistence

struct Script {
    std::vector<std::vector<Record>> batches;
};

Script make_script(int n, int groups, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> jitter(-1500, 1500);
    Script s;
    std::vector<Record> batch;
    for (int i = 0; i < n; ++i) {
        const double t = i * 0.25 + jitter(rng) / 1000.0;
        batch.push_back(rec(t_s(t), {tag("node", fmt::format("n{}", i % groups))},
                            {fd("v", static_cast<double>((i * 7) % 101)), fi("c", i)}));
        if (batch.size() == 37) {
            s.batches.push_back(std::move(batch));
            batch.clear();
        }
    }
    s.batches.push_back(std::move(batch));
    return s;
}

std::vector<std::string> run_with_restarts(const std::vector<std::pair<std::string, std::string>>& kv,
                                           const Script& s, const std::set<std::size_t>& restarts) {
    std::vector<std::string> out;
    std::map<std::string, std::string> store;
    auto h = std::make_unique<WindowHarness>(kv, &store);
    for (std::size_t i = 0; i < s.batches.size(); ++i) {
        if (restarts.count(i) != 0) {
            store = h->store;
            h = std::make_unique<WindowHarness>(kv, &store);
        }
        for (const auto& r : h->feed(s.batches[i])) {
            out.push_back(text(r, true));
        }
    }
    return out;
}

TEST(WindowStage, RestartFromStoredStateGivesTheSameOutput) {
    const std::vector<std::vector<std::pair<std::string, std::string>>> configs = {
        {{"size", "10s"}, {"group_by", "node"}, {"allowed_lateness", "2s"}, {"fields", "v,c"},
         {"aggregates", "count,sum,min,max,mean,stddev,first,last,rate,delta,p50,p99"}},
        {{"kind", "hopping"}, {"size", "20s"}, {"hop", "5s"}, {"group_by", "node"}, {"allowed_lateness", "1s"},
         {"fields", "v"}, {"aggregates", "mean,p90,stddev,last"}},
        {{"kind", "session"}, {"gap", "1500ms"}, {"group_by", "node"}, {"allowed_lateness", "1s"}, {"fields", "v"},
         {"aggregates", "sum,p50,first,last"}},
    };
    const Script s = make_script(3000, 13, 7);
    for (const auto& kv : configs) {
        const auto straight = run_with_restarts(kv, s, {});
        EXPECT_GT(straight.size(), 50u);
        EXPECT_EQ(run_with_restarts(kv, s, {5, 6, 40, 41, 42, 70}), straight) << kv[0].second;
        std::set<std::size_t> every;
        for (std::size_t i = 1; i < s.batches.size(); ++i) {
            every.insert(i);
        }
        EXPECT_EQ(run_with_restarts(kv, s, every), straight) << kv[0].second;
    }
}

TEST(WindowStage, OutputDoesNotDependOnBatching) {
    const std::vector<std::pair<std::string, std::string>> kv = {
        {"kind", "hopping"}, {"size", "20s"}, {"hop", "5s"}, {"group_by", "node"}, {"allowed_lateness", "1s"},
        {"fields", "v"}, {"aggregates", "sum,max"}};
    const Script s = make_script(2000, 5, 3);
    Script one;
    one.batches.emplace_back();
    for (const auto& b : s.batches) {
        one.batches[0].insert(one.batches[0].end(), b.begin(), b.end());
    }
    const auto a = run_with_restarts(kv, one, {});
    const auto b = run_with_restarts(kv, s, {});
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        ASSERT_EQ(a[i], b[i]) << i;
    }
}

TEST(WindowStage, OnlyChangedPanesAreWritten) {
    WindowHarness h({{"size", "10s"}, {"group_by", "node"}});
    std::vector<Record> in;
    for (int i = 0; i < 100; ++i) {
        in.push_back(rec(t_s(1), {tag("node", fmt::format("n{}", i))}, {}));
    }
    h.feed(std::move(in));
    EXPECT_EQ(h.store.size(), 101u);  // 100 panes + meta
    h.changes = 0;
    h.feed({rec(t_s(2), {tag("node", "n5")}, {})});
    EXPECT_EQ(h.changes, 2u);  // that one pane, and the meta (the watermark moved)
    h.changes = 0;
    h.feed({rec(t_s(1.5), {tag("node", "n7")}, {})});
    EXPECT_EQ(h.changes, 1u);  // the pane only
}

TEST(WindowStage, UnreadableOrForeignStateIsDiscarded) {
    std::map<std::string, std::string> store;
    {
        WindowHarness h({{"size", "10s"}, {"group_by", "node"}});
        h.feed({rec(t_s(1), {tag("node", "a")}, {})});
        store = h.store;
    }
    // Damage one pane.
    for (auto& [k, v] : store) {
        if (k[0] == 'p') {
            v = "\x01garbage";
        }
    }
    store[std::string("p\x01\x01m") + "12345678"] = "junk";
    WindowHarness h({{"size", "10s"}, {"group_by", "node"}}, &store);
    h.feed({});
    EXPECT_EQ(h.store.size(), 1u);  // only the meta is left
    // Another window configuration does not read this state.
    WindowHarness other({{"size", "20s"}, {"group_by", "node"}}, &store);
    other.feed({});
    EXPECT_EQ(other.store.size(), 1u);
}

}  // namespace
}  // namespace sluice::testing
