#include "runtime/pipeline.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "buffer/sqlite.hpp"
#include "core/clock.hpp"
#include "core/ioloop.hpp"
#include "core/log.hpp"
#include "core/source_health.hpp"
#include "core/stop_request.hpp"
#include "core/topology.hpp"
#include "decoders/chain.hpp"

namespace sluice {

struct Pipeline::SourceSlot {
    std::string id;
    std::unique_ptr<Source> source;
    WorkerSource work;  // what the worker decodes its frames with
    ComponentMetrics metrics;
    SourceContext ctx;
    bool finished = false;
    // Watched sources only (Descriptor::watched); see ready().
    std::unique_ptr<SourceHealth> health;
    bool required = false;
};

// ready() and sinks_retrying() read the SinkStatus the runner updates.
struct Pipeline::SinkSlot : SinkStatus {
    std::string id;
    std::string label;
    std::unique_ptr<Sink> sink;
    SinkRunnerOptions options;
    std::unique_ptr<SinkRunner> runner;
    std::thread thread;
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

}  // namespace

Pipeline::Pipeline(const PipelineSpec& spec, const std::filesystem::path& data_dir, IoLoop& loop,
                   TableDirectory* tables)
    : name_(spec.name),
      loop_(loop),
      batch_max_(static_cast<std::size_t>(spec.options.integer("batch_max_records"))),
      batch_delay_(spec.options.duration("batch_max_delay")),
      queue_(static_cast<std::size_t>(spec.options.integer("queue_max_frames")),
             spec.options.memory_size("queue_max_bytes")) {
    const Labels labels{{"pipeline", name_}};
    auto& m = metrics();
    records_in_ = &m.counter("sluice_pipeline_records_total",
                             "Records committed to the buffer after the stages (what the sinks will deliver)",
                             labels);
    dead_letters_ = &m.counter("sluice_pipeline_dead_letters_total",
                               "Dead letters committed to the buffer: frames no decoder accepted and records a stage "
                               "failed on",
                               labels);
    commit_errors_ = &m.counter("sluice_buffer_commit_errors_total",
                                "Buffer transactions that failed (disk full, I/O error); the batch is kept and retried",
                                labels);
    buffer_dropped_ = &m.counter("sluice_buffer_dropped_records_total",
                                 "Rows removed by the drop_oldest overflow policy", labels);
    stats_ = std::make_shared<stats::PipelineStats>(name_);
    stats_->records = records_in_;
    stats_->dead_letters = dead_letters_;
    stats_->end_to_end_metric = &m.histogram(
        "sluice_pipeline_end_to_end_seconds",
        "Time from a frame's receipt to a sink's confirmation of the rows decoded from it, one observation per row "
        "and sink",
        labels, {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600});
    stats_->commit_metric = &m.histogram(
        "sluice_buffer_commit_seconds",
        "Time one buffer transaction took (a batch's records, dead letters, checkpoints and state), including any "
        "wait for room under overflow=block",
        labels, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});

