#pragma once
// What the online buffer and the offline tools share: the lock file, the
// connection settings, the schema and its migrations, and the stats queries.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/buffer.hpp"
#include "buffer/sqlite.hpp"

namespace sluice::buffer_detail {

constexpr int kSchemaVersion = 3;

// An exclusive, non-blocking flock on "<db>.lock", held while alive.
class FileLock {
public:
    explicit FileLock(const std::filesystem::path& db);  // throws "... in use by another sluice process"
    FileLock(FileLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    FileLock& operator=(FileLock&&) = delete;
    FileLock(const FileLock&) = delete;
    ~FileLock();

private:
    int fd_ = -1;
};

enum class Role { Writer, Reader, Offline };

// How max_bytes is shared out on disk: the database file gets what is left
// after the WAL's limit, the reserve file and the shared-memory file, so
// that all four together stay within max_bytes (see README.md, "The cap on
// disk"). Below about 1 MiB the floors make the total a little larger.
// `fs_bytes` (the file system's size; 0: unknown) stands in for a larger
// max_bytes: the WAL's share must leave room on a small disk.
struct DiskPlan {
    std::uint64_t wal_bytes = 0;      // journal_size_limit; checkpoint at half of it
    std::uint64_t reserve_bytes = 0;  // "<db>.reserve", given back when the disk fills up
    std::uint64_t shm_bytes = 0;      // "<db>-shm" (32 KiB per 4096 WAL frames)
    std::uint64_t db_bytes = 0;       // the database file (max_page_count)
};
DiskPlan disk_plan(std::uint64_t max_bytes, std::uint64_t fs_bytes = 0);
// The size of the file system holding `path` (0 if unknown).
std::uint64_t file_system_bytes(const std::filesystem::path& path);
// The writer's WAL limit (see configure).
void configure_wal(Db& db, std::uint64_t wal_bytes);

// Per-connection settings (synchronous, cache and busy_timeout are not
// stored in the file, so every connection sets them). The writer's WAL limit
// is 8 MiB here; the online buffer sets its share of max_bytes afterwards
// (configure_wal: checkpoint at half of it, and the file is cut back to it
// when the WAL restarts).
void configure(Db& db, Synchronous sync, Role role, std::uint64_t max_file_bytes);

// Brings the schema to kSchemaVersion (creating it in an empty database).
// Throws for a database written by a newer sluice.
void migrate(Db& db);

struct Meta {
    std::uint64_t last_id = 0;  // highest id ever issued
    std::uint64_t bytes = 0;    // sum of records.size
};
Meta read_meta(Db& db);

struct Cursor {
    std::string sink;
    std::uint64_t position = 0;
    std::uint64_t dropped = 0;
};
std::vector<Cursor> read_cursors(Db& db);

// What gives a row's record count in SQL: "n", or "1" in a buffer from
// before packs (schema v2) that a read-only tool looks at unmigrated.
const char* count_column(Db& db);

// Oldest stored id, or 0 when the table is empty.
std::uint64_t first_id(Db& db);

// Records deleted from the records table: how many, and their record bytes.
struct Deleted {
    std::uint64_t rows = 0;  // records (a pack counts its n)
    std::uint64_t bytes = 0;
};

// Deletes the records with ids <= id (in the caller's transaction): the rows
// that end there or before, and the front of a pack that holds id and
// records after it (rewritten with the rest), so that nothing confirmed
// stays behind and byte counts stay exact. At most one pack a call is
// rewritten; one that does not split is left whole (a reader dead-letters it).
class RowTrimmer {
public:
    explicit RowTrimmer(Db& db);
    Deleted delete_through(std::uint64_t id);

private:
    Stmt sum_through_;
    Stmt delete_;
    Stmt first_after_;
    Stmt update_;
    std::vector<std::string_view> parts_;
    std::vector<std::uint32_t> sizes_;
    std::string bytes_;
    std::string pack_;
};

// The time of the record after `id` (0 if there is none): a row's ts is its
// first record's, so a pack the id falls inside is read for the exact time.
class RecordTimes {
public:
    explicit RecordTimes(Db& db);
    std::int64_t after(std::uint64_t id);

private:
    Stmt head_;
    Stmt body_;
    std::vector<std::string_view> parts_;
    std::uint64_t row_ = 0;  // the pack whose times_ these are (0: none)
    std::uint64_t n_ = 0;
    std::vector<std::int64_t> times_;
};

// The id of the first record at or after `p` (last_id + 1 when there is
// none): an id as it is (below the oldest stored: the oldest, with
// `before_first` set); a time, the first record whose time is at or after
// it, found from the rows' first times and the pack before the first such
// row (exact when times rise through the buffer).
std::uint64_t record_at(Db& db, const BufferPoint& p, bool* before_first = nullptr);
// The replay plan of `sink` from `p` on `db` (reads only).
ReplayPlan plan_replay_on(Db& db, const std::string& sink, const BufferPoint& p, const std::filesystem::path& path);

// Everything but the in-memory counters; dropped comes from the cursors table.
BufferStats compute_stats(Db& db, const std::filesystem::path& path);

}  // namespace sluice::buffer_detail
