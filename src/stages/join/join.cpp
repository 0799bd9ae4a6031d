// Windowed stream-stream join: records of two streams of one pipeline (told
// apart by predicates) with the same key and timestamps at most `window`
// apart become one record. Unmatched records wait in the stage's durable
// state until the window has passed them, then follow the unmatched policy.

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "stages/pending.hpp"
#include "stages/stage_util.hpp"

namespace sluice::components {
namespace {

enum Side { kLeft = 0, kRight = 1 };

class JoinStage final : public Stage {
public:
    explicit JoinStage(const Options& o)
        : left_(stages::expression_option(o, "left")),
          right_(stages::expression_option(o, "right")),
          key_(stages::key_option(o, "key")),
          window_ns_(o.duration("window").count()),
          timeout_(o.duration("timeout")),
          unmatched_(o.str_or("unmatched", "")),
          measurement_(o.str_or("measurement", "")),
          prefix_{o.str_or("left_prefix", ""), o.str_or("right_prefix", "")},
          max_pending_(static_cast<std::size_t>(o.integer("max_pending"))) {
        if (window_ns_ <= 0) {
            throw ConfigError("option 'window' must be more than 0s");
        }
    }

    std::chrono::nanoseconds tick_interval() const override {
        if (timeout_.count() == 0) {
            return {};
        }
        return std::clamp<std::chrono::nanoseconds>(timeout_ / 4, std::chrono::milliseconds(10),
                                                    std::chrono::seconds(1));
    }

    void open(StageContext& ctx) override {
        metrics_ = ctx.metrics;
        const Labels l{{"component", ctx.name}};
        auto& m = metrics();
        pairs_ = &m.counter("sluice_join_pairs_total", "Pairs of records joined into one", l);
        unmatched_left_ = &m.counter("sluice_join_unmatched_records_total",
                                     "Records whose window passed without a partner (see the unmatched policy)",
                                     {{"component", ctx.name}, {"side", "left"}});
        unmatched_right_ = &m.counter("sluice_join_unmatched_records_total",
                                      "Records whose window passed without a partner (see the unmatched policy)",
                                      {{"component", ctx.name}, {"side", "right"}});
        evicted_ = &m.counter("sluice_join_evicted_records_total",
                              "Waiting records released early because max_pending was reached", l);
        pending_gauge_ = &m.gauge("sluice_join_pending_records", "Records waiting for a partner", l);
        const std::int64_t now = mono_now_ns();
        store_.load(ctx, [&](std::uint64_t id, std::string_view tag, Record&& r) {
            if (tag.empty() || (tag[0] != 'L' && tag[0] != 'R')) {
                return;
            }
            watermark_ = std::max(watermark_, r.time_ns);
            hold(id, tag[0] == 'L' ? kLeft : kRight, std::string(tag.substr(1)), std::move(r), now);
        });
        pending_gauge_->set(static_cast<double>(entries_.size()));
    }

    void process(StageBatch& b) override {
        out_.clear();
        std::string key;
        for (auto& r : b.records) {
            int side = -1;
            if (left_->test(r)) {
                side = kLeft;
            } else if (right_->test(r)) {
                side = kRight;
            }
            if (side < 0) {
                out_.push_back(std::move(r));  // neither stream: passes through
                continue;
            }
            if (!key_.render(r, key)) {
                missing_key(b, r, side);
                continue;
            }
            const TimeNs t = r.time_ns;
            if (auto partner = take_partner(b, 1 - side, key, t)) {
                out_.push_back(side == kLeft ? combine(r, *partner) : combine(*partner, r));
                pairs_->inc();
            } else {
                const std::uint64_t id = store_.add(b, side == kLeft ? "L" + key : "R" + key, r);
                hold(id, side, key, std::move(r), b.mono_ns);
            }
            watermark_ = std::max(watermark_, t);
            expire_before(b, watermark_ < std::numeric_limits<TimeNs>::min() + window_ns_
                                 ? std::numeric_limits<TimeNs>::min()
                                 : watermark_ - window_ns_);
            while (entries_.size() > max_pending_) {
                evicted_->inc();
                release(b, entries_.begin()->first);
            }
        }
        if (timeout_.count() > 0) {
            // Oldest arrivals first: ids grow with arrival.
            while (!entries_.empty() && b.mono_ns - entries_.begin()->second.arrival_mono >= timeout_.count()) {
                release(b, entries_.begin()->first);
            }
        }
        pending_gauge_->set(static_cast<double>(entries_.size()));
        b.records.swap(out_);
        out_.clear();
    }

private:
    struct Entry {
        Record record;
        int side = kLeft;
        std::string key;
        std::int64_t arrival_mono = 0;
    };

