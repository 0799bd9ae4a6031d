// The record stages, built from TOML the way a gateway builds them, run
// batch by batch with their durable state kept in a map (as the buffer
// keeps it): map, filter, divide, collect, table, enrich and join.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

#include <fmt/format.h>

#include "config/config.hpp"
#include "core/metrics.hpp"
#include "core/record_json.hpp"
#include "core/registry.hpp"
#include "tables/tables.hpp"

using namespace sluice;

namespace {

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kT0 = 1'700'000'000 * kSec;

Record rec(std::string measurement, std::int64_t t_s, std::vector<Tag> tags, std::vector<Field> fields) {
    Record r;
    r.time_ns = kT0 + t_s * kSec;
    r.measurement = std::move(measurement);
    r.tags = std::move(tags);
    r.fields = std::move(fields);
    return r;
}

std::string json_lines(const std::vector<Record>& records) {
    std::string out;
    for (const auto& r : records) {
        append_record_json(out, r);
        out += '\n';
    }
    return out;
}

int label_counter = 0;

struct Harness {
    std::unique_ptr<Stage> stage;
    std::string label;
    ComponentMetrics metrics;
    std::map<std::string, std::string> state;  // what the buffer would hold
    Tables* tables = nullptr;
    std::vector<DeadLetter> dead;
    std::string spec_toml;
    std::string extra_toml;

    // Builds the stage from its TOML table body (type = ..., options).
    explicit Harness(std::string stage_toml, std::string extra = {}, Tables* t = nullptr)
        : label(fmt::format("test/stage{}", ++label_counter)),
          metrics(ComponentMetrics::for_component(label, "stage")),
          tables(t),
          spec_toml(std::move(stage_toml)),
          extra_toml(std::move(extra)) {
        stage = build();
        open();
    }

    std::unique_ptr<Stage> build() {
        const std::string text = extra_toml + "\n[[pipelines.p.sources]]\ntype = \"stdin\"\n[[pipelines.p.stages]]\n" +
                                 spec_toml + "\n[[pipelines.p.sinks]]\ntype = \"stdout\"\n";
        Diagnostics diag;
        auto cfg = load_config_text(text, "test.toml", builtin_registry(), diag);
        if (!cfg) {
            ADD_FAILURE() << diag.str();
            return nullptr;
        }
        const auto& s = cfg->pipelines[0].stages[0];
        return s.descriptor->make_stage(s.options);
    }

    void open() {
        StageContext ctx;
        ctx.name = label;
        ctx.id = "s";
        ctx.metrics = &metrics;
        ctx.tables = tables;
        ctx.load_state = [this](const std::function<void(std::string_view, std::string_view)>& fn) {
            for (const auto& [k, v] : state) {
                fn(k, v);
            }
        };
        stage->open(ctx);
    }

    // A restart: a fresh stage loading the state the last commit left.
    void restart() {
        stage = build();
        open();
    }

