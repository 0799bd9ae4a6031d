#pragma once
// The store-and-forward buffer: one SQLite database (WAL) per pipeline under
// data_dir. The pipeline worker appends each batch in one transaction; each
// sink reads through its own cursor and moves it only after the far side
// confirmed. A row is deleted once every sink's cursor is past it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/component.hpp"
#include "core/record.hpp"

namespace sluice {

enum class Overflow { DropOldest, Block };
enum class Synchronous { Off, Normal, Full };

struct BufferOptions {
    std::filesystem::path path;                  // the database file
    // Cap on the buffer's size on disk (database + WAL + shared memory +
    // reserve file; see README.md for the margin) and on stored record bytes.
    std::uint64_t max_bytes = 256ull << 20;
    Overflow overflow = Overflow::DropOldest;
    Synchronous synchronous = Synchronous::Normal;
    std::vector<std::string> sinks;              // cursor names; others are removed at open
    // Dead letters are not under max_bytes; only the newest this many are kept.
    std::uint64_t max_dead_letters = 10000;
    // Hard limit on the database file (PRAGMA max_page_count); 0: none. Reaching
    // it fails appends exactly like a full disk (also how the tests simulate one).
    std::uint64_t max_file_bytes = 0;
    // Rows every sink has confirmed are kept for replay while their record
    // time is within `retain` of now, and (with retain_bytes) while the
    // buffer holds at most retain_bytes of record bytes; both 0: deleted at
    // once. Kept rows are the first to go at max_bytes or on a full disk,
    // under either overflow policy, and never count as dropped.
    std::chrono::nanoseconds retain{0};
    std::uint64_t retain_bytes = 0;
};

// Where a replay or an export starts or ends: a record id, or a time (the
// first record whose time is at or after it, times taken as rising through
// the buffer).
struct BufferPoint {
    std::optional<std::uint64_t> id;
    TimeNs time = 0;  // when !id
};

// What a replay will do, or why it cannot.
struct ReplayPlan {
    std::string error;            // empty: possible
    std::string note;             // a time before the oldest record kept: what is gone
    std::uint64_t from_id = 0;    // the first record delivered again
    std::uint64_t cursor = 0;     // the sink's cursor now (the last record delivered again)
    std::uint64_t records = 0;    // cursor - from_id + 1
    std::uint64_t first_id = 0;   // the oldest record stored (last_id + 1 when empty)
    TimeNs from_time = 0;         // the time of record from_id
};

// The mark offline_replay puts before a cursor's state: "sluice-replay
// <from id>\n" and the state. The sink runner takes it off at open.
inline constexpr std::string_view kReplayMark = "sluice-replay ";

// How a replay asked of a running gateway went.
struct ReplayOutcome {
    int status = 200;           // 200, 404 (no such pipeline or sink), 409 (not possible), 500
    std::string message;        // why not, when status != 200
    ReplayPlan plan;
    std::uint64_t records = 0;  // records to be delivered again
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
    std::uint64_t dropped = 0;       // rows this sink lost to the overflow policy (since open;
                                     // offline_stats reports the persisted all-time total)
};

struct BufferStats {
    std::uint64_t rows = 0;
    std::uint64_t pending_rows = 0;  // rows some sink has not confirmed (rows less those kept for replay)
    std::uint64_t bytes = 0;         // stored record bytes (max_bytes caps these and file_bytes)
    std::int64_t oldest_ns = 0;      // time of the oldest stored row's record; 0 if empty
    std::uint64_t first_id = 0;      // oldest stored id; last_id + 1 when empty
    std::uint64_t last_id = 0;       // highest id ever issued (kept across a full drain)
    std::uint64_t dead_letters = 0;
    std::uint64_t file_bytes = 0;    // database + WAL + shared memory + reserve file on disk
    bool disk_full = false;          // the file system is full (an episode is on)
    std::uint64_t disk_full_episodes = 0;  // since open
    std::vector<SinkStats> sinks;
};

struct AppendResult {
    bool ok = true;
    std::string error;               // SQLite error text when !ok (nothing was stored)
    std::uint64_t first_id = 0;      // ids given to the appended records
    std::uint64_t last_id = 0;
    std::uint64_t dropped = 0;       // rows removed by drop_oldest to make room
    bool disk_full_started = false;  // this append found the disk full (a new episode; logged once)
};

class BufferReader;

struct EncodedRecords;

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
    // returns !ok; without it, it waits until sinks free space) while the cap
    // is reached; with DropOldest it deletes the oldest rows first and counts
    // them per sink that had not sent them. A batch larger than the whole cap
    // is stored once the buffer is empty (Block) or emptied (DropOldest).
    // `state` holds stage state changes, each under its stage's name.
    AppendResult append(std::span<const Record> records, std::span<const DeadLetter> dead,
                        std::span<const std::pair<std::string, std::string>> checkpoints,
                        const std::function<bool()>& keep_waiting = {},
                        std::span<const std::pair<std::string, StateChange>> state = {});
    // append with records already encoded (EncodedRecords::add): the
    // worker encodes each record as it is decoded when no stage needs the
    // Record objects, so a batch holds its rows' bytes and no Records.
    AppendResult append_encoded(const EncodedRecords& records, std::span<const DeadLetter> dead,
                        std::span<const std::pair<std::string, std::string>> checkpoints,
                        const std::function<bool()>& keep_waiting = {},
                        std::span<const std::pair<std::string, StateChange>> state = {});

