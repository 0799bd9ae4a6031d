#pragma once
// libsluice: the sluice gateway inside another program.
//
// A program builds a gateway from a TOML configuration (text, a file, or
// sluice::embed::Config in code), registers a function for each `callback`
// sink, starts it, pushes frames or records into its `callback` sources and
// stops it. Everything else is the gateway the `sluice` executable runs: the
// decoders, stages, windows, tables, the SQLite buffer and every other sink.
// docs/library.md is the guide.
//
// Delivery: push() returns Committed only once the frames are committed to
// the buffer (a crash after that loses nothing); a record leaves the buffer
// only once the sink confirmed it (a `callback` sink: its handler's answer).
//
// This header is the whole public API. It names no internal type; its
// version is SLUICE_EMBED_API_VERSION, and a program can check the linked
// library's with sluice::embed::api_version(). One gateway runs in a process
// at a time.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

// Raised when the API changes incompatibly; additions keep it.
#define SLUICE_EMBED_API_VERSION 1

namespace sluice::embed {

// The API version the linked library implements (SLUICE_EMBED_API_VERSION
// of its header), and the sluice release it is ("0.1.0").
int api_version() noexcept;
std::string_view library_version() noexcept;

// A configuration the gateway refuses, or a start that fails (the data
// directory cannot be written, a table cannot be loaded). what() says why,
// with file, line and key for configuration errors, one per line.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// ------------------------------------------------------------ records

using Value = std::variant<double, std::int64_t, bool, std::string>;

// One reading: what a `callback` sink's handler gets, and what
// push_records() takes.
struct Record {
    std::int64_t time_ns = 0;  // nanoseconds since the Unix epoch
    std::string measurement;
    std::string origin;        // where it came from (a topic, a device)
    std::vector<std::pair<std::string, std::string>> tags;
    std::vector<std::pair<std::string, Value>> fields;

    // The field or tag named `name`; null when the record has none.
    const Value* field(std::string_view name) const;
    const std::string* tag(std::string_view name) const;
};

// ------------------------------------------------------------ sinks

// What a `callback` sink's handler answers for a batch.
struct BatchResult {
    // The first `confirmed` records of the batch are done: they leave the
    // buffer. The others come again after the sink's back-off.
    std::size_t confirmed = 0;
    // Why not all were confirmed (logged once, counted); empty when all were.
    std::string error;

    static BatchResult all(std::size_t n) { return BatchResult{n, {}}; }
    static BatchResult retry(std::size_t confirmed, std::string why) { return BatchResult{confirmed, std::move(why)}; }
};

// Runs on the sink's own thread, one batch at a time. The records are valid
// until it returns. Whatever it throws fails the batch (retried).
using BatchHandler = std::function<BatchResult(std::span<const Record> batch)>;

// ------------------------------------------------------------ sources

enum class PushStatus {
    Committed,  // every frame is committed to the buffer
    Busy,       // too many pushes wait for their commit (max_waiting), or the source's
                // pipeline is being rebuilt by a reload: push again shortly
    Stopping,   // the gateway is stopping or not running: the frames may or may not be stored
    NoSource,   // no such `callback` source (message says what is configured)
    Invalid,    // nothing to push (no frames, or an empty payload)
    TimedOut,   // no answer within push_timeout(): the frames may still be committed
};

struct PushResult {
    PushStatus status = PushStatus::Stopping;
    std::size_t frames = 0;  // committed (Committed)
    std::string message;     // one line, for a log

    bool committed() const { return status == PushStatus::Committed; }
};

// ------------------------------------------------------------ configuration in code

// A configuration built in code: the same sections and options as the TOML
// files (docs/config-reference.md), written out as TOML and read by the same
// parser, so errors name the option as they would in a file. Dots in section
// names and keys separate levels, as in TOML: set("tables.devices", "key",
// "id") is [tables.devices] key = "id"; pipeline_option("p", "buffer.retain",
// "24h") is retain = "24h" in [pipelines.p.buffer]. Text values are copied
// when set.
class Config {
public:
    using OptionValue = std::variant<std::string, const char*, std::int64_t, int, double, bool, std::vector<std::string>>;
    using Options = std::vector<std::pair<std::string, OptionValue>>;