    std::vector<Record> run(std::vector<Record> in, std::int64_t mono_ns = 0, bool tick = false) {
        std::vector<StateChange> changes;
        std::vector<std::pair<std::string, Record>> streams;
        StageBatch b{in, dead, changes, streams, kT0, mono_ns, tick};
        stage->process(b);
        for (auto& c : changes) {
            if (c.erase) {
                state.erase(c.key);
            } else {
                state[c.key] = c.value;
            }
        }
        stage->after_commit(true);
        return in;
    }
};

std::string build_error(const std::string& stage_toml, const std::string& extra = {}) {
    const std::string text = extra + "\n[[pipelines.p.sources]]\ntype = \"stdin\"\n[[pipelines.p.stages]]\n" +
                             stage_toml + "\n[[pipelines.p.sinks]]\ntype = \"stdout\"\n";
    Diagnostics diag;
    auto cfg = load_config_text(text, "test.toml", builtin_registry(), diag);
    if (!cfg) {
        return diag.str();
    }
    try {
        const auto& s = cfg->pipelines[0].stages[0];
        s.descriptor->make_stage(s.options);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return {};
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/sluice-stages-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

// ------------------------------------------------------------------ filter

TEST(Filter, KeepDropAndDeadLetter) {
    Harness keep("type = \"filter\"\nkeep = \"measurement == 'temperature' and value > -40\"");
    auto out = keep.run({rec("temperature", 0, {}, {{"value", 20.0}}), rec("temperature", 1, {}, {{"value", -50.0}}),
                         rec("humidity", 2, {}, {{"value", 40.0}})});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].time_ns, kT0);
    EXPECT_EQ(keep.metrics.dropped->value(), 2u);
    EXPECT_TRUE(keep.dead.empty());

    Harness drop("type = \"filter\"\ndrop = \"exists(error) or node =~ '^test-'\"\nrejected = \"dead_letter\"");
    out = drop.run({rec("m", 0, {{"node", "test-1"}}, {{"v", 1.0}}), rec("m", 1, {{"node", "n1"}}, {{"v", 1.0}}),
                    rec("m", 2, {{"node", "n2"}}, {{"error", std::string("x")}})});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(*out[0].tag("node"), "n1");
    ASSERT_EQ(drop.dead.size(), 2u);
    EXPECT_EQ(drop.dead[0].reason, "filter: dropped by 'exists(error) or node =~ '^test-''");
    EXPECT_NE(drop.dead[0].payload.find("\"node\":\"test-1\""), std::string::npos);
}

TEST(Filter, ConfigErrors) {
    EXPECT_NE(build_error("type = \"filter\"").find("set exactly one"), std::string::npos);
    EXPECT_EQ(build_error("type = \"filter\"\nkeep = \"value >\""),
              "option 'keep': column 8: expected a value but found 'end of expression'");
}

// ------------------------------------------------------------------ map

TEST(Map, RenameScaleConvertComputeTagsRemove) {
    Harness h(R"T(type = "map"
rename = ["temp=temperature", "hum=humidity", "loc=site"]
scale = ["raw=0.1"]
offset = ["raw=-2"]
convert = ["pressure:Pa->hPa"]
compute = ["dew = temperature - (100 - humidity) / 5", "temp_f = convert(temperature, 'C', 'F')", "hot = temperature > 30"]
add_tags = ["unit=metric"]
remove = ["junk"]
measurement = "climate")T");
    auto out = h.run({rec("env", 0, {{"loc", "lab"}, {"junk", "x"}},
                          {{"temp", 20.0}, {"hum", std::int64_t{60}}, {"raw", std::int64_t{250}},
                           {"pressure", 101325.0}, {"junk", 1.0}})});
    EXPECT_EQ(json_lines(out),
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"climate\",\"tags\":{\"site\":\"lab\",\"unit\":"
              "\"metric\"},\"fields\":{\"temperature\":20,\"humidity\":60,\"raw\":23,\"pressure\":1013.25,\"dew\":12,"
              "\"temp_f\":68,\"hot\":false}}\n");
    EXPECT_EQ(h.metrics.errors->value(), 0u);
    // A computed field whose input is missing stays unset and counts as an error.
    out = h.run({rec("env", 0, {}, {{"temp", 20.0}})});
    EXPECT_EQ(out[0].field("dew"), nullptr);
    EXPECT_NE(out[0].field("temp_f"), nullptr);
    EXPECT_EQ(h.metrics.errors->value(), 1u);
}

TEST(Map, ConfigErrors) {
    EXPECT_NE(build_error("type = \"map\"\nrename = [\"a\"]").find("'a' is not of the form \"old=new\""),
              std::string::npos);
    EXPECT_NE(build_error("type = \"map\"\nconvert = [\"t:C->hPa\"]").find("different quantities"), std::string::npos);
    EXPECT_NE(build_error("type = \"map\"\ncompute = [\"x = (1\"]").find("column"), std::string::npos);
    EXPECT_NE(build_error("type = \"map\"\ncompute = [\"x == 1\"]").find("field = expression"), std::string::npos);
    EXPECT_NE(build_error("type = \"map\"\nscale = [\"v=abc\"]").find("not a number"), std::string::npos);
}

// ------------------------------------------------------------------ divide

TEST(Divide, GroupsAndRest) {
    Harness h(R"T(type = "divide"
groups = ["climate: temperature humidity", "power: voltage current p_*"])T");
    auto out = h.run({rec("all", 5, {{"node", "n1"}},
                          {{"temperature", 21.0}, {"voltage", 3.3}, {"p_avg", 1.0}, {"humidity", 40.0}, {"rssi", -70.0}})});
    EXPECT_EQ(json_lines(out),
              "{\"time\":\"2023-11-14T22:13:25Z\",\"measurement\":\"climate\",\"tags\":{\"node\":\"n1\"},\"fields\":{"
              "\"temperature\":21,\"humidity\":40}}\n"
              "{\"time\":\"2023-11-14T22:13:25Z\",\"measurement\":\"power\",\"tags\":{\"node\":\"n1\"},\"fields\":{"
              "\"voltage\":3.3,\"p_avg\":1}}\n"
              "{\"time\":\"2023-11-14T22:13:25Z\",\"measurement\":\"all\",\"tags\":{\"node\":\"n1\"},\"fields\":{"
              "\"rssi\":-70}}\n");
    Harness drop_rest("type = \"divide\"\ngroups = [\"c: t\"]\nrest = \"drop\"");
    out = drop_rest.run({rec("all", 0, {}, {{"x", 1.0}}), rec("all", 0, {}, {{"t", 1.0}, {"x", 1.0}})});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(drop_rest.metrics.dropped->value(), 1u);
}

TEST(Divide, PerField) {
    Harness h("type = \"divide\"\nper_field = true\nfield_tag = \"sensor\"");
    auto out = h.run({rec("env", 0, {{"node", "n1"}}, {{"t", 21.0}, {"h", std::int64_t{40}}})});
    EXPECT_EQ(json_lines(out),
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"env\",\"tags\":{\"node\":\"n1\",\"sensor\":\"t\"},"
              "\"fields\":{\"value\":21}}\n"
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"env\",\"tags\":{\"node\":\"n1\",\"sensor\":\"h\"},"
              "\"fields\":{\"value\":40}}\n");
    EXPECT_NE(build_error("type = \"divide\""), "");
}

// ------------------------------------------------------------------ collect

TEST(Collect, CountPerGroupSurvivesRestart) {
    Harness h("type = \"collect\"\ncount = 3\ngroup_by = [\"node\"]");
    auto out = h.run({rec("t", 0, {{"node", "a"}, {"s", "1"}}, {{"v", 1.0}}),
                      rec("t", 1, {{"node", "b"}}, {{"v", 10.0}}),
                      rec("t", 2, {{"node", "a"}, {"s", "2"}}, {{"v", 2.0}})});
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(h.state.size(), 3u);
    h.restart();  // the three waiting records come back from the state
    out = h.run({rec("t", 3, {{"node", "a"}}, {{"v", 3.0}})});
    EXPECT_EQ(json_lines(out),
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"t\",\"tags\":{\"node\":\"a\"},\"fields\":{"
              "\"v_0\":1,\"v_1\":2,\"v_2\":3,\"count\":3}}\n");
    EXPECT_EQ(h.state.size(), 1u);  // b's record still waits
}

TEST(Collect, MaxAgeEmitsPartialBatches) {
    Harness h("type = \"collect\"\ncount = 10\nmax_age = \"5s\"\ntimes = true");
    EXPECT_EQ(h.stage->tick_interval(), std::chrono::seconds(1));
    auto out = h.run({rec("t", 0, {}, {{"v", 1.0}})}, 100 * kSec);
    EXPECT_TRUE(out.empty());
    out = h.run({}, 104 * kSec, true);
    EXPECT_TRUE(out.empty());
    out = h.run({}, 105 * kSec, true);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(std::get<std::int64_t>(out[0].field("time_0")->value), kT0);
    EXPECT_EQ(std::get<std::int64_t>(out[0].field("count")->value), 1);
    EXPECT_TRUE(h.state.empty());
}

// ------------------------------------------------------------------ table

TEST(TableStage, WritesLatestPerKeyAfterCommit) {
    Tables tables;
    tables.configure({{"latest", {}}});
    Harness h("type = \"table\"\ntable = \"latest\"\nkey = \"{node}/{sensor}\"\ntags = [\"site\"]\nfields = [\"value\"]",
              "[tables.latest]\n", &tables);
    auto out = h.run({rec("m", 0, {{"node", "n1"}, {"sensor", "t"}, {"site", "lab"}}, {{"value", 1.0}, {"x", 2.0}}),
                      rec("m", 1, {{"node", "n1"}, {"sensor", "t"}, {"site", "lab"}}, {{"value", 2.0}}),
                      rec("m", 1, {{"node", "n2"}}, {{"value", 3.0}})});
    EXPECT_EQ(out.size(), 3u);  // records pass on unchanged
    Table* t = tables.find("latest");
    EXPECT_EQ(t->size(), 1u);
    EXPECT_EQ(table_value_json(*t->get("n1/t")), R"({"time":"2023-11-14T22:13:21Z","site":"lab","value":2.0})");
    EXPECT_EQ(metrics().counter("sluice_stage_missing_key_total", "", {{"component", h.label}}).value(), 1u);
}

TEST(TableStage, UndeclaredTableIsAConfigError) {
    EXPECT_NE(build_error("type = \"table\"\ntable = \"latset\"\nkey = \"{node}\"", "[tables.latest]\n")
                  .find("stage 'table' uses table 'latset', which is not declared (did you mean 'latest'?)"),
              std::string::npos);
}

// ------------------------------------------------------------------ enrich

TEST(Enrich, CalibrationFromCsv) {
    TempDir dir;
    std::ofstream(dir.path / "cal.csv") << "sensor,scale,offset,field,site\n"
                                            "n1/temp,1.02,-0.3,,lab\n"
                                            "n2/temp,2,0,,roof\n"
                                            "n2/hum,1,5,humidity,roof\n";
    Tables tables;
    Tables::Spec s{"cal", {}};
    s.settings.csv = (dir.path / "cal.csv").string();
    ASSERT_TRUE(tables.configure({s}).empty());
    Harness h("type = \"enrich\"\ntable = \"cal\"\nkey = \"{node}/{sensor}\"\ntags = [\"site\"]\nraw_field = \"raw\"",
              "[tables.cal]\n", &tables);
    auto out = h.run({rec("m", 0, {{"node", "n1"}, {"sensor", "temp"}}, {{"value", 20.0}}),
                      rec("m", 0, {{"node", "n2"}, {"sensor", "temp"}}, {{"value", std::int64_t{10}}}),
                      rec("m", 0, {{"node", "n2"}, {"sensor", "hum"}}, {{"humidity", 40.0}}),
                      rec("m", 0, {{"node", "n3"}, {"sensor", "temp"}}, {{"value", 7.0}})});
    EXPECT_EQ(json_lines(out),
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"m\",\"tags\":{\"node\":\"n1\",\"sensor\":\"temp\","
              "\"site\":\"lab\"},\"fields\":{\"value\":20.099999999999998,\"raw\":20}}\n"
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"m\",\"tags\":{\"node\":\"n2\",\"sensor\":\"temp\","
              "\"site\":\"roof\"},\"fields\":{\"value\":20,\"raw\":10}}\n"
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"m\",\"tags\":{\"node\":\"n2\",\"sensor\":\"hum\","
              "\"site\":\"roof\"},\"fields\":{\"humidity\":45,\"raw\":40}}\n"
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"m\",\"tags\":{\"node\":\"n3\",\"sensor\":\"temp\"},"
              "\"fields\":{\"value\":7}}\n");
    const Labels l{{"component", h.label}};
    EXPECT_EQ(metrics().counter("sluice_enrich_missing_total", "", l).value(), 1u);
    EXPECT_EQ(metrics().counter("sluice_enrich_calibrated_total", "", l).value(), 3u);
    // The table changes under the running stage (the HTTP API, a reload).
    tables.find("cal")->put("n3/temp", *parse_table_value(R"({"offset":1})", nullptr));
    out = h.run({rec("m", 0, {{"node", "n3"}, {"sensor", "temp"}}, {{"value", 7.0}})});
    EXPECT_EQ(std::get<double>(out[0].field("value")->value), 8.0);
}

TEST(Enrich, MissingPolicies) {
    Tables tables;
    tables.configure({{"meta", {}}});
    tables.find("meta")->put("n1", *parse_table_value(R"({"room":"a","floor":2})", nullptr));
    Harness drop("type = \"enrich\"\ntable = \"meta\"\nkey = \"{node}\"\ntags = [\"*\"]\nmissing = \"drop\"",
                 "[tables.meta]\n", &tables);
    auto out = drop.run({rec("m", 0, {{"node", "n1"}}, {{"v", 1.0}}), rec("m", 0, {{"node", "n2"}}, {{"v", 1.0}}),
                         rec("m", 0, {}, {{"v", 1.0}})});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(*out[0].tag("room"), "a");
    EXPECT_EQ(*out[0].tag("floor"), "2");
    EXPECT_EQ(drop.metrics.dropped->value(), 2u);
    Harness dl("type = \"enrich\"\ntable = \"meta\"\nkey = \"{node}\"\nfields = [\"floor\"]\nmissing = \"dead_letter\"",
               "[tables.meta]\n", &tables);
    out = dl.run({rec("m", 0, {{"node", "n1"}}, {{"v", 1.0}}), rec("m", 0, {{"node", "n2"}}, {{"v", 1.0}})});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(std::get<std::int64_t>(out[0].field("floor")->value), 2);
    ASSERT_EQ(dl.dead.size(), 1u);
    EXPECT_EQ(dl.dead[0].reason, "enrich: no row in table 'meta' for key 'n2'");
}

// ------------------------------------------------------------------ join

namespace {
const char* kJoin = R"T(type = "join"
left = "measurement == 'temperature'"
right = "measurement == 'humidity'"
key = "{node}"
window = "5s"
timeout = "0s"
measurement = "climate")T";
}

