// Batches N records (per group of tags) into one record with indexed fields,
// or whatever arrived within max_age.

#include <algorithm>
#include <list>
#include <map>

#include "core/clock.hpp"
#include "expr/expr.hpp"
#include "core/metrics.hpp"
#include "stages/pending.hpp"
#include "stages/stage_util.hpp"

namespace sluice::components {
namespace {

class CollectStage final : public Stage {
public:
    explicit CollectStage(const Options& o)
        : count_(static_cast<std::size_t>(o.integer("count"))),
          max_age_(o.duration("max_age")),
          group_by_(stages::list_option(o, "group_by")),
          measurement_(o.str_or("measurement", "")),
          count_field_(o.str_or("count_field", "")),
          times_(o.boolean("times")),
          max_groups_(static_cast<std::size_t>(o.integer("max_groups"))) {}

    std::chrono::nanoseconds tick_interval() const override {
        if (max_age_.count() == 0) {
            return {};
        }
        return std::clamp<std::chrono::nanoseconds>(max_age_ / 4, std::chrono::milliseconds(10),
                                                    std::chrono::seconds(1));
    }

    void open(StageContext& ctx) override {
        metrics_ = ctx.metrics;
        const std::int64_t now = mono_now_ns();
        pending_.load(ctx, [&](std::uint64_t id, std::string_view key, Record&& r) {
            Group& g = group(std::string(key), now, nullptr);
            g.ids.push_back(id);
            g.records.push_back(std::move(r));
        });
    }

    void process(StageBatch& b) override {
        out_.clear();
        std::string key;
        for (auto& r : b.records) {
            key.clear();
            for (const auto& name : group_by_) {
                const std::string* v = r.tag(name);
                key += v != nullptr ? *v : std::string();
                key += '\x1f';
            }
            Group& g = group(key, b.mono_ns, &b);
            g.ids.push_back(pending_.add(b, key, r));
            g.records.push_back(std::move(r));
            if (g.records.size() >= count_) {
                emit(b, key);
            }
        }
        if (max_age_.count() > 0) {
            std::vector<std::string> due;
            for (const auto& [k, g] : groups_) {
                if (b.mono_ns - g.first_mono >= max_age_.count()) {
                    due.push_back(k);
                }
            }
            for (const auto& k : due) {
                emit(b, k);
            }
        }
        b.records.swap(out_);
        out_.clear();
    }

private:
    struct Group {
        std::vector<std::uint64_t> ids;
        std::vector<Record> records;
        std::int64_t first_mono = 0;
        std::list<std::string>::iterator order;
    };

    // `b` null (while loading): no eviction.
    Group& group(const std::string& key, std::int64_t now, StageBatch* b) {
        auto it = groups_.find(key);
        if (it != groups_.end()) {
            return it->second;
        }
        if (groups_.size() >= max_groups_ && !order_.empty() && b != nullptr) {
            // Memory is bounded: the oldest open group goes out early.
            if (metrics_ != nullptr) {
                metrics_->errors->inc();
            }
            emit(*b, std::string(order_.front()));
        }
        it = groups_.emplace(key, Group{}).first;
        it->second.first_mono = now;
        order_.push_back(key);
        it->second.order = std::prev(order_.end());
        return it->second;
    }

    void emit(StageBatch& b, const std::string& key) {
        auto it = groups_.find(key);
        if (it == groups_.end()) {
            return;
        }
        Group& g = it->second;
        if (!g.records.empty()) {
            out_.push_back(combine(g.records));
        }
        for (auto id : g.ids) {
            pending_.remove(b, id);
        }
        order_.erase(g.order);
        groups_.erase(it);
    }

    Record combine(std::vector<Record>& records) const {
        Record out;
        const Record& first = records.front();
        out.time_ns = first.time_ns;
        out.measurement = measurement_.empty() ? first.measurement : measurement_;
        out.origin = first.origin;
        // The tags every collected record has with the same value.
        for (const auto& t : first.tags) {
            bool common = true;
            for (std::size_t i = 1; i < records.size() && common; ++i) {
                const std::string* v = records[i].tag(t.name);
                common = v != nullptr && *v == t.value;
            }
            if (common) {
                out.tags.push_back(t);
            }
        }
        for (std::size_t i = 0; i < records.size(); ++i) {
            for (auto& f : records[i].fields) {
                out.fields.push_back(Field{fmt::format("{}_{}", f.name, i), std::move(f.value)});
            }
            if (times_) {
                out.fields.push_back(Field{fmt::format("time_{}", i), FieldValue(std::int64_t{records[i].time_ns})});
            }
        }
        if (!count_field_.empty()) {
            stages::set_field(out, count_field_, static_cast<std::int64_t>(records.size()));
        }
        return out;
    }

    std::size_t count_;
    std::chrono::nanoseconds max_age_;
    std::vector<std::string> group_by_;
    std::string measurement_;
    std::string count_field_;
    bool times_;
    std::size_t max_groups_;
    std::map<std::string, Group> groups_;
    std::list<std::string> order_;  // group keys, oldest first
    stages::PendingStore pending_;
    std::vector<Record> out_;
    ComponentMetrics* metrics_ = nullptr;
};

}  // namespace

const Descriptor& stage_collect() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "collect",
        .summary = "Batches N records (per tag group) into one record with indexed fields (value_0, value_1, ...)",
        .options =
            {
                {.name = "count", .type = OptionType::Int, .default_value = "10",
                 .doc = "Records per output record. A group that reaches it is emitted at once.", .min = 1,
                 .max = 10000},
                {.name = "max_age", .type = OptionType::Duration, .default_value = "0s",
                 .doc = "Also emit a group once its first record waited this long (processing time, monotonic "
                        "clock), with fewer than count records. 0: only by count.",
                 .max = 86400},
                {.name = "group_by", .type = OptionType::List, .default_value = "",
                 .doc = "Tags whose values separate the batches, e.g. [\"node\"]. Empty: one batch."},
                {.name = "measurement", .type = OptionType::String, .default_value = "",
                 .doc = "Measurement of the output. Empty: the first collected record's."},
                {.name = "count_field", .type = OptionType::String, .default_value = "count",
                 .doc = "Field with the number of records collected. Empty: none."},
                {.name = "times", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Add time_0, time_1, ... fields with each record's timestamp (ns since the epoch)."},
                {.name = "max_groups", .type = OptionType::Int, .default_value = "10000",
                 .doc = "Most open groups; beyond it the oldest one is emitted early (counted as an error).",
                 .min = 1, .max = 10000000},
            },
        .make_stage = [](const Options& o) { return std::make_unique<CollectStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
