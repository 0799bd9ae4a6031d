// The window stage: tumbling, hopping and session windows over event or
// processing time, with a watermark, group_by, aggregates (percentiles from
// a DDSketch), bounded memory and state checkpointed with the batch that
// changed it. README.md beside this file describes the behaviour; this
// comment only maps the code.
//
// Tumbling and hopping windows keep one pane per group and gcd(size, hop)
// slice of time, never one state per overlapping window: a window is the
// merge of its panes when it closes. Groups with windows to close are found
// through a calendar (close time → groups), so a watermark jump visits only
// the groups that have something to close, never every window in between.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/record_json.hpp"
#include "decoders/timestamp.hpp"
#include "stages/window/sketch.hpp"
#include "stages/window/window_state.hpp"

namespace sluice::components {
namespace {

using window::DDSketch;
using window::FieldAcc;
using window::Meta;
using window::PaneData;
using window::SketchMapping;

constexpr std::int64_t kNone = Meta::kNone;
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
// Record times the stage can place: within about 146 years of 1970 (1824 to
// 2116), so window arithmetic never overflows.
constexpr std::int64_t kTimeLimit = std::int64_t{1} << 62;
// Panes per window at most (size / gcd(size, hop)).
constexpr std::int64_t kMaxPanesPerWindow = 4096;

enum class WindowKind { Tumbling, Hopping, Session };
enum class TimeMode { Event, Processing };
enum class LatePolicy { DeadLetter, Stream, Drop };
enum class EvictPolicy { Emit, Drop };
enum class Agg { Count, Sum, Min, Max, Mean, Stddev, First, Last, Rate, Delta, Percentile };

struct AggSpec {
    Agg agg = Agg::Count;
    double q = 0;          // Percentile: 0..1
    std::string out_name;  // "<field>_<aggregate>"
};

struct FieldSpec {
    std::string name;
    std::vector<AggSpec> aggs;
};

struct Config {
    WindowKind kind = WindowKind::Tumbling;
    TimeMode time = TimeMode::Event;
    std::int64_t size = 0;
    std::int64_t hop = 0;
    std::int64_t gap = 0;
    std::int64_t pane = 0;
    std::int64_t lateness = 0;
    LatePolicy late = LatePolicy::DeadLetter;
    std::string late_stream;
    std::vector<std::string> group_by;
    std::vector<std::string> group_by_fields;
    std::vector<FieldSpec> fields;
    bool percentiles = false;
    double accuracy = 0.01;
    std::uint32_t max_buckets = 2048;
    std::string measurement;
    std::size_t max_groups = 100000;
    EvictPolicy evict = EvictPolicy::Emit;
    std::int64_t emit_partial = 0;
    std::int64_t idle_timeout = 0;
    std::int64_t min_valid_time = 0;
    std::int64_t max_future = 0;
};

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

std::string fmt_time(std::int64_t t) {
    std::string s;
    append_rfc3339(s, t);
    return s;
}

std::string fmt_dur(std::int64_t ns) { return format_duration(std::chrono::nanoseconds(ns)); }

constexpr std::string_view kAggNames[] = {"count", "sum", "min", "max", "mean", "stddev",
                                          "first", "last", "rate", "delta"};

std::optional<AggSpec> parse_agg(std::string_view text) {
    AggSpec a;
    for (std::size_t i = 0; i < std::size(kAggNames); ++i) {
        if (text == kAggNames[i]) {
            a.agg = static_cast<Agg>(i);
            a.out_name = std::string(text);
            return a;
        }
    }
    if (text.size() >= 2 && (text[0] == 'p' || text[0] == 'P')) {
        const std::string num(text.substr(1));
        char* end = nullptr;
        const double v = std::strtod(num.c_str(), &end);
        const bool digits = std::all_of(num.begin(), num.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
        if (digits && end == num.c_str() + num.size() && v >= 0 && v <= 100) {
            a.agg = Agg::Percentile;
            a.q = v / 100;
            a.out_name = "p" + num;
            std::replace(a.out_name.begin(), a.out_name.end(), '.', '_');
            return a;
        }
    }
    return std::nullopt;
}

Config parse_config(const Options& o) {
    Config c;
    const std::string& kind = o.str("kind");
    c.kind = kind == "hopping" ? WindowKind::Hopping : kind == "session" ? WindowKind::Session : WindowKind::Tumbling;
    c.time = o.str("time") == "processing" ? TimeMode::Processing : TimeMode::Event;
    c.size = o.duration("size").count();
    if (o.is_explicit("hop") && c.kind != WindowKind::Hopping) {
        throw ConfigError(fmt::format("'hop' is for kind = \"hopping\" (this window is {})", kind));
    }
    if (o.is_explicit("gap") && c.kind != WindowKind::Session) {
        throw ConfigError(fmt::format("'gap' is for kind = \"session\" (this window is {})", kind));
    }
    if (o.is_explicit("size") && c.kind == WindowKind::Session) {
        throw ConfigError("a session window has no 'size': it lasts until 'gap' passes without a record");
    }
    switch (c.kind) {
        case WindowKind::Tumbling:
            c.hop = c.size;
            break;
        case WindowKind::Hopping:
            if (!o.has("hop")) {
                throw ConfigError("kind = \"hopping\" needs 'hop' (how often a window starts, e.g. \"10s\")");
            }
            c.hop = o.duration("hop").count();
            if (c.hop > c.size) {
                throw ConfigError(fmt::format("'hop' ({}) must not be longer than 'size' ({})", fmt_dur(c.hop),
                                              fmt_dur(c.size)));
            }
            break;
        case WindowKind::Session:
            if (!o.has("gap")) {
                throw ConfigError("kind = \"session\" needs 'gap' (the silence that ends a session, e.g. \"5m\")");
            }
            c.gap = o.duration("gap").count();
            break;
    }
    if (c.kind != WindowKind::Session) {
        c.pane = std::gcd(c.size, c.hop);
        if (c.size / c.pane > kMaxPanesPerWindow) {
            throw ConfigError(fmt::format("'size' {} and 'hop' {} slice each window into {} panes (at most {}): choose "
                                          "a hop that divides the size more evenly",
                                          fmt_dur(c.size), fmt_dur(c.hop), c.size / c.pane, kMaxPanesPerWindow));
        }
    }
    c.lateness = o.duration("allowed_lateness").count();
    const std::string& late = o.str("late");
    c.late = late == "stream" ? LatePolicy::Stream : late == "drop" ? LatePolicy::Drop : LatePolicy::DeadLetter;
    c.late_stream = o.str_or("late_stream", "");
    if (c.late == LatePolicy::Stream && c.late_stream.empty()) {
        throw ConfigError("late = \"stream\" needs 'late_stream' (the stream a `stream` source reads)");
    }
    if (c.late != LatePolicy::Stream && !c.late_stream.empty()) {
        throw ConfigError("'late_stream' is only used with late = \"stream\"");
    }
    if (o.has("group_by")) {
        c.group_by = o.list("group_by");
    }
    if (o.has("group_by_fields")) {
        c.group_by_fields = o.list("group_by_fields");
    }
    std::vector<std::string> fields;
    if (o.has("fields")) {
        fields = o.list("fields");
    }
    auto field_index = [&](const std::string& name) {
        for (std::size_t i = 0; i < c.fields.size(); ++i) {
            if (c.fields[i].name == name) {
                return i;
            }
        }
        c.fields.push_back(FieldSpec{name, {}});
        return c.fields.size() - 1;
    };
    for (const auto& f : fields) {
        field_index(f);
    }
    auto add_agg = [&](std::size_t fi, AggSpec a) {
        auto& spec = c.fields[fi];
        a.out_name = spec.name + "_" + a.out_name;
        for (const auto& existing : spec.aggs) {
            if (existing.out_name == a.out_name) {
                return;
            }
        }
        c.percentiles = c.percentiles || a.agg == Agg::Percentile;
        spec.aggs.push_back(std::move(a));
    };
    const std::vector<std::string> aggregates = o.has("aggregates") ? o.list("aggregates") : std::vector<std::string>{};
    for (const auto& entry : aggregates) {
        const auto colon = entry.rfind(':');
        const std::string_view agg_text =
            colon == std::string::npos ? std::string_view(entry) : std::string_view(entry).substr(colon + 1);
        auto a = parse_agg(agg_text);
        if (!a) {
            std::string msg = fmt::format("unknown aggregate '{}' in 'aggregates'", agg_text);
            if (auto near = did_you_mean(agg_text, std::span<const std::string_view>(kAggNames))) {
                msg += fmt::format(" (did you mean '{}'?)", *near);
            } else {
                msg += " (count, sum, min, max, mean, stddev, first, last, rate, delta, or a percentile such as p99)";
            }
            throw ConfigError(msg);
        }
        if (colon != std::string::npos) {
            const std::string field = entry.substr(0, colon);
            if (field.empty()) {
                throw ConfigError(fmt::format("aggregate '{}' names no field before ':'", entry));
            }
            add_agg(field_index(field), *a);
        } else {
            for (std::size_t i = 0; i < fields.size(); ++i) {
                add_agg(field_index(fields[i]), *a);
            }
        }
    }
    if (c.fields.size() > 256) {
        throw ConfigError("at most 256 fields can be aggregated by one window stage");
    }
    c.accuracy = o.number("percentile_accuracy");
    c.max_buckets = static_cast<std::uint32_t>(o.integer("percentile_max_buckets"));
    c.measurement = o.str_or("measurement", "");
    c.max_groups = static_cast<std::size_t>(o.integer("max_groups"));
    c.evict = o.str("evict") == "drop" ? EvictPolicy::Drop : EvictPolicy::Emit;
    c.emit_partial = o.duration("emit_partial").count();
    c.idle_timeout = o.duration("idle_timeout").count();
    if (c.idle_timeout > 0 && c.time == TimeMode::Processing) {
        throw ConfigError("'idle_timeout' is for event-time windows; processing-time windows close on the clock");
    }
    const std::string mv = o.str("min_valid_time");
    if (mv == "off" || mv.empty()) {
        c.min_valid_time = -kTimeLimit;
    } else if (auto t = decoders::parse_iso8601(mv)) {
        c.min_valid_time = std::max(*t, -kTimeLimit);
    } else {
        throw ConfigError(fmt::format("min_valid_time: cannot read '{}' as a date (e.g. \"2020-01-01\") or \"off\"", mv));
    }
    c.max_future = o.duration("max_future").count();
    return c;
}

// A pane of a tumbling/hopping window, or one session.
struct Pane {
    std::int64_t start = 0;
    std::int64_t persisted_start = kNone;  // the key it is stored under, kNone if not stored
    bool dirty = false;
    PaneData data;
};

// A group key, kept inside the group when short (the common case) so a
// lookup compares it without another cache miss.
class GroupKey {
public:
    void assign(std::string_view k) {
        size_ = static_cast<std::uint32_t>(k.size());
        if (k.size() <= kInline) {
            heap_.reset();
            std::memcpy(buf_, k.data(), k.size());
        } else {
            heap_ = std::make_unique<char[]>(k.size());
            std::memcpy(heap_.get(), k.data(), k.size());
        }
    }
    std::string_view view() const { return {size_ <= kInline ? buf_ : heap_.get(), size_}; }
    void clear() {
        size_ = 0;
        heap_.reset();
    }

private:
    static constexpr std::size_t kInline = 40;
    std::uint32_t size_ = 0;
    char buf_[kInline] = {};
    std::unique_ptr<char[]> heap_;
};

// The fields a record's lookup touches come first.
struct Group {
    std::uint64_t hash = 0;
    GroupKey key;
    std::vector<Pane> panes;  // sorted by start; [0, live) in use, the rest kept for reuse
    std::size_t live = 0;
    std::int64_t next_close = kNever;
    bool used = false;
    bool referenced = false;  // updated since the eviction clock last passed
    bool dirty = false;
    bool partial_dirty = false;
    std::uint32_t generation = 0;
    std::string measurement;
    std::vector<Tag> tags;
};

// The group table's hash (in memory only: not stable across platforms).
std::uint64_t mix64(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

std::uint64_t hash_key(std::string_view s) {
    std::uint64_t h = 0x9e3779b97f4a7c15ull ^ s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, s.data() + i, 8);
        h = mix64(h ^ w);
    }
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    return mix64(h ^ w ^ (static_cast<std::uint64_t>(s.size() - i) << 56));
}

// A window ready to go out, sorted before emission so the output does not
// depend on how the input was cut into batches.
struct Emitted {
    std::int64_t end;
    std::int64_t start;
    std::string key;
    Record record;
};

constexpr std::uint32_t kNil = std::numeric_limits<std::uint32_t>::max();

class WindowStage final : public Stage {
public:
    explicit WindowStage(Config c)
        : cfg_(std::move(c)), mapping_(cfg_.accuracy, cfg_.max_buckets) {
        scratch_.reset(cfg_.fields.size());
        fingerprint_ = compute_fingerprint();
    }

