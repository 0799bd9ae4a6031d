#pragma once
// The four kinds of component and their descriptors. A component is one
// folder (src/<kind>s/<name>) exporting one Descriptor.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "core/record.hpp"

namespace sluice {

class IoLoop;
class SourceHealth;
struct ComponentMetrics;

enum class Kind { Source, Decoder, Stage, Sink };
std::string_view kind_name(Kind k);  // "source", "decoder", "stage", "sink"

// ---------------------------------------------------------------- sources

// The producer side of a pipeline's bounded ingest queue.
class Ingest {
public:
    virtual ~Ingest() = default;
    // Moves frames from the front of `frames` into the queue while there is
    // room, erasing the ones taken; returns how many were taken. Never blocks.
    virtual std::size_t try_push(std::vector<Frame>& frames) = 0;
    // Blocks while the queue is full. False once the pipeline is stopping
    // (the frame was not taken). For sources on their own thread (client
    // library callbacks), never for callbacks on the I/O loop.
    virtual bool push_wait(Frame&& frame) = 0;
    // Blocks until every frame is taken (they are moved out and `frames` is
    // cleared). False once the pipeline is stopping.
    virtual bool push_all_wait(std::vector<Frame>& frames) = 0;
    // Calls `fn` on the I/O loop once the queue has room again. One pending
    // call per source index; a newer registration replaces the older one.
    virtual void when_space(std::uint32_t source, std::function<void()> fn) = 0;
};

struct SourceContext {
    std::string name;  // "<pipeline>/<component id>", used as the metrics label
    std::uint32_t index = 0;
    Ingest* ingest = nullptr;
    IoLoop* loop = nullptr;
    ComponentMetrics* metrics = nullptr;
    // Key under which this source's Frame::position is committed; a source
    // that keeps a position sets it in start(), before its first frame.
    std::string checkpoint_key;
    // Set in start() by a source that keeps several positions (one per
    // Kafka partition): each Frame::position_epoch then names one of them,
    // committed under "<checkpoint_key>:<epoch>" (value "<epoch>:<position>").
    bool position_per_epoch = false;
    // Reads the position stored with an earlier batch as "<epoch>:<position>".
    std::function<std::optional<std::string>(std::string_view key)> load_checkpoint;
    // Tells the pipeline this source has nothing more to give (EOF, count reached).
    std::function<void()> finished;
    // Set for sources whose descriptor is `watched`: report connected/down
    // here (any thread). Null for the others.
    SourceHealth* health = nullptr;
    // Set in start() by a source that holds back until what it handed on is
    // stored (to bound what a crash loses): called on the worker thread after
    // each buffer commit that held frames of this source, with their number.
    std::function<void(std::size_t frames)> committed;
    // Asks the worker to commit the batch it is gathering now instead of
    // waiting for batch_max_delay: for a source that waits on `committed`.
    // Any thread.
    std::function<void()> commit_soon;
};

class Source {
public:
    virtual ~Source() = default;
    // Called on the I/O loop thread. Registers fds/timers or starts client threads.
    virtual void start(SourceContext& ctx) = 0;
    // Called on the I/O loop thread. After it returns no more frames are pushed.
    virtual void stop() = 0;
};

// ---------------------------------------------------------------- decoders

// For a decoder or stage that waits for something outside the process (an
// exec command's answer), on the worker thread.
struct WaitHooks {
    // Set when the pipeline gives up waiting (a stop past its deadline): stop
    // waiting and fail the frame or batch in hand.
    const std::atomic<bool>* stopping = nullptr;
    // Call at least every second while waiting on purpose: the watchdog then
    // does not take the worker for hung.
    std::function<void()> waiting;
};

enum class DecodeStatus {
    NotMine,  // not this decoder's format: the next decoder in the chain is tried
    Ok,       // records appended (possibly none, e.g. a CSV header line)
    Broken,   // this decoder's format, but malformed: `error` says why
};

struct StateChange;

// What a decoder that keeps state across frames (sparkplug_b's alias maps)
// gets before its first frame.
struct DecoderContext {
    std::string component;  // "<pipeline>/<source id>", the metrics label
    std::string id;         // the decoder's id in its chain (its type unless named)
    // Calls `fn` for every state pair this decoder stored. Only valid inside
    // open().
    std::function<void(const std::function<void(std::string_view key, std::string_view value)>& fn)> load_state;
    WaitHooks wait;
};

class Decoder {
public:
    virtual ~Decoder() = default;
    // Called once when the pipeline is built, before the first frame. May
    // throw std::runtime_error (the pipeline does not start).
    virtual void open(const DecoderContext& ctx) { (void)ctx; }
    // Appends the frame's records to `out`. On NotMine and Broken `out` must be
    // left as it was; on Broken `error` holds the reason.
    virtual DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) = 0;
    // A decoder that waits for something outside for each frame (the exec
    // decoder's command) may ask about a whole batch at once: when it is the
    // first in its chain and says wants_prefetch(), it gets the batch's
    // frames of its source before the first decode() of the batch, and
    // decode() is then called with the same frames (by address), in order,
    // some perhaps skipped.
    virtual bool wants_prefetch() const { return false; }
    virtual void prefetch(std::span<const Frame* const> frames) { (void)frames; }
    // Moves the state changes of the frames decoded since the last call to
    // `out`: the worker commits them with those frames' records, so after a
    // crash the stored state and the stored records agree.
    virtual void take_state(std::vector<StateChange>& out) { (void)out; }
};

