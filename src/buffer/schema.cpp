#include "buffer/schema.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

namespace sluice::buffer_detail {

namespace {

// Schema changes are appended here, never edited: entry i takes a database
// from user_version i to i + 1, inside one transaction with the version bump.
using Migration = void (*)(Db&);

void create_v1(Db& db) {
    // records.id is a plain INTEGER PRIMARY KEY given explicitly from
    // meta.last_id (AUTOINCREMENT would cost an extra table write per row).
    // Rows are only ever deleted as a prefix, so ids stay contiguous and row
    // counts come from first/last id without scanning.
    db.exec(R"sql(
        CREATE TABLE records (
            id   INTEGER PRIMARY KEY,
            ts   INTEGER NOT NULL,
            size INTEGER NOT NULL,
            body BLOB NOT NULL
        );
        CREATE TABLE cursors (
            sink     TEXT PRIMARY KEY,
            position INTEGER NOT NULL,
            dropped  INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE TABLE dead_letters (
            id      INTEGER PRIMARY KEY,
            at      INTEGER,
            origin  TEXT,
            stage   TEXT,
            reason  TEXT,
            payload BLOB
        );
        CREATE TABLE checkpoints (
            key   TEXT PRIMARY KEY,
            value TEXT
        ) WITHOUT ROWID;
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value
        ) WITHOUT ROWID;
        INSERT INTO meta(key, value) VALUES ('last_id', 0), ('bytes', 0);
    )sql");
}

// v2: durable stage state (windows), written with the batch that changed it;
// a sink's own state stored with its cursor (e.g. the file sink's offset).
void add_state_v2(Db& db) {
    db.exec(R"sql(
        CREATE TABLE stage_state (
            stage TEXT NOT NULL,
            key   BLOB NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (stage, key)
        ) WITHOUT ROWID;
        ALTER TABLE cursors ADD COLUMN state TEXT;
    )sql");
}

// v3: packed rows. A row holds n consecutive records (ids id - n + 1 ..
// id) and `size` their record bytes; rows written before hold one (n = 1).
// ADD COLUMN with a constant default rewrites nothing.
void add_packs_v3(Db& db) {
    db.exec("ALTER TABLE records ADD COLUMN n INTEGER NOT NULL DEFAULT 1");
}

constexpr Migration kMigrations[] = {create_v1, add_state_v2, add_packs_v3};
static_assert(std::size(kMigrations) == kSchemaVersion);

const char* sync_pragma(Synchronous s) {
    switch (s) {
        case Synchronous::Off:
            return "PRAGMA synchronous = OFF";
        case Synchronous::Full:
            return "PRAGMA synchronous = FULL";
        case Synchronous::Normal:
            break;
    }
    return "PRAGMA synchronous = NORMAL";
}

}  // namespace

FileLock::FileLock(const std::filesystem::path& db) {
    std::string lock = db.string() + ".lock";
    fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        throw std::runtime_error(
            fmt::format("buffer {}: cannot open lock file {}: {}", db.string(), lock, std::strerror(errno)));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ::close(fd_);
        fd_ = -1;
        if (err == EWOULDBLOCK) {
            throw std::runtime_error(fmt::format("buffer {} is in use by another sluice process", db.string()));
        }
        throw std::runtime_error(fmt::format("buffer {}: cannot lock {}: {}", db.string(), lock, std::strerror(err)));
    }
}