    void open(StageContext& ctx) override {
        name_ = ctx.name;
        id_ = ctx.id;
        component_ = ctx.metrics;
        auto& m = metrics();
        const Labels labels{{"component", name_}};
        late_total_ = &m.counter("sluice_window_late_records_total",
                                 "Records that came after their window closed (beyond allowed_lateness)", labels);
        invalid_total_ = &m.counter("sluice_window_invalid_time_records_total",
                                    "Records whose time is before min_valid_time or beyond max_future", labels);
        emitted_total_ = &m.counter("sluice_window_emitted_total", "Windows emitted on close", labels);
        partial_total_ = &m.counter("sluice_window_partial_emitted_total", "Early partial window updates", labels);
        evicted_total_ = &m.counter("sluice_window_evictions_total",
                                    "Groups evicted because max_groups were open", labels);
        discarded_total_ = &m.counter("sluice_window_state_discarded_total",
                                      "Stored window states dropped at start-up (unreadable or from another config)",
                                      labels);
        open_groups_gauge_ = &m.gauge("sluice_window_open_groups", "Groups with open windows", labels);
        watermark_gauge_ = &m.gauge("sluice_window_watermark_seconds",
                                    "The window clock: event-time watermark or processing time (Unix seconds)",
                                    labels);
        load(ctx);
    }

