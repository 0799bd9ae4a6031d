// Loading sluice.toml: a full config, and one test per class of error.

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <unistd.h>

#include "config/config.hpp"
#include "core/topology.hpp"
#include "config_test_registry.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using sluice::testing::config_links_test_registry;
using sluice::testing::config_test_registry;

constexpr std::string_view kFull = R"(
[gateway]
id = "gw-01"
log_level = "debug"

[http]
listen = "0.0.0.0:8080"

[pipelines.plant]
batch_max_records = 500

[pipelines.plant.buffer]
max_bytes = "64MiB"
overflow = "block"

[[pipelines.plant.sources]]
type = "file"
id = "sensor-log"
path = "/var/log/sensors.log"
decode = ["json", { type = "csv", columns = ["time","temp"], separator = ";" }]

[[pipelines.plant.sources]]
type = "file"
path = "/var/log/other.log"

[[pipelines.plant.stages]]
type = "filter"
expr = "temp > 0"

[[pipelines.plant.sinks]]
type = "stdout"

[[pipelines.plant.sinks]]
type = "file"
path = "/tmp/out.ndjson"
max_size = "1GB"
batch_size = 50
retry_max = "5m"

[pipelines.lab]
[[pipelines.lab.sources]]
type = "simulate"
rate = 2.5
sensors = ["t"]
decode = "json"

[[pipelines.lab.sinks]]
type = "stdout"
format = "influx"
)";

TEST(TomlConfig, FullConfigWithTwoPipelines) {
    Diagnostics diag;
    auto cfg = load_config_text(kFull, "sluice.toml", config_test_registry(), diag);
    ASSERT_TRUE(cfg) << diag.str();
    EXPECT_EQ(cfg->origin, "sluice.toml");
    EXPECT_EQ(cfg->gateway.str("id"), "gw-01");
    EXPECT_EQ(cfg->gateway.str("log_level"), "debug");
    EXPECT_EQ(cfg->gateway.duration("shutdown_timeout"), 10s);
    EXPECT_FALSE(cfg->gateway.has("data_dir"));  // empty default: unset, see default_data_dir()
    EXPECT_EQ(cfg->http.str("listen"), "0.0.0.0:8080");

    ASSERT_EQ(cfg->pipelines.size(), 2u);
    const PipelineSpec& plant = cfg->pipelines[0];
    EXPECT_EQ(plant.name, "plant");
    EXPECT_EQ(plant.pos.str(), "sluice.toml:9:1");
    EXPECT_EQ(plant.options.integer("batch_max_records"), 500);
    EXPECT_EQ(plant.options.duration("batch_max_delay"), 100ms);
    EXPECT_EQ(plant.options.integer("queue_max_frames"), 8192);
    EXPECT_EQ(plant.options.size("queue_max_bytes"), 8u << 20);
    EXPECT_EQ(plant.buffer.size("max_bytes"), 64u << 20);
    EXPECT_EQ(plant.buffer.str("overflow"), "block");
    EXPECT_EQ(plant.buffer.str("synchronous"), "normal");

    ASSERT_EQ(plant.sources.size(), 2u);
    const SourceSpec& s0 = plant.sources[0];
    EXPECT_EQ(s0.id, "sensor-log");
    EXPECT_EQ(s0.type, "file");
    EXPECT_EQ(s0.kind, Kind::Source);
    EXPECT_EQ(s0.pos.str(), "sluice.toml:16:1");
    EXPECT_EQ(s0.descriptor, config_test_registry().find(Kind::Source, "file"));
    EXPECT_EQ(s0.options.str("path"), "/var/log/sensors.log");
    EXPECT_EQ(s0.options.pos("path").str(), "sluice.toml:19:8");
    EXPECT_TRUE(s0.options.boolean("follow"));
    EXPECT_EQ(s0.options.list("decode"), (std::vector<std::string>{"json", "csv"}));
    EXPECT_NE(s0.options.raw("decode"), nullptr);
    ASSERT_EQ(s0.decoders.size(), 2u);
    EXPECT_EQ(s0.decoders[0].type, "json");
    EXPECT_EQ(s0.decoders[0].kind, Kind::Decoder);
    EXPECT_EQ(s0.decoders[1].type, "csv");
    EXPECT_EQ(s0.decoders[1].id, "csv");
    EXPECT_EQ(s0.decoders[1].options.list("columns"), (std::vector<std::string>{"time", "temp"}));
    EXPECT_EQ(s0.decoders[1].options.str("separator"), ";");
    EXPECT_FALSE(s0.decoders[1].options.boolean("header"));

    // No decode key: the default chain.
    const SourceSpec& s1 = plant.sources[1];
    EXPECT_EQ(s1.id, "file");
    ASSERT_EQ(s1.decoders.size(), 4u);
    EXPECT_EQ(s1.decoders[3].type, "scalar");
    EXPECT_EQ(s1.decoders[1].options.str("precision"), "ns");
    EXPECT_EQ(s1.options.list("decode"), (std::vector<std::string>{"json", "influx", "logfmt", "scalar"}));
    EXPECT_FALSE(s1.options.is_explicit("decode"));

    ASSERT_EQ(plant.stages.size(), 1u);
    EXPECT_EQ(plant.stages[0].options.str("expr"), "temp > 0");
    ASSERT_EQ(plant.sinks.size(), 2u);
    EXPECT_EQ(plant.sinks[0].id, "stdout");
    EXPECT_EQ(plant.sinks[0].options.integer("batch_size"), 1000);  // common sink option
    // A file source and a file sink: the sink's automatic id must differ.
    EXPECT_EQ(plant.sinks[1].id, "sink-file");
    EXPECT_EQ(plant.sinks[1].options.size("max_size"), 1000000000u);
    EXPECT_EQ(plant.sinks[1].options.integer("batch_size"), 50);
    EXPECT_EQ(plant.sinks[1].options.duration("retry_max"), 5min);
    EXPECT_EQ(plant.sinks[1].options.duration("retry_initial"), 1s);

    const PipelineSpec& lab = cfg->pipelines[1];
    EXPECT_EQ(lab.name, "lab");
    EXPECT_EQ(lab.options.integer("batch_max_records"), 1000);
    ASSERT_EQ(lab.sources.size(), 1u);
    EXPECT_DOUBLE_EQ(lab.sources[0].options.number("rate"), 2.5);
    EXPECT_EQ(lab.sources[0].options.str("shape"), "sine");
    ASSERT_EQ(lab.sources[0].decoders.size(), 1u);
    EXPECT_EQ(lab.sources[0].decoders[0].type, "json");
    EXPECT_EQ(lab.sinks[0].options.str("format"), "influx");
}