TEST(Join, PairsTemperatureAndHumidityByNode) {
    Harness h(kJoin);
    auto out = h.run({
        rec("temperature", 0, {{"node", "n1"}}, {{"value", 21.5}}),
        rec("temperature", 0, {{"node", "n2"}}, {{"value", 19.0}}),
        rec("humidity", 1, {{"node", "n2"}}, {{"value", 55.0}}),
        rec("status", 1, {{"node", "n1"}}, {{"up", true}}),  // neither stream: passes through
        rec("humidity", 2, {{"node", "n1"}}, {{"value", 40.0}}),
        rec("humidity", 3, {{"node", "n3"}}, {{"value", 70.0}}),
    });
    EXPECT_EQ(json_lines(out),
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"climate\",\"tags\":{\"node\":\"n2\"},\"fields\":{"
              "\"temperature_value\":19,\"humidity_value\":55}}\n"
              "{\"time\":\"2023-11-14T22:13:21Z\",\"measurement\":\"status\",\"tags\":{\"node\":\"n1\"},\"fields\":{"
              "\"up\":true}}\n"
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"climate\",\"tags\":{\"node\":\"n1\"},\"fields\":{"
              "\"temperature_value\":21.5,\"humidity_value\":40}}\n");
    EXPECT_EQ(h.state.size(), 1u);  // n3's humidity waits
    // A record 9 s later moves event time past n3's window: it leaves alone (unmatched = emit).
    out = h.run({rec("temperature", 9, {{"node", "n4"}}, {{"value", 18.0}})});
    EXPECT_EQ(json_lines(out),
              "{\"time\":\"2023-11-14T22:13:23Z\",\"measurement\":\"humidity\",\"tags\":{\"node\":\"n3\"},\"fields\":{"
              "\"value\":70}}\n");
    const Labels l{{"component", h.label}};
    EXPECT_EQ(metrics().counter("sluice_join_pairs_total", "", l).value(), 2u);
    EXPECT_EQ(metrics().counter("sluice_join_unmatched_records_total", "", {{"component", h.label}, {"side", "right"}})
                  .value(),
              1u);
}