// ---------------------------------------------------------------- stages

class TableDirectory;

// A change to a stage's durable state. The pipeline writes a batch's changes
// in the same buffer transaction as the batch's records, so after a crash the
// state and the committed records always agree.
struct StateChange {
    std::string key;
    std::string value;
    bool erase = false;  // true: delete `key` (value unused)
};

struct StageContext {
    std::string name;  // "<pipeline>/<component id>", the metrics label
    std::string id;    // the component id; the namespace of its state
    ComponentMetrics* metrics = nullptr;
    // Calls `fn` for every state pair this stage stored, oldest key order not
    // guaranteed. Only valid inside open().
    std::function<void(const std::function<void(std::string_view key, std::string_view value)>& fn)> load_state;
    // The gateway's named tables (latest value per key); null where a
    // pipeline runs without a gateway (unit tests).
    TableDirectory* tables = nullptr;
    WaitHooks wait;
    // The gateway's data directory (the buffer's home), for a stage that
    // keeps a file of its own there (the encrypt stage's key store).
    std::filesystem::path data_dir;
};

// One turn of the pipeline worker through a stage.
struct StageBatch {
    std::vector<Record>& records;    // in and out: the batch as it goes on to the next stage
    std::vector<DeadLetter>& dead;   // records the stage refuses (set DeadLetter::stage)
    std::vector<StateChange>& state; // this stage's state changes for this batch
    // Records for named in-process streams (read by `stream` sources of
    // other pipelines), published after the batch committed.
    std::vector<std::pair<std::string, Record>>& streams;
    std::int64_t wall_ns = 0;        // CLOCK_REALTIME at the start of the turn
    std::int64_t mono_ns = 0;        // CLOCK_MONOTONIC at the start of the turn
    bool tick = false;               // a timer turn: no new input, records is empty
    // The last turn of a finite run (`sluice test`): no input follows, so a
    // stage emits what it holds open (a window closes all its windows).
    // Never set while a gateway runs.
    bool end_of_input = false;
};

class Stage {
public:
    virtual ~Stage() = default;
    // Called once on the worker thread before the first batch; loads state.
    // May throw std::runtime_error (the pipeline does not start).
    virtual void open(StageContext& ctx) { (void)ctx; }
    // Transforms a batch in place (may drop, add or rewrite records).
    virtual void process(StageBatch& batch) = 0;
    // Non-zero: the worker also calls process() with an empty batch and
    // tick = true about this often when no input arrives (processing-time
    // windows, session gaps, idle watermarks).
    virtual std::chrono::nanoseconds tick_interval() const { return {}; }
    // Called after the batch of the last process() call was committed (or
    // could not be, at shutdown: then committed is false).
    virtual void after_commit(bool committed) { (void)committed; }
};

// ---------------------------------------------------------------- sinks

struct SendResult {
    // The first `confirmed` records of the batch are done: delivered, or
    // rejected (listed below) and dead-lettered. The cursor moves past them.
    std::size_t confirmed = 0;
    // Indices (< confirmed) the far side refused for reasons in the data.
    std::vector<std::pair<std::size_t, std::string>> rejected;
    // Non-empty: records from `confirmed` on are retried after a back-off.
    std::string error;
    // With an error: the far side asked to be left alone this long (HTTP
    // Retry-After). The runner waits at least this, at most its retry_max.
    std::chrono::nanoseconds retry_after{0};
    // Stored with the cursor in the same transaction when set (e.g. the file
    // sink's file offset after the confirmed records); handed back to open()
    // after a restart as SinkContext::committed_state.
    std::optional<std::string> state;
};

struct SinkContext {
    std::string name;  // "<pipeline>/<component id>"
    ComponentMetrics* metrics = nullptr;
    // The state of the last SendResult::state committed with the cursor;
    // empty if none. Lets a sink undo output written after it (a batch the
    // far side got but whose cursor move a crash lost).
    std::string committed_state;
    // The buffer ids of the records of the batch send() is called with, one
    // per record, set by the runner before each send() (not for start()).
    // A sink that keeps its own copy of the cursor on the far side (the
    // kafka sink's transactions) stores the last one there and recognises,
    // after a crash, the records the far side already has.
    std::span<const std::uint64_t> batch_ids;
    // Non-zero when a replay on the stopped gateway (`sluice buffer replay`)
    // moved the cursor back to deliver the records from this id on again:
    // see Sink::rewound.
    std::uint64_t replayed_from = 0;
};