TEST(TomlConfig, AutomaticIdsNumberRepeats) {
    Diagnostics diag;
    auto cfg = load_config_text(R"(
[[pipelines.p.sources]]
type = "stdin"
[[pipelines.p.sinks]]
type = "stdout"
[[pipelines.p.sinks]]
type = "stdout"
id = "stdout-1"
[[pipelines.p.sinks]]
type = "stdout"
)",
                                "t.toml", config_test_registry(), diag);
    ASSERT_TRUE(cfg) << diag.str();
    const auto& sinks = cfg->pipelines[0].sinks;
    ASSERT_EQ(sinks.size(), 3u);
    EXPECT_EQ(sinks[1].id, "stdout-1");
    EXPECT_NE(sinks[0].id, "stdout-1");
    EXPECT_EQ(sinks[0].id, "sink-stdout-1");  // "stdout-1" is taken
    EXPECT_EQ(sinks[2].id, "stdout-2");
    EXPECT_EQ(cfg->pipelines[0].sources[0].id, "stdin");
}

std::vector<std::string> errors_of(std::string_view toml) {
    Diagnostics diag;
    auto cfg = load_config_text(toml, "c.toml", config_test_registry(), diag);
    EXPECT_FALSE(cfg.has_value());
    std::vector<std::string> out;
    for (const auto& d : diag.items()) {
        out.push_back(d.str());
    }
    return out;
}

using Errors = std::vector<std::string>;