    std::chrono::nanoseconds tick_interval() const override {
        std::int64_t t = 0;
        auto take = [&](std::int64_t v) {
            if (v > 0) {
                v = std::clamp<std::int64_t>(v, 10'000'000, 1'000'000'000);
                t = t == 0 ? v : std::min(t, v);
            }
        };
        if (cfg_.time == TimeMode::Processing) {
            take(cfg_.kind == WindowKind::Session ? cfg_.gap / 4 : cfg_.pane / 4);
        }
        take(cfg_.idle_timeout / 4);
        take(cfg_.emit_partial);
        return std::chrono::nanoseconds(t);
    }

    void process(StageBatch& b) override {
        if (!clocks_started_) {
            start_clocks(b);
        }
        for (auto& ch : pending_erase_) {
            b.state.push_back(std::move(ch));
        }
        pending_erase_.clear();
        state_ = &b.state;
        std::int64_t pt = 0;
        if (cfg_.time == TimeMode::Processing) {
            pt = processing_now(b);
            wm_ = std::max(wm_, pt);
        }
        // Keys and hashes first, so the loop below can fetch each record's
        // group and pane from memory a few records ahead of using them.
        const std::size_t n = b.records.size();
        if (keys_.size() < n) {
            keys_.resize(n);
        }
        hashes_.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            build_key(b.records[i], keys_[i]);
            hashes_[i] = hash_key(keys_[i]);
        }
        for (std::size_t i = 0; i < n; ++i) {
            prefetch_ahead(i, n);
            auto& r = b.records[i];
            if (cfg_.time == TimeMode::Event) {
                add_event(r, b, keys_[i], hashes_[i]);
            } else {
                add(r, pt, b, keys_[i], hashes_[i]);
            }
        }
        if (!b.records.empty()) {
            last_input_mono_ = b.mono_ns;
        } else if (cfg_.idle_timeout > 0 && cfg_.time == TimeMode::Event && open_groups_ > 0 &&
                   b.mono_ns - last_input_mono_ >= cfg_.idle_timeout && max_end_seen_ > wm_) {
            // Idle: close every open window as if the watermark had passed it.
            wm_ = max_end_seen_;
        }
        b.records.clear();
        close_through(wm_);
        if (cfg_.emit_partial > 0 && b.mono_ns - last_partial_mono_ >= cfg_.emit_partial) {
            last_partial_mono_ = b.mono_ns;
            emit_partials();
        }
        flush_emitted(b.records);
        checkpoint(b.state);
        state_ = nullptr;
        open_groups_gauge_->set(static_cast<double>(open_groups_));
        if (wm_ != kNone) {
            watermark_gauge_->set(static_cast<double>(wm_) / 1e9);
        }
    }

private:
    // ------------------------------------------------------------ clocks

    void start_clocks(const StageBatch& b) {
        clocks_started_ = true;
        last_input_mono_ = b.mono_ns;
        last_partial_mono_ = b.mono_ns;
        // Processing time resumes where it stopped, or at the wall clock if
        // that is set and later (time spent down is not processing time
        // unless the wall clock says so).
        std::int64_t base = pt_stored_ != kNone ? pt_stored_ : b.wall_ns;
        if (b.wall_ns >= cfg_.min_valid_time && b.wall_ns > base) {
            base = b.wall_ns;
        }
        pt_base_ = base;
        mono_base_ = b.mono_ns;
    }

    std::int64_t processing_now(const StageBatch& b) {
        std::int64_t now = pt_base_ + (b.mono_ns - mono_base_);
        if (now < cfg_.min_valid_time && b.wall_ns >= cfg_.min_valid_time) {
            // The wall clock got set (a board without RTC after NTP): jump
            // forward to it once; windows passed on the way close now.
            log::info("{}: the wall clock is set now ({}); processing time jumps forward from {}", name_,
                      fmt_time(b.wall_ns), fmt_time(now));
            pt_base_ = b.wall_ns;
            mono_base_ = b.mono_ns;
            now = b.wall_ns;
        }
        pt_now_ = now;
        return now;
    }

    // ------------------------------------------------------------ input

    // Memory prefetches for records further down the batch: the table slot,
    // then the group, then its newest pane, then that pane's field state.
    // Only hints: each step re-reads the current state, nothing is trusted.
    void prefetch_ahead(std::size_t i, std::size_t n) {
        if (table_.empty()) {
            return;
        }
        const std::size_t mask = table_.size() - 1;
        if (i + 12 < n) {
            __builtin_prefetch(&table_[hashes_[i + 12] & mask]);
        }
        auto candidate = [&](std::size_t j) -> const Group* {
            const std::uint64_t h = hashes_[j];
            for (std::size_t k = h & mask;; k = (k + 1) & mask) {
                const Slot& s = table_[k];
                if (s.gid == kNil) {
                    return nullptr;
                }
                if (s.hash == h) {
                    return &groups_[s.gid];
                }
            }
        };
        if (i + 8 < n) {
            if (const Group* g = candidate(i + 8)) {
                __builtin_prefetch(g);
                __builtin_prefetch(reinterpret_cast<const char*>(g) + 64);
            }
        }
        if (i + 4 < n) {
            if (const Group* g = candidate(i + 4); g != nullptr && g->live > 0) {
                const Pane& p = g->panes[g->live - 1];
                __builtin_prefetch(&p);
                __builtin_prefetch(reinterpret_cast<const char*>(&p) + 64);
            }
        }
        if (i + 2 < n) {
            if (const Group* g = candidate(i + 2); g != nullptr && g->live > 0) {
                const Pane& p = g->panes[g->live - 1];
                if (!p.data.fields.empty()) {
                    __builtin_prefetch(p.data.fields.data());
                    __builtin_prefetch(reinterpret_cast<const char*>(p.data.fields.data()) + 64);
                    __builtin_prefetch(p.data.fields[0].sketch.hot());
                }
            }
        }
    }

    bool add_event(Record& r, StageBatch& b, const std::string& key, std::uint64_t h) {
        const std::int64_t t = r.time_ns;
        if (t < cfg_.min_valid_time || t < -kTimeLimit || t > kTimeLimit) {
            invalid_total_->inc();
            refuse(r, b, fmt::format("record time {} is before min_valid_time {} (a clock that was not set?)",
                                     fmt_time(t), fmt_time(cfg_.min_valid_time)));
            return false;
        }
        if (b.wall_ns >= cfg_.min_valid_time && t > b.wall_ns + cfg_.max_future) {
            invalid_total_->inc();
            refuse(r, b, fmt::format("record time {} is {} ahead of the gateway clock {} (max_future {})",
                                     fmt_time(t), fmt_dur(t - b.wall_ns), fmt_time(b.wall_ns),
                                     fmt_dur(cfg_.max_future)));
            return false;
        }
        if (!add(r, t, b, key, h)) {
            return false;
        }
        if (max_event_ == kNone || t > max_event_) {
            max_event_ = t;
            wm_ = std::max(wm_, t - cfg_.lateness);
            // Close what the watermark passed before the next record comes
            // in, so a window never takes a record that came after it
            // closed, however the input is cut into batches.
            if (!calendar_.empty() && calendar_.begin()->first <= wm_) {
                close_through(wm_);
            }
        }
        return true;
    }

    void refuse_late(Record& r, StageBatch& b, std::int64_t t, std::int64_t closed_end) {
        late_total_->inc();
        refuse(r, b, fmt::format("late record: time {} is {} behind the watermark {} (allowed_lateness {}); its "
                                 "window closed at {}",
                                 fmt_time(t), fmt_dur(wm_ - t), fmt_time(wm_), fmt_dur(cfg_.lateness),
                                 fmt_time(closed_end)));
    }

    void refuse(Record& r, StageBatch& b, std::string reason) {
        switch (cfg_.late) {
            case LatePolicy::DeadLetter: {
                DeadLetter d;
                d.time_ns = b.wall_ns;
                d.origin = r.origin;
                d.reason = std::move(reason);
                append_record_json(d.payload, r);
                b.dead.push_back(std::move(d));
                break;
            }
            case LatePolicy::Stream:
                b.streams.emplace_back(cfg_.late_stream, std::move(r));
                break;
            case LatePolicy::Drop:
                if (component_ != nullptr) {
                    component_->dropped->inc();
                }
                break;
        }
    }

