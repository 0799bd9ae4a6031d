// The option tables of the sections that are not components. Like the
// components' tables they drive parsing, checking and the config reference.

#include "config/config.hpp"
#include "core/option_binding.hpp"

namespace sluice {

namespace {

constexpr OptionSpec kGatewayOptions[] = {
    {.name = "id",
     .type = OptionType::String,
     .default_value = "",
     .doc = "Name of this gateway in logs, metrics and the HTTP API. Empty: the host name.",
     .max = 128},
    {.name = "data_dir",
     .type = OptionType::String,
     .default_value = "",
     .doc = "Directory for the buffer databases and other state. Empty: $STATE_DIRECTORY (systemd), "
            "/var/lib/sluice when run as root, else $XDG_STATE_HOME/sluice or ~/.local/state/sluice."},
    {.name = "log_level",
     .type = OptionType::Enum,
     .default_value = "info",
     .doc = "Least severe log messages written to stderr.",
     .choices = "error|warn|info|debug|trace"},
    {.name = "log_format",
     .type = OptionType::Enum,
     .default_value = "text",
     .doc = "text: one line per line of a message, each with time (none under systemd, where the journal adds "
            "it) and level; json: one JSON object per message with time, level and message, for log collectors.",
     .choices = "text|json"},
    {.name = "shutdown_timeout",
     .type = OptionType::Duration,
     .default_value = "10s",
     .doc = "How long stopping may take (sinks finishing their current send). What is not delivered by then "
            "stays in the buffer for the next start."},
};

constexpr OptionSpec kHttpOptions[] = {
    {.name = "listen",
     .type = OptionType::String,
     .default_value = "127.0.0.1:6666",
     .doc = "Address and port of the gateway's HTTP API (/health, /ready, /metrics, /stats). \"off\" disables it.",
     .min = 1},
    {.name = "token",
     .type = OptionType::Secret,
     .default_value = "",
     .doc = "Bearer token the write endpoints require; without one they are disabled. Accepts \"@/path\" and "
            "\"@credential:NAME\"."},
    {.name = "max_stats_topics",
     .type = OptionType::Int,
     .default_value = "1000",
     .doc = "Most origin topics (MQTT or ZeroMQ topic, socket, file) /stats counts one by one, across pipelines. "
            "Topics first seen after that are counted together under \"other\" (until restart), so a flood of "
            "distinct topics cannot grow the gateway's memory.",
     .min = 0,
     .max = 1000000},
    {.name = "max_connections",
     .type = OptionType::Int,
     .default_value = "64",
     .doc = "Most connections open at once. When full, a new connection closes the oldest one that has not "
            "completed a request (then the longest idle keep-alive one) instead of being refused, so slow clients "
            "cannot lock out /health; counted in sluice_http_evictions_total.",
     .min = 1,
     .max = 65536},
    {.name = "max_connections_per_address",
     .type = OptionType::Int,
     .default_value = "16",
     .doc = "Most connections open at once from one client address; beyond it a new one from that address closes "
            "that address's oldest connection that has not completed a request. 0: no limit.",
     .min = 0,
     .max = 65536},
    {.name = "header_timeout",
     .type = OptionType::Duration,
     .default_value = "10s",
     .doc = "Total time a client has to send a request's line and headers, from the connection's accept (first "
            "request) or the request's first byte (later ones), however slowly the bytes trickle in; then 408 and "
            "close.",
     .min = 0.1,
     .max = 3600},
    {.name = "body_timeout",
     .type = OptionType::Duration,
     .default_value = "30s",
     .doc = "Total time a client has to send a request's body once its headers are in; then 408 and close.",
     .min = 0.1,
     .max = 3600},
    {.name = "idle_timeout",
     .type = OptionType::Duration,
     .default_value = "30s",
     .doc = "How long a connection may pass no byte either way: a keep-alive connection between requests is "
            "closed quietly, one with a half-sent request gets 408.",
     .min = 0.1,
     .max = 86400},
};

constexpr OptionSpec kPipelineOptions[] = {
    {.name = "batch_max_records",
     .type = OptionType::Int,
     .default_value = "1000",
     .doc = "Most frames committed to the buffer in one transaction while the ingest queue keeps up. Under a "
            "backlog (the batch is full and frames are still queued) the worker takes up to 4 times as many, at "
            "most a quarter of queue_max_bytes (1 MiB at most) of frames, so the commit cost per record falls; "
            "sluice_pipeline_batch_frames shows the sizes taken.",
     .min = 1,
     .max = 100000},
    {.name = "batch_max_delay",
     .type = OptionType::Duration,
     .default_value = "100ms",
     .doc = "Longest a record waits for its batch to fill before the batch is committed anyway; records that "
            "trickle in are committed at most once per this delay, one that comes after a quiet spell at once.",
     .max = 3600},
    {.name = "queue_max_frames",
     .type = OptionType::Int,
     .default_value = "8192",
     .doc = "Capacity of the ingest queue between the sources and the pipeline worker, in frames. Sources wait "
            "(or stop reading) while it is full.",
     .min = 1,
     .max = 10000000},
    {.name = "queue_max_bytes",
     .type = OptionType::Size,
     .default_value = "8MiB",
     .doc = "Capacity of the ingest queue in payload bytes; whichever limit is reached first applies.",
     .min = 1024},
};

constexpr OptionSpec kBufferOptions[] = {
    {.name = "max_bytes",
     .type = OptionType::Size,
     .default_value = "256MiB",
     .doc = "Largest size of the pipeline's buffer on disk (database, WAL, shared memory and reserve file; "
            "may be exceeded by about one batch); `overflow` says what happens there and on a full disk.",
     .min = 64 * 1024},
    {.name = "overflow",
     .type = OptionType::Enum,
     .default_value = "drop_oldest",
     .doc = "At max_bytes or on a full disk: drop_oldest deletes the oldest undelivered records (counted as "
            "dropped); block stops taking frames from the sources until the sinks catch up.",
     .choices = "drop_oldest|block"},
    {.name = "retain",
     .type = OptionType::Duration,
     .default_value = "0s",
     .doc = "Keep records every sink has delivered for this long (by record time), so that `sluice buffer replay` "
            "or POST /api/buffer/replay can send them again; 0s: delete them once delivered. Kept records are the "
            "first to go at max_bytes or on a full disk, and never count as dropped."},
    {.name = "retain_bytes",
     .type = OptionType::Size,
     .default_value = "0",
     .doc = "Keep delivered records for replay only while the buffer holds at most this many record bytes "
            "(with retain = \"0s\": for as long as that allows); 0: no bound but retain and max_bytes."},
    {.name = "synchronous",
     .type = OptionType::Enum,
     .default_value = "normal",
     .doc = "SQLite's synchronous mode. full: every commit survives power loss; normal: a power loss may lose the "
            "last commits but never corrupts the buffer; off: leaves flushing to the OS.",
     .choices = "off|normal|full"},
};

constexpr OptionSpec kTableOptions[] = {
    {.name = "public",
     .type = OptionType::Bool,
     .default_value = "false",
     .doc = "Serve the table over the HTTP API (/api/table/NAME/): read by anyone who reaches the API, written "
            "with the [http] token."},
    {.name = "csv",
     .type = OptionType::String,
     .default_value = "",
     .doc = "A CSV file with a header row loaded into the table at start and on every reload (SIGHUP), "
            "replacing its rows. The key_column gives the key, the other columns the value's members "
            "(numbers and true/false typed, empty cells left out)."},
    {.name = "key_column",
     .type = OptionType::String,
     .default_value = "",
     .doc = "The CSV column holding the key. Empty: the first column."},
    {.name = "max_keys",
     .type = OptionType::Int,
     .default_value = "0",
     .doc = "Most keys the table holds; a write of a new key beyond it is refused and counted "
            "(sluice_table_refused_writes_total). 0: no limit.",
     .min = 0,
     .max = 100000000},
    {.name = "left",
     .type = OptionType::String,
     .default_value = "",
     .doc = "Makes this a joined table, kept up to date from two others: the left table, whose keys it has. Each "
            "row is the left value and the right row's members it lacks (the left wins a clash); updated whenever "
            "either table changes, stored, and rebuilt at start and reload. Not written directly."},
    {.name = "right",
     .type = OptionType::String,
     .default_value = "",
     .doc = "The joined table's right table (with `left`)."},
    {.name = "join",
     .type = OptionType::Enum,
     .default_value = "inner",
     .doc = "inner: a left row without a right row has no joined row; left: it is the left value alone.",
     .choices = "inner|left"},
    {.name = "right_key",
     .type = OptionType::String,
     .default_value = "",
     .doc = "The right row's key as a template over the left value's members, e.g. \"{driver_id}\". Empty: the "
            "left row's own key."},
};

}  // namespace

std::span<const OptionSpec> gateway_option_specs() { return kGatewayOptions; }
std::span<const OptionSpec> http_option_specs() { return kHttpOptions; }
std::span<const OptionSpec> pipeline_option_specs() { return kPipelineOptions; }
std::span<const OptionSpec> buffer_option_specs() { return kBufferOptions; }
std::span<const OptionSpec> table_option_specs() { return kTableOptions; }
// The options every source and every sink has, each bound to the field of
// the struct the runtime reads (config.hpp: SourceCommon, SinkCommon).
const OptionBinding<SourceCommon>& source_common_binding() {
    static const auto b = OptionBinding<SourceCommon>()
        .field(&SourceCommon::decode,
               {.name = "decode",
                .type = OptionType::List,
                .default_value = "json,influx,logfmt,scalar",
                .doc = "Decoders tried in order on every frame until one accepts it. An entry is a decoder name or an "
                       "inline table with the decoder's options: { type = \"csv\", columns = [\"time\", \"temp\"] }."})
        .field(&SourceCommon::measurement,
               {.name = "measurement",
                .type = OptionType::String,
                .default_value = "",
                .doc = "Measurement name given to records that have none."})
        .field(&SourceCommon::topology,
               {.name = "topology",
                .type = OptionType::Enum,
                .default_value = "off",
                .doc = "Turn the frame's origin (MQTT topic, file path) into tags: wan = realm/network/gateway/node[/slot], "
                       "lan = realm/node[/slot], pattern = the segments of topology_pattern, regex = the named groups of "
                       "topology_regex. The slot (data.json, event.json) names the measurement (sensors, events) when the "
                       "record has none. Every mode takes time linear in the origin's length.",
                .choices = "off|wan|lan|pattern|regex"})
        .field(&SourceCommon::topology_pattern,
               {.name = "topology_pattern",
                .type = OptionType::String,
                .default_value = "",
                .doc = "With topology = \"pattern\": '/'-separated segments matched against the origin's levels. A literal "
                       "must be equal, {name} makes the level the tag name ({measurement} names the measurement), + takes "
                       "any one level, # as the last segment any rest (also none): \"{realm}/{network}/+/{node}/#\"."})
        .field(&SourceCommon::topology_regex,
               {.name = "topology_regex",
                .type = OptionType::String,
                .default_value = "",
                .doc = "With topology = \"regex\": an RE2 regular expression over the whole origin whose named groups "
                       "(?P<name>...) or (?<name>...) become tags; a group named measurement names the measurement. RE2 "
                       "matches in linear time (no backreferences or lookaround); builds without RE2 (the minimal board "
                       "presets) refuse this mode."})
        .field(&SourceCommon::max_origin_bytes,
               {.name = "max_origin_bytes",
                .type = OptionType::Size,
                .default_value = "1KiB",
                .doc = "Longest origin (MQTT or ZeroMQ topic, socket or file path) a frame may carry. A longer one is "
                       "cut at the source and its frame stored as a dead letter with the reason and counted as the "
                       "source's error; the frames around it go on.",
                .min = 16,
                .max = 1048576})
        .field(&SourceCommon::required,
               {.name = "required",
                .type = OptionType::Bool,
                .default_value = "false",
                .doc = "For a source that connects to something that can be down (mqtt, zmq, iio): while it is not "
                       "connected, /ready answers 503 instead of only naming it. Sources that cannot be down refuse it."});
    return b;
}

const OptionBinding<SinkCommon>& sink_common_binding() {
    static const auto b = OptionBinding<SinkCommon>()
        .field(&SinkCommon::batch_size,
               {.name = "batch_size",
                .type = OptionType::Int,
                .default_value = "1000",
                .doc = "Most records handed to the sink in one send while it keeps up (rows are sent as soon as "
                       "they are stored). With a backlog batches grow beyond it, see batch_growth.",
                .min = 1,
                .max = 100000})
        .field(&SinkCommon::batch_growth,
               {.name = "batch_growth",
                .type = OptionType::Int,
                .default_value = "4",
                .doc = "With a backlog (a read filled the whole batch) the next batch doubles, up to batch_size times "
                       "this, so the per-send costs (an fsync, a request, the cursor update) fall under load; back to "
                       "batch_size once the sink caught up. 1: never more than batch_size.",
                .min = 1,
                .max = 64})
        .field(&SinkCommon::retry_initial,
               {.name = "retry_initial",
                .type = OptionType::Duration,
                .default_value = "1s",
                .doc = "Wait after the first failed send; it doubles with every further failure up to retry_max.",
                .min = 0.001})
        .field(&SinkCommon::retry_max,
               {.name = "retry_max",
                .type = OptionType::Duration,
                .default_value = "60s",
                .doc = "Longest wait between retries of a failed send.",
                .min = 0.001});
    return b;
}

std::span<const OptionSpec> source_common_option_specs() { return source_common_binding().specs(); }
std::span<const OptionSpec> sink_common_option_specs() { return sink_common_binding().specs(); }
SourceCommon source_common_options(const Options& o) { return source_common_binding().bind(o); }
SinkCommon sink_common_options(const Options& o) { return sink_common_binding().bind(o); }

}  // namespace sluice