    void hold(std::uint64_t id, int side, std::string key, Record&& r, std::int64_t now) {
        by_key_[side][key].push_back(id);
        by_time_.emplace(r.time_ns, id);
        entries_.emplace(id, Entry{std::move(r), side, std::move(key), now});
    }

    // Removes an entry from the indexes and the state; returns its record.
    Record drop(StageBatch& b, std::uint64_t id) {
        auto it = entries_.find(id);
        Entry& e = it->second;
        auto& ids = by_key_[e.side][e.key];
        ids.erase(std::find(ids.begin(), ids.end(), id));
        if (ids.empty()) {
            by_key_[e.side].erase(e.key);
        }
        auto [lo, hi] = by_time_.equal_range(e.record.time_ns);
        for (auto t = lo; t != hi; ++t) {
            if (t->second == id) {
                by_time_.erase(t);
                break;
            }
        }
        store_.remove(b, id);
        Record r = std::move(e.record);
        entries_.erase(it);
        return r;
    }

    // The waiting record of `side` with `key` closest in time to t (within
    // the window; the oldest on a tie).
    std::optional<Record> take_partner(StageBatch& b, int side, const std::string& key, TimeNs t) {
        auto k = by_key_[side].find(key);
        if (k == by_key_[side].end()) {
            return std::nullopt;
        }
        std::optional<std::uint64_t> best;
        std::int64_t best_gap = 0;
        for (auto id : k->second) {
            const TimeNs u = entries_.at(id).record.time_ns;
            const std::int64_t gap = u > t ? u - t : t - u;
            if (gap <= window_ns_ && (!best || gap < best_gap)) {
                best = id;
                best_gap = gap;
            }
        }
        if (!best) {
            return std::nullopt;
        }
        return drop(b, *best);
    }

    // Every waiting record older than `limit` can no longer meet a partner
    // that arrives in time order.
    void expire_before(StageBatch& b, TimeNs limit) {
        while (!by_time_.empty() && by_time_.begin()->first < limit) {
            release(b, by_time_.begin()->second);
        }
    }

    // A waiting record leaves without a partner: the unmatched policy.
    void release(StageBatch& b, std::uint64_t id) {
        const int side = entries_.at(id).side;
        Record r = drop(b, id);
        (side == kLeft ? unmatched_left_ : unmatched_right_)->inc();
        if (unmatched_ == "emit") {
            out_.push_back(std::move(r));
            return;
        }
        if (unmatched_ == "dead_letter") {
            b.dead.push_back(stages::dead_record(
                r, b.wall_ns,
                fmt::format("join: no {} partner within {}", side == kLeft ? "right" : "left",
                            format_duration(std::chrono::nanoseconds(window_ns_)))));
        }
        metrics_->dropped->inc();
    }

    void missing_key(StageBatch& b, Record& r, int side) {
        (side == kLeft ? unmatched_left_ : unmatched_right_)->inc();
        if (unmatched_ == "emit") {
            out_.push_back(std::move(r));
            return;
        }
        if (unmatched_ == "dead_letter") {
            b.dead.push_back(stages::dead_record(
                r, b.wall_ns, fmt::format("join: the record lacks a name of the key template '{}'", key_.text())));
        }
        metrics_->dropped->inc();
    }

    std::string prefix_for(int side, const Record& self, const Record& other) const {
        if (!prefix_[side].empty()) {
            return prefix_[side];
        }
        if (!self.measurement.empty() && self.measurement != other.measurement) {
            return self.measurement + "_";
        }
        return side == kLeft ? "left_" : "right_";
    }