    void build_key(const Record& r, std::string& key) const {
        key.clear();
        window::append_key_component(key, std::string_view(r.measurement));
        for (const auto& name : cfg_.group_by) {
            window::append_key_component(key, r.tag(name));
        }
        for (const auto& name : cfg_.group_by_fields) {
            const Field* f = r.field(name);
            if (f == nullptr) {
                window::append_key_component(key, static_cast<const std::string*>(nullptr));
            } else {
                window::append_key_component(key, field_text(f->value));
            }
        }
    }

    static std::string field_text(const FieldValue& v) {
        return std::visit(
            [](const auto& x) -> std::string {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    return x;
                } else if constexpr (std::is_same_v<T, bool>) {
                    return x ? "true" : "false";
                } else {
                    return fmt::format("{}", x);
                }
            },
            v);
    }

    // Places one record at window-clock time `t`. False if it was refused.
    bool add(Record& r, std::int64_t t, StageBatch& b, const std::string& key, std::uint64_t h) {
        if (cfg_.kind == WindowKind::Session) {
            return add_session(r, t, b, key, h);
        }
        const std::int64_t ps = floor_div(t, cfg_.pane) * cfg_.pane;
        const std::int64_t last_end = floor_div(ps, cfg_.hop) * cfg_.hop + cfg_.size;
        if (wm_ != kNone && last_end <= wm_) {
            refuse_late(r, b, t, last_end);
            return false;
        }
        Group& g = group_for(r, key, h);
        const std::uint32_t gid = current_gid_;
        Pane& p = pane_at(g, ps);
        update(p, r, t);
        mark_dirty(g, gid, p);
        max_end_seen_ = std::max(max_end_seen_, last_end);
        const std::int64_t close = first_end_after(std::max(ps, wm_ == kNone ? ps : wm_));
        schedule(g, gid, close);
        return true;
    }

    bool add_session(Record& r, std::int64_t t, StageBatch& b, const std::string& key, std::uint64_t h) {
        const std::int64_t gap = cfg_.gap;
        auto joins = [&](const Pane& s) { return t < s.data.max_t + gap && t + gap > s.start; };
        if (wm_ != kNone && t + gap <= wm_) {
            // Late unless it falls into a session that is still open.
            const std::uint32_t found = find_group(key, h);
            bool open = false;
            if (found != kNil) {
                const Group& g = groups_[found];
                for (std::size_t i = 0; i < g.live && !open; ++i) {
                    open = joins(g.panes[i]);
                }
            }
            if (!open) {
                refuse_late(r, b, t, t + gap);
                return false;
            }
        }
        Group& g = group_for(r, key, h);
        const std::uint32_t gid = current_gid_;
        // The sessions this record touches merge into the first of them.
        std::size_t first = g.live;
        for (std::size_t i = 0; i < g.live;) {
            if (!joins(g.panes[i])) {
                ++i;
                continue;
            }
            if (first == g.live) {
                first = i;
                ++i;
                continue;
            }
            g.panes[first].data.merge(g.panes[i].data, cfg_.percentiles ? &mapping_ : nullptr);
            remove_pane(g, i);
        }
        Pane* p = nullptr;
        if (first == g.live) {
            p = &insert_pane(g, t);
        } else {
            p = &g.panes[first];
            if (t < p->start) {
                p->start = t;
                // Sessions stay sorted by start: move it left if needed.
                for (std::size_t i = first; i > 0 && g.panes[i - 1].start > g.panes[i].start; --i) {
                    std::swap(g.panes[i - 1], g.panes[i]);
                    p = &g.panes[i - 1];
                }
            }
        }
        update(*p, r, t);
        mark_dirty(g, gid, *p);
        const std::int64_t end = p->data.max_t + gap;
        max_end_seen_ = std::max(max_end_seen_, end);
        schedule(g, gid, end);
        return true;
    }

    void update(Pane& p, const Record& r, std::int64_t t) {
        PaneData& d = p.data;
        ++d.records;
        d.max_t = std::max(d.max_t, t);
        for (std::size_t i = 0; i < cfg_.fields.size(); ++i) {
            const Field* f = r.field(cfg_.fields[i].name);
            if (f == nullptr) {
                continue;
            }
            double x = 0;
            if (const auto* dv = std::get_if<double>(&f->value)) {
                x = *dv;
            } else if (const auto* iv = std::get_if<std::int64_t>(&f->value)) {
                x = static_cast<double>(*iv);
            } else if (const auto* bv = std::get_if<bool>(&f->value)) {
                x = *bv ? 1.0 : 0.0;
            } else {
                continue;
            }
            if (!std::isfinite(x)) {
                continue;
            }
            d.fields[i].acc.add(t, x);
            if (cfg_.percentiles) {
                d.fields[i].sketch.add(x, mapping_);
            }
        }
    }

    // ------------------------------------------------------------ groups

    Group& group_for(const Record& r, const std::string& key, std::uint64_t h) {
        const std::uint32_t found = find_group(key, h);
        if (found != kNil) {
            current_gid_ = found;
            Group& g = groups_[found];
            g.referenced = true;
            return g;
        }
        while (open_groups_ >= cfg_.max_groups && open_groups_ > 0) {
            evict_one();
        }
        const std::uint32_t gid = new_group(key, h);
        Group& g = groups_[gid];
        g.measurement = cfg_.measurement.empty() ? r.measurement : cfg_.measurement;
        for (const auto& name : cfg_.group_by) {
            if (const std::string* v = r.tag(name)) {
                g.tags.push_back(Tag{name, *v});
            }
        }
        for (const auto& name : cfg_.group_by_fields) {
            if (const Field* f = r.field(name)) {
                g.tags.push_back(Tag{name, field_text(f->value)});
            }
        }
        current_gid_ = gid;
        return g;
    }

    std::uint32_t new_group(std::string_view key, std::uint64_t h) {
        std::uint32_t gid = 0;
        if (!free_.empty()) {
            gid = free_.back();
            free_.pop_back();
        } else {
            gid = static_cast<std::uint32_t>(groups_.size());
            groups_.emplace_back();
        }
        Group& g = groups_[gid];
        g.key.assign(key);
        g.hash = h;
        g.used = true;
        g.referenced = false;
        g.live = 0;
        g.next_close = kNever;
        g.dirty = false;
        g.partial_dirty = false;
        g.tags.clear();
        g.measurement.clear();
        if (g.panes.capacity() == 0) {
            // The panes one window spans, and the next one starting.
            g.panes.reserve(cfg_.kind == WindowKind::Session ? 1 : static_cast<std::size_t>(cfg_.size / cfg_.pane) + 1);
        }
        table_insert(h, gid);
        ++open_groups_;
        return gid;
    }

    void remove_group(std::uint32_t gid) {
        Group& g = groups_[gid];
        for (std::size_t i = 0; i < g.live; ++i) {
            forget_stored(g, g.panes[i]);
        }
        g.live = 0;
        table_erase(g.hash, gid);
        g.used = false;
        ++g.generation;
        g.key.clear();
        g.tags.clear();
        g.panes.clear();
        g.panes.shrink_to_fit();
        free_.push_back(gid);
        --open_groups_;
    }

    void evict(std::uint32_t gid) {
        evicted_total_->inc();
        if (cfg_.evict == EvictPolicy::Emit) {
            emit_open(gid, "evicted");
        }
        if (!evict_warned_) {
            evict_warned_ = true;
            log::warn("{}: more than max_groups ({}) groups have open windows; the least recently updated are "
                      "evicted ({}); see sluice_window_evictions_total",
                      name_, cfg_.max_groups, cfg_.evict == EvictPolicy::Emit ? "emitted early" : "dropped");
        }
        remove_group(gid);
    }