constexpr std::string_view kMinimal = R"(
[[pipelines.p.sources]]
type = "stdin"
[[pipelines.p.sinks]]
type = "stdout"
)";

TEST(TomlErrors, UnknownKeyWithSuggestion) {
    EXPECT_EQ(errors_of(std::string(kMinimal) + "[gateway]\nlog_levle = \"info\"\n"),
              Errors{"c.toml:7:1: unknown option 'log_levle' for [gateway] (did you mean 'log_level'?)"});
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
type = "file"
paht = "/x"
[[pipelines.p.sinks]]
type = "stdout"
)"),
              (Errors{"c.toml:4:1: unknown option 'paht' for source 'file' (did you mean 'path'?)",
                      "c.toml:2:1: source 'file' needs option 'path'"}));
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
type = "stdin"
decode = [{ type = "csv", columns = ["a"], seprator = ";" }]
[[pipelines.p.sinks]]
type = "stdout"
)"),
              Errors{"c.toml:4:44: unknown option 'seprator' for decoder 'csv' (did you mean 'separator'?)"});
}

TEST(TomlErrors, UnknownSectionsAndPipelineKeys) {
    EXPECT_EQ(errors_of(std::string(kMinimal) + "[gatway]\nid = \"x\"\n"),
              Errors{"c.toml:6:2: unknown section 'gatway' (did you mean 'gateway'?)"});
    EXPECT_EQ(errors_of(std::string(kMinimal) + "[logging]\n"),
              Errors{"c.toml:6:2: unknown section 'logging' (sections: gateway, http, tables, pipelines)"});
    EXPECT_EQ(errors_of(R"(
[pipelines.p]
batch_max_record = 5
[[pipelines.p.sources]]
type = "stdin"
[[pipelines.p.sink]]
type = "stdout"
)"),
              (Errors{"c.toml:3:1: unknown option 'batch_max_record' for [pipelines.p] (did you mean "
                      "'batch_max_records'?)",
                      "c.toml:6:15: unknown option 'sink' for [pipelines.p] (did you mean 'sinks'?)",
                      "c.toml:2:1: pipeline 'p' has no sinks"}));
}

TEST(TomlErrors, WrongType) {
    EXPECT_EQ(errors_of(std::string(kMinimal) + "[pipelines.p.buffer]\nmax_bytes = true\n"),
              Errors{"c.toml:7:13: option 'max_bytes' for [pipelines.p.buffer] must be a size such as \"64MiB\", "
                     "not a boolean"});
    EXPECT_EQ(errors_of(std::string(kMinimal) + "batch_size = \"10\"\n"),
              Errors{"c.toml:6:14: option 'batch_size' for sink 'stdout' must be an integer, not a string"});
    EXPECT_EQ(errors_of(std::string(kMinimal) + "[gateway]\nshutdown_timeout = 30\n"),
              Errors{"c.toml:7:20: option 'shutdown_timeout' for [gateway]: duration needs a unit, e.g. \"30s\""});
    EXPECT_EQ(errors_of("gateway = 5\n" + std::string(kMinimal)),
              Errors{"c.toml:1:1: 'gateway' must be a section ([gateway]), not an integer"});
}

TEST(TomlErrors, OutOfRange) {
    EXPECT_EQ(errors_of(std::string(kMinimal) + "[pipelines.p.buffer]\nmax_bytes = \"1KiB\"\n"),
              Errors{"c.toml:7:13: option 'max_bytes' for [pipelines.p.buffer] must be at least 64KiB, got 1KiB"});
    EXPECT_EQ(errors_of(std::string(kMinimal) + "batch_size = 0\n"),
              Errors{"c.toml:6:14: option 'batch_size' for sink 'stdout' must be between 1 and 100000, got 0"});
    EXPECT_EQ(errors_of(std::string(kMinimal) + "[gateway]\nlog_level = \"verbose\"\n"),
              Errors{"c.toml:7:13: option 'log_level' for [gateway] must be one of error, warn, info, debug, trace, "
                     "got \"verbose\""});
}

