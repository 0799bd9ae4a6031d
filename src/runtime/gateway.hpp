#pragma once
// The gateway process: the I/O loop, the HTTP API, every pipeline, and the
// signals that stop (SIGTERM/SIGINT) or reload (SIGHUP) them.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace sluice {

struct RunOverrides {
    std::optional<std::string> data_dir;   // --data-dir
    std::optional<std::string> http;       // --http ADDR|off
    std::optional<std::string> log_level;   // --log-level
    std::optional<std::string> log_format;  // --log-format
};

// Reads the configuration again for a SIGHUP reload; nullopt with the reasons
// in `diag` if it is wrong (the running pipelines then stay as they are).
using ConfigLoader = std::function<std::optional<GatewayConfig>(Diagnostics& diag)>;

// Runs until SIGTERM/SIGINT, or until every source has finished (stdin at
// end of input, simulate with a count) and everything was delivered.
// Returns the process exit status.
int run_gateway(GatewayConfig config, const RunOverrides& overrides, ConfigLoader reload);

// Applies the command-line overrides and the defaults that depend on the
// machine (data_dir) to a loaded config.
void apply_overrides(GatewayConfig& config, const RunOverrides& overrides);

// Under a cgroup memory.max of `memory_limit` bytes (0: none), shrinks each
// pipeline's ingest queue to a sixteenth of the limit shared among the
// pipelines, unless the configuration sets queue_max_bytes itself. Returns
// the cap applied, 0 if none was needed.
std::uint64_t fit_to_memory_limit(GatewayConfig& config, std::uint64_t memory_limit);

// `sluice describe`: the pipeline graph as text, Graphviz dot or JSON.
std::string describe_config(const GatewayConfig& config, std::string_view format);

}  // namespace sluice