    // Second-chance clock: an approximation of least recently updated
    // that costs nothing per record (one flag in the group just touched).
    void evict_one() {
        for (;;) {
            if (hand_ >= groups_.size()) {
                hand_ = 0;
            }
            Group& g = groups_[hand_];
            const std::uint32_t gid = hand_++;
            if (!g.used) {
                continue;
            }
            if (g.referenced) {
                g.referenced = false;
                continue;
            }
            evict(gid);
            return;
        }
    }

    // Open addressing with linear probing over (hash, group id) slots.
    struct Slot {
        std::uint64_t hash = 0;
        std::uint32_t gid = kNil;
    };

    std::uint32_t find_group(std::string_view key, std::uint64_t h) const {
        if (table_.empty()) {
            return kNil;
        }
        const std::size_t mask = table_.size() - 1;
        for (std::size_t i = h & mask;; i = (i + 1) & mask) {
            const Slot& s = table_[i];
            if (s.gid == kNil) {
                return kNil;
            }
            if (s.hash == h && groups_[s.gid].key.view() == key) {
                return s.gid;
            }
        }
    }

    void table_insert(std::uint64_t h, std::uint32_t gid) {
        if ((table_used_ + 1) * 2 > table_.size()) {
            std::vector<Slot> old(std::max<std::size_t>(64, table_.size() * 2));
            old.swap(table_);
            table_used_ = 0;
            for (const auto& s : old) {
                if (s.gid != kNil) {
                    table_place(s.hash, s.gid);
                }
            }
        }
        table_place(h, gid);
    }

    void table_place(std::uint64_t h, std::uint32_t gid) {
        const std::size_t mask = table_.size() - 1;
        std::size_t i = h & mask;
        while (table_[i].gid != kNil) {
            i = (i + 1) & mask;
        }
        table_[i] = Slot{h, gid};
        ++table_used_;
    }

    void table_erase(std::uint64_t h, std::uint32_t gid) {
        const std::size_t mask = table_.size() - 1;
        std::size_t i = h & mask;
        while (table_[i].gid != gid) {
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: later entries of the run move up so no
        // lookup stops early at the hole.
        for (std::size_t j = (i + 1) & mask; table_[j].gid != kNil; j = (j + 1) & mask) {
            const std::size_t home = table_[j].hash & mask;
            if (((j - home) & mask) >= ((j - i) & mask)) {
                table_[i] = table_[j];
                i = j;
            }
        }
        table_[i] = Slot{};
        --table_used_;
    }

    // ------------------------------------------------------------ panes

    Pane& pane_at(Group& g, std::int64_t ps) {
        // Most records go to the newest pane.
        if (g.live > 0 && g.panes[g.live - 1].start == ps) {
            return g.panes[g.live - 1];
        }
        std::size_t i = g.live;
        while (i > 0 && g.panes[i - 1].start > ps) {
            --i;
        }
        if (i > 0 && g.panes[i - 1].start == ps) {
            return g.panes[i - 1];
        }
        return insert_pane_at(g, i, ps);
    }

    Pane& insert_pane(Group& g, std::int64_t start) {
        std::size_t i = g.live;
        while (i > 0 && g.panes[i - 1].start > start) {
            --i;
        }
        return insert_pane_at(g, i, start);
    }

    Pane& insert_pane_at(Group& g, std::size_t i, std::int64_t start) {
        if (g.live == g.panes.size()) {
            g.panes.emplace_back();
        }
        // Reuse the slot after the live ones (its buffers keep their capacity).
        for (std::size_t k = g.live; k > i; --k) {
            std::swap(g.panes[k], g.panes[k - 1]);
        }
        ++g.live;
        Pane& p = g.panes[i];
        p.start = start;
        p.persisted_start = kNone;
        p.dirty = false;
        p.data.reset(cfg_.fields.size());
        return p;
    }

    void remove_pane(Group& g, std::size_t i) {
        forget_stored(g, g.panes[i]);
        for (std::size_t k = i; k + 1 < g.live; ++k) {
            std::swap(g.panes[k], g.panes[k + 1]);
        }
        --g.live;
    }

    // Removes the first `n` live panes.
    void drop_front(Group& g, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            forget_stored(g, g.panes[i]);
        }
        std::rotate(g.panes.begin(), g.panes.begin() + static_cast<std::ptrdiff_t>(n),
                    g.panes.begin() + static_cast<std::ptrdiff_t>(g.live));
        g.live -= n;
    }

    char prefix() const { return cfg_.kind == WindowKind::Session ? window::kSessionPrefix : window::kPanePrefix; }

    void forget_stored(const Group& g, Pane& p) {
        if (p.persisted_start != kNone && state_ != nullptr) {
            StateChange ch;
            window::make_state_key(ch.key, prefix(), g.key.view(), p.persisted_start);
            ch.erase = true;
            state_->push_back(std::move(ch));
        } else if (p.persisted_start != kNone) {
            StateChange ch;
            window::make_state_key(ch.key, prefix(), g.key.view(), p.persisted_start);
            ch.erase = true;
            pending_erase_.push_back(std::move(ch));
        }
        p.persisted_start = kNone;
        p.dirty = false;
    }

    void mark_dirty(Group& g, std::uint32_t gid, Pane& p) {
        p.dirty = true;
        if (!g.dirty) {
            g.dirty = true;
            dirty_.push_back(gid);
        }
        if (cfg_.emit_partial > 0 && !g.partial_dirty) {
            g.partial_dirty = true;
            partial_.push_back(gid);
        }
    }

    // ------------------------------------------------------------ closing

    // The first window end on the grid after `x`.
    std::int64_t first_end_after(std::int64_t x) const {
        return (floor_div(x - cfg_.size, cfg_.hop) + 1) * cfg_.hop + cfg_.size;
    }

    void schedule(Group& g, std::uint32_t gid, std::int64_t at) {
        if (at < g.next_close) {
            g.next_close = at;
            calendar_[at].push_back({gid, g.generation});
        }
    }

    void close_through(std::int64_t wm) {
        if (wm == kNone) {
            return;
        }
        while (!calendar_.empty() && calendar_.begin()->first <= wm) {
            const std::int64_t at = calendar_.begin()->first;
            std::vector<std::pair<std::uint32_t, std::uint32_t>> due = std::move(calendar_.begin()->second);
            calendar_.erase(calendar_.begin());
            for (const auto& [gid, gen] : due) {
                Group& g = groups_[gid];
                if (!g.used || g.generation != gen || g.next_close != at) {
                    continue;  // evicted, or rescheduled since
                }
                close_group(gid, wm);
            }
        }
        closed_through_ = std::max(closed_through_, wm);
    }