    for (std::size_t i = 0; i < spec.sources.size(); ++i) {
        const auto& s = spec.sources[i];
        auto slot = std::make_unique<SourceSlot>();
        slot->id = s.id;
        slot->source = build(s, s.descriptor->make_source);
        std::vector<DecoderChain::Entry> entries;
        for (const auto& d : s.decoders) {
            entries.push_back({d.type, build(d, d.descriptor->make_decoder), d.id});
        }
        const std::string label = name_ + "/" + s.id;
        slot->work.id = s.id;
        slot->work.chain = std::make_unique<DecoderChain>(std::move(entries), label);
        const SourceCommon common = source_common_options(s.options);
        slot->work.measurement = common.measurement;
        std::string topo_error;
        auto topology = Topology::make(common.topology, common.topology_pattern, common.topology_regex, &topo_error);
        if (!topology) {
            throw ConfigError(fmt::format("{}: source '{}': {}", s.pos.str(), s.id, topo_error));
        }
        slot->work.topology = std::move(*topology);
        if (slot->work.topology.enabled()) {
            slot->work.topology_mismatches = &m.counter(
                "sluice_source_topology_mismatches_total",
                "Frames whose origin did not fit the source's topology layout (their records got no topology tags)",
                {{"component", label}});
        }
        slot->work.max_origin = common.max_origin_bytes;
        if (s.descriptor->watched) {
            slot->health = std::make_unique<SourceHealth>();
            slot->required = common.required;
            slot->ctx.health = slot->health.get();
            gauges_.push_back(m.gauge_fn("sluice_source_up",
                                         "1 while the source is connected (broker, publisher, device), 0 while it is "
                                         "down or connecting",
                                         {{"component", label}},
                                         [h = slot->health.get()] { return h->is_up() ? 1.0 : 0.0; }));
        }
        slot->metrics = ComponentMetrics::for_component(label, "source");
        slot->work.metrics = &slot->metrics;
        {
            auto st = std::make_unique<stats::SourceStats>();
            st->id = s.id;
            st->type = s.type;
            st->frames = slot->metrics.received;
            st->bytes = slot->metrics.received_bytes;
            st->errors = slot->metrics.errors;
            if (slot->health) {
                st->up = [h = slot->health.get()] { return h->is_up(); };
            }
            stats_->sources.push_back(std::move(st));
        }
        slot->work.checkpoint_key = &slot->ctx.checkpoint_key;
        slot->work.position_per_epoch = &slot->ctx.position_per_epoch;
        slot->work.committed = &slot->ctx.committed;
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
        {
            auto st = std::make_unique<stats::StageStats>();
            st->id = s.id;
            st->type = s.type;
            st->in = slot->metrics.received;
            st->out = slot->metrics.sent;
            st->errors = slot->metrics.errors;
            st->dropped = slot->metrics.dropped;
            slot->stats = st.get();
            stats_->stages.push_back(std::move(st));
        }
        stages_.push_back(std::move(slot));
    }
    BufferOptions bo;
    bo.path = data_dir / (name_ + ".sqlite");
    bo.max_bytes = spec.buffer.size("max_bytes");
    bo.overflow = parse_overflow(spec.buffer.str("overflow"));
    bo.synchronous = parse_sync(spec.buffer.str("synchronous"));
    bo.retain = spec.buffer.duration("retain");
    bo.retain_bytes = spec.buffer.size("retain_bytes");
    for (const auto& s : spec.sinks) {
        auto slot = std::make_unique<SinkSlot>();
        slot->id = s.id;
        slot->label = name_ + "/" + s.id;
        slot->sink = build(s, s.descriptor->make_sink);
        slot->options.id = s.id;
        slot->options.label = slot->label;
        const SinkCommon common = sink_common_options(s.options);
        slot->options.batch_size = common.batch_size;
        slot->options.batch_max = common.batch_size * common.batch_growth;
        slot->options.retry_initial = common.retry_initial;
        slot->options.retry_max = common.retry_max;
        bo.sinks.push_back(s.id);
        sinks_.push_back(std::move(slot));
    }
    buffer_ = Buffer::open(bo);
    stats_->buffer = [this] { return buffer_->snapshot(); };
    stats_->buffer_max_bytes = bo.max_bytes;
    for (std::size_t i = 0; i < sinks_.size(); ++i) {
        auto& slot = sinks_[i];
        slot->runner = std::make_unique<SinkRunner>(slot->options, *slot->sink, *buffer_, *slot, stop_sinks_,
                                                    worker_done_, clock_);
        auto st = std::make_unique<stats::SinkStats>();
        st->id = slot->id;
        st->type = spec.sinks[i].type;
        st->sent = slot->runner->metrics().sent;
        st->errors = slot->runner->metrics().errors;
        st->status = [sp = slot.get()](bool& up, std::string& last_error) {
            std::lock_guard lk(sp->mu);
            up = sp->healthy;
            last_error = sp->last_error;
        };
        stats_->sinks.push_back(std::move(st));
        slot->runner->set_stats(stats_.get(), i);
    }
    {
        WorkerOptions wo;
        wo.pipeline = name_;
        wo.batch_max = batch_max_;
        wo.batch_delay = batch_delay_;
        // Adaptive batching (see WorkerOptions): under a backlog up to
        // kBatchGrowth times batch_max_records in one transaction, bounded
        // by a quarter of the ingest queue's bytes (at most 1 MiB of frames)
        // so the peak memory stays near what the queue itself may hold.
        constexpr std::size_t kBatchGrowth = 4;
        constexpr std::size_t kGrowBytesMax = 1 << 20;
        wo.batch_grow_max = batch_max_ * kBatchGrowth;
        wo.batch_grow_bytes = std::min<std::size_t>(static_cast<std::size_t>(spec.options.memory_size("queue_max_bytes")) / 4, kGrowBytesMax);
        std::vector<WorkerSource*> work_sources;
        for (auto& s : sources_) {
            work_sources.push_back(&s->work);
        }
        std::vector<WorkerStage*> work_stages;
        for (auto& s : stages_) {
            work_stages.push_back(s.get());
        }
        const WorkerCounters counters{records_in_,
                                      dead_letters_,
                                      commit_errors_,
                                      buffer_dropped_,
                                      stream_dropped_,
                                      stats_.get(),
                                      &m.histogram("sluice_pipeline_batch_frames",
                                                   "Frames taken into one buffer transaction: up to "
                                                   "batch_max_records, and up to 4 times that while the ingest "
                                                   "queue has a backlog (adaptive batching)",
                                                   labels,
                                                   {1, 10, 100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000,
                                                    64000, 128000, 800000})};
        worker_ = std::make_unique<Worker>(
            wo, queue_, *buffer_, std::move(work_sources), std::move(work_stages), counters, stop_sinks_,
            worker_done_, clock_, [this] { maybe_signal_space(); },
            [this, started = std::make_shared<std::int64_t>(0)] {
                if (*started == 0) {
                    *started = mono_now_ns();
                }
                stall_if_asked(*started);
            });
    }

