#pragma once
// Damaged database files (a pipeline's buffer, the tables database): found
// at open or when SQLite reports corruption while running, they are moved
// aside as "<name>.corrupt-<UTC time>" (with their -wal and -shm), a fresh
// file takes their place, and whatever rows can still be read are copied
// into it, row by row, skipping what fails. Loud every time: an ERROR line,
// sluice_buffer_quarantined_total{kind,file}, a /ready detail and the
// service manager's status line (quarantine_events()).

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "buffer/sqlite.hpp"

namespace sluice {

struct QuarantineEvent {
    std::string kind;               // "buffer" or "tables"
    std::filesystem::path file;     // the damaged file's name (a fresh one is there now)
    std::filesystem::path moved_to; // where the damaged file is now
    std::string reason;
    std::uint64_t salvaged = 0;     // records (buffer) or table rows copied into the fresh file
    std::uint64_t other = 0;        // cursors, checkpoints, window state, dead letters copied
    std::uint64_t skipped = 0;      // rows found but not readable
    std::int64_t at_ns = 0;         // wall clock
};

// Every quarantine since the process started (the newest 32), oldest first.
// Any thread.
std::vector<QuarantineEvent> quarantine_events();
// One line per event, for /ready and the status line: "buffer main.sqlite
// damaged (reason); moved aside as X, 10 of its rows salvaged".
std::string describe(const QuarantineEvent& e);

namespace buffer_detail {

// Cheap checks of the files before SQLite opens them: a WAL without its
// database, a zero-length database, a file shorter than its header says.
// Empty if nothing is wrong (or the database does not exist yet).
std::string preflight(const std::filesystem::path& db);

// Renames db, db-wal and db-shm to "<db>.corrupt-<UTC time>[-wal|-shm]";
// returns the new name of the database. Throws std::runtime_error (path and
// reason) if a file that exists cannot be moved.
std::filesystem::path move_aside(const std::filesystem::path& db);

struct Salvaged {
    std::uint64_t records = 0;
    std::uint64_t other = 0;
    std::uint64_t skipped = 0;
};

// Copies the readable rows of the damaged buffer `from` into `to`, an open
// fresh buffer with the current schema, in one transaction; meta.last_id and
// meta.bytes are recomputed. Never throws for damage in `from`.
Salvaged salvage_buffer(const std::filesystem::path& from, Db& to);

// The same for one table of any database (`cols`: its columns, `key`: its
// primary key columns, for the scans from both ends). Returns rows copied.
std::uint64_t salvage_table(Db& src, Db& to, const std::string& table, const std::string& cols,
                            const std::string& key);

// The reads a start runs on an open buffer beyond what opening already
// read: the small tables in full, the first and last records. Throws
// DatabaseCorrupt on damage.
void quick_check_buffer(Db& db);

// Logs the ERROR line, counts it, keeps the event.
void report_quarantine(QuarantineEvent e);

}  // namespace buffer_detail
}  // namespace sluice