TEST(TomlErrors, MissingRequired) {
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
type = "stdin"
decode = ["json", "csv"]
[[pipelines.p.sinks]]
type = "file"
)"),
              (Errors{"c.toml:4:19: decoder 'csv' needs option 'columns'", "c.toml:5:1: sink 'file' needs option 'path'"}));
}

TEST(TomlErrors, TopologyThatDoesNotCompile) {
    // validate refuses what run would refuse, at the option's position.
    const auto source = [](std::string_view lines) {
        return fmt::format("[[pipelines.p.sources]]\ntype = \"stdin\"\n{}\n[[pipelines.p.sinks]]\ntype = \"stdout\"\n",
                           lines);
    };
    EXPECT_EQ(errors_of(source("topology = \"pattern\"\ntopology_pattern = \"a/x{b}\"")),
              Errors{"c.toml:4:20: source 'stdin': topology_pattern: segment 'x{b}' mixes text with {name}, + or #; "
                     "a segment is a literal, {name}, + or # (use topology = \"regex\" to split inside a segment)"});
    EXPECT_EQ(errors_of(source("topology = \"pattern\"")),
              Errors{"c.toml:3:12: source 'stdin': topology = \"pattern\" needs topology_pattern, e.g. "
                     "\"{realm}/{network}/+/{node}/#\""});
    if (Topology::regex_supported()) {
        const auto errs = errors_of(source("topology = \"regex\"\ntopology_regex = \"(\""));
        ASSERT_EQ(errs.size(), 1u);
        EXPECT_TRUE(errs[0].starts_with("c.toml:4:18: source 'stdin': topology_regex does not compile: ")) << errs[0];
    }
}

TEST(TomlErrors, UnknownComponentWithSuggestion) {
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
type = "fiel"
path = "/x"
[[pipelines.p.sinks]]
type = "kafka"
)"),
              (Errors{"c.toml:3:8: unknown source type 'fiel' (did you mean 'file'?)",
                      "c.toml:6:8: unknown sink type 'kafka' (available: file, http, stdout)",
                      "c.toml:2:1: pipeline 'p' has no sources", "c.toml:2:1: pipeline 'p' has no sinks"}));
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
path = "/x"
[[pipelines.p.sinks]]
type = "stdout"
)")[0],
              "c.toml:2:1: a source needs a 'type' (one of: file, mqtt, simulate, stdin)");
}

TEST(TomlErrors, UnknownDecoder) {
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
type = "stdin"
decode = ["jsno", { type = "xml" }]
[[pipelines.p.sinks]]
type = "stdout"
)"),
              (Errors{"c.toml:4:11: unknown decoder 'jsno' (did you mean 'json'?)",
                      "c.toml:4:28: unknown decoder 'xml' (available: csv, influx, json, logfmt, scalar)"}));
    // A comma-separated string points at the bad name.
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
type = "stdin"
decode = "json, logfnt"
[[pipelines.p.sinks]]
type = "stdout"
)"),
              Errors{"c.toml:4:17: unknown decoder 'logfnt' (did you mean 'logfmt'?)"});
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
type = "stdin"
decode = []
[[pipelines.p.sinks]]
type = "stdout"
)"),
              Errors{"c.toml:4:10: the decode chain of source 'stdin' is empty; name at least one decoder"});
}

TEST(TomlErrors, DuplicateIds) {
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
type = "stdin"
id = "in"
[[pipelines.p.sinks]]
type = "stdout"
id = "in"
)"),
              Errors{"c.toml:5:1: duplicate id 'in' in pipeline 'p' (first used at c.toml:2:1)"});
    EXPECT_EQ(errors_of(R"(
[[pipelines.p.sources]]
type = "stdin"
id = "has space"
[[pipelines.p.sinks]]
type = "stdout"
)"),
              Errors{"c.toml:4:6: invalid id 'has space': use 1 to 64 letters, digits, '_', '-' or '.'"});
}