class Sink {
public:
    virtual ~Sink() = default;
    // Called once on the sink's thread before the first send. May throw
    // std::runtime_error; the runner logs it and retries with back-off.
    virtual void open(SinkContext& ctx) { (void)ctx; }
    virtual SendResult send(std::span<const Record> batch) = 0;
    // A sink whose far side confirms asynchronously (Kafka) may keep a second
    // batch in flight while the first one's confirmations come in: with a
    // backlog the runner calls start(A), start(B), finish() (A's result),
    // start(C), finish() (B's) ... and moves the cursor over each batch in
    // order. start() hands a batch over and returns; finish() waits for the
    // oldest started batch and returns what send() would have. A batch's
    // records stay valid until its finish() returned. When a batch is not
    // wholly confirmed, the runner still calls finish() for the one started
    // after it and ignores the result (those records are sent again: they
    // may arrive twice, never not at all). Only called when overlaps().
    virtual bool overlaps() const { return false; }
    virtual void start(std::span<const Record> batch) { (void)batch; }
    virtual SendResult finish() { return SendResult{.error = "this sink does not overlap batches"}; }
    // The runner moved the cursor back (a replay): the records from
    // `from_id` on come again on purpose. A sink that keeps its own copy of
    // the cursor on the far side (the kafka sink's transactions) must not
    // take them for records it already holds. Called on the sink's thread.
    virtual void rewound(std::uint64_t from_id) { (void)from_id; }
    // Healthy when the far side is reachable; `reason` says why not.
    virtual bool healthy(std::string& reason) { (void)reason; return true; }
    // Called on shutdown after the last send.
    virtual void close() {}
};

// ---------------------------------------------------------------- descriptors

struct Url;

// What a component promises about the records it takes in (a source: from
// the far side into the buffer) or hands on (a sink: from the buffer to the
// far side) when the process crashes or the power fails.
enum class Delivery : std::uint8_t {
    NotApplicable,  // decoders and stages: their output is committed with the batch
    AtLeastOnce,    // nothing taken in or confirmed is lost; a crash may repeat some
    BestEffort,     // a crash (or the far side) may lose records: loss_window says which
};
std::string_view delivery_name(Delivery d);  // "n/a", "at-least-once", "best-effort"

// What `sluice describe` shows of a configured component besides its options.
struct DescribeShape {
    std::string summary;         // one line, e.g. "hopping 1m every 10s"; empty: none
    std::string_view json_key;   // the JSON member holding the summary (default "summary")
    std::string_view dot_shape;  // Graphviz node shape; empty: the kind's default
};

struct Descriptor {
    Kind kind = Kind::Source;
    std::string_view name;     // registry key = folder name = config `type`
    std::string_view summary;  // one line
    Delivery delivery = Delivery::NotApplicable;
    // Which records a crash, a power cut or the far side can lose or repeat,
    // in words (the component README's crash section, in one or two sentences).
    std::string_view loss_window;
    std::vector<OptionSpec> options;
    // URL schemes accepted by `sluice relay` (e.g. {"file"}); empty: none.
    std::vector<std::string_view> url_schemes;
    // Turns a URL into option entries. Default (when unset): the path goes to
    // the option named by `url_path_option`, query parameters to options.
    std::string_view url_path_option;
    std::function<void(const Url& url, RawTable& out)> from_url;
    std::string_view url_example;  // shown by `sluice components NAME`

    std::function<std::unique_ptr<Source>(const Options&)> make_source;
    std::function<std::unique_ptr<Decoder>(const Options&)> make_decoder;
    std::function<std::unique_ptr<Stage>(const Options&)> make_stage;
    std::function<std::unique_ptr<Sink>(const Options&)> make_sink;

    // Sources that connect to something that can be down (a broker, a
    // publisher, a device): they report through SourceContext::health and
    // get a sluice_source_up gauge and a /ready detail while down.
    bool watched = false;
    // Optional, for `validate --healthcheck`: checks from the resolved
    // options that the source could start here (broker reachable, device
    // present, socket directory writable) without starting it. Returns
    // false with the reason in `detail`, or true with what was checked.
    std::function<bool(const Options&, std::string& detail)> probe;

    // Optional: this component's shape in `sluice describe` (a window's
    // panes, a join's sides), from its resolved options.
    std::function<DescribeShape(const Options&)> describe;
};

}  // namespace sluice