    gauges_.push_back(m.gauge_fn("sluice_ingest_queue_frames", "Frames waiting in the ingest queue", labels,
                                 [this] { return static_cast<double>(queue_.size()); }));
    gauges_.push_back(m.gauge_fn("sluice_ingest_queue_bytes", "Bytes waiting in the ingest queue", labels,
                                 [this] { return static_cast<double>(queue_.bytes()); }));
    gauges_.push_back(m.gauge_fn("sluice_ingest_queue_capacity_frames",
                                 "The ingest queue's limit in frames (queue_max_frames)", labels,
                                 [this] { return static_cast<double>(queue_.max_items()); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_rows",
                                 "Rows (records) stored in the buffer, delivered or not, until trimmed", labels,
                                 [this] { return static_cast<double>(buffer_->snapshot()->rows); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_bytes",
                                 "Bytes of the records stored in the buffer (their encoded size)", labels,
                                 [this] { return static_cast<double>(buffer_->snapshot()->bytes); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_file_bytes",
                                 "The buffer's size on disk (database, WAL, shared memory, reserve file)", labels,
                                 [this] { return static_cast<double>(buffer_->snapshot()->file_bytes); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_disk_full", "1 while the buffer's file system is full", labels,
                                 [this] { return buffer_->snapshot()->disk_full ? 1.0 : 0.0; }));
    // Whoever met the full disk first (an append, a cursor update, a trim)
    // started the episode: the buffer counts them all.
    gauges_.push_back(m.counter_fn("sluice_buffer_disk_full_total",
                                   "Times the buffer found its file system full before its cap (episodes)", labels,
                                   [this] { return static_cast<double>(buffer_->snapshot()->disk_full_episodes); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_capacity_bytes", "The buffer's byte cap (max_bytes)", labels,
                                 [this] { return static_cast<double>(buffer_->options().max_bytes); }));
    gauges_.push_back(m.gauge_fn("sluice_buffer_oldest_age_seconds",
                                 "Seconds since the time of the oldest record stored in the buffer, kept ones (retain) included (0: empty); "
                                 "sluice_sink_lag_seconds is per sink's oldest undelivered record", labels,
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
        ctx.wait = worker_wait_hooks();
        ctx.data_dir = data_dir;
        ctx.load_state = [this, sp = slot.get()](const std::function<void(std::string_view, std::string_view)>& fn) {
            buffer_->load_state(sp->id, fn);
        };
        try {
            slot->stage->open(ctx);
        } catch (const std::exception& e) {
            throw std::runtime_error(fmt::format("{}: {}", slot->label, e.what()));
        }
    }
    // Decoders with state (sparkplug_b) load it the same way, each under
    // "<source id>/decoder/<decoder id>".
    for (auto& slot : sources_) {
        try {
            slot->work.chain->open(
                slot->id, [this](std::string_view ns, const auto& fn) { buffer_->load_state(ns, fn); },
                worker_wait_hooks());
        } catch (const std::exception& e) {
            throw std::runtime_error(fmt::format("{}/{}: {}", name_, slot->id, e.what()));
        }
    }
    stats::hub().add_pipeline(stats_);
    stats_registered_ = true;
}

WaitHooks Pipeline::worker_wait_hooks() {
    return WaitHooks{.stopping = &stop_sinks_, .waiting = [w = worker_.get()] { w->mark_turn(); }};
}

Pipeline::~Pipeline() {
    if (stats_registered_) {
        stats::hub().remove_pipeline(stats_.get());
        stats_registered_ = false;
    }
    if (worker_thread_.joinable() || !sinks_.empty()) {
        stop(std::chrono::steady_clock::now());
    }
}

void Pipeline::start() {
    worker_->mark_turn();
    worker_thread_ = std::thread([this] { worker_->run(); });
    for (auto& slot : sinks_) {
        slot->thread = std::thread([r = slot->runner.get()] { r->run(); });
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
            slot.ctx.commit_soon = [this] { worker_->commit_soon(); };
            slot.ctx.finished = [this, i] {
                // May be called from a source's own thread.
                loop_.post([this, i] {
                    if (!sources_[i]->finished) {
                        sources_[i]->finished = true;
                        if (--sources_running_ <= 0) {
                            wake_main();  // the gateway drains and exits once every source finished
                        }
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
            // Delivering what is buffered, with no end set: say now and then
            // what is left and why, so a dead sink is not a silent wait.
            const auto every = drain_report_interval();
            while (!guard_cv.wait_for(lk, every, [&] { return guard_done; })) {
                report_drain();
            }
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
    if (worker_thread_.joinable()) {
        worker_thread_.join();
    }
    // Sinks deliver what is buffered, then stop (or at the deadline).
    for (auto& s : sinks_) {
        if (s->thread.joinable()) {
            s->thread.join();
        }
        s->runner->close();
    }
    stop_sinks_ = true;
    {
        std::lock_guard lk(guard_mu);
        guard_done = true;
    }
    guard_cv.notify_all();
    guard.join();
    gauges_.clear();
    if (stats_registered_) {
        stats::hub().remove_pipeline(stats_.get());
        stats_registered_ = false;
    }
}

void Pipeline::cut_short() {
    if (!stop_requested()) {
        log::warn("pipeline {}: shutdown deadline reached; what is not delivered stays buffered", name_);
    }
    queue_.close();
    stop_sinks_ = true;
    clock_.wake();
    buffer_->close_readers();
}

void Pipeline::bound_origin(Frame& f) const {
    const std::size_t limit = f.source < sources_.size() ? sources_[f.source]->work.max_origin : 1024;
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

void Pipeline::replay(const std::string& sink, std::uint64_t from_id, std::function<void(ReplayOutcome)> done) {
    const auto slot = std::find_if(sinks_.begin(), sinks_.end(), [&](const auto& s) { return s->id == sink; });
    if (slot == sinks_.end()) {
        std::string known;
        for (const auto& s : sinks_) {
            known += known.empty() ? s->id : ", " + s->id;
        }
        done(ReplayOutcome{404, fmt::format("pipeline '{}' has no sink '{}' (its sinks: {})", name_, sink, known), {}, 0});
        return;
    }
    (*slot)->runner->request_replay(from_id, [done = std::move(done)](const ReaderResult& r, std::uint64_t records) {
        done(r.ok ? ReplayOutcome{200, "", {}, records} : ReplayOutcome{409, r.error, {}, 0});
    });
}

bool Pipeline::ready(std::string& detail) const {
    bool ok = true;
    if (const std::string failure = worker_ ? worker_->commit_failure() : std::string(); !failure.empty()) {
        // Nothing new is acknowledged while commits fail (disk full, I/O error).
        detail += fmt::format("pipeline {}: buffer commits failing, nothing new is accepted (retrying): {}\n",
                              name_, failure);
        ok = false;
    }
    const std::int64_t now = mono_now_ns();
    for (const auto& s : sources_) {
        if (!s->health) {
            continue;
        }
        const SourceHealth::View v = s->health->view();
        if (v.up) {
            continue;
        }
        detail += fmt::format("{}/{}: source down for {}{}: {}\n", name_, s->id,
                              format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::nanoseconds(now - v.since_ns))),
                              s->required ? " (required)" : "", v.reason);
        ok = ok && !s->required;
    }
    std::shared_ptr<const BufferStats> stats;  // the published snapshot: no SQL on the loop
    for (const auto& s : sinks_) {
        std::lock_guard lk(s->mu);
        if (s->healthy) {
            continue;
        }
        if (!stats) {
            stats = buffer_->snapshot();
        }
        // Rows kept for replay (retain) are given up at the cap: only the
        // undelivered share of the bytes counts (rows are of about one size).
        const double pending_bytes =
            stats->rows == 0 ? 0.0
                             : static_cast<double>(stats->bytes) * static_cast<double>(stats->pending_rows) /
                                   static_cast<double>(stats->rows);
        const double fill = pending_bytes / static_cast<double>(buffer_->options().max_bytes);
        const bool within = fill < 0.9;
        detail += fmt::format("{}: {} ({}, buffer {:.0f}% full, retrying every {} at most)\n", s->label,
                              s->last_error, within ? "buffering" : "buffer nearly full", fill * 100,
                              format_duration(s->backoff));
        ok = ok && within;
    }
    return ok;
}

std::uint64_t Pipeline::buffered_rows() const { return buffer_->snapshot()->pending_rows; }

bool Pipeline::buffer_damaged() const {
    return buffer_ && buffer_detail::damage_seen(buffer_->options().path.string());
}

std::size_t Pipeline::sinks_retrying() const {
    std::size_t n = 0;
    for (const auto& s : sinks_) {
        std::lock_guard lk(s->mu);
        n += s->healthy ? 0 : 1;
    }
    return n;
}

// Once a minute; a test sets SLUICE_TEST_DRAIN_REPORT_MS (in builds with
// SLUICE_TEST_HOOKS) to hear it sooner.
std::chrono::milliseconds Pipeline::drain_report_interval() {
    std::chrono::milliseconds every = std::chrono::minutes(1);
#ifdef SLUICE_TEST_HOOKS
    if (const char* v = std::getenv("SLUICE_TEST_DRAIN_REPORT_MS"); v != nullptr && std::atoll(v) > 0) {
        every = std::chrono::milliseconds(std::atoll(v));
    }
#endif
    return every;
}

void Pipeline::report_drain() const {
    const auto snap = buffer_->snapshot();
    std::string parts;
    for (const auto& slot : sinks_) {
        std::uint64_t left = 0;
        for (const auto& s : snap->sinks) {
            if (s.sink == slot->id) {
                left = s.lag_rows;
            }
        }
        std::string why;
        {
            std::lock_guard lk(slot->mu);
            why = slot->healthy ? std::string(left == 0 ? "done" : "delivering")
                                : fmt::format("sink down: {}", slot->last_error);
        }
        parts += fmt::format("{}{}: {} row(s) left ({})", parts.empty() ? "" : "; ", slot->label, left, why);
    }
    log::info("pipeline {}: still delivering what is buffered: {}", name_, parts);
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
