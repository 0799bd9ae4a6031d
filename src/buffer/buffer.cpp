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

#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "buffer/schema.hpp"
#include "buffer/sqlite.hpp"
#include "buffer/stats_snapshot.hpp"
#include "core/log.hpp"

namespace sluice {

using namespace buffer_detail;

namespace {

struct SinkState {
    std::string name;
    std::uint64_t cursor = 0;   // persisted position (memory may lag the table, never lead it)
    std::uint64_t dropped = 0;  // since open
};

struct Deleted {
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
};

constexpr auto kBlockPoll = std::chrono::milliseconds(100);

// Rows per multi-row INSERT. One statement per 32 rows instead of one per
// row saves about 30 % of SQLite's CPU per row (statement start/halt/reset),
// which is most of what append costs.
constexpr std::size_t kRowsPerInsert = 32;

std::string multi_insert_sql() {
    std::string sql = "INSERT INTO records(id, ts, size, body) VALUES ";
    for (std::size_t i = 0; i < kRowsPerInsert; ++i) {
        sql += i == 0 ? "(?, ?, ?, ?)" : ", (?, ?, ?, ?)";
    }
    return sql;
}

}  // namespace

struct Buffer::Impl {
    explicit Impl(const BufferOptions& o);

    // Writer gate.
    void acquire();
    void release();
    void trim_or_defer();
    // With the gate held.
    void trim_owned();
    Deleted delete_through(std::uint64_t id);
    void set_meta(const char* key, std::uint64_t value);
    std::uint64_t trim_target();  // takes mu
    bool wait_for_room(std::uint64_t batch, const std::function<bool()>& keep_waiting, AppendResult& res);
    void append_owned(std::span<const Record> records, std::span<const DeadLetter> dead,
                      std::span<const std::pair<std::string, std::string>> checkpoints,
                      std::span<const std::pair<std::string, StateChange>> state, AppendResult& res);
    void notify_readers();
    // With the gate held: rebuilds the published stats (see snapshot()).
    void publish_stats();
    bool room_locked(std::uint64_t batch) const { return bytes == 0 || bytes + batch <= opts.max_bytes; }

    BufferOptions opts;
    FileLock lock;
    Db db;
    Stmt insert_record;
    Stmt insert_records;  // kRowsPerInsert rows at once
    Stmt insert_dead;
    Stmt cap_dead;
    Stmt upsert_checkpoint;
    Stmt get_checkpoint;
    Stmt upsert_state;
    Stmt delete_state;
    Stmt upsert_meta;
    Stmt sum_through;
    Stmt delete_records;
    Stmt scan_oldest;
    Stmt cursor_positions;
    Stmt add_dropped;

    // Writer thread only: the encoded batch, reused so append allocates
    // nothing per record once warmed up.
    std::string arena;
    std::vector<std::uint32_t> sizes;
    std::vector<std::uint64_t> drops;
    std::vector<std::uint64_t> positions;

