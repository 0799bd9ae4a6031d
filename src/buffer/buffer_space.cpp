// The buffer's size on disk. max_bytes caps the database, its WAL, the
// shared-memory file and the reserve file together (disk_plan shares it
// out): the database file is held to its share by SQLite's max_page_count,
// so a batch that would grow it further fails with SQLITE_FULL before any
// byte is written, and append makes room by dropping the oldest rows (which
// frees pages that later inserts reuse: the file never needs a VACUUM).
//
// A file system that fills up before the cap gives the same SQLITE_FULL.
// Then an episode starts: it is logged once and counted, the reserve file is
// deleted so that the sinks' cursor updates, trims and checkpoints still
// find room, and the database is held at its present size, so that with
// drop_oldest intake goes on inside the pages it already has. Once the file
// system has room again the reserve comes back and the hold ends.
//
// A commit writes its new pages to the WAL only; the checkpoint copies them
// into the database file later, and that is when the file grows. Were the
// disk full by then, the checkpoint could not finish, the WAL could not
// start over, and every later write (a cursor, a trim) would need the WAL
// to grow into a disk that has nothing left: stuck for good. So the file is
// given its blocks right after each commit that added pages (cover_pages,
// SQLITE_FCNTL_SIZE_HINT, which allocates them); if that finds the disk
// full, the episode starts and the reserve pays for them. A checkpoint then
// never needs room, and the reserve is left for the WAL.

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>

#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "buffer/buffer_internal.hpp"
#include "buffer/schema.hpp"
#include "buffer/sqlite.hpp"
#include "core/log.hpp"

namespace sluice {

using namespace buffer_detail;

namespace {

std::uint64_t to_pages(std::uint64_t bytes, std::uint64_t page) {
    return std::max<std::uint64_t>(bytes / page, 1);
}

}  // namespace

void Buffer::Impl::init_space() {
    plan = disk_plan(opts.max_bytes, file_system_bytes(opts.path));
    configure_wal(db, plan.wal_bytes);
    const std::int64_t ps = db.query_int("PRAGMA page_size");
    page_size = ps > 0 ? static_cast<std::uint64_t>(ps) : 4096;
    // SQLITE_FCNTL_SIZE_HINT allocates only with a chunk size set; 32 KiB
    // (8 pages) also keeps the file in few extents on flash.
    int chunk = 32 * 1024;
    sqlite3_file_control(db.get(), "main", SQLITE_FCNTL_CHUNK_SIZE, &chunk);
    budget_pages = to_pages(plan.db_bytes, page_size);
    hard_pages = opts.max_file_bytes > 0 ? to_pages(opts.max_file_bytes, page_size) : 0;
    page_count_q = Stmt(db, "PRAGMA page_count");
    freelist_q = Stmt(db, "PRAGMA freelist_count");
    reserve_path = opts.path.string() + ".reserve";
    apply_page_limit();
    if (!make_reserve()) {
        log::warn("buffer {}: cannot set aside {} bytes in {} (disk full?); going on without the reserve",
                  opts.path.string(), plan.reserve_bytes, reserve_path.string());
    }
}

void Buffer::Impl::apply_page_limit() {
    std::uint64_t limit = budget_pages;
    if (hard_pages > 0) {
        limit = std::min(limit, hard_pages);
    }
    if (held_pages > 0) {
        limit = std::min(limit, held_pages);
    }
    if (limit != limit_pages) {
        // SQLite never sets it below the present size of the database.
        db.exec(fmt::format("PRAGMA max_page_count = {}", limit).c_str());
        limit_pages = static_cast<std::uint64_t>(db.query_int("PRAGMA max_page_count"));
    }
}

std::uint64_t Buffer::Impl::room_pages() {
    std::uint64_t count = 0;
    std::uint64_t free = 0;
    {
        ResetGuard g(page_count_q);
        count = page_count_q.step() ? page_count_q.col_u64(0) : 0;
    }
    {
        ResetGuard g(freelist_q);
        free = freelist_q.step() ? freelist_q.col_u64(0) : 0;
    }
    const std::uint64_t limit = std::max(limit_pages, count);
    return limit - count + free;
}

std::uint64_t Buffer::Impl::free_disk_bytes() const {
    struct statvfs vfs {};
    const std::filesystem::path dir = opts.path.has_parent_path() ? opts.path.parent_path() : ".";
    if (::statvfs(dir.c_str(), &vfs) != 0) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    return static_cast<std::uint64_t>(vfs.f_bavail) * static_cast<std::uint64_t>(vfs.f_frsize);
}

bool Buffer::Impl::make_reserve() {
    if (reserve_held) {
        return true;
    }
    const int fd = ::open(reserve_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return false;
    }
    // Written out, not a sparse file: only blocks really taken can be given back.
    int err = ::posix_fallocate(fd, 0, static_cast<off_t>(plan.reserve_bytes));
    if (err == EOPNOTSUPP || err == EINVAL) {
        static const std::string zeros(64 * 1024, '\0');
        err = 0;
        for (std::uint64_t done = 0; done < plan.reserve_bytes && err == 0;) {
            const auto n =
                static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), plan.reserve_bytes - done));
            const ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(done));
            if (w <= 0) {
                err = errno != 0 ? errno : ENOSPC;
            } else {
                done += static_cast<std::uint64_t>(w);
            }
        }
    }
    ::close(fd);
    if (err != 0) {
        ::unlink(reserve_path.c_str());
        return false;
    }
    reserve_held = true;
    return true;
}