    std::optional<std::string> load_checkpoint(std::string_view key);
    // Every checkpoint, by key (read before the sources start, off the loop).
    std::map<std::string, std::string, std::less<>> load_checkpoints();
    // Calls `fn` for every state pair stored under `stage`, in key order.
    void load_state(std::string_view stage,
                    const std::function<void(std::string_view key, std::string_view value)>& fn);

    // A reader with its own connection for one sink (use on the sink's thread).
    // `sink` must be one of BufferOptions::sinks. Readers must not outlive the Buffer.
    std::unique_ptr<BufferReader> reader(const std::string& sink);

    // Resolves `from` for a replay of `sink`: the first record at or after
    // it, checked against what is stored (kept by `retain`) and the sink's
    // cursor. Reads through its own connection (any thread, off the loop).
    ReplayPlan plan_replay(const std::string& sink, const BufferPoint& from);

    // Called after any sink moved its cursor: deletes rows every sink has.
    // Cheap when nothing changed. Safe from any thread.
    void trim();

    // Queries the database (waiting for the writer gate): for tests and tools.
    BufferStats stats();
    // The same figures as published after the last write (append, trim,
    // cursor move, dead letter) by the thread that made it: no SQL and no
    // waiting, so any thread may call it (the I/O loop's /metrics and /ready
    // read only this). file_bytes is at most a second older.
    std::shared_ptr<const BufferStats> snapshot() const;
    const BufferOptions& options() const;

    // Wakes readers waiting in BufferReader::wait (after append or close).
    void notify();
    void close_readers();  // wakes and stops every wait()

    // Test seam: while on, every transaction of this buffer's readers (cursor
    // commits, dead letters) fails at COMMIT and is rolled back, as on a full
    // disk (through SQLite's commit hook). Safe from any thread.
    void fail_reader_writes_for_test(bool on);

    struct Impl;

private:
    explicit Buffer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// What a BufferReader operation did. As with AppendResult, a failure of the
// database (a full disk, an I/O error) is a value, not an exception, and
// leaves the reader as it was: the cursor does not move, nothing is stored.
struct ReaderResult {
    bool ok = true;
    std::string error;     // SQLite error text when !ok
    std::size_t rows = 0;  // rows read (read_into, read_after)
};

class BufferReader {
public:
    ~BufferReader();
    // Up to `max` records after the cursor, oldest first. The rows stay in
    // the buffer until commit() moves the cursor past them. Throws
    // std::runtime_error on a database error (read_into reports it instead).
    std::vector<StoredRecord> read(std::size_t max);
    // The same into a caller-kept vector (resized to the rows read; empty
    // after an error), reusing its records' string capacity: no per-record
    // allocation in steady state.
    ReaderResult read_into(std::vector<StoredRecord>& out, std::size_t max);
    // The same for the rows after `after_id` (a row already read), leaving the
    // cursor alone: a sink reads its next batch while the current one is sent.
    ReaderResult read_after(std::uint64_t after_id, std::vector<StoredRecord>& out, std::size_t max);
    // The same with the records and their ids in two vectors (both resized
    // to the rows read): a sink runner hands `out` to Sink::send as it is,
    // without moving the records into a third vector.
    ReaderResult read_after(std::uint64_t after_id, std::vector<Record>& out, std::vector<std::uint64_t>& ids,
                            std::size_t max);
    // Moves the cursor to `last_id` (inclusive) in one transaction, then trims.
    // Never past the highest id read() returned: a sink confirms only what it got.
    // If the cursor could not be stored (!ok) it stays where it was.
    ReaderResult commit(std::uint64_t last_id);
    // The same without the trim: the delivered rows stay until the next
    // Buffer::trim(), which a sink with a backlog runs beside its next send.
    ReaderResult commit_keep_rows(std::uint64_t last_id);
    // The same, storing `state` with the cursor in the same transaction.
    ReaderResult commit(std::uint64_t last_id, const std::string& state);
    std::uint64_t cursor() const;
    // Moves the cursor back so that record `from_id` and every one after it
    // are read again (a replay): stored in one transaction, under the
    // writer gate, after checking that the records are still there. !ok
    // (nothing changed) when they are not, or when from_id is past the
    // cursor + 1. The caller must hold no batch read before (the sink
    // runner applies it between batches).
    ReaderResult rewind(std::uint64_t from_id);
    // The state last committed with the cursor ("" if none). Throws
    // std::runtime_error on a database error.
    std::string committed_state();
    // Blocks until rows exist after the cursor, `timeout` passes, the
    // buffer's readers are closed, or `also` (set before a Buffer::notify)
    // is true. True if rows may be available.
    bool wait(std::chrono::milliseconds timeout, const std::atomic<bool>* also = nullptr,
              const std::atomic<bool>* also2 = nullptr);
    // A data-level rejection by the sink; !ok if it could not be stored.
    ReaderResult dead_letter(const DeadLetter& d);