TEST(TomlErrors, PipelineShape) {
    EXPECT_EQ(errors_of("[gateway]\n"),
              Errors{"c.toml: no pipelines: add a [pipelines.NAME] section with sources and sinks"});
    EXPECT_EQ(errors_of("[pipelines.p]\n[[pipelines.p.sinks]]\ntype = \"stdout\"\n"),
              Errors{"c.toml:1:1: pipeline 'p' has no sources"});
    EXPECT_EQ(errors_of("[pipelines.p.sources]\ntype = \"stdin\"\n[[pipelines.p.sinks]]\ntype = \"stdout\"\n"),
              (Errors{"c.toml:1:14: 'sources' must be an array of tables: write [[pipelines.p.sources]]",
                      "c.toml:1:1: pipeline 'p' has no sources"}));
}

TEST(TomlErrors, SyntaxErrorPosition) {
    const auto errs = errors_of("[gateway]\nid = \"gw\"\nlog_level = \n");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0].rfind("c.toml:3:", 0), 0u) << errs[0];
    const auto errs2 = errors_of("[pipelines.p\n");
    ASSERT_EQ(errs2.size(), 1u);
    EXPECT_EQ(errs2[0].rfind("c.toml:1:", 0), 0u) << errs2[0];
}

TEST(TomlErrors, HeadersThatTripTomlppAssertions) {
    // toml++ 3.3 asserts on these instead of reporting them (found by fuzzing).
    EXPECT_EQ(errors_of("[gateway]\n[.pipelines.p]\n"),
              Errors{"c.toml:2:2: invalid table header: expected a name after '['"});
    EXPECT_EQ(errors_of("[[[x]]]\n"), Errors{"c.toml:1:3: invalid table header: expected a name after '['"});
    EXPECT_EQ(errors_of("[`ipelines.p\nx =\n"), Errors{"c.toml:1:2: invalid table header: expected a name after '['"});
}

TEST(TomlErrors, NonAsciiOutsideStrings) {
    // toml++ 3.3 has undefined behaviour on these (found by fuzzing); they
    // are invalid TOML 1.0 anyway and are rejected before it sees them.
    EXPECT_EQ(errors_of("[pipelines.caf\xC3\xA9]\n"),
              Errors{"c.toml:1:15: non-ASCII characters are only allowed in strings and comments"});
    EXPECT_EQ(errors_of("[gateway]\nid = \"\"\"\\\n   \xC3\xA9\"\"\"\n"),
              Errors{"c.toml:3:4: a line-ending backslash in a multi-line string must not be followed by a non-ASCII "
                     "character (write it as \\uXXXX)"});
    EXPECT_EQ(errors_of("[gateway]\nid = \"a\\\xC3\xA9\"\n"), Errors{"c.toml:2:9: invalid escape sequence in a string"});
    EXPECT_EQ(errors_of("x = 2m30s\"71.0\xEF\xBB\xAC.\n"),
              Errors{"c.toml:1:6: Error while parsing floating-point: expected decimal digit, saw 'm'"});
    EXPECT_EQ(errors_of("x = \"\xFF\"\n"), Errors{"c.toml:1:6: invalid UTF-8"});
    EXPECT_EQ(errors_of(std::string("x = 0\0\"debug\xEF\xBB\xBB", 14)),
              Errors{"c.toml:1:6: control character U+0000 is not allowed in TOML"});
}

TEST(TomlConfig, NonAsciiInStringsAndComments) {
    Diagnostics diag;
    auto cfg = load_config_text("\xEF\xBB\xBF# caf\xC3\xA9\n[gateway] # \xC3\xA9\nid = \"caf\xC3\xA9 \\\" '\"\n"
                                "data_dir = '''\n\xC3\xA9'''''\n"
                                "[pipelines.\"caf\xC3\xA9\"]\n[[pipelines.\"caf\xC3\xA9\".sources]]\ntype = \"stdin\"\n"
                                "measurement = \"\"\"\\\n  x\xC3\xA9\"\"\"\n"
                                "[[pipelines.\"caf\xC3\xA9\".sinks]]\ntype = \"stdout\"\n",
                                "c.toml", config_test_registry(), diag);
    // The pipeline name is not a valid one, but toml++ parsed the document.
    EXPECT_FALSE(cfg);
    ASSERT_EQ(diag.size(), 1u) << diag.str();
    EXPECT_NE(diag.str().find("invalid pipeline name"), std::string::npos) << diag.str();

    Diagnostics diag2;
    cfg = load_config_text("[gateway]\nid = \"caf\xC3\xA9 \\\" '\"\ndata_dir = '''\n\xC3\xA9'''''\n" + std::string(kMinimal),
                           "c.toml", config_test_registry(), diag2);
    ASSERT_TRUE(cfg) << diag2.str();
    EXPECT_EQ(cfg->gateway.str("id"), "caf\xC3\xA9 \" '");
    EXPECT_EQ(cfg->gateway.str("data_dir"), "\xC3\xA9''");
}