TEST(Join, TooFarApartDoNotPairAndBatchesDoNotMatter) {
    Harness one(kJoin);
    Harness split(kJoin);
    std::vector<Record> in{rec("temperature", 0, {{"node", "n1"}}, {{"value", 1.0}}),
                           rec("humidity", 6, {{"node", "n1"}}, {{"value", 2.0}}),
                           rec("temperature", 7, {{"node", "n1"}}, {{"value", 3.0}}),
                           rec("humidity", 20, {{"node", "n9"}}, {{"value", 4.0}})};
    const auto all = json_lines(one.run(in));
    std::string pieces;
    for (const auto& r : in) {
        pieces += json_lines(split.run({r}));
    }
    EXPECT_EQ(all, pieces);
    EXPECT_EQ(all,
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"temperature\",\"tags\":{\"node\":\"n1\"},"
              "\"fields\":{\"value\":1}}\n"
              "{\"time\":\"2023-11-14T22:13:27Z\",\"measurement\":\"climate\",\"tags\":{\"node\":\"n1\"},\"fields\":{"
              "\"temperature_value\":3,\"humidity_value\":2}}\n");
}

TEST(Join, PendingRecordsSurviveARestart) {
    Harness h(kJoin);
    EXPECT_TRUE(h.run({rec("temperature", 0, {{"node", "n1"}}, {{"value", 21.0}, {"battery", 3.1}})}).empty());
    ASSERT_EQ(h.state.size(), 1u);
    h.restart();
    auto out = h.run({rec("humidity", 1, {{"node", "n1"}, {"fw", "2"}}, {{"value", 50.0}})});
    EXPECT_EQ(json_lines(out),
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"climate\",\"tags\":{\"node\":\"n1\",\"fw\":\"2\"},"
              "\"fields\":{\"temperature_value\":21,\"battery\":3.1,\"humidity_value\":50}}\n");
    EXPECT_TRUE(h.state.empty());
    h.restart();  // nothing is emitted twice
    EXPECT_TRUE(h.run({rec("humidity", 2, {{"node", "n1"}}, {{"value", 51.0}})}).empty());
}

