// `sluice run -e 'source ! decode ... ! stage ! sink'`

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_registry.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using sluice::testing::config_test_registry;
using Errors = std::vector<std::string>;

GatewayConfig must_parse(std::string_view text) {
    Diagnostics diag;
    auto cfg = parse_pipeline_string(text, config_test_registry(), diag);
    EXPECT_TRUE(cfg.has_value()) << text << "\n" << diag.str();
    return cfg ? std::move(*cfg) : GatewayConfig{};
}

Errors errors_of(std::string_view text) {
    Diagnostics diag;
    auto cfg = parse_pipeline_string(text, config_test_registry(), diag);
    EXPECT_FALSE(cfg.has_value()) << text;
    Errors out;
    for (const auto& d : diag.items()) {
        out.push_back(d.str());
    }
    return out;
}

TEST(PipelineString, Minimal) {
    GatewayConfig cfg = must_parse("stdin ! stdout");
    EXPECT_EQ(cfg.origin, "-e");
    EXPECT_EQ(cfg.http.str("listen"), "127.0.0.1:6666");
    EXPECT_EQ(cfg.gateway.str("log_level"), "info");
    ASSERT_EQ(cfg.pipelines.size(), 1u);
    const PipelineSpec& p = cfg.pipelines[0];
    EXPECT_EQ(p.name, "main");
    ASSERT_EQ(p.sources.size(), 1u);
    EXPECT_EQ(p.sources[0].type, "stdin");
    EXPECT_EQ(p.sources[0].decoders.size(), 4u);  // the default chain
    ASSERT_EQ(p.sinks.size(), 1u);
    EXPECT_EQ(p.sinks[0].type, "stdout");
    EXPECT_EQ(p.sinks[0].pos.str(), "-e:1:9");
    EXPECT_EQ(p.buffer.size("max_bytes"), 256u << 20);
}

TEST(PipelineString, FullSyntax) {
    GatewayConfig cfg = must_parse(
        "file path=\"/var/log/my sensors!.log\" poll=250ms ! decode chain=json,csv csv.separator=\";\" "
        "csv.columns=time,temp ! buffer max_bytes=64MiB overflow=block ! pipeline batch_max_records=10 ! "
        "filter expr=\"temp > \\\"x\\\"\" ! window period=1m ! stdout format=influx ! file path=/tmp/o batch_size=5");
    const PipelineSpec& p = cfg.pipelines[0];
    const SourceSpec& src = p.sources[0];
    EXPECT_EQ(src.options.str("path"), "/var/log/my sensors!.log");
    EXPECT_EQ(src.options.duration("poll"), 250ms);
    EXPECT_EQ(src.options.list("decode"), (std::vector<std::string>{"json", "csv"}));
    ASSERT_EQ(src.decoders.size(), 2u);
    EXPECT_EQ(src.decoders[1].options.str("separator"), ";");
    EXPECT_EQ(src.decoders[1].options.list("columns"), (std::vector<std::string>{"time", "temp"}));
    EXPECT_EQ(p.buffer.size("max_bytes"), 64u << 20);
    EXPECT_EQ(p.buffer.str("overflow"), "block");
    EXPECT_EQ(p.options.integer("batch_max_records"), 10);
    ASSERT_EQ(p.stages.size(), 2u);
    EXPECT_EQ(p.stages[0].options.str("expr"), "temp > \"x\"");
    EXPECT_EQ(p.stages[1].options.duration("period"), 60s);
    ASSERT_EQ(p.sinks.size(), 2u);
    EXPECT_EQ(p.sinks[0].options.str("format"), "influx");
    EXPECT_EQ(p.sinks[1].type, "file");
    EXPECT_EQ(p.sinks[1].options.str("path"), "/tmp/o");
    EXPECT_EQ(p.sinks[1].options.integer("batch_size"), 5);
    EXPECT_EQ(p.sinks[1].id, "sink-file");  // the file source is "file"
}

TEST(PipelineString, DecodeAndDecoderOptionsOnTheSource) {
    GatewayConfig cfg = must_parse("file path=/a/\"b c\"/d decode=influx influx.precision=ms ! stdout");
    const SourceSpec& src = cfg.pipelines[0].sources[0];
    EXPECT_EQ(src.options.str("path"), "/a/b c/d");  // quotes may start mid-token
    ASSERT_EQ(src.decoders.size(), 1u);
    EXPECT_EQ(src.decoders[0].type, "influx");
    EXPECT_EQ(src.decoders[0].options.str("precision"), "ms");
}

TEST(PipelineString, EscapesInsideQuotes) {
    GatewayConfig cfg = must_parse(R"(stdin ! filter expr="a\\b\tc\!\"" ! stdout)");
    EXPECT_EQ(cfg.pipelines[0].stages[0].options.str("expr"), "a\\b\tc!\"");
}