    void close_group(std::uint32_t gid, std::int64_t wm) {
        Group& g = groups_[gid];
        g.next_close = kNever;
        if (cfg_.kind == WindowKind::Session) {
            for (std::size_t i = 0; i < g.live;) {
                Pane& s = g.panes[i];
                const std::int64_t end = s.data.max_t + cfg_.gap;
                if (end <= wm) {
                    emit(g, s.start, end, s.data, nullptr);
                    remove_pane(g, i);
                } else {
                    g.next_close = std::min(g.next_close, end);
                    ++i;
                }
            }
        } else {
            // Every window with data that ends in (closed_through_, wm].
            for_each_window(g, closed_through_, wm, [&](std::int64_t start, std::int64_t end, const PaneData& d) {
                emit(g, start, end, d, nullptr);
            });
            std::size_t dead = 0;
            while (dead < g.live &&
                   floor_div(g.panes[dead].start, cfg_.hop) * cfg_.hop + cfg_.size <= wm) {
                ++dead;
            }
            drop_front(g, dead);
            if (g.live > 0) {
                g.next_close = first_end_after(std::max(wm, g.panes[0].start));
            }
        }
        if (g.live == 0) {
            remove_group(gid);
            return;
        }
        calendar_[g.next_close].push_back({gid, g.generation});
    }

    // Calls fn(start, end, merged) for every window on the grid whose end is
    // in (lo, hi] and that holds at least one pane. lo may be kNone.
    template <class F>
    void for_each_window(Group& g, std::int64_t lo, std::int64_t hi, F&& fn) {
        std::int64_t next_k = std::numeric_limits<std::int64_t>::min();
        for (std::size_t i = 0; i < g.live; ++i) {
            const std::int64_t ps = g.panes[i].start;
            const std::int64_t k_first = std::max(floor_div(ps - cfg_.size, cfg_.hop) + 1, next_k);
            const std::int64_t k_last = floor_div(ps, cfg_.hop);
            for (std::int64_t k = k_first; k <= k_last; ++k) {
                next_k = k + 1;
                const std::int64_t start = k * cfg_.hop;
                const std::int64_t end = start + cfg_.size;
                if (lo != kNone && end <= lo) {
                    continue;
                }
                if (end > hi) {
                    return;
                }
                scratch_.reset(cfg_.fields.size());
                for (std::size_t j = i; j < g.live && g.panes[j].start < end; ++j) {
                    scratch_.merge(g.panes[j].data, cfg_.percentiles ? &mapping_ : nullptr);
                }
                fn(start, end, scratch_);
            }
        }
    }

    // Emits every window of a group that holds data and was not emitted yet
    // (eviction, partial updates). Windows the watermark has passed go out as
    // final ones; the others are marked with `flag`.
    void emit_open(std::uint32_t gid, const char* flag) {
        Group& g = groups_[gid];
        auto mark = [&](std::int64_t end) { return wm_ != kNone && end <= wm_ ? nullptr : flag; };
        if (cfg_.kind == WindowKind::Session) {
            for (std::size_t i = 0; i < g.live; ++i) {
                const std::int64_t end = g.panes[i].data.max_t + cfg_.gap;
                emit(g, g.panes[i].start, end, g.panes[i].data, mark(end));
            }
            return;
        }
        for_each_window(g, closed_through_, kNever, [&](std::int64_t start, std::int64_t end, const PaneData& d) {
            emit(g, start, end, d, mark(end));
        });
    }

    // Partial updates: only windows still open (the closed ones went out in
    // this turn's close pass).
    void emit_open_partial(std::uint32_t gid) {
        Group& g = groups_[gid];
        if (cfg_.kind == WindowKind::Session) {
            for (std::size_t i = 0; i < g.live; ++i) {
                emit(g, g.panes[i].start, g.panes[i].data.max_t + cfg_.gap, g.panes[i].data, "partial");
            }
            return;
        }
        for_each_window(g, std::max(closed_through_, wm_), kNever,
                        [&](std::int64_t start, std::int64_t end, const PaneData& d) {
                            emit(g, start, end, d, "partial");
                        });
    }

    void emit_partials() {
        for (const auto gid : partial_) {
            Group& g = groups_[gid];
            if (!g.used || !g.partial_dirty) {
                continue;
            }
            g.partial_dirty = false;
            emit_open_partial(gid);
        }
        partial_.clear();
    }

    void emit(const Group& g, std::int64_t start, std::int64_t end, const PaneData& d, const char* flag) {
        Emitted e;
        e.end = end;
        e.start = start;
        e.key = std::string(g.key.view());
        Record& r = e.record;
        r.time_ns = end;
        r.measurement = g.measurement;
        r.tags = g.tags;
        r.fields.reserve(4 + cfg_.fields.size() * 4);
        r.fields.push_back(Field{"window_start", start});
        r.fields.push_back(Field{"window_end", end});
        r.fields.push_back(Field{"window_id", window_id(g.key.view(), start)});
        r.fields.push_back(Field{"count", static_cast<std::int64_t>(d.records)});
        if (flag != nullptr) {
            r.fields.push_back(Field{flag, true});
        }
        for (std::size_t i = 0; i < cfg_.fields.size(); ++i) {
            const FieldAcc& a = d.fields[i].acc;
            if (a.n == 0) {
                continue;
            }
            for (const auto& agg : cfg_.fields[i].aggs) {
                switch (agg.agg) {
                    case Agg::Count:
                        r.fields.push_back(Field{agg.out_name, static_cast<std::int64_t>(a.n)});
                        break;
                    case Agg::Sum:
                        r.fields.push_back(Field{agg.out_name, a.sum});
                        break;
                    case Agg::Min:
                        r.fields.push_back(Field{agg.out_name, a.min});
                        break;
                    case Agg::Max:
                        r.fields.push_back(Field{agg.out_name, a.max});
                        break;
                    case Agg::Mean:
                        r.fields.push_back(Field{agg.out_name, a.sum / static_cast<double>(a.n)});
                        break;
                    case Agg::Stddev:
                        if (a.n >= 2) {
                            r.fields.push_back(
                                Field{agg.out_name, std::sqrt(std::max(0.0, a.m2) / static_cast<double>(a.n - 1))});
                        }
                        break;
                    case Agg::First:
                        r.fields.push_back(Field{agg.out_name, a.first_v});
                        break;
                    case Agg::Last:
                        r.fields.push_back(Field{agg.out_name, a.last_v});
                        break;
                    case Agg::Rate:
                        if (a.last_t > a.first_t) {
                            r.fields.push_back(Field{agg.out_name, (a.last_v - a.first_v) /
                                                                       (static_cast<double>(a.last_t - a.first_t) / 1e9)});
                        }
                        break;
                    case Agg::Delta:
                        r.fields.push_back(Field{agg.out_name, a.last_v - a.first_v});
                        break;
                    case Agg::Percentile:
                        r.fields.push_back(Field{
                            agg.out_name, std::clamp(d.fields[i].sketch.quantile(agg.q, mapping_), a.min, a.max)});
                        break;
                }
            }
        }
        if (flag == nullptr) {
            emitted_total_->inc();
        } else if (std::string_view(flag) == "partial") {
            partial_total_->inc();
        }
        emitted_.push_back(std::move(e));
    }

    std::string window_id(std::string_view key, std::int64_t start) const {
        std::uint64_t h = window::fnv1a(id_);
        h = window::fnv1a(std::string_view("\0", 1), h);
        h = window::fnv1a(key, h);
        char be[8];
        const auto u = static_cast<std::uint64_t>(start);
        for (int i = 0; i < 8; ++i) {
            be[i] = static_cast<char>((u >> (8 * (7 - i))) & 0xff);
        }
        h = window::fnv1a(std::string_view(be, 8), h);
        return fmt::format("{:016x}", h);
    }

    void flush_emitted(std::vector<Record>& out) {
        std::stable_sort(emitted_.begin(), emitted_.end(), [](const Emitted& a, const Emitted& b) {
            if (a.end != b.end) {
                return a.end < b.end;
            }
            if (a.key != b.key) {
                return a.key < b.key;
            }
            return a.start < b.start;
        });
        out.reserve(emitted_.size());
        for (auto& e : emitted_) {
            out.push_back(std::move(e.record));
        }
        emitted_.clear();
    }