TEST(TomlErrors, DatesAreRejected) {
    EXPECT_EQ(errors_of(std::string(kMinimal) + "[gateway]\nid = 2024-01-01\n"),
              Errors{"c.toml:7:6: dates and times are not supported as option values; quote the value"});
}

TEST(TomlConfig, EnvAndSecrets) {
    const std::string secret = "tok-0123456789-secret";
    const auto file = std::filesystem::temp_directory_path() / ("sluice-toml-secret-" + std::to_string(::getpid()));
    std::ofstream(file) << secret << "\n";
    ::setenv("SLUICE_T_LOGDIR", "/data/logs", 1);
    ::setenv("SLUICE_T_TOKEN", "short", 1);
    ::unsetenv("SLUICE_T_NOPE");

    Diagnostics diag;
    auto cfg = load_config_text(R"(
[http]
token = "@)" + file.string() + R"("
[[pipelines.p.sources]]
type = "file"
path = "${SLUICE_T_LOGDIR}/a.log"
[[pipelines.p.sinks]]
type = "http"
url = "http://$${literal}"
token = "${SLUICE_T_TOKEN}-padding"
)",
                                "c.toml", config_test_registry(), diag);
    ASSERT_TRUE(cfg) << diag.str();
    EXPECT_EQ(cfg->http.str("token"), secret);
    EXPECT_EQ(cfg->pipelines[0].sources[0].options.str("path"), "/data/logs/a.log");
    EXPECT_EQ(cfg->pipelines[0].sinks[0].options.str("url"), "http://${literal}");
    EXPECT_EQ(cfg->pipelines[0].sinks[0].options.str("token"), "short-padding");

    ::setenv("SLUICE_T_DECODE", "influx,json", 1);
    Diagnostics diag3;
    cfg = load_config_text("[[pipelines.p.sources]]\ntype = \"stdin\"\ndecode = \"${SLUICE_T_DECODE}\"\n"
                           "[[pipelines.p.sinks]]\ntype = \"stdout\"\n",
                           "c.toml", config_test_registry(), diag3);
    ASSERT_TRUE(cfg) << diag3.str();
    ASSERT_EQ(cfg->pipelines[0].sources[0].decoders.size(), 2u);
    EXPECT_EQ(cfg->pipelines[0].sources[0].decoders[0].type, "influx");
    EXPECT_EQ(errors_of("[[pipelines.p.sources]]\ntype = \"stdin\"\ndecode = \"${SLUICE_T_NOPE}\"\n"
                        "[[pipelines.p.sinks]]\ntype = \"stdout\"\n"),
              Errors{"c.toml:3:10: option 'decode' for source 'stdin': environment variable 'SLUICE_T_NOPE' is not "
                     "set"});

    EXPECT_EQ(errors_of(std::string(kMinimal) + "[gateway]\nid = \"${SLUICE_T_NOPE}\"\n"),
              Errors{"c.toml:7:6: option 'id' for [gateway]: environment variable 'SLUICE_T_NOPE' is not set"});

    // Secrets that fail a check are never echoed, however they were given.
    for (const std::string& written : {std::string("${SLUICE_T_TOKEN}"), std::string("short")}) {
        const auto errs = errors_of(R"(
[[pipelines.p.sources]]
type = "stdin"
[[pipelines.p.sinks]]
type = "http"
url = "http://x"
token = ")" + written + "\"\n");
        ASSERT_EQ(errs.size(), 1u);
        EXPECT_EQ(errs[0], "c.toml:7:9: option 'token' for sink 'http' must have at least 8 characters");
    }
    std::filesystem::remove(file);
}

