#pragma once
// The store-and-forward buffer: one SQLite database (WAL) per pipeline under
// data_dir. The pipeline worker appends each batch in one transaction; each
// sink reads through its own cursor and moves it only after the far side
// confirmed. A row is deleted once every sink's cursor is past it.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/record.hpp"

namespace sluice {

enum class Overflow { DropOldest, Block };
enum class Synchronous { Off, Normal, Full };

struct BufferOptions {
    std::filesystem::path path;                  // the database file
    std::uint64_t max_bytes = 256ull << 20;      // cap on stored record bytes
    Overflow overflow = Overflow::DropOldest;
    Synchronous synchronous = Synchronous::Normal;
    std::vector<std::string> sinks;              // cursor names; others are removed at open
};

struct StoredRecord {
    std::uint64_t id = 0;
    Record record;
};

struct SinkStats {
    std::string sink;
    std::uint64_t cursor = 0;        // last id the sink confirmed
    std::uint64_t lag_rows = 0;      // rows after the cursor
    std::int64_t oldest_pending_ns = 0;  // record time of the oldest row after the cursor; 0 if none
    std::uint64_t dropped = 0;       // rows this sink lost to the overflow policy (since open)
};

struct BufferStats {
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;         // stored record bytes (what max_bytes caps)
    std::int64_t oldest_ns = 0;      // time of the oldest stored row's record; 0 if empty
    std::uint64_t first_id = 0;
    std::uint64_t last_id = 0;
    std::uint64_t dead_letters = 0;
    std::uint64_t file_bytes = 0;    // database + WAL on disk
    std::vector<SinkStats> sinks;
};

struct AppendResult {
    bool ok = true;
    std::string error;               // SQLite error text when !ok (nothing was stored)
    std::uint64_t first_id = 0;      // ids given to the appended records
    std::uint64_t last_id = 0;
    std::uint64_t dropped = 0;       // rows removed by drop_oldest to make room
};

class BufferReader;

class Buffer {
public:
    // Opens or creates the database and takes an exclusive lock (flock on
    // "<path>.lock") so two gateways never share it; throws std::runtime_error
    // with a clear message (path + reason) on failure.
    static std::unique_ptr<Buffer> open(const BufferOptions& options);
    ~Buffer();

    // Writer side (the pipeline worker's thread only). Appends the records,
    // dead letters and checkpoints in ONE transaction. With Overflow::Block it
    // waits (calling `keep_waiting` about every 100 ms; false gives up and
    // returns !ok) while the cap is reached; with DropOldest it deletes the
    // oldest rows first and counts them per sink that had not sent them.
    AppendResult append(std::span<const Record> records, std::span<const DeadLetter> dead,
                        std::span<const std::pair<std::string, std::string>> checkpoints,
                        const std::function<bool()>& keep_waiting = {});

    std::optional<std::string> load_checkpoint(std::string_view key);

    // A reader with its own connection for one sink (use on the sink's thread).
    std::unique_ptr<BufferReader> reader(const std::string& sink);

    // Called after any sink moved its cursor: deletes rows every sink has.
    // Cheap when nothing changed. Safe from any thread.
    void trim();

    BufferStats stats();
    const BufferOptions& options() const;

    // Wakes readers waiting in BufferReader::wait (after append or close).
    void notify();
    void close_readers();  // wakes and stops every wait()

    struct Impl;

private:
    explicit Buffer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

class BufferReader {
public:
    ~BufferReader();
    // Up to `max` records after the cursor, oldest first. The rows stay in
    // the buffer until commit() moves the cursor past them.
    std::vector<StoredRecord> read(std::size_t max);
    // Moves the cursor to `last_id` (inclusive) in one transaction.
    void commit(std::uint64_t last_id);
    std::uint64_t cursor() const;
    // Blocks until rows exist after the cursor, `timeout` passes, or the
    // buffer's readers are closed. True if rows may be available.
    bool wait(std::chrono::milliseconds timeout);
    void dead_letter(const DeadLetter& d);  // data-level rejection by the sink

    struct Impl;
    explicit BufferReader(std::unique_ptr<Impl> impl);

private:
    std::unique_ptr<Impl> impl_;
};

// Binary record encoding used for the buffer's rows.
void encode_record(const Record& r, std::string& out);
bool decode_record(std::string_view in, Record& out);

// Offline maintenance on a stopped gateway's data directory.
// Each takes the pipeline database file; they refuse a database whose
// gateway still runs (its lock file is held).
BufferStats offline_stats(const std::filesystem::path& db);
// Writes records (NDJSON, one per line) after `sink`'s cursor, or all rows if empty.
std::uint64_t offline_export(const std::filesystem::path& db, const std::string& sink, std::FILE* out,
                             bool dead_letters);
// Drops all rows (sink empty) or moves `sink`'s cursor to the end. Returns rows affected.
std::uint64_t offline_drop(const std::filesystem::path& db, const std::string& sink, bool dead_letters);

}  // namespace sluice