    // ------------------------------------------------------------ state

    std::uint64_t compute_fingerprint() const {
        std::string s = fmt::format("window v1|{}|{}|{}|{}|{}|{}", static_cast<int>(cfg_.kind), cfg_.size, cfg_.hop,
                                    cfg_.gap, static_cast<int>(cfg_.time), cfg_.percentiles);
        if (cfg_.percentiles) {
            s += fmt::format("|{}|{}", cfg_.accuracy, cfg_.max_buckets);
        }
        for (const auto& n : cfg_.group_by) {
            s += "|t:" + n;
        }
        for (const auto& n : cfg_.group_by_fields) {
            s += "|f:" + n;
        }
        for (const auto& f : cfg_.fields) {
            s += "|a:" + f.name;
        }
        return window::fnv1a(s);
    }

    void checkpoint(std::vector<StateChange>& out) {
        for (const auto gid : dirty_) {
            Group& g = groups_[gid];
            if (!g.used || !g.dirty) {
                continue;
            }
            g.dirty = false;
            for (std::size_t i = 0; i < g.live; ++i) {
                Pane& p = g.panes[i];
                if (!p.dirty) {
                    continue;
                }
                p.dirty = false;
                if (p.persisted_start != kNone && p.persisted_start != p.start) {
                    StateChange gone;
                    window::make_state_key(gone.key, prefix(), g.key.view(), p.persisted_start);
                    gone.erase = true;
                    out.push_back(std::move(gone));
                }
                StateChange ch;
                window::make_state_key(ch.key, prefix(), g.key.view(), p.start);
                ch.value.reserve(value_reserve_);
                window::encode_pane(p.data, ch.value, cfg_.percentiles ? &mapping_ : nullptr);
                value_reserve_ = std::max(value_reserve_, ch.value.size());
                out.push_back(std::move(ch));
                p.persisted_start = p.start;
            }
        }
        dirty_.clear();
        Meta m;
        m.fingerprint = fingerprint_;
        m.watermark = wm_;
        m.max_event = max_event_;
        m.closed_through = closed_through_;
        m.processing_clock = cfg_.time == TimeMode::Processing ? pt_now_ : kNone;
        if (!meta_stored_ || m.watermark != stored_meta_.watermark || m.max_event != stored_meta_.max_event ||
            m.closed_through != stored_meta_.closed_through || m.processing_clock != stored_meta_.processing_clock) {
            StateChange ch;
            ch.key = window::kMetaKey;
            window::encode_meta(m, ch.value);
            out.push_back(std::move(ch));
            stored_meta_ = m;
            meta_stored_ = true;
        }
    }

    void load(StageContext& ctx) {
        if (!ctx.load_state) {
            return;
        }
        bool have_meta = false;
        Meta meta;
        ctx.load_state([&](std::string_view key, std::string_view value) {
            if (key == window::kMetaKey) {
                have_meta = window::decode_meta(value, meta);
            }
        });
        const bool usable = have_meta && meta.fingerprint == fingerprint_;
        std::size_t discarded = 0;
        std::size_t loaded = 0;
        std::vector<std::optional<std::string>> parts;
        PaneData data;
        const std::size_t nparts = 1 + cfg_.group_by.size() + cfg_.group_by_fields.size();
        ctx.load_state([&](std::string_view key, std::string_view value) {
            if (key == window::kMetaKey) {
                if (!usable) {
                    StateChange ch;
                    ch.key = std::string(key);
                    ch.erase = true;
                    pending_erase_.push_back(std::move(ch));
                }
                return;
            }
            char pfx = 0;
            std::string_view gkey;
            std::int64_t start = 0;
            const bool ok = usable && window::split_state_key(key, pfx, gkey, start) && pfx == prefix() &&
                            window::decode_group_key(gkey, parts) && parts.size() == nparts &&
                            parts[0].has_value() &&
                            window::decode_pane(value, data, cfg_.fields.size(),
                                                cfg_.percentiles ? &mapping_ : nullptr) &&
                            data.records > 0 && start >= -kTimeLimit && start <= kTimeLimit &&
                            data.max_t >= -kTimeLimit && data.max_t <= kTimeLimit;
            if (!ok) {
                ++discarded;
                StateChange ch;
                ch.key = std::string(key);
                ch.erase = true;
                pending_erase_.push_back(std::move(ch));
                return;
            }
            restore(gkey, parts, start, data);
            ++loaded;
        });
        if (usable) {
            wm_ = meta.watermark;
            max_event_ = meta.max_event;
            closed_through_ = meta.closed_through;
            pt_stored_ = meta.processing_clock;
            stored_meta_ = meta;
            meta_stored_ = true;
        } else if (have_meta) {
            log::warn("{}: the window settings changed since the state was stored; {} open window states discarded",
                      name_, discarded);
        }
        if (discarded > 0) {
            discarded_total_->inc(discarded);
            if (usable) {
                log::warn("{}: {} stored window states could not be read and were discarded", name_, discarded);
            }
        }
        // Schedule every restored group.
        for (std::uint32_t gid = 0; gid < groups_.size(); ++gid) {
            Group& g = groups_[gid];
            if (!g.used || g.live == 0) {
                continue;
            }
            std::int64_t at = kNever;
            if (cfg_.kind == WindowKind::Session) {
                for (std::size_t i = 0; i < g.live; ++i) {
                    at = std::min(at, g.panes[i].data.max_t + cfg_.gap);
                    max_end_seen_ = std::max(max_end_seen_, g.panes[i].data.max_t + cfg_.gap);
                }
            } else {
                at = first_end_after(wm_ == kNone ? g.panes[0].start : std::max(wm_, g.panes[0].start));
                const std::int64_t last = g.panes[g.live - 1].start;
                max_end_seen_ = std::max(max_end_seen_, floor_div(last, cfg_.hop) * cfg_.hop + cfg_.size);
            }
            schedule(g, gid, at);
        }
        if (loaded > 0) {
            log::info("{}: restored {} open window states of {} groups (watermark {})", name_, loaded, open_groups_,
                      wm_ == kNone ? std::string("none") : fmt_time(wm_));
        }
        open_groups_gauge_->set(static_cast<double>(open_groups_));
    }

    void restore(std::string_view gkey, const std::vector<std::optional<std::string>>& parts, std::int64_t start,
                 PaneData& data) {
        const std::uint64_t h = hash_key(gkey);
        std::uint32_t gid = find_group(gkey, h);
        if (gid == kNil) {
            gid = new_group(gkey, h);
            Group& g = groups_[gid];
            g.measurement = cfg_.measurement.empty() ? *parts[0] : cfg_.measurement;
            std::size_t k = 1;
            for (const auto& name : cfg_.group_by) {
                if (parts[k].has_value()) {
                    g.tags.push_back(Tag{name, *parts[k]});
                }
                ++k;
            }
            for (const auto& name : cfg_.group_by_fields) {
                if (parts[k].has_value()) {
                    g.tags.push_back(Tag{name, *parts[k]});
                }
                ++k;
            }
        }
        Group& g = groups_[gid];
        Pane& p = insert_pane(g, start);
        std::swap(p.data, data);
        p.persisted_start = start;
    }