    std::mutex mu;
    std::condition_variable gate_cv;   // writer gate released
    std::condition_variable data_cv;   // rows appended / readers closed
    std::condition_variable space_cv;  // rows deleted (Overflow::Block)
    bool writer_busy = false;          // mu
    bool trim_owed = false;            // mu
    bool closed = false;               // mu
    std::atomic<bool> fail_reader_writes{false};  // fail_reader_writes_for_test
    std::vector<SinkState> sinks;      // mu; in options order, no duplicates
    std::uint64_t bytes = 0;           // written under mu by the gate holder
    std::uint64_t trimmed_to = 0;      // gate holder only: every id <= this is deleted
    std::atomic<std::uint64_t> last_id{0};
    std::atomic<int> live_readers{0};
    std::unique_ptr<StatsSnapshot> snapshot;  // rebuilt whenever the gate is let go
};

namespace {

int open_flags() {
    return SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
}

}  // namespace

Buffer::Impl::Impl(const BufferOptions& o)
    : opts(o), lock(o.path), db(o.path, open_flags()) {
    configure(db, opts.synchronous, Role::Writer, opts.max_file_bytes);
    migrate(db);

    insert_record = Stmt(db, "INSERT INTO records(id, ts, size, body) VALUES (?1, ?2, ?3, ?4)");
    insert_records = Stmt(db, multi_insert_sql().c_str());
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
    sum_through = Stmt(db, "SELECT count(*), coalesce(sum(size), 0) FROM records WHERE id <= ?1");
    delete_records = Stmt(db, "DELETE FROM records WHERE id <= ?1");
    scan_oldest = Stmt(db, "SELECT id, size FROM records ORDER BY id");
    cursor_positions = Stmt(db, "SELECT sink, position FROM cursors");
    add_dropped = Stmt(db, "UPDATE cursors SET dropped = dropped + ?1 WHERE sink = ?2");

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
        for (const auto& s : sinks) {
            st.sinks.push_back(SinkStats{s.name, s.cursor, 0, 0, s.dropped});
        }
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
    Deleted d;
    {
        ResetGuard g(sum_through);
        sum_through.bind_u64(1, id);
        if (sum_through.step()) {
            d.rows = sum_through.col_u64(0);
            d.bytes = sum_through.col_u64(1);
        }
    }
    if (d.rows > 0) {
        delete_records.bind_u64(1, id);
        delete_records.run();
    }
    return d;
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
    } catch (const std::exception& e) {
        // The rows stay and the next trim tries again.
        log::warn("{} (trim)", e.what());
    }
}

bool Buffer::Impl::wait_for_room(std::uint64_t batch, const std::function<bool()>& keep_waiting,
                                 AppendResult& res) {
    for (;;) {
        acquire();
        if (opts.overflow != Overflow::Block || batch == 0) {
            return true;
        }
        {
            std::lock_guard lk(mu);
            if (room_locked(batch)) {
                return true;
            }
        }
        trim_owned();  // cursors may have moved since the last trim
        {
            std::lock_guard lk(mu);
            if (room_locked(batch)) {
                return true;
            }
        }
        release();
        bool room = false;
        {
            std::unique_lock lk(mu);
            room = space_cv.wait_for(lk, kBlockPoll, [&] { return room_locked(batch); });
        }
        if (!room && keep_waiting && !keep_waiting()) {
            std::lock_guard lk(mu);
            res.ok = false;
            res.error = fmt::format(
                "buffer {}: full ({} of {} bytes stored, batch of {} bytes) with overflow=block; gave up waiting "
                "for sinks",
                opts.path.string(), bytes, opts.max_bytes, batch);
            return false;
        }
    }
}

