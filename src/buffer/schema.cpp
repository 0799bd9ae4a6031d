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

constexpr Migration kMigrations[] = {create_v1, add_state_v2};
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
    return static_cast<std::uint64_t>(db.query_int("SELECT min(id) FROM records"));
}

BufferStats compute_stats(Db& db, const std::filesystem::path& path) {
    BufferStats st;
    Meta meta = read_meta(db);
    st.last_id = meta.last_id;
    st.bytes = meta.bytes;
    std::uint64_t first = first_id(db);
    st.first_id = first == 0 ? meta.last_id + 1 : first;
    st.rows = st.last_id + 1 - st.first_id;
    Stmt ts(db, "SELECT ts FROM records WHERE id > ?1 ORDER BY id LIMIT 1");
    auto time_after = [&](std::uint64_t id) -> std::int64_t {
        ResetGuard g(ts);
        ts.bind_u64(1, id);
        return ts.step() ? ts.col_int(0) : 0;
    };
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
        st.sinks.push_back(std::move(s));
    }
    return st;
}

}  // namespace sluice::buffer_detail