    // An option of a top-level section: set("gateway", "data_dir", "/var/lib/app").
    Config& set(std::string_view section, std::string_view key, OptionValue value);
    // An option of pipeline `pipeline`: pipeline_option("p", "batch_max_delay", "50ms").
    Config& pipeline_option(std::string_view pipeline, std::string_view key, OptionValue value);
    // A component of pipeline `pipeline`, in order: source("p", "callback", {{"id", "in"}}).
    Config& source(std::string_view pipeline, std::string_view type, Options options = {});
    Config& stage(std::string_view pipeline, std::string_view type, Options options = {});
    Config& sink(std::string_view pipeline, std::string_view type, Options options = {});

    // The configuration as TOML text.
    std::string toml() const;

private:
    struct Section {
        std::string name;
        Options options;
    };
    struct Component {
        std::string type;
        Options options;
    };
    struct Pipeline {
        std::string name;
        Options options;
        std::vector<Component> sources, stages, sinks;
    };
    Pipeline& pipeline(std::string_view name);
    std::vector<Section> sections_;
    std::vector<Pipeline> pipelines_;
};

// ------------------------------------------------------------ stats

struct PipelineStats {
    std::string name;
    std::uint64_t records_committed = 0;  // to its buffer since it was built
};

struct Stats {
    bool running = false;
    // false while a start, reload or stop holds the pipelines: no figures then
    bool available = false;
    std::uint64_t records_in = 0;       // committed to the buffers since each pipeline was (re)built
    std::uint64_t buffered = 0;         // rows in the buffers (not yet delivered by every sink)
    std::size_t sinks = 0;
    std::size_t sinks_retrying = 0;     // sinks whose last batch failed
    std::vector<PipelineStats> pipelines;
};

// ------------------------------------------------------------ the gateway

class Gateway {
public:
    // Reads and checks a configuration; throws Error with every problem.
    // `origin` names the text in messages.
    static Gateway from_toml(std::string_view toml, std::string_view origin = "embedded configuration");
    static Gateway from_file(const std::string& path);
    static Gateway from_config(const Config& config);

    Gateway(Gateway&&) noexcept;
    Gateway& operator=(Gateway&&) noexcept;
    ~Gateway();  // stop() if still running

    // Before start(): where the buffers live, instead of [gateway] data_dir.
    Gateway& data_dir(std::string dir);
    // How long a push waits for its answer at most (default 0: until it
    // comes). A full buffer with overflow = "block", or a disk that refuses
    // every commit, otherwise holds the pushing thread until stop().
    Gateway& push_timeout(std::chrono::milliseconds timeout);

    // Registers (or replaces) the handler of the `callback` sink
    // "<pipeline>/<sink id>"; an empty function removes it. Any time; while
    // a sink has none, its records wait in the buffer.
    void on_batch(std::string_view sink, BatchHandler handler);

    // Starts every pipeline. The HTTP API stays off unless the configuration
    // sets [http] listen. Throws Error if the gateway cannot start; nothing
    // runs then. Process-wide: SIGPIPE is ignored from here on if it had its
    // default action; the log level and format, glibc's malloc arena count
    // (M_ARENA_MAX, unless MALLOC_ARENA_MAX is set), the gateway id and the
    // data directory are set from the configuration.
    // start, reload and stop may not be called from an on_batch handler
    // (they wait for the sink threads): they throw Error there.
    void start();
    bool running() const;

    // Pushes frames into the `callback` source "<pipeline>/<source id>" (or
    // "<pipeline>" when it has one, or "" when the gateway has one). Blocks
    // until they are committed to the buffer or refused; back-pressure: a
    // full ingest queue makes it wait. Any thread.
    PushResult push(std::string_view source, std::string_view payload, std::string_view key = {});
    PushResult push(std::string_view source, std::span<const std::string> payloads, std::string_view key = {});
    // Records, in sluice's own binary record form: the source's `decode`
    // chain must list the `record` decoder.
    PushResult push_records(std::string_view source, std::span<const Record> records);

    // Applies a new configuration: pipelines whose configuration changed are
    // restarted, the others keep running; a configuration with errors is
    // refused and the running one stays (Error, with the reasons). reload()
    // reads the file of from_file() again.
    void reload();
    void reload_toml(std::string_view toml, std::string_view origin = "embedded configuration");
    void reload(const Config& config);

    // Stops the sources, then lets the sinks deliver for up to `deliver_for`
    // (default: [gateway] shutdown_timeout); what is left stays buffered for
    // the next start. A handler busy with a batch at the deadline is waited
    // for: make it return.
    void stop();
    void stop(std::chrono::milliseconds deliver_for);

    Stats stats() const;
    // Every metric in the Prometheus text format, as GET /metrics gives it.
    std::string metrics() const;

private:
    struct Impl;
    explicit Gateway(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::embed