void Buffer::Impl::append_owned(std::span<const Record> records, std::span<const DeadLetter> dead,
                                std::span<const std::pair<std::string, std::string>> checkpoints,
                                std::span<const std::pair<std::string, StateChange>> state, AppendResult& res) {
    const std::uint64_t batch = arena.size();
    // Everything below lands in locals and is published only after COMMIT,
    // so a failed transaction leaves memory and the file as they were.
    std::uint64_t stored = bytes;
    std::uint64_t new_trimmed = trimmed_to;
    bool meta_dirty = false;
    std::fill(drops.begin(), drops.end(), 0);

    Txn txn(db);

    std::uint64_t target = trim_target();
    if (target > new_trimmed) {
        Deleted d = delete_through(target);
        stored = stored > d.bytes ? stored - d.bytes : 0;
        new_trimmed = target;
        meta_dirty = meta_dirty || d.rows > 0;
    }

    if (opts.overflow == Overflow::DropOldest && batch > 0 && stored > 0 && stored + batch > opts.max_bytes) {
        // Batch larger than the whole cap: everything goes, then it is stored.
        std::uint64_t need = stored + batch - opts.max_bytes;
        {
            ResetGuard g(cursor_positions);
            std::fill(positions.begin(), positions.end(), std::numeric_limits<std::uint64_t>::max());
            while (cursor_positions.step()) {
                std::string_view name = cursor_positions.col_text(0);
                for (std::size_t i = 0; i < sinks.size(); ++i) {
                    if (sinks[i].name == name) {
                        positions[i] = cursor_positions.col_u64(1);
                    }
                }
            }
        }
        std::uint64_t freed = 0;
        std::uint64_t upto = 0;
        {
            ResetGuard g(scan_oldest);
            while (freed < need && scan_oldest.step()) {
                upto = scan_oldest.col_u64(0);
                freed += scan_oldest.col_u64(1);
                for (std::size_t i = 0; i < sinks.size(); ++i) {
                    if (upto > positions[i]) {
                        ++drops[i];
                    }
                }
            }
        }
        if (upto > 0) {
            Deleted d = delete_through(upto);
            stored = stored > d.bytes ? stored - d.bytes : 0;
            new_trimmed = std::max(new_trimmed, upto);
            res.dropped = d.rows;
            meta_dirty = true;
            for (std::size_t i = 0; i < sinks.size(); ++i) {
                if (drops[i] > 0) {
                    add_dropped.bind_u64(1, drops[i]);
                    add_dropped.bind_text(2, sinks[i].name);
                    add_dropped.run();
                }
            }
        }
    }

    std::uint64_t id = last_id.load(std::memory_order_relaxed);
    const std::uint64_t first = id + 1;
    std::size_t offset = 0;
    auto bind_row = [&](Stmt& st, int param, std::size_t i) {
        ++id;
        st.bind_u64(param, id);
        st.bind(param + 1, records[i].time_ns);
        st.bind_u64(param + 2, sizes[i]);
        st.bind_blob(param + 3, std::string_view(arena.data() + offset, sizes[i]));
        offset += sizes[i];
    };
    std::size_t i = 0;
    for (; i + kRowsPerInsert <= records.size(); i += kRowsPerInsert) {
        for (std::size_t k = 0; k < kRowsPerInsert; ++k) {
            bind_row(insert_records, static_cast<int>(4 * k + 1), i + k);
        }
        insert_records.run();
    }
    for (; i < records.size(); ++i) {
        bind_row(insert_record, 1, i);
        insert_record.run();
    }
    if (!records.empty()) {
        stored += batch;
        meta_dirty = true;
        set_meta("last_id", id);
    }
    if (meta_dirty) {
        set_meta("bytes", stored);
    }

    for (const auto& d : dead) {
        insert_dead.bind(1, d.time_ns);
        insert_dead.bind_text(2, d.origin);
        insert_dead.bind_text(3, d.stage);
        insert_dead.bind_text(4, d.reason);
        insert_dead.bind_blob(5, d.payload);
        insert_dead.run();
    }
    if (!dead.empty()) {
        cap_dead.bind_u64(1, std::min<std::uint64_t>(opts.max_dead_letters, std::numeric_limits<std::int64_t>::max()));
        cap_dead.run();
        snapshot->dead_letters_changed();
    }

    for (const auto& [key, value] : checkpoints) {
        upsert_checkpoint.bind_text(1, key);
        upsert_checkpoint.bind_text(2, value);
        upsert_checkpoint.run();
    }
    for (const auto& [stage, change] : state) {
        if (change.erase) {
            delete_state.bind_text(1, stage);
            delete_state.bind_blob(2, change.key);
            delete_state.run();
        } else {
            upsert_state.bind_text(1, stage);
            upsert_state.bind_blob(2, change.key);
            upsert_state.bind_blob(3, change.value);
            upsert_state.run();
        }
    }

    txn.commit();

    {
        std::lock_guard lk(mu);
        bytes = stored;
        for (std::size_t i = 0; i < sinks.size(); ++i) {
            sinks[i].dropped += drops[i];
        }
    }
    trimmed_to = new_trimmed;
    last_id.store(id, std::memory_order_release);
    if (!records.empty()) {
        res.first_id = first;
        res.last_id = id;
    }
    if (res.dropped > 0) {
        log::debug("buffer {}: dropped {} oldest rows to stay under {} bytes", opts.path.string(), res.dropped,
                   opts.max_bytes);
    }
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
    return std::unique_ptr<Buffer>(new Buffer(std::make_unique<Impl>(options)));
}