TEST(TomlErrors, JoinedTablesNameTwoDeclaredPlainTables) {
    const std::string tables = std::string(kMinimal) + "[tables.a]\n[tables.b]\n[tables.j]\n";
    EXPECT_EQ(errors_of(tables + "left = \"a\"\n"),
              Errors{"c.toml:9:8: option 'left' for [tables.j]: a joined table names both its tables: left and "
                     "right"});
    EXPECT_EQ(errors_of(tables + "left = \"a\"\nright = \"bb\"\n"),
              Errors{"c.toml:10:9: option 'right' for [tables.j]: table 'bb' is not declared (did you mean 'b'?)"});
    EXPECT_EQ(errors_of(tables + "left = \"a\"\nright = \"b\"\n[tables.k]\nleft = \"j\"\nright = \"b\"\n"),
              Errors{"c.toml:12:8: option 'left' for [tables.k]: 'j' is a joined table itself; join plain tables"});
    EXPECT_EQ(errors_of(tables + "left = \"a\"\nright = \"a\"\n"),
              Errors{"c.toml:10:9: option 'right' for [tables.j]: left and right must be two different tables"});
    EXPECT_EQ(errors_of(tables + "left = \"a\"\nright = \"b\"\nright_key = \"{x\"\n"),
              Errors{"c.toml:11:13: option 'right_key' for [tables.j]: column 1: '{' without its '}'"});
    EXPECT_EQ(errors_of(tables + "right_key = \"{x}\"\n"),
              Errors{"c.toml:9:13: option 'right_key' for [tables.j]: belongs to a joined table: add left and "
                     "right"});
    EXPECT_EQ(errors_of(tables + "left = \"a\"\nright = \"b\"\ncsv = \"/x.csv\"\n"),
              Errors{"c.toml:11:7: option 'csv' for [tables.j]: a joined table is kept from its two tables and "
                     "takes no csv"});
    EXPECT_EQ(errors_of(tables + "join = \"left\"\n"),
              Errors{"c.toml:9:8: option 'join' for [tables.j]: belongs to a joined table: add left and right"});
    EXPECT_EQ(errors_of(tables + "left = \"a\"\nright = \"b\"\nmax_keys = 5\n"),
              Errors{"c.toml:11:12: option 'max_keys' for [tables.j]: a joined table has its left table's keys: set "
                     "max_keys there"});
}

TEST(TomlConfig, TablesAndStreamsAreFoundThroughOptionLinks) {
    constexpr std::string_view text = R"(
[tables.calibration]

[[pipelines.a.sources]]
type = "stdin"
[[pipelines.a.stages]]
type = "lookup"
lookup_table = "calibraton"
misses = "unknown"
[[pipelines.a.sinks]]
type = "stdout"

[[pipelines.b.sources]]
type = "bus"
from = "unknown"
[[pipelines.b.sinks]]
type = "stdout"
)";
    Diagnostics diag;
    EXPECT_FALSE(load_config_text(text, "links.toml", config_links_test_registry(), diag));
    ASSERT_EQ(diag.size(), 1u) << diag.str();
    EXPECT_EQ(diag.items()[0].str(), "links.toml:8:16: stage 'lookup' uses table 'calibraton', which is not declared "
                                     "(did you mean 'calibration'?)");

    std::string fixed(text);
    fixed.replace(fixed.find("calibraton"), 10, "calibration");
    Diagnostics ok;
    const auto config = load_config_text(fixed, "links.toml", config_links_test_registry(), ok);
    ASSERT_TRUE(config) << ok.str();
    const auto links = component_links(*config);
    ASSERT_EQ(links.size(), 3u);
    EXPECT_EQ(links[0].use.link, OptionLink::ReadsTable);
    EXPECT_EQ(links[0].use.option, "lookup_table");
    EXPECT_EQ(links[0].use.name, "calibration");
    EXPECT_EQ(links[0].component->id, "lookup");
    EXPECT_EQ(links[1].use.link, OptionLink::EmitsStream);
    EXPECT_EQ(links[1].use.name, "unknown");
    EXPECT_EQ(links[2].use.link, OptionLink::ConsumesStream);
    EXPECT_EQ(links[2].pipeline, 1u);
    EXPECT_EQ(links[2].component->kind, Kind::Source);
}

