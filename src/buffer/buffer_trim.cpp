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
    // By time: everything before the first row young enough to keep.
    // Without a time limit (only retain_bytes) nothing goes for its age.
    std::uint64_t by_time = trimmed_to;
    if (opts.retain.count() > 0) {
        const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
        ResetGuard g(retain_time_q);
        retain_time_q.bind_u64(1, trimmed_to);
        retain_time_q.bind(2, now - opts.retain.count());
        retain_time_q.bind_u64(3, target);
        by_time = target;
        if (retain_time_q.step() && retain_time_q.col_int(2) >= now - opts.retain.count()) {
            // A row's ts is its first record's: the row before the first
            // young one may end with young records, so it stays too.
            const std::uint64_t id = retain_time_q.col_u64(0);
            const std::uint64_t n = retain_time_q.col_u64(1);
            const std::uint64_t young_from = id >= n ? id - n + 1 : 1;
            retain_time_q.reset();
            ResetGuard p(retain_prev_q);
            retain_prev_q.bind_u64(1, young_from);
            std::uint64_t keep_from = young_from;
            if (retain_prev_q.step()) {
                const std::uint64_t pid = retain_prev_q.col_u64(0);
                const std::uint64_t pn = retain_prev_q.col_u64(1);
                keep_from = pid >= pn ? pid - pn + 1 : 1;
            }
            by_time = std::min(target, keep_from - 1);
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
            ResetGuard g(retain_size_q);
            retain_size_q.bind_u64(1, trimmed_to);
            std::uint64_t freed = 0;
            while (held - freed > opts.retain_bytes && by_size < target && retain_size_q.step()) {
                by_size = std::min(target, retain_size_q.col_u64(0));
                freed += retain_size_q.col_u64(1);
            }
        }
    }
    return std::max(by_time, by_size);
}

bool Buffer::Impl::trim_owned(bool make_room) {
    std::uint64_t target = trim_target();
    if (!make_room) {
        target = retained_target(target);
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
