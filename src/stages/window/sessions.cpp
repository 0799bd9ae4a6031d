// Session windows: a record joins the sessions it falls within `gap` of,
// merging them; a session closes when the watermark passes its last record
// plus `gap`. (Their output goes through emit.cpp like any window's.)

#include "stages/window/stage.hpp"

#include <algorithm>
#include <utility>

namespace sluice::window {

bool WindowStage::add_session(Record& r, std::int64_t t, StageBatch& b, const std::string& key, std::uint64_t h) {
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

void WindowStage::close_sessions(Group& g, std::int64_t wm) {
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
}

}  // namespace sluice::window