AppendResult Buffer::append(std::span<const Record> records, std::span<const DeadLetter> dead,
                            std::span<const std::pair<std::string, std::string>> checkpoints,
                            const std::function<bool()>& keep_waiting,
                            std::span<const std::pair<std::string, StateChange>> state) {
    Impl& m = *impl_;
    AppendResult res;
    if (records.empty() && dead.empty() && checkpoints.empty() && state.empty()) {
        return res;
    }
    m.arena.clear();
    m.sizes.clear();
    for (const auto& r : records) {
        std::size_t before = m.arena.size();
        encode_record(r, m.arena);
        m.sizes.push_back(static_cast<std::uint32_t>(m.arena.size() - before));
    }
    if (!m.wait_for_room(m.arena.size(), keep_waiting, res)) {
        return res;
    }
    try {
        m.append_owned(records, dead, checkpoints, state, res);
    } catch (const std::exception& e) {
        res = AppendResult{};
        res.ok = false;
        res.error = e.what();
    }
    m.release();
    if (res.ok && !records.empty()) {
        m.notify_readers();
    }
    return res;
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

// ---------------------------------------------------------------------------

struct BufferReader::Impl {
    Impl(Buffer::Impl& o, std::size_t i);
    ~Impl() { owner.live_readers.fetch_sub(1); }
    void reject_row(std::uint64_t id, std::string_view body, bool at_front);
    void insert_dead_owned(const DeadLetter& d);

    Buffer::Impl& owner;
    std::size_t index;
    std::string sink;
    Db db;
    Stmt read_stmt;
    Stmt commit_stmt;
    Stmt commit_state_stmt;
    Stmt dead_stmt;
    Stmt cap_dead;
    std::uint64_t cursor = 0;
    // A read found nothing in (cursor, empty_upto]; wait() only wakes for
    // ids past it, so an idle sink does not spin on rows dropped under it.
    std::uint64_t empty_upto = 0;
    std::uint64_t rejected_upto = 0;
    // Highest id read() returned: a sink can only confirm what it was given
    // (the atomic last_id may still lag a commit the reader already sees).
    std::uint64_t read_upto = 0;
};

BufferReader::Impl::Impl(Buffer::Impl& o, std::size_t i)
    : owner(o), index(i), sink(o.sinks[i].name), db(o.opts.path, SQLITE_OPEN_READWRITE) {
    owner.live_readers.fetch_add(1);
    configure(db, owner.opts.synchronous, Role::Reader, 0);
    // Non-zero turns the COMMIT into a rollback (fail_reader_writes_for_test).
    sqlite3_commit_hook(
        db.get(), [](void* flag) { return static_cast<std::atomic<bool>*>(flag)->load() ? 1 : 0; },
        &owner.fail_reader_writes);
    read_stmt = Stmt(db, "SELECT id, body FROM records WHERE id > ?1 ORDER BY id LIMIT ?2");
    commit_stmt = Stmt(db,
                       "INSERT INTO cursors(sink, position) VALUES (?1, ?2) "
                       "ON CONFLICT(sink) DO UPDATE SET position = excluded.position");
    commit_state_stmt = Stmt(db,
                             "INSERT INTO cursors(sink, position, state) VALUES (?1, ?2, ?3) "
                             "ON CONFLICT(sink) DO UPDATE SET position = excluded.position, state = excluded.state");
    dead_stmt = Stmt(db, "INSERT INTO dead_letters(at, origin, stage, reason, payload) VALUES (?1, ?2, ?3, ?4, ?5)");
    cap_dead = Stmt(db, "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?1");
    std::lock_guard lk(owner.mu);
    cursor = owner.sinks[i].cursor;
}

void BufferReader::Impl::insert_dead_owned(const DeadLetter& d) {
    Txn txn(db);
    dead_stmt.bind(1, d.time_ns);
    dead_stmt.bind_text(2, d.origin);
    dead_stmt.bind_text(3, d.stage);
    dead_stmt.bind_text(4, d.reason);
    dead_stmt.bind_blob(5, d.payload);
    dead_stmt.run();
    cap_dead.bind_u64(1, std::min<std::uint64_t>(owner.opts.max_dead_letters, std::numeric_limits<std::int64_t>::max()));
    cap_dead.run();
    txn.commit();
    owner.snapshot->dead_letters_changed();
}

// A row that does not decode can never be delivered: it becomes a dead
// letter (once), and if nothing deliverable precedes it the cursor moves past
// it so the sink does not stall on it forever.
void BufferReader::Impl::reject_row(std::uint64_t id, std::string_view body, bool at_front) {
    if (id > rejected_upto) {
        rejected_upto = id;
        log::error("buffer {}: row {} is corrupt (does not decode); moved to the dead letters",
                   owner.opts.path.string(), id);
        DeadLetter d;
        d.origin = "buffer";
        d.stage = sink;
        d.reason = fmt::format("buffer row {} does not decode", id);
        d.payload.assign(body);
        owner.acquire();
        try {
            insert_dead_owned(d);
        } catch (const std::exception& e) {
            log::error("{}", e.what());
        }
        owner.release();
    }
    if (at_front) {
        owner.acquire();
        try {
            Txn txn(db);
            commit_stmt.bind_text(1, sink);
            commit_stmt.bind_u64(2, id);
            commit_stmt.run();
            txn.commit();
            {
                std::lock_guard lk(owner.mu);
                owner.sinks[index].cursor = id;
            }
            cursor = id;
        } catch (const std::exception& e) {
            log::error("{}", e.what());
        }
        owner.trim_owned();
        owner.release();
    }
}

BufferReader::BufferReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BufferReader::~BufferReader() = default;

std::unique_ptr<BufferReader> Buffer::reader(const std::string& sink) {
    Impl& m = *impl_;
    for (std::size_t i = 0; i < m.sinks.size(); ++i) {
        if (m.sinks[i].name == sink) {
            return std::make_unique<BufferReader>(std::make_unique<BufferReader::Impl>(m, i));
        }
    }
    std::string known;
    for (const auto& s : m.sinks) {
        known += known.empty() ? s.name : ", " + s.name;
    }
    throw std::runtime_error(fmt::format("buffer {}: no cursor for sink '{}' (configured sinks: {})",
                                         m.opts.path.string(), sink, known.empty() ? "none" : known));
}

std::vector<StoredRecord> BufferReader::read(std::size_t max) {
    std::vector<StoredRecord> out;
    auto res = read_into(out, max);
    if (!res.ok) {
        throw std::runtime_error(res.error);
    }
    return out;
}

ReaderResult BufferReader::read_into(std::vector<StoredRecord>& out, std::size_t max) {
    return read_after(impl_->cursor, out, max);
}

ReaderResult BufferReader::read_after(std::uint64_t after_id, std::vector<StoredRecord>& out, std::size_t max) {
    Impl& r = *impl_;
    ReaderResult res;
    after_id = std::max(after_id, r.cursor);
    const bool from_cursor = after_id == r.cursor;
    if (max == 0) {
        out.clear();
        return res;
    }
    // Ids up to this value were committed before the query starts, so a
    // query that finds none of them proves they are gone.
    const std::uint64_t snapshot = r.owner.last_id.load(std::memory_order_acquire);
    std::size_t n = 0;
    std::uint64_t bad_id = 0;
    std::string bad_body;
    try {
        ResetGuard g(r.read_stmt);
        r.read_stmt.bind_u64(1, after_id);
        r.read_stmt.bind(2, static_cast<std::int64_t>(std::min<std::size_t>(max, std::numeric_limits<std::int32_t>::max())));
        while (r.read_stmt.step()) {
            if (n == out.size()) {
                out.emplace_back();
            }
            StoredRecord& s = out[n];
            s.id = r.read_stmt.col_u64(0);
            std::string_view body = r.read_stmt.col_blob(1);
            if (!decode_record(body, s.record)) {
                if (bad_id == 0) {
                    bad_id = s.id;
                    bad_body.assign(body);
                }
                if (n == 0) {
                    break;  // handled below, then the sink reads again
                }
                continue;
            }
            ++n;
        }
    } catch (const std::exception& e) {
        out.clear();
        res.ok = false;
        res.error = e.what();
        return res;
    }
    out.resize(n);
    if (n > 0) {
        r.read_upto = std::max(r.read_upto, out[n - 1].id);
    }
    if (bad_id != 0) {
        r.reject_row(bad_id, bad_body, n == 0 && from_cursor);
    } else if (n == 0 && from_cursor) {
        r.empty_upto = std::max(r.empty_upto, snapshot);
    }
    res.rows = n;
    return res;
}

ReaderResult BufferReader::commit(std::uint64_t last_id) {
    return commit_cursor(last_id, true, nullptr);
}

ReaderResult BufferReader::commit_keep_rows(std::uint64_t last_id) {
    return commit_cursor(last_id, false, nullptr);
}

ReaderResult BufferReader::commit(std::uint64_t last_id, const std::string& state) {
    return commit_cursor(last_id, true, &state);
}

ReaderResult BufferReader::commit_cursor(std::uint64_t last_id, bool trim, const std::string* state) {
    Impl& r = *impl_;
    ReaderResult res;
    if (state == nullptr) {
        last_id = std::min(last_id, r.read_upto);
        if (last_id <= r.cursor) {
            return res;
        }
    } else {
        // Stored even when the cursor stays: the state may undo partial output.
        last_id = std::clamp(last_id, r.cursor, std::max(r.cursor, r.read_upto));
    }
    r.owner.acquire();
    try {
        Txn txn(r.db);
        Stmt& st = state != nullptr ? r.commit_state_stmt : r.commit_stmt;
        st.bind_text(1, r.sink);
        st.bind_u64(2, last_id);
        if (state != nullptr) {
            st.bind_text(3, *state);
        }
        st.run();
        txn.commit();
    } catch (const std::exception& e) {
        r.owner.release();
        res.ok = false;
        res.error = e.what();
        return res;
    }
    {
        std::lock_guard lk(r.owner.mu);
        r.owner.sinks[r.index].cursor = last_id;
    }
    r.cursor = last_id;
    if (trim) {
        r.owner.trim_owned();
    }
    r.owner.release();
    return res;
}

std::string BufferReader::committed_state() {
    Impl& r = *impl_;
    Stmt q(r.db, "SELECT coalesce(state, '') FROM cursors WHERE sink = ?1");
    q.bind_text(1, r.sink);
    std::string out;
    if (q.step()) {
        out = std::string(q.col_text(0));
    }
    return out;
}

std::uint64_t BufferReader::cursor() const {
    return impl_->cursor;
}

bool BufferReader::wait(std::chrono::milliseconds timeout) {
    Impl& r = *impl_;
    Buffer::Impl& o = r.owner;
    std::uint64_t seen = std::max(r.cursor, r.empty_upto);
    std::unique_lock lk(o.mu);
    bool ready = o.data_cv.wait_for(lk, timeout, [&] { return o.closed || o.last_id.load() > seen; });
    return ready && !o.closed;
}

ReaderResult BufferReader::dead_letter(const DeadLetter& d) {
    Impl& r = *impl_;
    ReaderResult res;
    r.owner.acquire();
    try {
        r.insert_dead_owned(d);
    } catch (const std::exception& e) {
        res.ok = false;
        res.error = e.what();
    }
    r.owner.release();
    return res;
}

}  // namespace sluice
