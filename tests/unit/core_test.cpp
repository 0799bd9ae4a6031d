#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <fmt/format.h>

#include "config/resolve.hpp"
#include "core/bounded_queue.hpp"
#include "core/ioloop.hpp"
#include "core/line_splitter.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/option_binding.hpp"
#include "core/record_json.hpp"
#include "core/resources.hpp"

using namespace sluice;

namespace {

struct StrSize {
    std::size_t operator()(const std::string& s) const { return s.size(); }
};

std::vector<std::string> split_all(LineSplitter& ls, std::initializer_list<std::string_view> chunks,
                                   int* too_long = nullptr) {
    std::vector<std::string> out;
    for (auto c : chunks) {
        ls.feed(
            c, [&](std::string_view line, std::uint64_t) { out.emplace_back(line); },
            [&](std::uint64_t) {
                if (too_long) {
                    ++*too_long;
                }
            });
    }
    return out;
}

}  // namespace

TEST(LineSplitter, JoinsLinesAcrossChunksAndStripsCr) {
    LineSplitter ls(100);
    auto lines = split_all(ls, {"ab", "c\r\nde", "f\n\n", "g"});
    EXPECT_EQ(lines, (std::vector<std::string>{"abc", "def"}));
    EXPECT_EQ(ls.committed_offset(), 10u);  // "g" is not complete yet
    ls.finish([&](std::string_view l, std::uint64_t) { lines.emplace_back(l); });
    EXPECT_EQ(lines.back(), "g");
}

TEST(LineSplitter, SkipsOverlongLinesWithoutBufferingThem) {
    LineSplitter ls(4);
    int too_long = 0;
    auto lines = split_all(ls, {"12345", "678\nok\n", "0123456789\nend\n"}, &too_long);
    EXPECT_EQ(lines, (std::vector<std::string>{"ok", "end"}));
    EXPECT_EQ(too_long, 2);
}

TEST(BoundedQueue, RespectsItemAndByteLimits) {
    BoundedQueue<std::string, StrSize> q(3, 10);
    std::vector<std::string> in{"aaaa", "bbbb", "cccc", "d"};
    EXPECT_EQ(q.try_push(in), 2u);  // the third would pass 10 bytes
    EXPECT_EQ(in.size(), 2u);
    std::vector<std::string> out;
    EXPECT_EQ(q.pop_many(out, 10, std::chrono::milliseconds(0)), 2u);
    EXPECT_EQ(q.try_push(in), 2u);
    EXPECT_TRUE(in.empty());
}

