#include "runtime/pipeline.hpp"

#include <algorithm>
#include <cstdlib>
#include <future>
#include <pthread.h>
#include <random>
#include <system_error>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/ioloop.hpp"
#include "core/log.hpp"
#include "core/record_json.hpp"
#include "core/streams.hpp"
#include "core/topology.hpp"
#include "decoders/chain.hpp"

namespace sluice {

struct Pipeline::SourceSlot {
    std::string id;
    std::unique_ptr<Source> source;
    std::unique_ptr<DecoderChain> chain;
    std::string measurement;  // default for records without one
    Topology topology;
    std::size_t max_origin = 1024;
    log::OnceLog origin_log;  // worker thread
    ComponentMetrics metrics;
    SourceContext ctx;
    bool finished = false;
    // Worker thread: the newest Frame::position seen in the current batch.
    bool position_pending = false;
    std::uint64_t position_epoch = 0;
    std::uint64_t position = 0;
};

struct Pipeline::StageSlot {
    std::string id;
    std::string label;
    std::unique_ptr<Stage> stage;
    ComponentMetrics metrics;
    std::vector<StateChange> state;  // reused per batch
};

struct Pipeline::SinkSlot {
    std::string id;
    std::string label;
    std::unique_ptr<Sink> sink;
    std::size_t batch_size = 1000;
    std::chrono::nanoseconds retry_initial{};
    std::chrono::nanoseconds retry_max{};
    ComponentMetrics metrics;
    Counter* retries = nullptr;
    Counter* dead_lettered = nullptr;
    Histogram* batch_seconds = nullptr;
    Gauge* backoff_seconds = nullptr;
    Gauge* up = nullptr;
    std::thread thread;
    std::atomic<bool> caught_up{false};
    mutable std::mutex mu;
    bool healthy = true;
    std::string last_error;
    std::chrono::nanoseconds backoff{};
};

namespace {

Overflow parse_overflow(const std::string& s) { return s == "block" ? Overflow::Block : Overflow::DropOldest; }

Synchronous parse_sync(const std::string& s) {
    if (s == "off") {
        return Synchronous::Off;
    }
    return s == "full" ? Synchronous::Full : Synchronous::Normal;
}

// Factories may throw ConfigError for problems spanning several options;
// give them the component's position like any other config error.
template <class F>
auto build(const ComponentSpec& spec, F&& make) {
    try {
        return make(spec.options);
    } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: {} '{}': {}", spec.pos.str(), kind_name(spec.kind), spec.id, e.what()));
    }
}

void name_thread(const std::string& name) {
    // Linux limits thread names to 15 characters.
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace

Pipeline::Pipeline(const PipelineSpec& spec, const std::filesystem::path& data_dir, IoLoop& loop,
                   Tables* tables)
    : name_(spec.name),
      loop_(loop),
      batch_max_(static_cast<std::size_t>(spec.options.integer("batch_max_records"))),
      batch_delay_(spec.options.duration("batch_max_delay")),
      queue_(static_cast<std::size_t>(spec.options.integer("queue_max_frames")),
             spec.options.memory_size("queue_max_bytes")) {
    const Labels labels{{"pipeline", name_}};
    auto& m = metrics();
    records_in_ = &m.counter("sluice_pipeline_records_total", "Records decoded and committed to the buffer", labels);
    dead_letters_ = &m.counter("sluice_pipeline_dead_letters_total", "Frames stored as dead letters", labels);
    commit_errors_ = &m.counter("sluice_buffer_commit_errors_total", "Failed buffer transactions (retried)", labels);
    buffer_dropped_ = &m.counter("sluice_buffer_dropped_records_total",
                                 "Rows removed by the drop_oldest overflow policy", labels);

    for (std::size_t i = 0; i < spec.sources.size(); ++i) {
        const auto& s = spec.sources[i];
        auto slot = std::make_unique<SourceSlot>();
        slot->id = s.id;
        slot->source = build(s, s.descriptor->make_source);
        std::vector<DecoderChain::Entry> entries;
        for (const auto& d : s.decoders) {
            entries.push_back({d.type, build(d, d.descriptor->make_decoder)});
        }
        const std::string label = name_ + "/" + s.id;
        slot->chain = std::make_unique<DecoderChain>(std::move(entries), label);
        slot->measurement = s.options.str_or("measurement", "");
        std::string topo_error;
        auto topology = Topology::make(s.options.str_or("topology", "off"), s.options.str_or("topology_pattern", ""),
                                       s.options.str_or("topology_regex", ""), &topo_error);
        if (!topology) {
            throw ConfigError(fmt::format("{}: source '{}': {}", s.pos.str(), s.id, topo_error));
        }
        slot->topology = std::move(*topology);
        if (s.options.has("max_origin_bytes")) {
            slot->max_origin = static_cast<std::size_t>(s.options.size("max_origin_bytes"));
        }
        slot->metrics = ComponentMetrics::for_component(label, "source");
        sources_.push_back(std::move(slot));
    }
    tables_ = tables;
    stream_dropped_ = &m.counter("sluice_stream_dropped_records_total",
                                 "Records a stage sent to a named stream nobody subscribes to", labels);
    for (const auto& s : spec.stages) {
        auto slot = std::make_unique<StageSlot>();
        slot->id = s.id;
        slot->label = name_ + "/" + s.id;
        slot->stage = build(s, s.descriptor->make_stage);
        slot->metrics = ComponentMetrics::for_component(slot->label, "stage");
        const auto tick = slot->stage->tick_interval();
        if (tick.count() > 0 && (tick_interval_.count() == 0 || tick < tick_interval_)) {
            tick_interval_ = tick;
        }
        stages_.push_back(std::move(slot));
    }
    BufferOptions bo;
    bo.path = data_dir / (name_ + ".sqlite");
    bo.max_bytes = spec.buffer.size("max_bytes");
    bo.overflow = parse_overflow(spec.buffer.str("overflow"));
    bo.synchronous = parse_sync(spec.buffer.str("synchronous"));
    for (const auto& s : spec.sinks) {
        auto slot = std::make_unique<SinkSlot>();
        slot->id = s.id;
        slot->label = name_ + "/" + s.id;
        slot->sink = build(s, s.descriptor->make_sink);
        slot->batch_size = static_cast<std::size_t>(s.options.integer("batch_size"));
        slot->retry_initial = s.options.duration("retry_initial");
        slot->retry_max = s.options.duration("retry_max");
        slot->backoff = slot->retry_initial;
        slot->metrics = ComponentMetrics::for_component(slot->label, "sink");
        const Labels sl{{"component", slot->label}};
        slot->retries = &m.counter("sluice_sink_retries_total", "Sends retried after an error", sl);
        slot->dead_lettered = &m.counter("sluice_sink_dead_letters_total", "Records the far side refused", sl);
        slot->batch_seconds = &m.histogram("sluice_sink_batch_duration_seconds", "Time to send one batch", sl);
        slot->backoff_seconds = &m.gauge("sluice_sink_backoff_seconds",
                                         "Current retry back-off (0 while delivering normally)", sl);
        slot->up = &m.gauge("sluice_sink_up", "1 while the sink delivers, 0 while it retries after errors", sl);
        slot->up->set(1);
        slot->backoff_seconds->set(0);
        bo.sinks.push_back(s.id);
        sinks_.push_back(std::move(slot));
    }
    buffer_ = Buffer::open(bo);

    gauges_.push_back(m.gauge_fn("sluice_ingest_queue_frames", "Frames waiting in the ingest queue", labels,
                                 [this] { return static_cast<double>(queue_.size()); }));
    gauges_.push_back(m.gauge_fn("sluice_ingest_queue_bytes", "Bytes waiting in the ingest queue", labels,
                                 [this] { return static_cast<double>(queue_.bytes()); }));
    gauges_.push_back(m.gauge_fn("sluice_ingest_queue_capacity_frames", "Ingest queue limit", labels,
                                 [this] { return static_cast<double>(queue_.max_items()); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_rows", "Rows in the buffer", labels,
                                 [this] { return static_cast<double>(buffer_->snapshot()->rows); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_bytes", "Record bytes in the buffer", labels,
                                 [this] { return static_cast<double>(buffer_->snapshot()->bytes); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_capacity_bytes", "The buffer's byte cap", labels,
                                 [this] { return static_cast<double>(buffer_->options().max_bytes); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_oldest_age_seconds", "Age of the oldest buffered record", labels,
                                 [this] {
                                     const auto oldest = buffer_->snapshot()->oldest_ns;
                                     return oldest == 0 ? 0.0 : static_cast<double>(wall_now_ns() - oldest) / 1e9;
                                 }));
    for (auto& slot : sinks_) {
        SinkSlot* sp = slot.get();
        auto sink_stat = [this, sp](auto field) {
            const auto snap = buffer_->snapshot();  // published by the writer: no SQL here
            for (const auto& s : snap->sinks) {
                if (s.sink == sp->id) {
                    return field(s);
                }
            }
            return 0.0;
        };
        gauges_.push_back(m.gauge_fn("sluice_sink_lag_rows", "Buffered rows this sink has not delivered yet",
                                     {{"component", sp->label}}, [sink_stat] {
                                         return sink_stat([](const SinkStats& s) {
                                             return static_cast<double>(s.lag_rows);
                                         });
                                     }));
        gauges_.push_back(m.gauge_fn("sluice_sink_lag_seconds",
                                     "Age of the oldest record this sink has not delivered yet",
                                     {{"component", sp->label}}, [sink_stat] {
                                         return sink_stat([](const SinkStats& s) {
                                             return s.oldest_pending_ns == 0
                                                        ? 0.0
                                                        : static_cast<double>(wall_now_ns() - s.oldest_pending_ns) / 1e9;
                                         });
                                     }));
    }
    // Stages load their state from the buffer; failures stop the start.
    for (auto& slot : stages_) {
        StageContext ctx;
        ctx.name = slot->label;
        ctx.id = slot->id;
        ctx.metrics = &slot->metrics;
        ctx.tables = tables_;
        ctx.load_state = [this, sp = slot.get()](const std::function<void(std::string_view, std::string_view)>& fn) {
            buffer_->load_state(sp->id, fn);
        };
        try {
            slot->stage->open(ctx);
        } catch (const std::exception& e) {
            throw std::runtime_error(fmt::format("{}: {}", slot->label, e.what()));
        }
    }
}

Pipeline::~Pipeline() {
    if (worker_.joinable() || !sinks_.empty()) {
        stop(std::chrono::steady_clock::now());
    }
}

void Pipeline::start() {
    last_turn_ns_ = mono_now_ns();
    worker_ = std::thread([this] { worker_loop(); });
    for (auto& slot : sinks_) {
        SinkSlot* sp = slot.get();
        sp->thread = std::thread([this, sp] { sink_loop(*sp); });
    }
    sources_running_ = static_cast<int>(sources_.size());
    // Sources start on the loop, which runs no SQLite: their checkpoints are
    // read here (nothing writes one before a source runs).
    auto checkpoints = std::make_shared<const std::map<std::string, std::string, std::less<>>>(
        buffer_->load_checkpoints());
    loop_.call([this, checkpoints] {
        for (std::uint32_t i = 0; i < sources_.size(); ++i) {
            auto& slot = *sources_[i];
            slot.ctx.name = name_ + "/" + slot.id;
            slot.ctx.index = i;
            slot.ctx.ingest = this;
            slot.ctx.loop = &loop_;
            slot.ctx.metrics = &slot.metrics;
            slot.ctx.load_checkpoint = [checkpoints](std::string_view key) -> std::optional<std::string> {
                const auto it = checkpoints->find(key);
                return it == checkpoints->end() ? std::nullopt : std::optional<std::string>(it->second);
            };
            slot.ctx.finished = [this, i] {
                // May be called from a source's own thread.
                loop_.post([this, i] {
                    if (!sources_[i]->finished) {
                        sources_[i]->finished = true;
                        --sources_running_;
                    }
                });
            };
            slot.source->start(slot.ctx);
        }
    });
}

bool Pipeline::sources_finished() const { return sources_running_.load() <= 0; }

void Pipeline::stop(std::chrono::steady_clock::time_point deadline) {
    if (stop_sinks_) {
        return;
    }
    // If the deadline passes while sources or the worker are still blocked
    // (overflow=block with sinks down), close the queue so everything ends.
    std::mutex guard_mu;
    std::condition_variable guard_cv;
    bool guard_done = false;
    std::thread guard([&] {
        std::unique_lock lk(guard_mu);
        if (deadline == std::chrono::steady_clock::time_point::max()) {
            guard_cv.wait(lk, [&] { return guard_done; });
        } else if (!guard_cv.wait_until(lk, deadline, [&] { return guard_done; })) {
            cut_short();
        }
    });
    stop_sources_ = true;
    loop_.call([this] {
        for (auto& s : sources_) {
            s->source->stop();
        }
    });
    queue_.close();  // sources are stopped: nothing more comes in; the worker drains the rest
    if (worker_.joinable()) {
        worker_.join();
    }
    // Sinks deliver what is buffered, then stop (or at the deadline).
    for (auto& s : sinks_) {
        if (s->thread.joinable()) {
            s->thread.join();
        }
        s->sink->close();
    }
    stop_sinks_ = true;
    {
        std::lock_guard lk(guard_mu);
        guard_done = true;
    }
    guard_cv.notify_all();
    guard.join();
    gauges_.clear();
}

void Pipeline::cut_short() {
    log::warn("pipeline {}: shutdown deadline reached; what is not delivered stays buffered", name_);
    queue_.close();
    stop_sinks_ = true;
    sleep_cv_.notify_all();
    buffer_->close_readers();
}

void Pipeline::bound_origin(Frame& f) const {
    const std::size_t limit = f.source < sources_.size() ? sources_[f.source]->max_origin : 1024;
    if (f.origin.size() > limit) {
        f.origin_cut_from = f.origin.size();
        f.origin.resize(limit);
        f.origin.shrink_to_fit();
    }
}

std::size_t Pipeline::try_push(std::vector<Frame>& frames) {
    if (stop_sources_) {
        return 0;
    }
    for (auto& f : frames) {
        bound_origin(f);
    }
    return queue_.try_push(frames);
}

bool Pipeline::push_wait(Frame&& frame) {
    bound_origin(frame);
    return queue_.push_wait(std::move(frame));
}

bool Pipeline::push_all_wait(std::vector<Frame>& frames) {
    for (auto& f : frames) {
        bound_origin(f);
    }
    return queue_.push_all_wait(frames);
}

void Pipeline::when_space(std::uint32_t source, std::function<void()> fn) {
    {
        std::lock_guard lk(space_mu_);
        std::erase_if(space_waiters_, [&](const auto& w) { return w.first == source; });
        space_waiters_.emplace_back(source, std::move(fn));
    }
    maybe_signal_space();
}

void Pipeline::maybe_signal_space() {
    std::vector<std::pair<std::uint32_t, std::function<void()>>> ready;
    {
        std::lock_guard lk(space_mu_);
        if (space_waiters_.empty() || !queue_.has_room_for_half()) {
            return;
        }
        ready.swap(space_waiters_);
    }
    for (auto& w : ready) {
        loop_.post(std::move(w.second));
    }
}

bool Pipeline::sleep_unless_stopping(std::chrono::nanoseconds d, const std::atomic<bool>& flag) {
    std::unique_lock lk(sleep_mu_);
    return !sleep_cv_.wait_for(lk, d, [&] { return flag.load(); });
}

void Pipeline::worker_loop() {
    name_thread("sluice-worker");
    std::vector<Frame> frames;
    std::vector<Record> records;
    std::vector<DeadLetter> dead;
    std::vector<std::pair<std::string, std::string>> checkpoints;
    frames.reserve(batch_max_);
    records.reserve(batch_max_);
    const auto idle_wait = tick_interval_.count() > 0
                               ? std::min<std::chrono::nanoseconds>(tick_interval_, std::chrono::milliseconds(200))
                               : std::chrono::nanoseconds(std::chrono::milliseconds(200));
    std::int64_t last_stage_turn = mono_now_ns();
    const std::int64_t started_ns = mono_now_ns();
    for (;;) {
        stall_if_asked(started_ns);
        last_turn_ns_ = mono_now_ns();
        frames.clear();
        queue_.pop_many(frames, batch_max_, idle_wait);
        bool tick = false;
        if (frames.empty()) {
            maybe_signal_space();
            if (queue_.closed() && queue_.size() == 0) {
                break;
            }
            if (tick_interval_.count() == 0 || mono_now_ns() - last_stage_turn < tick_interval_.count()) {
                continue;
            }
            tick = true;  // no input for a while: let timer-driven stages run
        }
        // Group commit: gather until the batch is full or batch_max_delay passed.
        const auto until = mono_now_ns() + batch_delay_.count();
        while (!tick && frames.size() < batch_max_) {
            const auto left = until - mono_now_ns();
            if (left <= 0 || queue_.pop_many(frames, batch_max_ - frames.size(), std::chrono::nanoseconds(left)) == 0) {
                break;
            }
        }
        maybe_signal_space();

        records.clear();
        dead.clear();
        checkpoints.clear();
        for (const auto& f : frames) {
            auto& src = *sources_[f.source];
            const std::size_t before = records.size();
            DeadLetter dl;
            if (f.origin_cut_from != 0) {
                dl.time_ns = f.arrival_ns;
                dl.origin = f.origin;
                dl.stage = "source";
                dl.reason = fmt::format("origin of {} bytes is longer than max_origin_bytes ({}); cut here",
                                        f.origin_cut_from, src.max_origin);
                dl.payload = f.payload;
                src.metrics.errors->inc();
                src.origin_log.warn("pipeline {}: source '{}': a frame's origin of {} bytes is longer than "
                                    "max_origin_bytes ({}); stored as a dead letter",
                                    name_, src.id, f.origin_cut_from, src.max_origin);
                dead.push_back(std::move(dl));
            } else if (src.chain->decode(f, records, dl)) {
                for (std::size_t i = before; i < records.size(); ++i) {
                    if (src.topology.enabled()) {
                        src.topology.apply(f.origin, records[i]);
                    }
                    if (records[i].measurement.empty() && !src.measurement.empty()) {
                        records[i].measurement = src.measurement;
                    }
                }
            } else {
                dead.push_back(std::move(dl));
            }
            if (f.has_position) {
                src.position_pending = true;
                src.position_epoch = f.position_epoch;
                src.position = f.position;
            }
        }
        for (auto& sp : sources_) {
            if (sp->position_pending) {
                sp->position_pending = false;
                checkpoints.emplace_back(sp->ctx.checkpoint_key,
                                         fmt::format("{}:{}", sp->position_epoch, sp->position));
            }
        }
        last_stage_turn = mono_now_ns();
        run_stages(records, dead, tick);
        // Nothing is acknowledged before this commit; on failure (disk full,
        // I/O error) the batch is kept and retried, and the ingest queue
        // fills up so the sources slow down.
        auto backoff = std::chrono::milliseconds(100);
        bool committed = true;
        for (;;) {
            auto res =
                buffer_->append(records, dead, checkpoints,
                                [this] {
                                    last_turn_ns_ = mono_now_ns();  // waiting for room on purpose, not hung
                                    return !stop_sinks_.load();
                                },
                                state_);
            if (res.ok) {
                records_in_->inc(records.size());
                dead_letters_->inc(dead.size());
                buffer_dropped_->inc(res.dropped);
                if (res.last_id != 0) {
                    last_committed_id_ = res.last_id;
                }
                break;
            }
            commit_errors_->inc();
            if (stop_sinks_) {
                log::error("pipeline {}: {} records not committed at shutdown: {}", name_, records.size(), res.error);
                committed = false;
                break;
            }
            log::error("pipeline {}: buffer commit failed, retrying in {}: {}", name_,
                       format_duration(backoff), res.error);
            // Waiting on purpose: keep turning for the watchdog meanwhile.
            const auto retry_at = mono_now_ns() + std::chrono::nanoseconds(backoff).count();
            for (auto left = std::chrono::nanoseconds(backoff); left.count() > 0 && !stop_sinks_;
                 left = std::chrono::nanoseconds(retry_at - mono_now_ns())) {
                last_turn_ns_ = mono_now_ns();
                sleep_unless_stopping(std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(200)),
                                      stop_sinks_);
            }
            backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
        }
        for (auto& slot : stages_) {
            slot->stage->after_commit(committed);
        }
        if (committed && !streams_.empty()) {
            publish_streams();
        }
        buffer_->notify();
    }
    worker_done_ = true;
    buffer_->notify();
}

void Pipeline::run_stages(std::vector<Record>& records, std::vector<DeadLetter>& dead, bool tick) {
    state_.clear();
    streams_.clear();
    if (stages_.empty()) {
        return;
    }
    const std::int64_t wall = wall_now_ns();
    const std::int64_t mono = mono_now_ns();
    for (auto& slot : stages_) {
        slot->state.clear();
        const std::size_t in = records.size();
        const std::size_t dead_before = dead.size();
        StageBatch b{records, dead, slot->state, streams_, wall, mono, tick};
        slot->stage->process(b);
        slot->metrics.received->inc(in);
        slot->metrics.sent->inc(records.size());
        for (std::size_t i = dead_before; i < dead.size(); ++i) {
            if (dead[i].stage.empty()) {
                dead[i].stage = slot->label;
            }
        }
        for (auto& c : slot->state) {
            state_.emplace_back(slot->id, std::move(c));
        }
        // Later stages of a timer turn see the records an earlier one emitted.
        tick = tick && records.empty();
    }
}

void Pipeline::publish_streams() {
    // Consecutive records for the same stream go out together.
    std::vector<Record> run;
    for (std::size_t i = 0; i < streams_.size();) {
        const std::string& name = streams_[i].first;
        run.clear();
        std::size_t j = i;
        for (; j < streams_.size() && streams_[j].first == name; ++j) {
            run.push_back(std::move(streams_[j].second));
        }
        if (stream_bus().publish(name, run) == 0) {
            stream_dropped_->inc(run.size());
            log_no_stream_.warn("pipeline {}: no `stream` source listens on '{}'; {} records dropped",
                               name_, name, run.size());
        }
        i = j;
    }
    streams_.clear();
}

void Pipeline::sink_loop(SinkSlot& slot) {
    name_thread("sink:" + slot.id);
    std::unique_ptr<BufferReader> reader = buffer_->reader(slot.id);
    SinkContext ctx{slot.label, &slot.metrics, {}};
    try {
        ctx.committed_state = reader->committed_state();
    } catch (const std::exception& e) {
        log::error("{}: {}", slot.label, e.what());
    }
    std::mt19937 rng(std::random_device{}());
    bool opened = false;
    std::vector<StoredRecord> batch;
    std::vector<StoredRecord> next;  // read ahead while `batch` is sent
    bool have_next = false;
    std::vector<Record> records;

    auto fail = [&](const std::string& error) {
        slot.metrics.errors->inc();
        bool first;
        {
            std::lock_guard lk(slot.mu);
            first = slot.healthy || slot.last_error != error;
            slot.healthy = false;
            slot.last_error = error;
        }
        // Jitter spreads the retries of a fleet that lost its uplink together.
        std::uniform_real_distribution<double> jitter(0.5, 1.0);
        const auto wait = std::chrono::nanoseconds(static_cast<std::int64_t>(
            static_cast<double>(slot.backoff.count()) * jitter(rng)));
        if (first) {
            log::warn("{}: {} (retrying with back-off up to {})", slot.label, error, format_duration(slot.retry_max));
        }
        slot.up->set(0);
        slot.backoff_seconds->set(static_cast<double>(wait.count()) / 1e9);
        sleep_unless_stopping(wait, stop_sinks_);
        std::lock_guard lk(slot.mu);  // ready() reads the back-off
        slot.backoff = std::min(slot.backoff * 2, slot.retry_max);
    };

    while (!stop_sinks_) {
        if (!opened) {
            try {
                slot.sink->open(ctx);
                opened = true;
            } catch (const std::exception& e) {
                fail(e.what());
                continue;
            }
        }
        // read_into and the swaps below reuse the vectors' records, so a
        // sink in steady state allocates nothing per record here.
        if (have_next) {
            std::swap(batch, next);
            have_next = false;
        } else {
            reader->read_into(batch, slot.batch_size);
        }
        if (batch.empty()) {
            slot.caught_up = true;
            if (worker_done_.load()) {
                break;  // everything was committed before worker_done_, and all of it is delivered
            }
            reader->wait(std::chrono::milliseconds(200));
            continue;
        }
        slot.caught_up = false;
        if (records.size() < batch.size()) {
            records.resize(batch.size());
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
            std::swap(records[i], batch[i].record);
        }
        const std::span<const Record> sending(records.data(), batch.size());
        // A full batch means a backlog: while this one is sent, the rows
        // delivered before it are trimmed and the next batch is read. The
        // reader is used by one thread at a time (the task is joined before
        // anything below touches it again).
        std::future<void> reading;
        if (batch.size() == slot.batch_size) {
            try {
                reading = std::async(std::launch::async,
                                     [this, &reader, &next, after = batch.back().id, n = slot.batch_size] {
                                         buffer_->trim();
                                         reader->read_after(after, next, n);
                                     });
            } catch (const std::system_error&) {
                // No thread to spare: read after the send, as without a backlog.
            }
        }
        const auto send_started = mono_now_ns();
        SendResult result = slot.sink->send(sending);
        slot.batch_seconds->observe(static_cast<double>(mono_now_ns() - send_started) / 1e9);
        const std::size_t confirmed = std::min(result.confirmed, sending.size());
        if (reading.valid()) {
            try {
                reading.get();
                // Only after a wholly confirmed batch does the next one follow
                // on; otherwise the unconfirmed rows are read again.
                have_next = confirmed == sending.size() && result.error.empty() && !next.empty();
            } catch (const std::exception& e) {
                log::error("{}: reading ahead failed: {}", slot.label, e.what());
            }
        }
        for (const auto& [index, reason] : result.rejected) {
            if (index < confirmed) {
                DeadLetter d;
                d.time_ns = wall_now_ns();
                d.origin = records[index].origin;
                d.stage = slot.label;
                d.reason = reason;
                std::string body;
                append_record_json(body, records[index]);
                d.payload = std::move(body);
                reader->dead_letter(d);
                slot.dead_lettered->inc();
            }
        }
        if (result.state) {
            // Stored even when nothing was confirmed: it may undo partial output.
            reader->commit(confirmed > 0 ? batch[confirmed - 1].id : reader->cursor(), *result.state);
        } else if (confirmed > 0 && have_next) {
            reader->commit_keep_rows(batch[confirmed - 1].id);  // trimmed beside the next send
        } else if (confirmed > 0) {
            reader->commit(batch[confirmed - 1].id);
        }
        if (confirmed > 0) {
            slot.metrics.sent->inc(confirmed - std::min(confirmed, result.rejected.size()));
        }
        if (!result.error.empty()) {
            slot.retries->inc();
            fail(result.error);
        } else {
            std::lock_guard lk(slot.mu);
            if (!slot.healthy) {
                log::info("{}: delivering again", slot.label);
            }
            slot.healthy = true;
            slot.last_error.clear();
            slot.backoff = slot.retry_initial;
            slot.up->set(1);
            slot.backoff_seconds->set(0);
        }
    }
}

bool Pipeline::ready(std::string& detail) const {
    bool ok = true;
    std::shared_ptr<const BufferStats> stats;  // the published snapshot: no SQL on the loop
    for (const auto& s : sinks_) {
        std::lock_guard lk(s->mu);
        if (s->healthy) {
            continue;
        }
        if (!stats) {
            stats = buffer_->snapshot();
        }
        const double fill = static_cast<double>(stats->bytes) / static_cast<double>(buffer_->options().max_bytes);
        const bool within = fill < 0.9;
        detail += fmt::format("{}: {} ({}, buffer {:.0f}% full, retrying every {} at most)\n", s->label,
                              s->last_error, within ? "buffering" : "buffer nearly full", fill * 100,
                              format_duration(s->backoff));
        ok = ok && within;
    }
    return ok;
}

std::uint64_t Pipeline::buffered_rows() const { return buffer_->snapshot()->rows; }

std::size_t Pipeline::sinks_retrying() const {
    std::size_t n = 0;
    for (const auto& s : sinks_) {
        std::lock_guard lk(s->mu);
        n += s->healthy ? 0 : 1;
    }
    return n;
}

// Test-only (see docs/operations.md): with SLUICE_TEST_STALL_WORKER_AFTER_MS
// in the environment of a build with SLUICE_TEST_HOOKS, the worker stops
// turning that long after it started, as a hung decoder or stage would,
// until the pipeline is stopped. The e2e test uses it to see the watchdog
// pings stop. Builds without SLUICE_TEST_HOOKS (the release presets and
// packages) do not contain it.
void Pipeline::stall_if_asked([[maybe_unused]] std::int64_t started_ns) {
#ifdef SLUICE_TEST_HOOKS
    static const std::int64_t after_ns = [] {
        const char* v = std::getenv("SLUICE_TEST_STALL_WORKER_AFTER_MS");
        return v != nullptr && *v != '\0' ? std::atoll(v) * 1'000'000 : std::int64_t{-1};
    }();
    if (after_ns < 0 || stop_sources_.load() || mono_now_ns() - started_ns < after_ns) {
        return;
    }
    log::warn("pipeline {}: worker stalled on purpose (SLUICE_TEST_STALL_WORKER_AFTER_MS, a test hook)", name_);
    while (!stop_sources_.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
#endif
}

}  // namespace sluice