    Record combine(const Record& left, const Record& right) const {
        Record out;
        out.time_ns = left.time_ns;
        out.measurement = measurement_.empty() ? left.measurement : measurement_;
        out.origin = left.origin;
        const std::string lp = prefix_for(kLeft, left, right);
        const std::string rp = prefix_for(kRight, right, left);
        for (const auto& t : left.tags) {
            const std::string* other = right.tag(t.name);
            out.tags.push_back(Tag{other != nullptr && *other != t.value ? lp + t.name : t.name, t.value});
        }
        for (const auto& t : right.tags) {
            const std::string* other = left.tag(t.name);
            if (other == nullptr) {
                out.tags.push_back(t);
            } else if (*other != t.value) {
                out.tags.push_back(Tag{rp + t.name, t.value});
            }
        }
        for (const auto& f : left.fields) {
            out.fields.push_back(Field{right.field(f.name) != nullptr ? lp + f.name : f.name, f.value});
        }
        for (const auto& f : right.fields) {
            out.fields.push_back(Field{left.field(f.name) != nullptr ? rp + f.name : f.name, f.value});
        }
        return out;
    }

    std::optional<expr::Expression> left_, right_;
    Template key_;
    std::int64_t window_ns_;
    std::chrono::nanoseconds timeout_;
    std::string unmatched_;
    std::string measurement_;
    std::string prefix_[2];
    std::size_t max_pending_;

    stages::PendingStore store_;
    std::map<std::uint64_t, Entry> entries_;  // by id: arrival order
    std::unordered_map<std::string, std::vector<std::uint64_t>> by_key_[2];
    std::multimap<TimeNs, std::uint64_t> by_time_;
    TimeNs watermark_ = std::numeric_limits<TimeNs>::min();
    std::vector<Record> out_;

    ComponentMetrics* metrics_ = nullptr;
    Counter* pairs_ = nullptr;
    Counter* unmatched_left_ = nullptr;
    Counter* unmatched_right_ = nullptr;
    Counter* evicted_ = nullptr;
    Gauge* pending_gauge_ = nullptr;
};

}  // namespace

const Descriptor& stage_join() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "join",
        .summary = "Joins two streams of a pipeline: records with the same key at most `window` apart become one",
        .options =
            {
                {.name = "left", .type = OptionType::String,
                 .doc = "Predicate selecting the left stream, e.g. \"measurement == 'temperature'\". A record "
                        "matching both predicates is left; one matching neither passes through.",
                 .required = true, .min = 1},
                {.name = "right", .type = OptionType::String,
                 .doc = "Predicate selecting the right stream, e.g. \"measurement == 'humidity'\".", .required = true,
                 .min = 1},
                {.name = "key", .type = OptionType::String,
                 .doc = "Key template both sides must share, e.g. \"{node}\".", .required = true, .min = 1},
                {.name = "window", .type = OptionType::Duration,
                 .doc = "Largest difference between the two records' timestamps (event time). A record waits until "
                        "a record of either stream more than `window` newer arrives (or `timeout`).",
                 .required = true},
                {.name = "timeout", .type = OptionType::Duration, .default_value = "1m",
                 .doc = "Longest a record waits for its partner in processing time (monotonic clock; restarted "
                        "after a restart), for streams that stop. 0: only event time releases records."},
                {.name = "unmatched", .type = OptionType::Enum, .default_value = "emit",
                 .doc = "A record released without a partner: emit (alone, unchanged), drop, or dead_letter. "
                        "Counted in sluice_join_unmatched_records_total{side}.",
                 .choices = "emit|drop|dead_letter"},
                {.name = "measurement", .type = OptionType::String, .default_value = "",
                 .doc = "Measurement of a joined record. Empty: the left record's."},
                {.name = "left_prefix", .type = OptionType::String, .default_value = "",
                 .doc = "Prefix of left fields and tags whose names clash with the right's. Empty: the left "
                        "measurement and '_' (\"temperature_value\"), or \"left_\" when both measurements are equal."},
                {.name = "right_prefix", .type = OptionType::String, .default_value = "",
                 .doc = "The same for the right side (\"humidity_value\" or \"right_\")."},
                {.name = "max_pending", .type = OptionType::Int, .default_value = "100000",
                 .doc = "Most records waiting for a partner; beyond it the oldest is released early (unmatched "
                        "policy, sluice_join_evicted_records_total).",
                 .min = 1, .max = 100000000},
            },
        .make_stage = [](const Options& o) { return std::make_unique<JoinStage>(o); },
        .describe = [](const Options&) { return DescribeShape{.dot_shape = "hexagon"}; },
    };
    return d;
}

}  // namespace sluice::components