FileLock::~FileLock() {
    // The lock file stays: unlinking it would let two processes lock two
    // different inodes of the same name.
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

DiskPlan disk_plan(std::uint64_t max_bytes, std::uint64_t fs_bytes) {
    constexpr std::uint64_t KiB = 1024;
    constexpr std::uint64_t MiB = 1024 * KiB;
    const std::uint64_t base = fs_bytes > 0 ? std::min(max_bytes, fs_bytes) : max_bytes;
    DiskPlan p;
    // An eighth for the WAL, at most 4 MiB (a checkpoint about every 2 MiB).
    p.wal_bytes = std::clamp<std::uint64_t>(base / 8, 128 * KiB, 4 * MiB);
    // The reserve is what a checkpoint may need to extend the database by
    // when the disk fills up: the pages appended since the last one (half
    // the WAL) and one batch.
    p.reserve_bytes = p.wal_bytes / 2 + 128 * KiB;
    p.shm_bytes = 32 * KiB * ((p.wal_bytes / 4096 + 4095) / 4096 + 1);
    const std::uint64_t other = p.wal_bytes + p.reserve_bytes + p.shm_bytes;
    p.db_bytes = std::max<std::uint64_t>(max_bytes > other ? max_bytes - other : 0, 256 * KiB);
    return p;
}

std::uint64_t file_system_bytes(const std::filesystem::path& path) {
    struct statvfs vfs {};
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    if (::statvfs(dir.c_str(), &vfs) != 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(vfs.f_blocks) * static_cast<std::uint64_t>(vfs.f_frsize);
}

void configure_wal(Db& db, std::uint64_t wal_bytes) {
    std::int64_t page = db.query_int("PRAGMA page_size");
    page = page > 0 ? page : 4096;
    const auto limit = static_cast<std::int64_t>(wal_bytes);
    db.exec(fmt::format("PRAGMA wal_autocheckpoint = {}", std::max<std::int64_t>(limit / 2 / (page + 24), 16)).c_str());
    db.exec(fmt::format("PRAGMA journal_size_limit = {}", limit).c_str());
}

void configure(Db& db, Synchronous sync, Role role, std::uint64_t max_file_bytes) {
    // Waits for another connection's write lock (a reader's cursor update,
    // an outside sqlite3 shell) instead of failing at once with SQLITE_BUSY.
    if (sqlite3_busy_timeout(db.get(), 5000) != SQLITE_OK) {
        db.fail("busy_timeout");
    }
    if (role != Role::Reader) {
        Stmt mode(db, "PRAGMA journal_mode = WAL");
        ResetGuard g(mode);
        if (!mode.step() || mode.col_text(0) != "wal") {
            throw std::runtime_error(
                fmt::format("buffer {}: cannot switch to WAL mode (file system without shared memory?)", db.path()));
        }
    }
    db.exec(sync_pragma(sync));
    db.exec("PRAGMA temp_store = MEMORY");
    // Debian builds SQLite with SECURE_DELETE on, which writes zeros over
    // every freed page: a trim would write a pack's overflow pages once more
    // just to blank them. FAST still blanks deleted cells on pages that are
    // written anyway, and leaves freed pages as they are until reused.
    db.exec("PRAGMA secure_delete = FAST");
    // Page cache per connection, negative = KiB: the writer gets ~2 MiB, each
    // reader less (a board has 512 MiB and several sinks).
    db.exec(role == Role::Reader ? "PRAGMA cache_size = -512" : "PRAGMA cache_size = -1024");
    if (role != Role::Reader) {
        // Checkpoint at half the WAL's limit and cut the WAL file back to
        // the limit when it restarts, so one burst does not keep flash space
        // forever. Readers keep their snapshots short (ResetGuard), so a
        // checkpoint is never held off for long.
        configure_wal(db, 8 << 20);
    }
    if (max_file_bytes > 0) {
        std::int64_t page = db.query_int("PRAGMA page_size");
        std::int64_t pages = static_cast<std::int64_t>(max_file_bytes) / (page > 0 ? page : 4096);
        db.exec(fmt::format("PRAGMA max_page_count = {}", pages < 1 ? 1 : pages).c_str());
    }
}

void migrate(Db& db) {
    std::int64_t version = db.query_int("PRAGMA user_version");
    if (version > kSchemaVersion) {
        throw std::runtime_error(fmt::format(
            "buffer {}: schema version {} is newer than this sluice understands ({}); use a newer sluice",
            db.path(), version, kSchemaVersion));
    }
    while (version < kSchemaVersion) {
        Txn txn(db);
        kMigrations[version](db);
        ++version;
        db.exec(fmt::format("PRAGMA user_version = {}", version).c_str());
        txn.commit();
    }
}

Meta read_meta(Db& db) {
    Meta m;
    Stmt s(db, "SELECT key, value FROM meta WHERE key IN ('last_id', 'bytes')");
    ResetGuard g(s);
    while (s.step()) {
        if (s.col_text(0) == "last_id") {
            m.last_id = s.col_u64(1);
        } else {
            m.bytes = s.col_u64(1);
        }
    }
    // Defensive: meta must never lag the table, or ids would be reused.
    std::uint64_t max_id = static_cast<std::uint64_t>(db.query_int("SELECT max(id) FROM records"));
    if (max_id > m.last_id) {
        m.last_id = max_id;
    }
    return m;
}

std::vector<Cursor> read_cursors(Db& db) {
    std::vector<Cursor> out;
    Stmt s(db, "SELECT sink, position, dropped FROM cursors ORDER BY sink");
    ResetGuard g(s);
    while (s.step()) {
        out.push_back(Cursor{std::string(s.col_text(0)), s.col_u64(1), s.col_u64(2)});
    }
    return out;
}

std::uint64_t first_id(Db& db) {
    // The oldest row may be a pack: its first record is id - n + 1.
    const std::string sql = fmt::format("SELECT id - {} + 1 FROM records ORDER BY id LIMIT 1", count_column(db));
    return static_cast<std::uint64_t>(db.query_int(sql.c_str()));
}

RowTrimmer::RowTrimmer(Db& db)
    : sum_through_(db, "SELECT coalesce(sum(n), 0), coalesce(sum(size), 0) FROM records WHERE id <= ?1"),
      delete_(db, "DELETE FROM records WHERE id <= ?1"),
      first_after_(db, "SELECT id, n, size, body FROM records WHERE id > ?1 ORDER BY id LIMIT 1"),
      update_(db, "UPDATE records SET ts = ?2, size = ?3, body = ?4, n = ?5 WHERE id = ?1") {}

Deleted RowTrimmer::delete_through(std::uint64_t id) {
    Deleted d;
    {
        ResetGuard g(sum_through_);
        sum_through_.bind_u64(1, id);
        if (sum_through_.step()) {
            d.rows = sum_through_.col_u64(0);
            d.bytes = sum_through_.col_u64(1);
        }
    }
    if (d.rows > 0) {
        delete_.bind_u64(1, id);
        delete_.run();
    }
    std::uint64_t row = 0;
    std::uint64_t n = 0;
    std::uint64_t left = 0;
    std::int64_t ts = 0;
    {
        ResetGuard g(first_after_);
        first_after_.bind_u64(1, id);
        if (!first_after_.step()) {
            return d;
        }
        row = first_after_.col_u64(0);
        n = first_after_.col_u64(1);
        const std::uint64_t size = first_after_.col_u64(2);
        if (n < 2 || n > row || row - n >= id || !split_row(first_after_.col_blob(3), n, parts_)) {
            return d;  // starts after id, is one record, or is left to the reader
        }
        const std::size_t cut = static_cast<std::size_t>(id - (row - n));
        sizes_.clear();
        bytes_.clear();
        for (std::size_t k = cut; k < parts_.size(); ++k) {
            left += parts_[k].size();
            sizes_.push_back(static_cast<std::uint32_t>(parts_[k].size()));
            bytes_.append(parts_[k]);
        }
        pack_.clear();
        if (sizes_.size() > 1) {
            encode_pack(bytes_, sizes_, pack_);
        } else {
            pack_ = bytes_;
        }
        ts = record_time(parts_[cut]);
        d.rows += cut;
        d.bytes += size > left ? size - left : 0;
        n = sizes_.size();
    }
    update_.bind_u64(1, row);
    update_.bind(2, ts);
    update_.bind_u64(3, left);
    update_.bind_blob(4, pack_);
    update_.bind_u64(5, n);
    update_.run();
    return d;
}

const char* count_column(Db& db) {
    return db.query_int("PRAGMA user_version") >= 3 ? "n" : "1";
}

RecordTimes::RecordTimes(Db& db)
    : head_(db, fmt::format("SELECT id, {}, ts FROM records WHERE id > ?1 ORDER BY id LIMIT 1", count_column(db)).c_str()),
      body_(db, "SELECT body FROM records WHERE id = ?1") {}

std::int64_t RecordTimes::after(std::uint64_t id) {
    std::uint64_t row = 0;
    std::uint64_t n = 0;
    {
        ResetGuard g(head_);
        head_.bind_u64(1, id);
        if (!head_.step()) {
            return 0;
        }
        row = head_.col_u64(0);
        n = head_.col_u64(1);
        if (n < 2 || n > row || row - n >= id) {
            return head_.col_int(2);  // the row starts right after id
        }
    }
    // The stats ask after every commit, mostly about the same pack: its
    // times are kept until another pack (or the same one cut shorter) is asked about.
    if (row != row_ || n != n_) {
        ResetGuard g(body_);
        body_.bind_u64(1, row);
        times_.clear();
        row_ = 0;
        if (!body_.step() || !split_row(body_.col_blob(0), n, parts_)) {
            return 0;
        }
        for (const auto p : parts_) {
            times_.push_back(record_time(p));
        }
        row_ = row;
        n_ = n;
    }
    return times_[static_cast<std::size_t>(id - (row - n))];
}

std::uint64_t record_at(Db& db, const BufferPoint& p, bool* before_first) {
    const Meta meta = read_meta(db);
    std::uint64_t first = first_id(db);
    if (first == 0) {
        first = meta.last_id + 1;  // empty
    }
    if (before_first != nullptr) {
        *before_first = false;
    }
    if (p.id) {
        if (*p.id < first) {
            if (before_first != nullptr) {
                *before_first = true;
            }
            return first;
        }
        return std::min(*p.id, meta.last_id + 1);
    }
    const char* n = count_column(db);
    // The first row whose first record is at or after the time (a scan of
    // the rows' ts in id order: a row per pack of ~32 KiB, so a few thousand
    // in a full buffer), then the records of the row before it, the last
    // that can hold earlier records at or after it.
    std::uint64_t row_first = meta.last_id + 1;
    {
        Stmt s(db, fmt::format("SELECT id - {} + 1 FROM records WHERE ts >= ?1 ORDER BY id LIMIT 1", n).c_str());
        s.bind(1, p.time);
        if (s.step()) {
            row_first = s.col_u64(0);
        }
    }
    Stmt prev(db, fmt::format("SELECT id, {}, body FROM records WHERE id < ?1 ORDER BY id DESC LIMIT 1", n).c_str());
    prev.bind_u64(1, row_first);
    if (prev.step()) {
        const std::uint64_t id = prev.col_u64(0);
        const std::uint64_t count = prev.col_u64(1);
        std::vector<std::string_view> parts;
        if (count >= 1 && count <= id && split_row(prev.col_blob(2), count, parts)) {
            for (std::size_t k = 0; k < parts.size(); ++k) {
                if (record_time(parts[k]) >= p.time) {
                    return id - count + 1 + k;
                }
            }
        }
    }
    return row_first;
}

ReplayPlan plan_replay_on(Db& db, const std::string& sink, const BufferPoint& p, const std::filesystem::path& path) {
    ReplayPlan plan;
    const std::vector<Cursor> cursors = read_cursors(db);
    const auto c = std::find_if(cursors.begin(), cursors.end(), [&](const Cursor& k) { return k.sink == sink; });
    if (c == cursors.end()) {
        std::string known;
        for (const auto& k : cursors) {
            known += known.empty() ? k.sink : ", " + k.sink;
        }
        plan.error = fmt::format("buffer {} has no sink '{}' (its sinks: {})", path.string(), sink,
                                 known.empty() ? "none" : known);
        return plan;
    }
    const Meta meta = read_meta(db);
    std::uint64_t first = first_id(db);
    plan.first_id = first == 0 ? meta.last_id + 1 : first;
    plan.cursor = c->position;
    bool before = false;
    plan.from_id = record_at(db, p, &before);
    if (before) {
        plan.error = fmt::format("record {} is no longer in the buffer: it keeps records from {} on (a larger "
                                 "`retain` keeps delivered records longer)",
                                 *p.id, plan.first_id);
        return plan;
    }
    if (plan.from_id > plan.cursor) {
        plan.error = p.id ? fmt::format("sink '{}' has delivered up to record {}: nothing from {} on to replay",
                                        sink, plan.cursor, plan.from_id)
                          : fmt::format("sink '{}' has delivered up to record {}, and no earlier record is at or "
                                        "after that time: nothing to replay",
                                        sink, plan.cursor);
        return plan;
    }
    plan.records = plan.cursor - plan.from_id + 1;
    RecordTimes times(db);
    plan.from_time = times.after(plan.from_id - 1);
    if (!p.id && plan.from_id == plan.first_id && plan.first_id > 1 && plan.from_time > p.time) {
        plan.note = fmt::format("the records before {} are no longer in the buffer (a larger `retain` keeps "
                                "delivered records longer); the replay starts at the oldest kept",
                                plan.first_id);
    }
    return plan;
}

BufferStats compute_stats(Db& db, const std::filesystem::path& path) {
    BufferStats st;
    Meta meta = read_meta(db);
    st.last_id = meta.last_id;
    st.bytes = meta.bytes;
    std::uint64_t first = first_id(db);
    st.first_id = first == 0 ? meta.last_id + 1 : first;
    st.rows = st.last_id + 1 - st.first_id;
    RecordTimes times(db);
    auto time_after = [&](std::uint64_t id) { return times.after(id); };
    st.oldest_ns = st.rows > 0 ? time_after(st.first_id - 1) : 0;
    st.dead_letters = static_cast<std::uint64_t>(db.query_int("SELECT count(*) FROM dead_letters"));
    std::error_code ec;
    auto size_of = [&](const std::filesystem::path& p) -> std::uint64_t {
        auto n = std::filesystem::file_size(p, ec);
        return ec ? 0 : static_cast<std::uint64_t>(n);
    };
    st.file_bytes = size_of(path) + size_of(path.string() + "-wal") + size_of(path.string() + "-shm") +
                    size_of(path.string() + ".reserve");
    for (auto& c : read_cursors(db)) {
        SinkStats s;
        s.sink = c.sink;
        s.cursor = c.position;
        std::uint64_t from = std::max(c.position, st.first_id - 1);
        s.lag_rows = st.last_id > from ? st.last_id - from : 0;
        s.oldest_pending_ns = s.lag_rows > 0 ? time_after(from) : 0;
        s.dropped = c.dropped;
        st.pending_rows = std::max(st.pending_rows, s.lag_rows);
        st.sinks.push_back(std::move(s));
    }
    if (st.sinks.empty()) {
        st.pending_rows = st.rows;
    }
    return st;
}

}  // namespace sluice::buffer_detail
