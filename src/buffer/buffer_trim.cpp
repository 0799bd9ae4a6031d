// Trimming: rows every sink has confirmed are deleted as a prefix (ids stay
// contiguous), in their own transaction with meta.bytes, by whoever holds
// the writer gate (see trim_or_defer in buffer.cpp).

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <mutex>
#include <string_view>

#include "buffer/buffer.hpp"
#include "buffer/buffer_internal.hpp"
#include "buffer/sqlite.hpp"
#include "core/log.hpp"

namespace sluice {

using namespace buffer_detail;

std::uint64_t Buffer::Impl::trim_target(std::size_t moving, std::uint64_t to) {
    std::lock_guard lk(mu);
    if (sinks.empty()) {
        return 0;  // nobody confirms anything: keep every row
    }
    std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t i = 0; i < sinks.size(); ++i) {
        m = std::min(m, i == moving ? to : sinks[i].cursor);
    }
    return m;
}

Deleted Buffer::Impl::delete_through(std::uint64_t id) {
    recent.discard_through(id);
    return trimmer->delete_through(id);
}

void Buffer::Impl::set_meta(const char* key, std::uint64_t value) {
    upsert_meta.bind_text(1, key);
    upsert_meta.bind_u64(2, value);
    upsert_meta.run();
}

std::uint64_t Buffer::Impl::delete_rows_through(std::uint64_t target) {
    Deleted d = delete_through(target);
    std::uint64_t left = bytes > d.bytes ? bytes - d.bytes : 0;
    if (d.rows > 0) {
        set_meta("bytes", left);
    }
    return left;
}

void Buffer::Impl::trimmed(std::uint64_t target, std::uint64_t left) {
    {
        std::lock_guard lk(mu);
        bytes = left;
    }
    trimmed_to = target;
    space_cv.notify_all();
    check_space_back();  // a full disk's episode also ends while no appends come
}

std::uint64_t Buffer::Impl::retained_target(std::uint64_t target) {
    if (!retaining() || target <= trimmed_to) {
        return target;
    }
    // Callers hold the writer gate outside any try block: a failing query
    // keeps every row (the next trim asks again), it never throws.
    try {
        return retained_target_or_throw(target);
    } catch (const std::exception& e) {
        log::warn("{} (keeping delivered rows for replay; tried again at the next trim)", e.what());
        return trimmed_to;
    }
}

// Only ids and ts are read (n and the body are the row's last columns: a
// pack's overflow pages are never walked). Ids are contiguous, so a row's
// first record is the row before it + 1.
std::uint64_t Buffer::Impl::retained_target_or_throw(std::uint64_t target) {
    // The last id of the row `k` rows before row `id` (k = 1 or 2), or
    // trimmed_to when there are not that many.
    const auto before = [&](std::uint64_t id, int k) {
        ResetGuard g(retain_prev_q);
        retain_prev_q.bind_u64(1, id);
        std::uint64_t out = trimmed_to;
        for (int i = 0; i < k; ++i) {
            if (!retain_prev_q.step()) {
                return trimmed_to;
            }
            out = retain_prev_q.col_u64(0);
        }
        return out;
    };
    // By time: everything before the first row young enough to keep, and
    // the row before that too (a row's ts is its first record's: its later
    // records may be young). Never into the row that holds the lowest
    // cursor unless it ends there. Without a time limit (only
    // retain_bytes) nothing goes for its age.
    std::uint64_t by_time = trimmed_to;
    if (opts.retain.count() > 0) {
        const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
        const std::int64_t cutoff = now - opts.retain.count();
        std::uint64_t row = 0;
        bool young = false;
        {
            ResetGuard g(retain_time_q);
            retain_time_q.bind_u64(1, trimmed_to);
            retain_time_q.bind(2, cutoff);
            retain_time_q.bind_u64(3, target);
            if (retain_time_q.step()) {
                row = retain_time_q.col_u64(0);
                young = retain_time_q.col_int(1) >= cutoff;
            }
        }
        if (row == 0) {
            by_time = target;  // no row reaches the cursor: nothing young in the way
        } else if (young) {
            by_time = std::min(target, before(row, 2));
        } else {
            by_time = row == target ? target : std::min(target, before(row, 1));
        }
    }
    // By size: the oldest rows until the buffer holds retain_bytes.
    std::uint64_t by_size = trimmed_to;
    if (opts.retain_bytes > 0) {
        std::uint64_t held = 0;
        {
            std::lock_guard lk(mu);
            held = bytes;
        }
        if (held > opts.retain_bytes) {
            by_size = rows_freeing(held - opts.retain_bytes, target);
        }
    }
    return std::max(by_time, by_size);
}