TEST(TomlConfig, LoadFile) {
    const auto file = std::filesystem::temp_directory_path() / ("sluice-toml-" + std::to_string(::getpid()) + ".toml");
    std::ofstream(file) << kMinimal;
    Diagnostics diag;
    auto cfg = load_config_file(file, config_test_registry(), diag);
    ASSERT_TRUE(cfg) << diag.str();
    EXPECT_EQ(cfg->origin, file.string());
    std::filesystem::remove(file);

    Diagnostics diag2;
    EXPECT_FALSE(load_config_file("/nonexistent/sluice.toml", config_test_registry(), diag2));
    EXPECT_NE(diag2.str().find("cannot read config file '/nonexistent/sluice.toml'"), std::string::npos);
}

TEST(TomlConfig, EmbeddedDefaultIsValid) {
    Diagnostics diag;
    auto cfg = load_config_text(embedded_default_config(), "embedded default config", config_test_registry(), diag);
    ASSERT_TRUE(cfg) << diag.str();
    ASSERT_EQ(cfg->pipelines.size(), 1u);
    EXPECT_EQ(cfg->pipelines[0].name, "demo");
    EXPECT_EQ(cfg->pipelines[0].sources[0].type, "simulate");
    EXPECT_EQ(cfg->pipelines[0].sinks[0].type, "stdout");
    EXPECT_EQ(cfg->pipelines[0].buffer.size("max_bytes"), 64u << 20);
    EXPECT_EQ(cfg->http.str("listen"), "127.0.0.1:6666");
}

TEST(TomlConfig, EmbeddedDefaultMatchesExampleFile) {
    std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/config/examples/default.toml");
    ASSERT_TRUE(in);
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(file, embedded_default_config());
}

TEST(DefaultDataDir, FollowsEnvironment) {
    ::setenv("STATE_DIRECTORY", "/var/lib/sluice-a:/var/lib/other", 1);
    EXPECT_EQ(default_data_dir(), "/var/lib/sluice-a");
    ::unsetenv("STATE_DIRECTORY");
    if (::geteuid() == 0) {
        EXPECT_EQ(default_data_dir(), "/var/lib/sluice");
        return;
    }
    ::setenv("XDG_STATE_HOME", "/home/u/.state", 1);
    EXPECT_EQ(default_data_dir(), "/home/u/.state/sluice");
    ::unsetenv("XDG_STATE_HOME");
    ::setenv("HOME", "/home/u", 1);
    EXPECT_EQ(default_data_dir(), "/home/u/.local/state/sluice");
}

TEST(TomlErrors, TwoFileSinksWithOnePathNameBothPlaces) {
    EXPECT_EQ(errors_of(R"(
[[pipelines.a.sources]]
type = "stdin"
[[pipelines.a.sinks]]
type = "file"
path = "/var/lib/out.ndjson"
[[pipelines.b.sources]]
type = "stdin"
[[pipelines.b.sinks]]
type = "file"
path = "/var/lib/x/../out.ndjson"
[[pipelines.b.sinks]]
type = "file"
path = "/var/lib/other.ndjson"
)"),
              Errors{"c.toml:11:8: pipelines.b sink 'file-1' writes /var/lib/out.ndjson, as pipelines.a sink 'file' "
                     "does (at c.toml:6:8): two sinks would cut each other's output; give each its own path"});
    // Devices are not owned by a sink: several may write to them.
    Diagnostics diag;
    EXPECT_TRUE(load_config_text(R"(
[[pipelines.a.sources]]
type = "stdin"
[[pipelines.a.sinks]]
type = "file"
path = "/dev/stdout"
[[pipelines.a.sinks]]
type = "file"
path = "/dev/stdout"
)",
                                 "c.toml", config_test_registry(), diag)
                    .has_value())
        << diag.str();
}

}  // namespace
}  // namespace sluice