bool Buffer::Impl::cover_pages() {
    std::uint64_t count = 0;
    try {
        ResetGuard g(page_count_q);
        count = page_count_q.step() ? page_count_q.col_u64(0) : 0;
    } catch (const std::exception& e) {
        log::debug("{} (the database's size)", e.what());
        return true;
    }
    if (count <= covered_pages) {
        return true;  // covered already (the file only ever grows while open)
    }
    const auto allocate = [&] {
        auto want = static_cast<sqlite3_int64>(count * page_size);
        return sqlite3_file_control(db.get(), "main", SQLITE_FCNTL_SIZE_HINT, &want) == SQLITE_OK;
    };
    if (allocate()) {
        covered_pages = count;
        return true;
    }
    if (free_disk_bytes() >= (count - covered_pages) * page_size + 64 * 1024) {
        // Not the disk (a file system without fallocate and no room to fake
        // it is one): the checkpoint grows the file as before.
        return true;
    }
    begin_disk_full();
    hold_pages();
    if (allocate()) {
        covered_pages = count;
        return true;
    }
    return false;
}

void Buffer::Impl::hold_pages() {
    // What the database holds now is all it gets while the disk is full:
    // freed pages are reused, no new ones are asked for.
    try {
        ResetGuard g(page_count_q);
        const std::uint64_t count = page_count_q.step() ? page_count_q.col_u64(0) : 0;
        if (count > 0 && (held_pages == 0 || count < held_pages)) {
            held_pages = count;
            apply_page_limit();
        }
    } catch (const std::exception& e) {
        log::debug("{} (holding the database size)", e.what());
    }
}

bool Buffer::Impl::note_full(std::uint64_t batch) {
    std::uint64_t room = std::numeric_limits<std::uint64_t>::max();
    try {
        room = room_pages();
    } catch (const std::exception&) {
        // Could not even ask: treat it as the disk.
        room = 0;
    }
    const std::uint64_t need = (batch + batch / 4) / page_size + 8;
    // max_file_bytes stands for a disk of that size (the tests' full disk).
    const bool hard_is_limit = hard_pages > 0 && hard_pages <= budget_pages;
    const bool cap_reached = !hard_is_limit && held_pages == 0 && room < need;
    const bool disk = !cap_reached || free_disk_bytes() < 64 * 1024 + batch;
    if (!disk) {
        return false;
    }
    begin_disk_full();
    hold_pages();
    // With the reserve given back the file surely holds every page, and the
    // checkpoint lets the WAL start over at the front of its file instead
    // of growing.
    cover_pages();
    sqlite3_wal_checkpoint_v2(db.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return true;
}

void Buffer::Impl::begin_disk_full() {
    if (disk_full.load()) {
        return;
    }
    disk_full = true;
    disk_full_episodes.fetch_add(1);
    if (reserve_held) {
        ::unlink(reserve_path.c_str());
        reserve_held = false;
    }
    log::warn("buffer {}: the disk is full ({} bytes free); {} until there is room again (the reserve of {} "
              "bytes is given back meanwhile)",
              opts.path.string(), free_disk_bytes(),
              opts.overflow == Overflow::DropOldest
                  ? "the database keeps its size and the oldest rows are dropped to make room"
                  : "nothing new is accepted",
              plan.reserve_bytes);
}

void Buffer::Impl::check_space_back() {
    if (!disk_full.load()) {
        return;
    }
    bool back = false;
    const std::uint64_t want = plan.reserve_bytes + 256 * 1024;
    if (hard_pages > 0 && hard_pages <= budget_pages) {
        try {
            back = room_pages() * page_size >= std::min(want, hard_pages * page_size / 4);
        } catch (const std::exception&) {
            back = false;
        }
    } else {
        back = free_disk_bytes() >= want;
    }
    if (!back || !make_reserve()) {
        return;
    }
    disk_full = false;
    held_pages = 0;
    try {
        apply_page_limit();
    } catch (const std::exception& e) {
        log::debug("{} (lifting the hold on the database size)", e.what());
    }
    log::info("buffer {}: there is room on the disk again ({} bytes free)", opts.path.string(), free_disk_bytes());
}

}  // namespace sluice
