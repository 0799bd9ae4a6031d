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

std::uint64_t Buffer::Impl::trim_target() {
    std::lock_guard lk(mu);
    if (sinks.empty()) {
        return 0;  // nobody confirms anything: keep every row
    }
    std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
    for (const auto& s : sinks) {
        m = std::min(m, s.cursor);
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

void Buffer::Impl::trim_owned() {
    std::uint64_t target = trim_target();
    if (target <= trimmed_to) {
        return;
    }
    try {
        Txn txn(db);
        Deleted d = delete_through(target);
        std::uint64_t left = bytes > d.bytes ? bytes - d.bytes : 0;
        if (d.rows > 0) {
            set_meta("bytes", left);
        }
        txn.commit();
        {
            std::lock_guard lk(mu);
            bytes = left;
        }
        trimmed_to = target;
        space_cv.notify_all();
        check_space_back();  // a full disk's episode also ends while no appends come
    } catch (const std::exception& e) {
        // The rows stay and the next trim tries again (with the reserve
        // given back if the disk is full).
        if (std::string_view(e.what()).find(sqlite3_errstr(SQLITE_FULL)) != std::string_view::npos) {
            note_full(0);
        }
        log::warn("{} (trim)", e.what());
    }
}

}  // namespace sluice