TEST(BoundedQueue, PushAllWaitBlocksUntilConsumerMakesRoom) {
    BoundedQueue<std::string, StrSize> q(2, 1000);
    std::vector<std::string> in{"1", "2", "3", "4", "5"};
    std::thread producer([&] { EXPECT_TRUE(q.push_all_wait(in)); });
    std::vector<std::string> got;
    while (got.size() < 5) {
        q.pop_many(got, 10, std::chrono::milliseconds(100));
    }
    producer.join();
    EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

TEST(BoundedQueue, CloseReleasesBlockedProducer) {
    BoundedQueue<std::string, StrSize> q(1, 1000);
    std::vector<std::string> in{"1", "2"};
    std::thread producer([&] { EXPECT_FALSE(q.push_all_wait(in)); });
    // Wait (with a deadline) until the first item is in, i.e. the producer blocks on the second.
    // A time deadline, not a count of yields: under a sanitizer on a busy machine 1000 yields
    // passed before the producer had started, and close() came before the first push.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (q.size() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    q.close();
    producer.join();
    EXPECT_EQ(in.size(), 1u);
}

TEST(Metrics, RendersPrometheusTextWithEscapedLabels) {
    MetricsRegistry m;
    m.counter("t_total", "A counter", {{"component", "a\"b"}}).inc(3);
    m.counter("t_total", "A counter", {{"component", "c"}}).inc();
    m.gauge("t_gauge", "A gauge").set(1.5);
    const std::string text = m.render();
    EXPECT_NE(text.find("# TYPE t_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("t_total{component=\"a\\\"b\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("t_total{component=\"c\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("t_gauge 1.5\n"), std::string::npos);
    EXPECT_EQ(text.find("# HELP t_total"), text.rfind("# HELP t_total"));  // HELP once per name
    EXPECT_EQ(m.counter_total("t_total"), 4u);
}

TEST(Metrics, SameNameAndLabelsGiveTheSameCounter) {
    MetricsRegistry m;
    auto& a = m.counter("x_total", "x", {{"k", "v"}});
    auto& b = m.counter("x_total", "x", {{"k", "v"}});
    EXPECT_EQ(&a, &b);
}

TEST(Metrics, GaugeFnIsRemovedWithItsHandle) {
    {
        auto h = metrics().gauge_fn("core_test_fn", "fn", {}, [] { return 7.0; });
        EXPECT_NE(metrics().render().find("core_test_fn 7\n"), std::string::npos);
    }
    EXPECT_EQ(metrics().render().find("core_test_fn 7"), std::string::npos);
}

TEST(RecordJson, WritesTimeTagsAndTypedFields) {
    Record r;
    r.time_ns = 1'700'000'000'123'000'000;
    r.measurement = "m";
    r.origin = "o\n";
    r.tags.push_back({"t", "v"});
    r.fields.push_back({"f", 1.5});
    r.fields.push_back({"i", std::int64_t{-3}});
    r.fields.push_back({"b", true});
    r.fields.push_back({"s", std::string("q\"")});
    r.fields.push_back({"nan", std::numeric_limits<double>::quiet_NaN()});
    std::string out;
    append_record_json(out, r);
    EXPECT_EQ(out,
              "{\"time\":\"2023-11-14T22:13:20.123Z\",\"measurement\":\"m\",\"origin\":\"o\\n\",\"tags\":{\"t\":\"v\"},"
              "\"fields\":{\"f\":1.5,\"i\":-3,\"b\":true,\"s\":\"q\\\"\",\"nan\":null}}");
}

TEST(RecordJson, FieldValuesOneRule) {
    auto json = [](FieldValue v, JsonDouble form = JsonDouble::Shortest) {
        std::string s;
        append_field_value_json(s, v, form);
        return s;
    };
    EXPECT_EQ(json(3.0), "3");
    EXPECT_EQ(json(3.0, JsonDouble::KeepFraction), "3.0") << "read back as a double";
    EXPECT_EQ(json(-0.5, JsonDouble::KeepFraction), "-0.5");
    EXPECT_EQ(json(1e20, JsonDouble::KeepFraction), "1e+20");
    EXPECT_EQ(json(std::numeric_limits<double>::quiet_NaN(), JsonDouble::KeepFraction), "null");
    EXPECT_EQ(json(std::numeric_limits<double>::infinity()), "null") << "JSON has no infinity";
    EXPECT_EQ(json(std::int64_t{-9223372036854775807 - 1}), "-9223372036854775808");
    EXPECT_EQ(json(false), "false");
    EXPECT_EQ(json(std::string("a\x01\t\"\\b")), "\"a\\u0001\\t\\\"\\\\b\"");
    std::string obj;
    append_fields_json(obj, {{"a", 1.0}, {"b", std::string("x")}});
    EXPECT_EQ(obj, R"({"a":1,"b":"x"})");
    obj.clear();
    append_fields_json(obj, {{"a", 1.0}, {"i", std::int64_t{1}}}, JsonDouble::KeepFraction);
    EXPECT_EQ(obj, R"({"a":1.0,"i":1})");
    obj.clear();
    append_tags_json(obj, {{"t", "v"}});
    EXPECT_EQ(obj, R"({"t":"v"})");
}

TEST(RecordJson, Rfc3339CoversPrecisionsAndPreEpoch) {
    auto fmt = [](TimeNs t) {
        std::string s;
        append_rfc3339(s, t);
        return s;
    };
    EXPECT_EQ(fmt(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(fmt(1'000), "1970-01-01T00:00:00.000001Z");
    EXPECT_EQ(fmt(1), "1970-01-01T00:00:00.000000001Z");
    EXPECT_EQ(fmt(-1'000'000'000), "1969-12-31T23:59:59Z");
    EXPECT_EQ(fmt(951'782'400'000'000'000), "2000-02-29T00:00:00Z");
    // The date part is cached per day: the next day and back again.
    EXPECT_EQ(fmt(951'868'799'500'000'000), "2000-02-29T23:59:59.500Z");
    EXPECT_EQ(fmt(951'868'800'000'000'000), "2000-03-01T00:00:00Z");
    EXPECT_EQ(fmt(951'782'400'000'000'000), "2000-02-29T00:00:00Z");
    EXPECT_EQ(fmt(std::numeric_limits<TimeNs>::min()), "1677-09-21T00:12:43.145224192Z");
    EXPECT_EQ(fmt(0), "1970-01-01T00:00:00Z");
}

TEST(RecordJson, WholeDoublesAsFmtWritesThem) {
    // Whole numbers below 1e15 take a fast path: the same bytes as the
    // shortest round-trip form fmt writes.
    auto json = [](double d) {
        std::string s;
        append_field_value_json(s, d);
        return s;
    };
    auto ref = [](double d) { return fmt::format("{}", d); };
    for (double d : {0.0, -0.0, 1.0, -1.0, 20.0, 1700000000.0, 999999999999999.0, -999999999999999.0, 1e15, -1e15,
                     1e16, 9007199254740992.0, 0.5, -2.25, 1e-7, 123456.789}) {
        EXPECT_EQ(json(d), ref(d)) << d;
        std::string s;
        append_double(s, d);
        EXPECT_EQ(s, ref(d)) << d;
    }
    EXPECT_EQ(json(-0.0), "-0");
    std::uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const double d = static_cast<double>(static_cast<std::int64_t>(x % 2'000'000'000'000'000ull) - 1'000'000'000'000'000);
        ASSERT_EQ(json(d), ref(d)) << d;
    }
}

TEST(IoLoop, RunsPostedWorkAndTimers) {
    IoLoop loop;
    loop.start();
    std::mutex mu;
    std::condition_variable cv;
    int ticks = 0;
    IoLoop::TimerId id = 0;
    loop.call([&] {
        id = loop.add_timer(std::chrono::milliseconds(1), std::chrono::milliseconds(1), [&] {
            std::lock_guard lk(mu);
            ++ticks;
            cv.notify_all();
        });
    });
    {
        std::unique_lock lk(mu);
        ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return ticks >= 3; }));
    }
    loop.call([&] { loop.cancel_timer(id); });
    bool ran = false;
    loop.call([&] { ran = loop.in_loop_thread(); });
    EXPECT_TRUE(ran);
    loop.stop();
}

TEST(Resources, ReadsCgroupFixtures) {
    const auto dir = std::filesystem::temp_directory_path() / ("sluice-cg-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "cpu.max") << "150000 100000\n";
    std::ofstream(dir / "memory.max") << "536870912\n";
    EXPECT_DOUBLE_EQ(cgroup_cpu_quota(dir.string()), 1.5);
    EXPECT_EQ(cgroup_memory_max(dir.string()), 536870912u);
    std::ofstream(dir / "cpu.max") << "max 100000\n";
    std::ofstream(dir / "memory.max") << "max\n";
    EXPECT_EQ(cgroup_cpu_quota(dir.string()), 0);
    EXPECT_EQ(cgroup_memory_max(dir.string()), 0u);
    std::filesystem::remove_all(dir);
    EXPECT_GE(available_cpus(), 1.0);
}

#include "core/topology.hpp"

TEST(Topology, WanTopicBecomesTagsAndMeasurement) {
    std::string error;
    auto t = Topology::make("wan", "", "", &error);
    ASSERT_TRUE(t) << error;
    Record r;
    ASSERT_TRUE(t->apply("mqttkit-1/testdrive/area-42/node-1/data.json", r));
    EXPECT_EQ(*r.tag("realm"), "mqttkit-1");
    EXPECT_EQ(*r.tag("network"), "testdrive");
    EXPECT_EQ(*r.tag("gateway"), "area-42");
    EXPECT_EQ(*r.tag("node"), "node-1");
    EXPECT_EQ(r.measurement, "sensors");
    Record e;
    ASSERT_TRUE(t->apply("mqttkit-1/testdrive/area-42/node-1/event.json", e));
    EXPECT_EQ(e.measurement, "events");
    Record short_topic;
    EXPECT_FALSE(t->apply("a/b", short_topic));
    EXPECT_TRUE(short_topic.tags.empty());
}

TEST(Topology, LanAndExistingValuesWin) {
    std::string error;
    auto t = Topology::make("lan", "", "", &error);
    Record r;
    r.measurement = "weather";
    r.tags.push_back({"node", "from-payload"});
    ASSERT_TRUE(t->apply("home/n7/data.json", r));
    EXPECT_EQ(*r.tag("realm"), "home");
    EXPECT_EQ(*r.tag("node"), "from-payload");
    EXPECT_EQ(r.measurement, "weather");
}

TEST(Topology, RegexNamedGroups) {
    if (!Topology::regex_supported()) {
        GTEST_SKIP() << "built without RE2";
    }
    std::string error;
    auto t = Topology::make("regex", "", R"(plant/(?P<line>[^/]+)/(?<measurement>[a-z]+)/(\d+))", &error);
    ASSERT_TRUE(t) << error;
    Record r;
    ASSERT_TRUE(t->apply("plant/L3/vibration/17", r));
    EXPECT_EQ(*r.tag("line"), "L3");
    EXPECT_EQ(r.measurement, "vibration");
    EXPECT_EQ(r.tags.size(), 1u);
    Record other;
    EXPECT_FALSE(t->apply("other/x", other));
    EXPECT_TRUE(other.tags.empty());
    // A group inside a character class is no group; (?<= is no name.
    auto cls = Topology::make("regex", "", R"(a/(?P<x>[(?<]+))", &error);
    ASSERT_TRUE(cls) << error;
    Record c;
    ASSERT_TRUE(cls->apply("a/(?<", c));
    EXPECT_EQ(*c.tag("x"), "(?<");
    EXPECT_FALSE(Topology::make("regex", "", "(", &error));
    EXPECT_NE(error.find("does not compile"), std::string::npos) << error;
    EXPECT_FALSE(Topology::make("regex", "", "", &error));
    EXPECT_FALSE(Topology::make("regex", "", "(a)(?P<b>\\1)", &error));  // no backreferences in RE2
    EXPECT_FALSE(Topology::make("wide", "", "", &error));
}

TEST(Topology, RegexIsLinearOnHugeOrigins) {
    if (!Topology::regex_supported()) {
        GTEST_SKIP() << "built without RE2";
    }
    // The pattern that overflowed std::regex's recursion with a 30,000
    // character topic; RE2 neither recurses nor backtracks.
    std::string error;
    auto t = Topology::make("regex", "", R"((?P<a>[^/]+)/(?P<b>.+))", &error);
    ASSERT_TRUE(t) << error;
    const std::string origin = std::string(1 << 20, 'x') + "/" + std::string(1 << 20, 'y');
    Record r;
    ASSERT_TRUE(t->apply(origin, r));
    EXPECT_EQ(r.tag("a")->size(), 1u << 20);
    auto nested = Topology::make("regex", "", R"((x+x+)+y)", &error);
    ASSERT_TRUE(nested) << error;
    Record n;
    EXPECT_FALSE(nested->apply(std::string(100000, 'x'), n));  // catastrophic for a backtracker
}

TEST(Topology, PatternSegments) {
    std::string error;
    auto t = Topology::make("pattern", "{realm}/{network}/+/{node}/#", "", &error);
    ASSERT_TRUE(t) << error;
    Record r;
    ASSERT_TRUE(t->apply("plant/net1/gw-7/n42/data/extra", r));
    EXPECT_EQ(*r.tag("realm"), "plant");
    EXPECT_EQ(*r.tag("network"), "net1");
    EXPECT_EQ(*r.tag("node"), "n42");
    EXPECT_EQ(r.tag("gateway"), nullptr);
    EXPECT_EQ(r.tags.size(), 3u);
    Record no_rest;
    EXPECT_TRUE(t->apply("plant/net1/gw-7/n42", no_rest));  // # also matches no level
    Record short_topic;
    EXPECT_FALSE(t->apply("plant/net1/gw-7", short_topic));
    EXPECT_TRUE(short_topic.tags.empty());

    auto exact = Topology::make("pattern", "sensors/{node}/{measurement}", "", &error);
    ASSERT_TRUE(exact) << error;
    Record m;
    ASSERT_TRUE(exact->apply("sensors/n1/climate", m));
    EXPECT_EQ(*m.tag("node"), "n1");
    EXPECT_EQ(m.measurement, "climate");
    Record longer;
    EXPECT_FALSE(exact->apply("sensors/n1/climate/x", longer));
    Record literal;
    EXPECT_FALSE(exact->apply("actors/n1/climate", literal));
    EXPECT_TRUE(literal.tags.empty());

    // A huge origin is walked once, without recursion.
    Record huge;
    EXPECT_FALSE(exact->apply(std::string(1 << 20, '/'), huge));

    EXPECT_FALSE(Topology::make("pattern", "", "", &error));
    EXPECT_FALSE(Topology::make("pattern", "a/#/b", "", &error));
    EXPECT_FALSE(Topology::make("pattern", "a/x{node}", "", &error));
    EXPECT_NE(error.find("x{node}"), std::string::npos) << error;
    EXPECT_FALSE(Topology::make("pattern", "a/{}", "", &error));
    EXPECT_FALSE(Topology::make("off", "a/{b}", "", &error));
    EXPECT_NE(error.find("topology = \"pattern\""), std::string::npos) << error;
}

TEST(Metrics, HistogramRendersCumulativeBuckets) {
    MetricsRegistry m;
    auto& h = m.histogram("lat_seconds", "Latency", {{"component", "p/s"}}, {0.1, 1});
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    const std::string text = m.render();
    EXPECT_NE(text.find("# TYPE lat_seconds histogram\n"), std::string::npos);
    EXPECT_NE(text.find("lat_seconds_bucket{component=\"p/s\",le=\"0.1\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_bucket{component=\"p/s\",le=\"1\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("lat_seconds_bucket{component=\"p/s\",le=\"+Inf\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("lat_seconds_sum{component=\"p/s\"} 5.55\n"), std::string::npos);
    EXPECT_NE(text.find("lat_seconds_count{component=\"p/s\"} 3\n"), std::string::npos);
}

namespace {

struct BoundSettings {
    std::string name = "unset";
    std::int64_t count = 0;
    std::uint32_t seed = 0;
    double rate = 0;
    bool on = false;
    std::chrono::milliseconds every{0};
    std::size_t limit = 0;
    std::vector<std::string> items;
    std::string mode;
};

const OptionBinding<BoundSettings>& bound_options() {
    using S = BoundSettings;
    static const auto b = OptionBinding<S>()
                              .field(&S::name, {.name = "name", .type = OptionType::String})
                              .field(&S::count, {.name = "count", .type = OptionType::Int, .default_value = "3"})
                              .field(&S::seed, {.name = "seed", .type = OptionType::Int, .default_value = "7"})
                              .field(&S::rate, {.name = "rate", .type = OptionType::Float, .default_value = "0.5"})
                              .field(&S::on, {.name = "on", .type = OptionType::Bool, .default_value = "false"})
                              .field(&S::every, {.name = "every", .type = OptionType::Duration, .default_value = "1s"})
                              .field(&S::limit, {.name = "limit", .type = OptionType::Size, .default_value = "1KiB"})
                              .field(&S::items, {.name = "items", .type = OptionType::List, .default_value = "a,b"})
                              .field(&S::mode, {.name = "mode", .type = OptionType::Enum, .default_value = "x",
                                                .choices = "x|y"});
    return b;
}

BoundSettings bind_text(std::vector<std::pair<std::string, std::string>> values) {
    RawTable table;
    for (auto& [k, v] : values) {
        table.push_back(text_entry(k, v));
    }
    Diagnostics diag;
    const Options o = resolve_options(bound_options().specs(), table, "test", SourcePos{}, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    return bound_options().bind(o);
}

}  // namespace

TEST(OptionBinding, SpecsKeepTheirOrderAndFieldsGetTypedValues) {
    const auto& specs = bound_options().specs();
    ASSERT_EQ(specs.size(), 9u);
    EXPECT_EQ(specs[0].name, "name");
    EXPECT_EQ(specs[8].name, "mode");

    const BoundSettings d = bind_text({});
    EXPECT_EQ(d.name, "unset");  // no value, no default: the field keeps its initialiser
    EXPECT_EQ(d.count, 3);
    EXPECT_EQ(d.seed, 7u);
    EXPECT_EQ(d.rate, 0.5);
    EXPECT_FALSE(d.on);
    EXPECT_EQ(d.every, std::chrono::seconds(1));
    EXPECT_EQ(d.limit, 1024u);
    EXPECT_EQ(d.items, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(d.mode, "x");

    const BoundSettings s = bind_text({{"name", "n"}, {"count", "-4"}, {"seed", "4294967295"}, {"rate", "2"},
                                       {"on", "true"}, {"every", "1m30s"}, {"limit", "2MiB"}, {"items", "c"},
                                       {"mode", "y"}});
    EXPECT_EQ(s.name, "n");
    EXPECT_EQ(s.count, -4);
    EXPECT_EQ(s.seed, 4294967295u);
    EXPECT_EQ(s.rate, 2.0);
    EXPECT_TRUE(s.on);
    EXPECT_EQ(s.every, std::chrono::seconds(90));
    EXPECT_EQ(s.limit, 2u * 1024 * 1024);
    EXPECT_EQ(s.items, (std::vector<std::string>{"c"}));
    EXPECT_EQ(s.mode, "y");
}

// A message's detail lines keep the time and level (grep and the journal's
// priority filter see each one), and the JSON format is one object per
// message with the newlines escaped.
TEST(Log, EveryLineOfAMessageCarriesTheLevel) {
    const auto text = sluice::log::format_line(sluice::log::Level::Warn, "first\n  detail one\n  detail two",
                                               sluice::log::Format::Text, false);
    std::vector<std::string> lines;
    std::string cur;
    for (char c : text) {
        if (c == '\n') {
            lines.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    ASSERT_EQ(lines.size(), 3u);
    for (const auto& l : lines) {
        EXPECT_NE(l.find("Z WARN  "), std::string::npos) << l;
    }
    EXPECT_NE(lines[2].find("  detail two"), std::string::npos);

    const auto journal = sluice::log::format_line(sluice::log::Level::Error, "a\nb\n", sluice::log::Format::Text, true);
    EXPECT_EQ(journal, "<3>a\n<3>b\n");

    const auto json = sluice::log::format_line(sluice::log::Level::Info, "x \"y\"\nz", sluice::log::Format::Json, false);
    EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 1);
    EXPECT_NE(json.find(R"("level":"info","message":"x \"y\"\nz"})"), std::string::npos) << json;
    EXPECT_EQ(json.rfind("{\"time\":\"", 0), 0u) << json;
}
