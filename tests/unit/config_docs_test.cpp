// The generated config reference and `sluice components NAME`.

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_registry.hpp"

namespace sluice {
namespace {

using sluice::testing::config_links_test_registry;
using sluice::testing::config_test_registry;

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

TEST(ConfigReference, SectionsInOrder) {
    const std::string md = generate_config_reference(config_test_registry());
    const std::vector<std::string_view> order = {
        "## [gateway]", "## [http]", "## [pipelines.NAME]", "## [pipelines.NAME.buffer]", "## Options of every source",
        "## Options of every sink", "## Sources", "### file", "### mqtt", "### simulate", "### stdin",
        "## Decoders", "### csv", "### influx", "### json", "## Stages", "### filter", "### window", "## Sinks",
        "### file", "### http", "### stdout"};
    std::size_t at = 0;
    for (auto heading : order) {
        const auto found = md.find(std::string(heading) + "\n", at);
        ASSERT_NE(found, std::string::npos) << heading;
        at = found + heading.size();
    }
}

TEST(ConfigReference, OptionRows) {
    const std::string md = generate_config_reference(config_test_registry());
    EXPECT_TRUE(contains(md, "| `max_bytes` | size | `\"256MiB\"` | at least 64KiB |")) << md;
    EXPECT_TRUE(contains(md, "| `overflow` | enum | `\"drop_oldest\"` | one of: drop_oldest, block |"));
    EXPECT_TRUE(contains(md, "| `batch_max_records` | integer | `1000` | 1 to 100000 |"));
    EXPECT_TRUE(contains(md, "| `decode` | list | `[\"json\", \"influx\", \"logfmt\", \"scalar\"]` |"));
    EXPECT_TRUE(contains(md, "| `path` | string | **required** | not empty | The file to read. |"));
    EXPECT_TRUE(contains(md, "| `poll` | duration | `\"1s\"` | 10ms to 1h |"));
    EXPECT_TRUE(contains(md, "URL schemes: `file:`, e.g. `file:///var/log/sensors.log?decode=json`"));
    EXPECT_TRUE(contains(md, "Reads lines from a file and follows it as it grows."));
    EXPECT_EQ(md.back(), '\n');
    EXPECT_NE(md.substr(md.size() - 2), "\n\n");
}

TEST(ConfigReference, Deterministic) {
    // Registration order must not matter.
    Registry reversed;
    auto all = config_test_registry().all();
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
        reversed.add(**it);
    }
    EXPECT_EQ(generate_config_reference(reversed), generate_config_reference(config_test_registry()));
}

TEST(DescribeComponent, SourceWithCommonOptions) {
    const Descriptor* d = config_test_registry().find(Kind::Source, "file");
    ASSERT_NE(d, nullptr);
    const std::string text = describe_component(*d);
    EXPECT_EQ(text.rfind("file (source)\n  Reads lines from a file", 0), 0u) << text;
    EXPECT_TRUE(contains(text, "Example:     sluice relay file:///var/log/sensors.log?decode=json"));
    EXPECT_TRUE(contains(text, "  path (string, required, not empty)\n      The file to read.\n"));
    EXPECT_TRUE(contains(text, "  max_line (size, default \"1MiB\", 16B to 64MiB)\n"));
    EXPECT_TRUE(contains(text, "Options of every source:\n  decode (list, default [\"json\""));
}

TEST(DescribeComponent, DeprecatedAliases) {
    Descriptor d;
    d.kind = Kind::Sink;
    d.name = "renamed";
    d.summary = "A sink with a renamed option.";
    d.options = {{.name = "ca_file", .type = OptionType::String, .doc = "CA bundle",
                  .deprecated_alias = "ssl_ca_location"}};
    const std::string md = component_markdown(d);
    EXPECT_TRUE(contains(md, "| `ca_file` | string |  |  | CA bundle |\n"
                             "| `ssl_ca_location` | string |  |  | *Deprecated*: the old name of `ca_file`; use "
                             "`ca_file` |\n"))
        << md;
    const std::string text = describe_component(d);
    EXPECT_TRUE(contains(text, "  ca_file (string)\n      CA bundle\n"
                               "  ssl_ca_location (deprecated: the old name of ca_file; use ca_file)\n"))
        << text;
}

TEST(DescribeComponent, ComponentWithoutOptions) {
    const Descriptor* d = config_test_registry().find(Kind::Decoder, "json");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(describe_component(*d), "json (decoder)\n  JSON objects.\n\nOptions:\n  (none)\n");
    const Descriptor* s = config_test_registry().find(Kind::Sink, "stdout");
    EXPECT_TRUE(contains(describe_component(*s), "Example:     sluice relay - stdout:?format=influx"));
    EXPECT_TRUE(contains(describe_component(*s), "Options of every sink:\n  batch_size (integer, default 1000, 1 to "
                                                 "100000)"));
}

TEST(DescribeComponent, LinksAndDelivery) {
    const Descriptor* lookup = config_links_test_registry().find(Kind::Stage, "lookup");
    ASSERT_NE(lookup, nullptr);
    EXPECT_TRUE(contains(describe_component(*lookup), "  lookup_table (string, required, not empty, reads a table)\n"));
    EXPECT_FALSE(contains(describe_component(*lookup), "Delivery"));
    const Descriptor* bus = config_links_test_registry().find(Kind::Source, "bus");
    ASSERT_NE(bus, nullptr);
    EXPECT_TRUE(contains(describe_component(*bus),
                         "\nDelivery: best-effort. Records in flight are lost on a crash.\n\nOptions:\n"));
    const std::string md = generate_config_reference(config_links_test_registry());
    EXPECT_TRUE(contains(md, "| `lookup_table` | string | **required** | not empty | The table. *(reads a table)* |"))
        << md;
    EXPECT_TRUE(contains(md, "### bus\n\nReads a named stream.\n\nDelivery: best-effort. Records in flight are lost "
                             "on a crash.\n\n| Option |"));
    EXPECT_TRUE(contains(md, "### stdout\n\nPrints records.\n\nURL schemes: `stdout:`, e.g. `stdout:?format=influx`"
                             "\n\nDelivery: at-least-once.\n\n"));
}

}  // namespace
}  // namespace sluice
