// The window stage's groups: new and removed groups (in the group table,
// group_table.hpp), and eviction at max_groups.

#include "stages/window/stage.hpp"

#include <algorithm>

#include "core/log.hpp"

namespace sluice::window {

std::uint32_t WindowStage::new_group(std::string_view key, std::uint64_t h) {
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
    table_.insert(h, gid);
    ++open_groups_;
    return gid;
}

void WindowStage::remove_group(std::uint32_t gid) {
    Group& g = groups_[gid];
    for (std::size_t i = 0; i < g.live; ++i) {
        forget_stored(g, g.panes[i]);
    }
    g.live = 0;
    table_.erase(g.hash, gid);
    g.used = false;
    ++g.generation;
    g.key.clear();
    g.tags.clear();
    g.panes.clear();
    g.panes.shrink_to_fit();
    free_.push_back(gid);
    --open_groups_;
}

void WindowStage::evict(std::uint32_t gid) {
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

void WindowStage::evict_one() {
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

}  // namespace sluice::window
