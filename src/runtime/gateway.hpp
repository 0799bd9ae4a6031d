#pragma once
// The gateway process: the I/O loop, the HTTP API, every pipeline, and the
// signals that stop (SIGTERM/SIGINT) or reload (SIGHUP) them.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "runtime/lifecycle.hpp"

namespace sluice {

class IoLoop;

struct RunOverrides {
    std::optional<std::string> data_dir;   // --data-dir
    std::optional<std::string> http;       // --http ADDR|off
    std::optional<std::string> log_level;   // --log-level
    std::optional<std::string> log_format;  // --log-format
};

// Reads the configuration again for a SIGHUP reload; nullopt with the reasons
// in `diag` if it is wrong (the running pipelines then stay as they are).
using ConfigLoader = std::function<std::optional<GatewayConfig>(Diagnostics& diag)>;

// The gateway without the process around it: the I/O loop, the stats hub,
// the tables, the HTTP API and the pipelines. run_gateway drives one from
// signals and systemd; libsluice's Gateway (src/embed) from the calls of the
// program that embeds it. One per process: the stats hub, the gateway id and
// the data directory are the process's.
//
// start, reload and stop run on one control thread at a time.
class GatewayHost {
public:
    explicit GatewayHost(RunOverrides overrides = {});
    ~GatewayHost();  // stops at once what still runs (undelivered records stay buffered)
    GatewayHost(const GatewayHost&) = delete;
    GatewayHost& operator=(const GatewayHost&) = delete;

    // Applies the overrides and starts the loop, the tables, the API and the
    // pipelines. Returns 0, or the exit status with the reason in `error`
    // (logged): 2 for a configuration error, 1 for anything else; nothing
    // is left running then.
    int start(GatewayConfig config, std::string& error);
    bool running() const { return parts_ != nullptr; }
    // Applies a configuration loaded again (see GatewayLifecycle::reload)
    // and keeps the API's token and graph in step with it.
    ReloadReport reload(const GatewayLifecycle::Loader& load);
    // Stops the pipelines (sinks deliver until `deadline`); the API and the
    // loop keep running. Then stop() ends the rest.
    void stop_pipelines(std::chrono::steady_clock::time_point deadline);
    void stop(std::chrono::steady_clock::time_point deadline);

    // Valid while running.
    GatewayLifecycle& life();
    IoLoop& loop();
    int api_port() const;  // 0: no API
    const std::filesystem::path& data_dir() const { return data_dir_; }
    const std::string& listen() const { return listen_; }
    double cpus() const { return cpus_; }
    std::uint64_t memory_limit() const { return mem_limit_; }

private:
    struct Parts;
    RunOverrides overrides_;
    std::filesystem::path data_dir_;
    std::string listen_;
    double cpus_ = 0;
    std::uint64_t mem_limit_ = 0;
    std::unique_ptr<Parts> parts_;
};

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