std::uint64_t Buffer::Impl::rows_freeing(std::uint64_t need, std::uint64_t limit) {
    ResetGuard g(retain_size_q);
    retain_size_q.bind_u64(1, trimmed_to);
    std::uint64_t freed = 0;
    std::uint64_t upto = trimmed_to;
    while (freed < need && upto < limit && retain_size_q.step()) {
        upto = std::min(limit, retain_size_q.col_u64(0));
        freed += retain_size_q.col_u64(1);
    }
    return upto;
}

bool Buffer::Impl::trim_owned(std::uint64_t room) {
    std::uint64_t target = trim_target();
    if (retaining()) {
        // Kept rows stay, but for the room a blocked append needs.
        std::uint64_t keep = retained_target(target);
        if (room > 0 && keep < target) {
            try {
                keep = std::max(keep, rows_freeing(room, target));
            } catch (const std::exception& e) {
                log::warn("{} (trim)", e.what());
            }
        }
        target = keep;
    }
    if (target <= trimmed_to) {
        return false;
    }
    try {
        Txn txn(db);
        const std::uint64_t left = delete_rows_through(target);
        txn.commit();
        trimmed(target, left);
        return true;
    } catch (const std::exception& e) {
        // The rows stay and the next trim tries again (with the reserve
        // given back if the disk is full).
        if (std::string_view(e.what()).find(sqlite3_errstr(SQLITE_FULL)) != std::string_view::npos) {
            note_full(0);
        }
        log::warn("{} (trim)", e.what());
        return false;
    }
}

bool Buffer::Impl::move_cursor_owned(std::size_t index, std::uint64_t to, const std::string* state, bool trim,
                                     std::string& error) {
    const std::uint64_t target = trim ? retained_target(trim_target(index, to)) : 0;
    const bool deletes = trim && target > trimmed_to;
    std::uint64_t left = 0;
    try {
        cursor_txn = true;
        Txn txn(db);
        Stmt& st = state != nullptr ? store_cursor_state : store_cursor;
        st.bind_text(1, sinks[index].name);  // names never change after open
        st.bind_u64(2, to);
        if (state != nullptr) {
            st.bind_text(3, *state);
        }
        st.run();
        if (deletes) {
            left = delete_rows_through(target);
        }
        txn.commit();
        cursor_txn = false;
        cover_pages();  // a sink's state may have taken a page
    } catch (const std::exception& e) {
        cursor_txn = false;
        if (std::string_view(e.what()).find(sqlite3_errstr(SQLITE_FULL)) != std::string_view::npos) {
            note_full(0);  // gives back the reserve: the retry finds room
        }
        if (deletes) {
            // Deleting may be what failed (it writes more than the cursor
            // does): the cursor alone, then the trim on its own.
            if (!move_cursor_owned(index, to, state, false, error)) {
                return false;
            }
            trim_owned();
            return true;
        }
        error = e.what();
        return false;
    }
    {
        std::lock_guard lk(mu);
        sinks[index].cursor = to;
    }
    if (deletes) {
        trimmed(target, left);
    }
    return true;
}

}  // namespace sluice
