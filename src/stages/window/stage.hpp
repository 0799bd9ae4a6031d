#pragma once
// The window stage itself. Its members are defined by concern:
//   stage.cpp       lifecycle, clocks and the input path (one record at a time)
//   groups.cpp      new and removed groups, eviction
//   panes.cpp       panes of a group, what changed, the close calendar
//   sessions.cpp    session windows
//   emit.cpp        output records (and emit.hpp: a window's id and fields)
//   checkpoint.cpp  state written with each batch and read back at start-up
//                   (and checkpoint.hpp: which settings shape that state)
// The per-record path (stage.cpp) calls into the others only through small
// helpers defined in this header, which it can inline.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/component.hpp"
#include "core/metrics.hpp"
#include "stages/window/config.hpp"
#include "stages/window/group_table.hpp"
#include "stages/window/sketch.hpp"
#include "stages/window/window_state.hpp"

namespace sluice::window {

// A pane of a tumbling/hopping window, or one session.
struct Pane {
    std::int64_t start = 0;
    std::int64_t persisted_start = kNone;  // the key it is stored under, kNone if not stored
    bool dirty = false;
    PaneData data;
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

// A window ready to go out, sorted before emission so the output does not
// depend on how the input was cut into batches.
struct Emitted {
    std::int64_t end;
    std::int64_t start;
    std::string key;
    Record record;
};

class WindowStage final : public Stage {
public:
    explicit WindowStage(Config c);

    void open(StageContext& ctx) override;
    std::chrono::nanoseconds tick_interval() const override;
    void process(StageBatch& b) override;

private:
    // ------------------------------------------------------------ clocks (stage.cpp)

    void start_clocks(const StageBatch& b);
    std::int64_t processing_now(const StageBatch& b);

    // ------------------------------------------------------------ input (stage.cpp)

    // Memory prefetches for records further down the batch: the table slot,
    // then the group, then its newest pane, then that pane's field state.
    // Only hints: each step re-reads the current state, nothing is trusted.
    void prefetch_ahead(std::size_t i, std::size_t n);
    bool add_event(Record& r, StageBatch& b, const std::string& key, std::uint64_t h);
    void refuse_late(Record& r, StageBatch& b, std::int64_t t, std::int64_t closed_end);
    void refuse(Record& r, StageBatch& b, std::string reason);
    void build_key(const Record& r, std::string& key) const;
    // Places one record at window-clock time `t`. False if it was refused.
    bool add(Record& r, std::int64_t t, StageBatch& b, const std::string& key, std::uint64_t h);
    void update(Pane& p, const Record& r, std::int64_t t);
    Group& group_for(const Record& r, const std::string& key, std::uint64_t h);

    // ------------------------------------------------------------ sessions (sessions.cpp)

    bool add_session(Record& r, std::int64_t t, StageBatch& b, const std::string& key, std::uint64_t h);
    // Emits and removes the sessions of `g` that end at or before `wm`; lowers
    // g.next_close to the earliest end of the others.
    void close_sessions(Group& g, std::int64_t wm);

    // ------------------------------------------------------------ groups (groups.cpp)

    std::uint32_t new_group(std::string_view key, std::uint64_t h);
    void remove_group(std::uint32_t gid);
    void evict(std::uint32_t gid);
    // Second-chance clock: an approximation of least recently updated
    // that costs nothing per record (one flag in the group just touched).
    void evict_one();

    // Defined here (as are pane_at, mark_dirty and schedule) so the per-record
    // path can inline them.
    std::uint32_t find_group(std::string_view key, std::uint64_t h) const {
        return table_.find(h, [&](std::uint32_t gid) { return groups_[gid].key.view() == key; });
    }

    // ------------------------------------------------------------ panes (panes.cpp)

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

    Pane& insert_pane(Group& g, std::int64_t start);
    Pane& insert_pane_at(Group& g, std::size_t i, std::int64_t start);
    void remove_pane(Group& g, std::size_t i);
    // Removes the first `n` live panes.
    void drop_front(Group& g, std::size_t n);
    char prefix() const { return cfg_.kind == WindowKind::Session ? window::kSessionPrefix : window::kPanePrefix; }

    void forget_stored(const Group& g, Pane& p);

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

    // ------------------------------------------------------------ closing (panes.cpp)

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

    void close_through(std::int64_t wm);
    void close_group(std::uint32_t gid, std::int64_t wm);

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

    // ------------------------------------------------------------ output (emit.cpp)

    // Emits every window of a group that holds data and was not emitted yet
    // (eviction, partial updates). Windows the watermark has passed go out as
    // final ones; the others are marked with `flag`.
    void emit_open(std::uint32_t gid, const char* flag);
    // Partial updates: only windows still open (the closed ones went out in
    // this turn's close pass).
    void emit_open_partial(std::uint32_t gid);
    void emit_partials();
    void emit(const Group& g, std::int64_t start, std::int64_t end, const PaneData& d, const char* flag);
    void flush_emitted(std::vector<Record>& out);

    // ------------------------------------------------------------ state (checkpoint.cpp)

    void checkpoint(std::vector<StateChange>& out);
    void load(StageContext& ctx);
    void restore(std::string_view gkey, const std::vector<std::optional<std::string>>& parts, std::int64_t start,
                 PaneData& data);

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
    GroupTable table_;
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
    // The first kFieldCheckRecords records are looked at for each `fields`
    // entry; one never seen is warned about once (a misspelt field gives
    // count-only windows otherwise). See check_fields().
    static constexpr std::size_t kFieldCheckRecords = 1000;
    std::size_t fields_checked_ = 0;
    std::vector<bool> field_seen_;
    std::vector<std::string> names_seen_;  // bounded, for the warning
    void check_fields(const StageBatch& b);
    bool meta_stored_ = false;
    Meta stored_meta_;
};

}  // namespace sluice::window
