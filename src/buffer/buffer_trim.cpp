// Trimming: rows every sink has confirmed are deleted as a prefix (ids stay
// contiguous), in their own transaction with meta.bytes, by whoever holds
// the writer gate (see trim_or_defer in buffer.cpp).

#include <algorithm>
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

void Buffer::Impl::trim_owned() {
    std::uint64_t target = trim_target();
    if (target <= trimmed_to) {
        return;
    }
    try {
        Txn txn(db);
        const std::uint64_t left = delete_rows_through(target);
        txn.commit();
        trimmed(target, left);
    } catch (const std::exception& e) {
        // The rows stay and the next trim tries again (with the reserve
        // given back if the disk is full).
        if (std::string_view(e.what()).find(sqlite3_errstr(SQLITE_FULL)) != std::string_view::npos) {
            note_full(0);
        }
        log::warn("{} (trim)", e.what());
    }
}

bool Buffer::Impl::move_cursor_owned(std::size_t index, std::uint64_t to, const std::string* state, bool trim,
                                     std::string& error) {
    const std::uint64_t target = trim ? trim_target(index, to) : 0;
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