TEST(PipelineString, Errors) {
    EXPECT_EQ(errors_of("stdin ! decode chian=json ! stdout"),
              Errors{"-e:1:16: unknown option 'chian' for decode (did you mean 'chain'?)"});
    EXPECT_EQ(errors_of("stdin ! decode chain=json,csv csv.seprator=; ! stdout"),
              (Errors{"-e:1:35: unknown option 'seprator' for decoder 'csv' (did you mean 'separator'?)",
                      "-e:1:27: decoder 'csv' needs option 'columns'"}));
    EXPECT_EQ(errors_of("stdin ! decode chain=json csv.columns=a ! stdout"),
              Errors{"-e:1:27: option 'csv.columns' is for decoder 'csv', which is not in the decode chain (json)"});
    EXPECT_EQ(errors_of("stdin ! decode chain=json,jsno ! stdout"),
              Errors{"-e:1:27: unknown decoder 'jsno' (did you mean 'json'?)"});
    EXPECT_EQ(errors_of("stdn ! stdout"), Errors{"-e:1:1: unknown source type 'stdn' (did you mean 'stdin'?)"});
    EXPECT_EQ(errors_of("stdout ! stdout"), Errors{"-e:1:1: a pipeline string starts with a source, not 'stdout'"});
    EXPECT_EQ(errors_of("stdin ! stdot"), (Errors{"-e:1:9: unknown element 'stdot' (did you mean 'stdout'?)",
                                                  "-e:1:14: the pipeline needs a sink at the end, e.g. '... ! stdout'"}));
    EXPECT_EQ(errors_of("stdin ! stdout ! filter expr=x"),
              Errors{"-e:1:18: 'filter' follows a sink: every element after the first sink must be a sink"});
    EXPECT_EQ(errors_of("stdin ! jsno ! stdout"), Errors{"-e:1:9: unknown element 'jsno' (did you mean 'json'?)"});
    EXPECT_EQ(errors_of("stdin ! json ! stdout"),
              Errors{"-e:1:9: 'json' is a decoder: write 'decode chain=json' after the source"});
    EXPECT_EQ(errors_of("stdin ! mqtt ! stdout"),
              Errors{"-e:1:9: 'mqtt' is a source; only the first element is a source"});
    EXPECT_EQ(errors_of("stdin ! filter expr=x ! decode chain=json ! stdout"),
              Errors{"-e:1:25: the decode element must come before the stages"});
    EXPECT_EQ(errors_of("stdin ! buffer max_bytes=1KiB ! stdout"),
              Errors{"-e:1:26: option 'max_bytes' for buffer must be at least 64KiB, got 1KiB"});
    EXPECT_EQ(errors_of("stdin ! stdout batch_size=lots"),
              Errors{"-e:1:27: option 'batch_size' for sink 'stdout' must be an integer, got \"lots\""});
    EXPECT_EQ(errors_of("stdin ! stdout format"), Errors{"-e:1:16: expected key=value, got 'format'"});
    EXPECT_EQ(errors_of("stdin ! stdout =x"), Errors{"-e:1:16: missing key before '='"});
    EXPECT_EQ(errors_of("stdin ! stdout id=a ! stdout id=a"),
              Errors{"-e:1:23: duplicate id 'a' in pipeline 'main' (first used at -e:1:9)"});
    EXPECT_EQ(errors_of("file path=/x decode=json ! decode chain=csv ! stdout"),
              Errors{"-e:1:35: the decode chain is given twice (decode= on the source and chain=)"});
}

TEST(PipelineString, LexErrors) {
    EXPECT_EQ(errors_of(""), Errors{"-e:1:1: empty pipeline: expected e.g. 'stdin ! stdout'"});
    EXPECT_EQ(errors_of("   "), Errors{"-e:1:1: empty pipeline: expected e.g. 'stdin ! stdout'"});
    EXPECT_EQ(errors_of("stdin ! ! stdout"), Errors{"-e:1:9: empty element: expected a name between the '!'s"});
    EXPECT_EQ(errors_of("stdin ! stdout !"), Errors{"-e:1:17: empty element: expected a name between the '!'s"});
    EXPECT_EQ(errors_of("stdin ! filter expr=\"x ! stdout"), Errors{"-e:1:21: unterminated quote"});
    EXPECT_EQ(errors_of("stdin"), Errors{"-e:1:6: the pipeline needs a sink at the end, e.g. '... ! stdout'"});
    EXPECT_EQ(errors_of("path=/x ! stdout"), Errors{"-e:1:1: an element starts with a name, not 'path=/x'"});
}

TEST(PipelineString, ColumnsCountCharactersNotBytes) {
    // "é" is two bytes but one column.
    EXPECT_EQ(errors_of("file path=/é ! stdout bogus=1"),
              Errors{"-e:1:23: unknown option 'bogus' for sink 'stdout' (valid options: format, batch_size, "
                     "batch_growth, retry_initial, retry_max)"});
}

TEST(PipelineString, AmbiguousElement) {
    static const Descriptor src{.kind = Kind::Source, .name = "gen"};
    static const Descriptor stage{.kind = Kind::Stage, .name = "tee"};
    static const Descriptor sink{.kind = Kind::Sink, .name = "tee"};
    static const Descriptor out{.kind = Kind::Sink, .name = "out"};
    static const Descriptor json{.kind = Kind::Decoder, .name = "json"};
    Registry r;
    for (const Descriptor* d : {&src, &stage, &sink, &out, &json}) {
        r.add(*d);
    }
    Diagnostics diag;
    EXPECT_FALSE(parse_pipeline_string("gen ! tee ! out", r, diag));
    ASSERT_EQ(diag.size(), 1u);
    EXPECT_EQ(diag.items()[0].str(), "-e:1:7: 'tee' is both a stage and a sink; this build cannot tell which is meant");
}

}  // namespace
}  // namespace sluice
