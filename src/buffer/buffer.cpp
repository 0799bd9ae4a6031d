// The online buffer. One process-wide "writer gate" serialises every write
// to the database (the worker's appends on the writer connection, the sinks'
// cursor updates and dead letters on their own connections, trims), so no
// connection of this process ever waits on SQLITE_BUSY polling: waiting
// happens on a condition variable instead and transactions stay short.
// Reads (BufferReader::read) need no gate: WAL readers run beside the writer.
//
// trim() from a sink thread never waits for an append: if the gate is busy
// it leaves a note and whoever holds the gate runs the trim before letting
// go, so rows are deleted whether or not more appends arrive.
//
// This file: opening (cursors of new and removed sinks), the gate, the
// published stats and the small calls. Appends are in buffer_append.cpp,
// trims in buffer_trim.cpp, the sinks' readers in buffer_reader.cpp; the
// shared state (Buffer::Impl) in buffer_internal.hpp.

#include <algorithm>
#include <cassert>
#include <limits>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "buffer/buffer_internal.hpp"
#include "buffer/quarantine.hpp"
#include "buffer/schema.hpp"
#include "buffer/sqlite.hpp"
#include "buffer/stats_snapshot.hpp"
#include "core/log.hpp"

namespace sluice {

using namespace buffer_detail;

namespace {

int open_flags() {
    return SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
}

// Moves the damaged buffer aside and puts a fresh one, with what could be
// read from the damaged one, in its place (the caller holds the lock).
void quarantine_buffer(const BufferOptions& o, const std::string& why) {
    const auto moved = move_aside(o.path);
    Salvaged s;
    {
        Db fresh(o.path, open_flags());
        Stmt mode(fresh, "PRAGMA journal_mode = WAL");
        mode.run();
        migrate(fresh);
        s = salvage_buffer(moved, fresh);
    }
    report_quarantine(QuarantineEvent{"buffer", o.path, moved, why, s.records, s.other, s.skipped, 0});
}

}  // namespace

Buffer::Impl::Impl(const BufferOptions& o, FileLock held)
    : opts(o), lock(std::move(held)), db(o.path, open_flags()) {
    configure(db, opts.synchronous, Role::Writer, opts.max_file_bytes);
    migrate(db);

    insert_record = Stmt(db, "INSERT INTO records(id, ts, size, body, n) VALUES (?1, ?2, ?3, ?4, ?5)");
    insert_dead = Stmt(db, "INSERT INTO dead_letters(at, origin, stage, reason, payload) VALUES (?1, ?2, ?3, ?4, ?5)");
    cap_dead = Stmt(db, "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?1");
    upsert_checkpoint = Stmt(db,
                             "INSERT INTO checkpoints(key, value) VALUES (?1, ?2) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    get_checkpoint = Stmt(db, "SELECT value FROM checkpoints WHERE key = ?1");
    upsert_state = Stmt(db,
                        "INSERT INTO stage_state(stage, key, value) VALUES (?1, ?2, ?3) "
                        "ON CONFLICT(stage, key) DO UPDATE SET value = excluded.value");
    delete_state = Stmt(db, "DELETE FROM stage_state WHERE stage = ?1 AND key = ?2");
    upsert_meta = Stmt(db,
                       "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    trimmer = std::make_unique<RowTrimmer>(db);
    scan_oldest = Stmt(db, "SELECT id, size, n FROM records ORDER BY id");
    // The first row after ?1 that is young enough to keep, or that reaches
    // past the lowest cursor ?3 (so the scan never walks undelivered rows).
    retain_time_q = Stmt(db, "SELECT id, ts FROM records WHERE id > ?1 AND (ts >= ?2 OR id >= ?3) ORDER BY id "
                             "LIMIT 1");
    retain_prev_q = Stmt(db, "SELECT id FROM records WHERE id < ?1 ORDER BY id DESC LIMIT 2");
    retain_size_q = Stmt(db, "SELECT id, size FROM records WHERE id > ?1 ORDER BY id");
    pack_body = Stmt(db, "SELECT body FROM records WHERE id = ?1");
    cursor_positions = Stmt(db, "SELECT sink, position FROM cursors");
    add_dropped = Stmt(db, "UPDATE cursors SET dropped = dropped + ?1 WHERE sink = ?2");
    store_cursor = Stmt(db,
                        "INSERT INTO cursors(sink, position) VALUES (?1, ?2) "
                        "ON CONFLICT(sink) DO UPDATE SET position = excluded.position");
    store_cursor_state = Stmt(db,
                              "INSERT INTO cursors(sink, position, state) VALUES (?1, ?2, ?3) "
                              "ON CONFLICT(sink) DO UPDATE SET position = excluded.position, state = excluded.state");
    // A sink's cursor is stored on this connection (with the trim it allows):
    // fail_reader_writes_for_test turns those COMMITs into rollbacks.
    sqlite3_commit_hook(
        db.get(), [](void* self) { return static_cast<Impl*>(self)->failing_cursor_commit() ? 1 : 0; }, this);
    init_space();

    for (const auto& name : opts.sinks) {
        bool dup = std::any_of(sinks.begin(), sinks.end(), [&](const SinkState& s) { return s.name == name; });
        if (!dup) {
            sinks.push_back(SinkState{name});
        }
    }

    Txn txn(db);
    Meta meta = read_meta(db);
    std::uint64_t first = first_id(db);
    // A new sink starts at the oldest row still here: it gets what is
    // buffered, not what was already deleted.
    std::uint64_t start = first == 0 ? meta.last_id : first - 1;
    std::vector<Cursor> stored = read_cursors(db);
    {
        Stmt del(db, "DELETE FROM cursors WHERE sink = ?1");
        for (const auto& c : stored) {
            bool configured =
                std::any_of(sinks.begin(), sinks.end(), [&](const SinkState& s) { return s.name == c.sink; });
            if (!configured) {
                std::uint64_t from = std::max(c.position, start);
                log::warn("buffer {}: removing the cursor of sink '{}' (no longer configured; {} rows it had not "
                          "sent no longer wait for it)",
                          opts.path.string(), c.sink, meta.last_id > from ? meta.last_id - from : 0);
                del.bind_text(1, c.sink);
                del.run();
            }
        }
        Stmt add(db, "INSERT INTO cursors(sink, position) VALUES (?1, ?2)");
        for (auto& s : sinks) {
            auto it = std::find_if(stored.begin(), stored.end(), [&](const Cursor& c) { return c.sink == s.name; });
            if (it != stored.end()) {
                s.cursor = std::min(it->position, meta.last_id);
            } else {
                s.cursor = start;
                add.bind_text(1, s.name);
                add.bind_u64(2, start);
                add.run();
            }
        }
    }
    txn.commit();

    bytes = meta.bytes;
    last_id.store(meta.last_id);
    trimmed_to = start;
    drops.resize(sinks.size());
    positions.resize(sinks.size());
    if (meta.last_id > start) {
        log::info("buffer {}: {} rows ({} bytes) kept from the last run", opts.path.string(), meta.last_id - start,
                  meta.bytes);
    }
    // Rows every sink already had (for example after a sink was removed).
    trim_owned();
    snapshot = std::make_unique<StatsSnapshot>(db, opts.path);
    publish_stats();
}

void Buffer::Impl::publish_stats() {
    // Ids are issued in order and only ever deleted from the front, so every
    // id after trimmed_to is stored: the counts need no query.
    BufferStats st;
    st.last_id = last_id.load(std::memory_order_acquire);
    st.first_id = trimmed_to + 1;
    st.rows = st.last_id + 1 - st.first_id;
    {
        std::lock_guard lk(mu);
        st.bytes = bytes;
        st.disk_full = disk_full.load();
        st.disk_full_episodes = disk_full_episodes.load();
        std::uint64_t lowest = st.last_id;
        for (const auto& s : sinks) {
            st.sinks.push_back(SinkStats{s.name, s.cursor, 0, 0, s.dropped});
            lowest = std::min(lowest, s.cursor);
        }
        st.pending_rows = sinks.empty() ? st.rows : st.last_id - std::max(lowest, st.first_id - 1);
    }
    snapshot->publish(std::move(st));
}

void Buffer::Impl::acquire() {
    std::unique_lock lk(mu);
    gate_cv.wait(lk, [&] { return !writer_busy; });
    writer_busy = true;
}

void Buffer::Impl::release() {
    std::unique_lock lk(mu);
    for (;;) {
        while (trim_owed) {
            trim_owed = false;
            lk.unlock();
            trim_owned();
            lk.lock();
        }
        // Whatever this holder wrote is published before the next one starts.
        lk.unlock();
        publish_stats();
        lk.lock();
        if (!trim_owed) {
            break;
        }
    }
    writer_busy = false;
    lk.unlock();
    gate_cv.notify_one();
}

void Buffer::Impl::trim_or_defer() {
    {
        std::lock_guard lk(mu);
        if (writer_busy) {
            trim_owed = true;
            return;
        }
        writer_busy = true;
    }
    trim_owned();
    release();
}

void Buffer::Impl::notify_readers() {
    { std::lock_guard lk(mu); }  // a waiter between its check and its sleep must not miss this
    data_cv.notify_all();
}

Buffer::Buffer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Buffer::~Buffer() {
    close_readers();
    assert(impl_->live_readers.load() == 0 && "BufferReader outlived its Buffer");
}

std::unique_ptr<Buffer> Buffer::open(const BufferOptions& options) {
    if (options.path.empty()) {
        throw std::runtime_error("buffer: no database path given");
    }
    if (options.path.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(options.path.parent_path(), ec);
        if (ec) {
            throw std::runtime_error(fmt::format("buffer {}: cannot create directory {}: {}", options.path.string(),
                                                 options.path.parent_path().string(), ec.message()));
        }
    }
    // A damaged file (found here, or reported by SQLite while the last
    // Buffer on it ran) is moved aside and replaced, so a gateway never
    // stops on it: what could be read is kept, the rest is counted.
    std::optional<FileLock> lock;
    lock.emplace(options.path);
    std::string why = preflight(options.path);
    if (why.empty() && damage_seen(options.path.string())) {
        why = "SQLite reported it damaged while running";
    }
    if (why.empty()) {
        try {
            auto impl = std::make_unique<Impl>(options, std::move(*lock));
            quick_check_buffer(impl->db);
            return std::unique_ptr<Buffer>(new Buffer(std::move(impl)));
        } catch (const DatabaseCorrupt& e) {
            why = e.what();
        }
        lock.reset();
        lock.emplace(options.path);
    }
    quarantine_buffer(options, why);
    clear_damage(options.path.string());
    return std::unique_ptr<Buffer>(new Buffer(std::make_unique<Impl>(options, std::move(*lock))));
}

std::optional<std::string> Buffer::load_checkpoint(std::string_view key) {
    Impl& m = *impl_;
    m.acquire();
    std::optional<std::string> out;
    try {
        ResetGuard g(m.get_checkpoint);
        m.get_checkpoint.bind_text(1, key);
        if (m.get_checkpoint.step()) {
            out = std::string(m.get_checkpoint.col_text(0));
        }
    } catch (...) {
        m.release();
        throw;
    }
    m.release();
    return out;
}

std::map<std::string, std::string, std::less<>> Buffer::load_checkpoints() {
    Impl& m = *impl_;
    m.acquire();
    std::map<std::string, std::string, std::less<>> out;
    try {
        Stmt q(m.db, "SELECT key, value FROM checkpoints");
        while (q.step()) {
            out.emplace(q.col_text(0), q.col_text(1));
        }
    } catch (...) {
        m.release();
        throw;
    }
    m.release();
    return out;
}

void Buffer::load_state(std::string_view stage,
                        const std::function<void(std::string_view key, std::string_view value)>& fn) {
    Impl& m = *impl_;
    m.acquire();
    try {
        Stmt q(m.db, "SELECT key, value FROM stage_state WHERE stage = ?1 ORDER BY key");
        q.bind_text(1, stage);
        while (q.step()) {
            fn(q.col_blob(0), q.col_blob(1));
        }
    } catch (...) {
        m.release();
        throw;
    }
    m.release();
}

void Buffer::trim() {
    impl_->trim_or_defer();
}

ReplayPlan Buffer::plan_replay(const std::string& sink, const BufferPoint& from) {
    return plan_replay_file(impl_->opts.path, sink, from);
}

ReplayPlan plan_replay_file(const std::filesystem::path& path, const std::string& sink, const BufferPoint& from) {
    // Its own read-only connection: a WAL snapshot beside the writer and
    // the sinks, no gate.
    Db db(path, SQLITE_OPEN_READONLY);
    sqlite3_busy_timeout(db.get(), 2000);
    return plan_replay_on(db, sink, from, path);
}

BufferStats Buffer::stats() {
    Impl& m = *impl_;
    m.acquire();
    BufferStats st;
    try {
        st = compute_stats(m.db, m.opts.path);
    } catch (...) {
        m.release();
        throw;
    }
    m.release();
    st.disk_full = m.disk_full.load();
    st.disk_full_episodes = m.disk_full_episodes.load();
    std::lock_guard lk(m.mu);
    for (auto& s : st.sinks) {
        for (const auto& k : m.sinks) {
            if (k.name == s.sink) {
                s.dropped = k.dropped;
            }
        }
    }
    return st;
}

std::shared_ptr<const BufferStats> Buffer::snapshot() const {
    return impl_->snapshot->get();
}

const BufferOptions& Buffer::options() const {
    return impl_->opts;
}

void Buffer::notify() {
    impl_->notify_readers();
}

void Buffer::fail_reader_writes_for_test(bool on) {
    impl_->fail_reader_writes = on;
}

void Buffer::close_readers() {
    {
        std::lock_guard lk(impl_->mu);
        impl_->closed = true;
    }
    impl_->data_cv.notify_all();
}

}  // namespace sluice