TEST(Join, TimeoutAndDeadLetterPolicy) {
    Harness h(R"T(type = "join"
left = "measurement == 'a'"
right = "measurement == 'b'"
key = "{k}"
window = "1m"
timeout = "10s"
unmatched = "dead_letter")T");
    EXPECT_TRUE(h.run({rec("a", 0, {{"k", "1"}}, {{"v", 1.0}}), rec("a", 0, {}, {{"v", 1.0}})}, 50 * kSec).empty());
    ASSERT_EQ(h.dead.size(), 1u);  // no key: released at once
    EXPECT_NE(h.dead[0].reason.find("key template"), std::string::npos);
    EXPECT_TRUE(h.run({}, 59 * kSec, true).empty());
    EXPECT_TRUE(h.run({}, 60 * kSec, true).empty());
    ASSERT_EQ(h.dead.size(), 2u);
    EXPECT_EQ(h.dead[1].reason, "join: no right partner within 1m");
    EXPECT_TRUE(h.state.empty());
    EXPECT_EQ(h.metrics.dropped->value(), 2u);
}

TEST(Join, ClashingTagsArePrefixed) {
    Harness h(R"T(type = "join"
left = "measurement == 'a'"
right = "measurement == 'a' or measurement == 'b'"
key = "{k}"
window = "1s"
left_prefix = "l."
right_prefix = "r.")T");
    auto out = h.run({rec("a", 0, {{"k", "1"}, {"src", "x"}}, {{"v", 1.0}}),
                      rec("b", 0, {{"k", "1"}, {"src", "y"}}, {{"v", 2.0}, {"w", 3.0}})});
    EXPECT_EQ(json_lines(out),
              "{\"time\":\"2023-11-14T22:13:20Z\",\"measurement\":\"a\",\"tags\":{\"k\":\"1\",\"l.src\":\"x\",\"r.src\":"
              "\"y\"},\"fields\":{\"l.v\":1,\"r.v\":2,\"w\":3}}\n");
}