    struct Impl;
    explicit BufferReader(std::unique_ptr<Impl> impl);

private:
    ReaderResult commit_cursor(std::uint64_t last_id, bool trim, const std::string* state);
    template <typename Slot>
    ReaderResult read_rows(std::uint64_t after_id, std::size_t max, Slot&& slot, std::size_t& kept);
    std::unique_ptr<Impl> impl_;
};

// Binary record encoding used for the buffer's rows (format in README.md).
// encode_record APPENDS to `out`. decode_record replaces `out` (reusing its
// capacity) and returns false for any malformed input, leaving `out` unspecified.
void encode_record(const Record& r, std::string& out);
bool decode_record(std::string_view in, Record& out);

// A row of the records table holds one record (n = 1: the body is the
// record's encoding) or a pack of n > 1 consecutive records (ids
// id - n + 1 .. id): the byte kPackVersion, varint n, then each record as a
// varint length and its encoding. Packing keeps the B-tree small: a trim
// frees the pack's overflow pages without writing them (format in README.md).
inline constexpr unsigned char kPackVersion = 2;
// Appends a pack of the records `sizes` lays out back to back in `bytes`.
void encode_pack(std::string_view bytes, std::span<const std::uint32_t> sizes, std::string& out);
// Splits a row's body into its n records' encodings (views into `body`);
// false if it is not one record (n = 1) or a well-formed pack of exactly n.
// The records themselves are checked by decode_record.
bool split_row(std::string_view body, std::uint64_t n, std::vector<std::string_view>& out);
// The time of an encoded record (its ts column), without decoding the rest;
// 0 if it is too short to hold one.
TimeNs record_time(std::string_view encoded);

// Encoded rows back to back, with each row's size and time (the ts column).
// Reused batch after batch: clear() keeps the capacity.
struct EncodedRecords {
    std::string bytes;
    std::vector<std::uint32_t> sizes;
    std::vector<TimeNs> times;

    void add(const Record& r) {
        const std::size_t before = bytes.size();
        encode_record(r, bytes);
        sizes.push_back(static_cast<std::uint32_t>(bytes.size() - before));
        times.push_back(r.time_ns);
    }
    void clear() {
        bytes.clear();
        sizes.clear();
        times.clear();
    }
    std::size_t size() const { return sizes.size(); }
    bool empty() const { return sizes.empty(); }
};

// Offline maintenance on a stopped gateway's data directory.
// Each takes the pipeline database file; they refuse a database whose
// gateway still runs (its lock file is held), except offline_stats, which
// reads without the lock (a WAL reader; it changes nothing).
BufferStats offline_stats(const std::filesystem::path& db);

// `sluice buffer check`: integrity_check, cursors within the ids, meta.bytes
// against the records, the files' sizes. Damage is in `problems`.
struct BufferCheck {
    std::vector<std::string> problems;
    std::vector<std::string> info;
};
BufferCheck offline_check(const std::filesystem::path& db);

// `sluice buffer salvage`: copies what can be read of `damaged` (rows,
// cursors, checkpoints, window state, dead letters) into a new buffer `to`.
struct SalvageResult {
    std::uint64_t records = 0;
    std::uint64_t other = 0;    // cursors, checkpoints, state, dead letters
    std::uint64_t skipped = 0;  // rows read but not decodable
};
SalvageResult offline_salvage(const std::filesystem::path& damaged, const std::filesystem::path& to);
// Writes records (NDJSON, one per line) after `sink`'s cursor, or all rows if
// empty; with `dead_letters` the dead letters instead. `from` and `to`
// narrow the records to a range (from inclusive; `to` inclusive as an id,
// exclusive as a time), delivered or not. Returns lines written.
std::uint64_t offline_export(const std::filesystem::path& db, const std::string& sink, std::FILE* out,
                             bool dead_letters, const std::optional<BufferPoint>& from = std::nullopt,
                             const std::optional<BufferPoint>& to = std::nullopt);
// The replay plan of `sink` from `from` in the buffer file `db`, read
// through a read-only connection without the lock (beside a running
// gateway, like offline_stats).
ReplayPlan plan_replay_file(const std::filesystem::path& db, const std::string& sink, const BufferPoint& from);
// `sluice buffer replay`: moves `sink`'s cursor back to `from` (see
// Buffer::plan_replay) in a stopped gateway's buffer; the plan says what
// was done, or (error) why nothing was. The cursor's state is marked, so
// the sink learns at its next open that it replays (SinkContext::replayed_from).
ReplayPlan offline_replay(const std::filesystem::path& db, const std::string& sink, const BufferPoint& from);
// Drops all rows (sink empty; every cursor moves to the end) or moves `sink`'s
// cursor to the end; with `dead_letters` deletes the dead letters instead.
// Returns rows affected. All three throw std::runtime_error with a clear message.
std::uint64_t offline_drop(const std::filesystem::path& db, const std::string& sink, bool dead_letters);

}  // namespace sluice
