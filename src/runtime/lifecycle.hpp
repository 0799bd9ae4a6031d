#pragma once
// The gateway's pipelines over their lifetime: start them from a
// GatewayConfig, reload (build the new configuration; keep the old one if it
// is rejected or cannot be built; restart only the pipelines whose
// configuration changed) and stop them (each pipeline: sources, then the
// worker, then the sinks, bounded by a deadline). run_gateway
// (runtime/gateway.cpp) drives it from signals; the unit tests
// (tests/unit/runtime_lifecycle_test.cpp) drive it directly.
//
// start, reload and stop run on one control thread; ready, sample,
// cut_short and the accessors may be called from any thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "buffer/buffer.hpp"
#include "config/config.hpp"
#include "runtime/service_monitor.hpp"

namespace sluice {

class IoLoop;
class Pipeline;
class Tables;

// What a reload did, pipeline by pipeline (names in the new config's order).
// Declares the config's tables (its [tables] sections and the ones its
// stages link to) in `tables`; returns the problems (an unreadable CSV).
std::vector<std::string> configure_tables_for(Tables& tables, const GatewayConfig& config);

struct ReloadReport {
    enum class Outcome {
        Applied,   // the new configuration runs
        Rejected,  // the loader refused it (diagnostics in `error`); nothing was touched
        Reverted,  // building it failed; the previous configuration runs again (`error`)
        Failed,    // the previous configuration could not be restarted either: stop the process
    };
    Outcome outcome = Outcome::Applied;
    std::string error;
    std::size_t error_count = 0;          // Rejected: the number of diagnostics
    std::vector<std::string> restarted;   // changed: stopped and built again
    std::vector<std::string> added;
    std::vector<std::string> removed;
    std::vector<std::string> kept;        // unchanged: left running
};

// Whether two pipeline specs build the same pipeline: the same components
// with the same option values, wherever in the file they are written.
bool same_pipeline(const PipelineSpec& a, const PipelineSpec& b);

class GatewayLifecycle {
public:
    // `prepare` runs on every configuration a reload loads, before it is
    // compared (the command-line overrides, the memory limit).
    GatewayLifecycle(IoLoop& loop, Tables& tables,
                     std::function<void(GatewayConfig&)> prepare = nullptr);
    ~GatewayLifecycle();
    GatewayLifecycle(const GatewayLifecycle&) = delete;
    GatewayLifecycle& operator=(const GatewayLifecycle&) = delete;

    // Declares the config's tables (false, logged, if one cannot be loaded).
    bool configure_tables(const GatewayConfig& config);

    // Builds every pipeline and starts them. Throws ConfigError or
    // std::exception if one cannot be built; nothing is left running then.
    void start(GatewayConfig config);

    // Loads the configuration again through `load` and applies it.
    using Loader = std::function<std::optional<GatewayConfig>(Diagnostics& diag)>;
    ReloadReport reload(const Loader& load);
    // The same, for a configuration already loaded.
    ReloadReport reload(GatewayConfig next);

    // Stops every pipeline in order (each: sources, worker, sinks) and
    // drops them; sinks deliver until `deadline`, what is left stays
    // buffered. time_point::max(): until everything is delivered.
    void stop(std::chrono::steady_clock::time_point deadline);
    // From another thread during stop(): give up delivering now.
    void cut_short();

    // now + the configuration's shutdown_timeout.
    std::chrono::steady_clock::time_point deadline() const;
    const GatewayConfig& config() const { return config_; }

    // Thread-safe. While start, reload or stop holds the pipelines, ready()
    // is false ("starting, stopping or reloading") and sample() unavailable.
    bool ready(std::string& detail) const;
    // Control thread: restarts every pipeline whose buffer SQLite reported
    // damaged while running (a sink's read, the worker's commit); opening it
    // again moves the damaged file aside and salvages what it can (see
    // buffer/quarantine.hpp). Returns the names restarted.
    std::vector<std::string> restart_damaged();
    ServiceSample sample(std::int64_t stale_after_ns, bool figures) const;
    std::size_t size() const;
    bool all_sources_finished() const;
    std::vector<std::string> names() const;
    // A number given to each pipeline when it is built (0: no such
    // pipeline): a reload that keeps a pipeline keeps its generation.
    std::uint64_t generation(const std::string& name) const;
    std::uint64_t records_committed(const std::string& name) const;
    // Any thread, without blocking: Pipeline::replay on pipeline `name`
    // (404 when none runs).
    void replay(const std::string& name, const std::string& sink, std::uint64_t from_id,
                std::function<void(ReplayOutcome)> done);

private:
    struct Running {
        std::unique_ptr<Pipeline> pipeline;
        std::uint64_t generation = 0;
    };
    Running build(const PipelineSpec& spec, const std::filesystem::path& data_dir);

    IoLoop& loop_;
    Tables& tables_;
    std::function<void(GatewayConfig&)> prepare_;
    GatewayConfig config_;
    std::uint64_t next_generation_ = 1;
    mutable std::mutex mu_;  // guards running_ against the readers on other threads
    std::vector<Running> running_;
};

}  // namespace sluice