    Config cfg_;
    SketchMapping mapping_;
    std::uint64_t fingerprint_ = 0;
    std::string name_ = "window";
    std::string id_ = "window";
    ComponentMetrics* component_ = nullptr;
    Counter* late_total_ = nullptr;
    Counter* invalid_total_ = nullptr;
    Counter* emitted_total_ = nullptr;
    Counter* partial_total_ = nullptr;
    Counter* evicted_total_ = nullptr;
    Counter* discarded_total_ = nullptr;
    Gauge* open_groups_gauge_ = nullptr;
    Gauge* watermark_gauge_ = nullptr;

    std::vector<Group> groups_;
    std::vector<std::uint32_t> free_;
    std::vector<Slot> table_;
    std::size_t table_used_ = 0;
    std::size_t open_groups_ = 0;
    std::uint32_t hand_ = 0;
    std::uint32_t current_gid_ = 0;
    std::map<std::int64_t, std::vector<std::pair<std::uint32_t, std::uint32_t>>> calendar_;
    std::vector<std::uint32_t> dirty_;
    std::vector<std::uint32_t> partial_;
    std::vector<Emitted> emitted_;
    std::vector<StateChange> pending_erase_;
    std::vector<StateChange>* state_ = nullptr;
    std::vector<std::string> keys_;  // per record of the batch, capacity reused
    std::vector<std::uint64_t> hashes_;
    PaneData scratch_;
    std::size_t value_reserve_ = 64;

    std::int64_t wm_ = kNone;
    std::int64_t max_event_ = kNone;
    std::int64_t closed_through_ = kNone;
    std::int64_t max_end_seen_ = std::numeric_limits<std::int64_t>::min();
    std::int64_t pt_stored_ = kNone;
    std::int64_t pt_base_ = 0;
    std::int64_t mono_base_ = 0;
    std::int64_t pt_now_ = kNone;
    std::int64_t last_input_mono_ = 0;
    std::int64_t last_partial_mono_ = 0;
    bool clocks_started_ = false;
    bool evict_warned_ = false;
    bool meta_stored_ = false;
    Meta stored_meta_;
};

}  // namespace

const Descriptor& stage_window() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "window",
        .summary = "Aggregates records over tumbling, hopping or session windows per group; the state survives "
                   "restarts and each window is emitted once",
        .options =
            {
                {.name = "kind", .type = OptionType::Enum, .default_value = "tumbling",
                 .doc = "tumbling: back-to-back windows of `size`; hopping: windows of `size` starting every `hop`; "
                        "session: a window per burst of records, closed after `gap` without one",
                 .choices = "tumbling|hopping|session"},
                {.name = "size", .type = OptionType::Duration, .default_value = "1m",
                 .doc = "Window length (tumbling, hopping); windows are aligned on the Unix epoch", .min = 1e-6,
                 .max = 366.0 * 86400},
                {.name = "hop", .type = OptionType::Duration,
                 .doc = "How often a hopping window starts (at most `size`)", .min = 1e-6, .max = 366.0 * 86400},
                {.name = "gap", .type = OptionType::Duration,
                 .doc = "Session windows: the silence after which a session closes", .min = 1e-6,
                 .max = 366.0 * 86400},
                {.name = "time", .type = OptionType::Enum, .default_value = "event",
                 .doc = "event: the record's own time; processing: when the stage sees the record (advances with the "
                        "monotonic clock)",
                 .choices = "event|processing"},
                {.name = "allowed_lateness", .type = OptionType::Duration, .default_value = "0s",
                 .doc = "Event time: the watermark trails the latest record time by this much; a window closes when "
                        "the watermark passes its end",
                 .min = 0, .max = 366.0 * 86400},
                {.name = "late", .type = OptionType::Enum, .default_value = "dead_letter",
                 .doc = "Where records go that come after their window closed, or whose time is invalid "
                        "(min_valid_time, max_future): dead_letter (with the reason), stream (`late_stream`), drop",
                 .choices = "dead_letter|stream|drop"},
                {.name = "late_stream", .type = OptionType::String,
                 .doc = "With late = \"stream\": the named stream a `stream` source reads them from", .min = 1,
                 .link = OptionLink::EmitsStream},
                {.name = "group_by", .type = OptionType::List,
                 .doc = "Tags whose values make a group (with the measurement); they become the output's tags"},
                {.name = "group_by_fields", .type = OptionType::List,
                 .doc = "Fields whose values also make the group; they become tags of the output"},
                {.name = "fields", .type = OptionType::List,
                 .doc = "Numeric fields to aggregate (integers and booleans count as numbers; strings are skipped)"},
                {.name = "aggregates", .type = OptionType::List, .default_value = "count,mean,min,max",
                 .doc = "Per field: count, sum, min, max, mean, stddev, first, last, rate, delta, pNN (p50, p99, "
                        "p99.9); \"FIELD:AGG\" applies to one field only. Output fields are FIELD_AGG"},
                {.name = "percentile_accuracy", .type = OptionType::Float, .default_value = "0.01",
                 .doc = "Relative error bound of percentiles (the DDSketch's α)", .min = 0.0001, .max = 0.2},
                {.name = "percentile_max_buckets", .type = OptionType::Int, .default_value = "2048",
                 .doc = "Buckets per sketch at most; beyond it the smallest magnitudes are merged", .min = 16,
                 .max = 65536},
                {.name = "measurement", .type = OptionType::String,
                 .doc = "Measurement of the output records (default: the input's)"},
                {.name = "max_groups", .type = OptionType::Int, .default_value = "10000",
                 .doc = "Groups with open windows at most (about 2.5 KiB each with six panes and percentiles); past "
                        "it the least recently updated group is evicted",
                 .min = 1, .max = 100'000'000},
                {.name = "evict", .type = OptionType::Enum, .default_value = "emit",
                 .doc = "What eviction does with a group's open windows: emit them now (field evicted = true) or drop "
                        "them",
                 .choices = "emit|drop"},
                {.name = "emit_partial", .type = OptionType::Duration, .default_value = "0s",
                 .doc = "Non-zero: this often (processing time), open windows that changed are also emitted early "
                        "with field partial = true",
                 .min = 0, .max = 86400},
                {.name = "idle_timeout", .type = OptionType::Duration, .default_value = "0s",
                 .doc = "Event time, non-zero: after this long without any record every open window closes",
                 .min = 0, .max = 366.0 * 86400},
                {.name = "min_valid_time", .type = OptionType::String, .default_value = "2020-01-01",
                 .doc = "Records stamped earlier are refused like late ones (a clock that was never set); \"off\" "
                        "accepts any time"},
                {.name = "max_future", .type = OptionType::Duration, .default_value = "1h",
                 .doc = "While the gateway clock is past min_valid_time, records stamped further ahead of it are "
                        "refused like late ones",
                 .min = 0, .max = 100.0 * 366 * 86400},
            },
        .make_stage = [](const Options& o) { return std::make_unique<WindowStage>(parse_config(o)); },
        // `sluice describe`: "tumbling 1m", "hopping 1m every 10s", "session gap 30s".
        .describe =
            [](const Options& o) {
                const auto d = [&](std::string_view n) {
                    return o.has(n) ? format_duration(o.duration(n)) : std::string("?");
                };
                std::string kind = o.str_or("kind", "");
                kind = kind.empty() ? "tumbling" : kind;
                std::string text = kind == "hopping"   ? fmt::format("hopping {} every {}", d("size"), d("hop"))
                                   : kind == "session" ? fmt::format("session gap {}", d("gap"))
                                                       : fmt::format("{} {}", kind, d("size"));
                return DescribeShape{.summary = std::move(text), .json_key = "window", .dot_shape = "box3d"};
            },
    };
    return d;
}

}  // namespace sluice::components
