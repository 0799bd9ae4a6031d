#pragma once
// Configuration front ends. A TOML file, a one-line pipeline string
// (`stdin ! decode chain=json ! stdout`) and `sluice relay SOURCE_URL
// [SINK_URL]` all produce the same GatewayConfig, checked against the
// components' option tables.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/component.hpp"
#include "core/options.hpp"
#include "core/registry.hpp"

namespace sluice {

struct ComponentSpec {
    std::string id;    // unique in its pipeline: the `id` key, else "<type>" or "<type>-<n>"
    std::string type;  // registry key
    Kind kind = Kind::Source;
    SourcePos pos;     // where the component is declared
    const Descriptor* descriptor = nullptr;
    Options options;   // resolved: the component's own options plus the kind's common options
};

struct SourceSpec : ComponentSpec {
    std::vector<ComponentSpec> decoders;  // the fallback chain, in order
};

struct PipelineSpec {
    std::string name;
    SourcePos pos;
    Options options;  // kPipelineOptions: batching, ingest queue limits
    Options buffer;   // kBufferOptions: max_bytes, overflow, synchronous
    std::vector<SourceSpec> sources;
    std::vector<ComponentSpec> stages;
    std::vector<ComponentSpec> sinks;
};

// [tables.NAME]: a named table of the latest value per key (tables/tables.hpp).
struct TableSpec {
    std::string name;
    SourcePos pos;
    Options options;  // table_option_specs(): public, csv, key_column, max_keys
};

struct GatewayConfig {
    std::string origin;  // the file path, "-e", "relay" or "embedded default config"
    bool embedded_default = false;
    Options gateway;     // kGatewayOptions: id, data_dir, log_level, shutdown_timeout
    Options http;        // kHttpOptions: listen ("off" disables), token, connection limits and timeouts
    std::vector<TableSpec> tables;
    std::vector<PipelineSpec> pipelines;
};

// A table or stream a configured component names through an option with a
// link (OptionSpec::link): how the gateway, validation and `describe` find
// tables and streams.
struct ComponentLink {
    OptionLinkUse use;
    std::size_t pipeline = 0;  // index in GatewayConfig::pipelines
    const ComponentSpec* component = nullptr;
    std::size_t index = 0;     // the component's index among its pipeline's sources, stages or sinks
};
// Pipeline by pipeline: stages, then sources, then sinks, in config order.
std::vector<ComponentLink> component_links(const GatewayConfig& config);

// The option tables of the non-component sections, also used for the docs.
std::span<const OptionSpec> gateway_option_specs();        // [gateway]
std::span<const OptionSpec> http_option_specs();           // [http]
std::span<const OptionSpec> pipeline_option_specs();       // [pipelines.NAME]
std::span<const OptionSpec> buffer_option_specs();         // [pipelines.NAME.buffer]
std::span<const OptionSpec> table_option_specs();          // [tables.NAME]
std::span<const OptionSpec> source_common_option_specs();  // every source: decode, ...
std::span<const OptionSpec> sink_common_option_specs();    // every sink: batch_size, retry_*

// The options every source has, read once into a struct (the runtime's and
// validation's one reading of them). Defaults as in the option table.
struct SourceCommon {
    std::vector<std::string> decode;
    std::string measurement;
    std::string topology = "off";
    std::string topology_pattern;
    std::string topology_regex;
    std::size_t max_origin_bytes = 1024;
    bool required = false;  // a down (watched) source fails /ready
};
SourceCommon source_common_options(const Options& o);

// The options every sink has: its batch size and the one retry rule's bounds
// (core/backoff.hpp).
struct SinkCommon {
    std::size_t batch_size = 1000;
    std::size_t batch_growth = 4;  // with a backlog, batches grow up to batch_size * batch_growth
    std::chrono::nanoseconds retry_initial = std::chrono::seconds(1);
    std::chrono::nanoseconds retry_max = std::chrono::seconds(60);
};
SinkCommon sink_common_options(const Options& o);

constexpr std::string_view kDefaultConfigPath = "/etc/sluice/sluice.toml";

// Each returns nullopt after putting every problem found into `diag`
// (file:line:col: message, with "did you mean" where a name is close).
std::optional<GatewayConfig> load_config_file(const std::filesystem::path& path, const Registry& registry,
                                              Diagnostics& diag);
std::optional<GatewayConfig> load_config_text(std::string_view toml, std::string_view origin,
                                              const Registry& registry, Diagnostics& diag);
std::optional<GatewayConfig> parse_pipeline_string(std::string_view text, const Registry& registry,
                                                   Diagnostics& diag);
std::optional<GatewayConfig> parse_relay(std::string_view source_url, std::string_view sink_url,
                                         const Registry& registry, Diagnostics& diag);

// The config `sluice run` uses without -c when /etc/sluice/sluice.toml is absent.
std::string_view embedded_default_config();

// docs/config-reference.md, generated from the option tables.
std::string generate_config_reference(const Registry& registry);

// `sluice components NAME`: the component's summary, options and URL form.
std::string describe_component(const Descriptor& d);

// `sluice components NAME --markdown`: the component's delivery guarantee and
// option table as in docs/config-reference.md, for the block between the
// marker comments of its README (tests/e2e/readme_options.py).
std::string component_markdown(const Descriptor& d);

// The data directory to use when the config leaves data_dir empty:
// $STATE_DIRECTORY (systemd), /var/lib/sluice as root, else
// $XDG_STATE_HOME/sluice or ~/.local/state/sluice.
std::filesystem::path default_data_dir();

}  // namespace sluice
