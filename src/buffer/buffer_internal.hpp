#pragma once
// Private to the online buffer's source files: Buffer::Impl (the writer
// connection, its statements, the writer gate and the sinks' cursors) and
// what they share. The files:
//
//   buffer.cpp         opening, the writer gate, stats, checkpoints and state
//   buffer_append.cpp  append: one transaction per batch, the byte cap
//   buffer_trim.cpp    deleting the rows every sink has confirmed
//   buffer_space.cpp   the cap on disk, the reserve file, a full disk
//   buffer_reader.cpp  BufferReader: a sink's reads, cursor commits, waits
//   buffer_recent.cpp  RecentRows: the newest committed rows in memory

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "buffer/buffer.hpp"
#include "buffer/schema.hpp"
#include "buffer/sqlite.hpp"
#include "buffer/stats_snapshot.hpp"

namespace sluice {

namespace buffer_detail {

struct SinkState {
    std::string name;
    std::uint64_t cursor = 0;   // persisted position (memory may lag the table, never lead it)
    std::uint64_t dropped = 0;  // since open
};

// Record bytes per row: a commit's records are packed into rows of about
// this size (a larger record gets a row of its own). Fewer, larger rows
// cost SQLite one B-tree cell per pack instead of one per record, and a
// trim frees a pack's overflow pages without writing them; a read that
// starts inside a pack reads the whole pack, so it stays small.
inline constexpr std::size_t kPackBytes = 32 * 1024;

// The newest committed rows, as their encoded bytes, so that a sink that
// keeps up reads them from memory instead of from SQLite (which costs a
// B-tree walk and, on the reader's own connection, preads of pages the
// writer just wrote). Bounded in bytes: under a backlog the rows a sink wants
// have long left it and it reads from SQLite as before. Only ever a copy of
// what is committed; rows leave it when they are deleted (trim, drops).
class RecentRows {
public:
    struct Chunk {
        std::uint64_t first_id = 0;
        std::string bytes;                 // the rows' encodings, back to back
        std::vector<std::uint32_t> ends;   // row k is bytes[ends[k-1], ends[k])
        std::uint64_t last_id() const { return first_id + ends.size() - 1; }
        std::string_view row(std::size_t k) const {
            const std::uint32_t b = k == 0 ? 0 : ends[k - 1];
            return std::string_view(bytes).substr(b, ends[k] - b);
        }
    };
    explicit RecentRows(std::size_t max_bytes) : max_bytes_(max_bytes) {}
    // After COMMIT: rows first_id, first_id + 1, ... of `records`.
    void add(std::uint64_t first_id, const EncodedRecords& records);
    // The rows up to `id` are deleted (or may be, if the transaction that
    // deletes them commits): a read after an id below it goes to SQLite.
    void discard_through(std::uint64_t id);
    // The chunks holding the rows after `after`, oldest first, into `out`;
    // false (out empty) when row after + 1 is not here, also when it is
    // older than the oldest row kept.
    bool rows_after(std::uint64_t after, std::vector<std::shared_ptr<const Chunk>>& out) const;

private:
    mutable std::mutex mu_;
    std::deque<std::shared_ptr<const Chunk>> chunks_;  // contiguous ids, oldest first
    std::size_t bytes_ = 0;
    std::uint64_t discarded_to_ = 0;
    std::size_t max_bytes_;
};

// What the newest rows in memory may hold (RecentRows), per pipeline.
inline constexpr std::size_t kRecentRowsBytes = 1 << 20;

}  // namespace buffer_detail

// Only the buffer's own .cpp files include this header, and all of them use
// buffer_detail's types (Db, Stmt, FileLock, ...) unqualified, as Impl does.
using namespace buffer_detail;

struct Buffer::Impl {
    // `held`: the buffer's lock, taken by Buffer::open before it looked at the files.
    Impl(const BufferOptions& o, FileLock held);

    // Writer gate.
    void acquire();
    void release();
    void trim_or_defer();
    // With the gate held. `room` > 0: of the rows kept for replay
    // (retain), the oldest go until that many record bytes are free, as
    // far as every sink has them (overflow=block at the cap). True when
    // rows were deleted.
    bool trim_owned(std::uint64_t room = 0);
    // `target` (the lowest cursor) lowered so that the rows kept for replay
    // stay (BufferOptions::retain, retain_bytes); gate holder, in or out of
    // a transaction. Never throws: a failing query keeps every row.
    std::uint64_t retained_target(std::uint64_t target);
    std::uint64_t retained_target_or_throw(std::uint64_t target);
    // The last id of the oldest rows (after trimmed_to, up to `limit`) that
    // hold at least `need` record bytes.
    std::uint64_t rows_freeing(std::uint64_t need, std::uint64_t limit);
    bool retaining() const { return opts.retain.count() > 0 || opts.retain_bytes > 0; }
    // Stores sink `index`'s cursor at `to` (with `state` when given) and, with
    // `trim`, deletes the rows every sink now has, in one transaction; if that
    // fails, the cursor alone and then the trim on its own. False (and
    // `error`) if the cursor could not be stored.
    bool move_cursor_owned(std::size_t index, std::uint64_t to, const std::string* state, bool trim,
                           std::string& error);
    // Inside a transaction: deletes the rows through `target`, returns the
    // bytes left; trimmed() publishes both once the transaction committed.
    std::uint64_t delete_rows_through(std::uint64_t target);
    void trimmed(std::uint64_t target, std::uint64_t left);
    Deleted delete_through(std::uint64_t id);
    void set_meta(const char* key, std::uint64_t value);
    // The lowest cursor (takes mu), with sink `moving`'s taken as `to`.
    std::uint64_t trim_target(std::size_t moving = static_cast<std::size_t>(-1), std::uint64_t to = 0);
    bool wait_for_room(std::uint64_t batch, const std::function<bool()>& keep_waiting, AppendResult& res);
    void append_owned(const EncodedRecords& records, std::span<const DeadLetter> dead,
                      std::span<const std::pair<std::string, std::string>> checkpoints,
                      std::span<const std::pair<std::string, StateChange>> state, std::uint64_t force_drop,
                      AppendResult& res);

    // Space on disk (buffer_space.cpp), all with the gate held.
    void init_space();           // end of the constructor
    void apply_page_limit();     // max_page_count = the tightest of the cap, max_file_bytes, a full disk
    // Pages the database may still use without growing past its limit
    // (inside a transaction: as of that transaction); max when unlimited.
    std::uint64_t room_pages();
    // After a write failed with SQLITE_FULL: true if the disk (or
    // max_file_bytes) is what is full, false if the cap is reached. A full
    // disk starts an episode: logged once, counted, the reserve file given
    // back, and the database held at its present size.
    bool note_full(std::uint64_t batch);
    void begin_disk_full();  // the episode's start (idempotent)
    // After a commit that may have added pages: the database file is given
    // the blocks for every page the database has (see buffer_space.cpp).
    // False if the disk had no room even with the reserve given back.
    bool cover_pages();
    void hold_pages();  // while the disk is full: the database keeps the pages it has
    // Ends an episode once there is room again (the reserve file is back).
    void check_space_back();
    std::uint64_t free_disk_bytes() const;  // statvfs of the directory
    bool make_reserve();
    void notify_readers();
    // With the gate held: rebuilds the published stats (see snapshot()).
    void publish_stats();
    bool room_locked(std::uint64_t batch) const { return bytes == 0 || bytes + batch <= opts.max_bytes; }

    BufferOptions opts;
    FileLock lock;
    Db db;
    Stmt insert_record;
    Stmt insert_dead;
    Stmt cap_dead;
    Stmt upsert_checkpoint;
    Stmt get_checkpoint;
    Stmt upsert_state;
    Stmt delete_state;
    Stmt upsert_meta;
    std::unique_ptr<RowTrimmer> trimmer;  // delete_through
    Stmt scan_oldest;
    Stmt retain_time_q;  // retained_target
    Stmt retain_prev_q;
    Stmt retain_size_q;
    Stmt pack_body;  // drop_oldest cutting into a pack
    Stmt cursor_positions;
    Stmt add_dropped;
    Stmt store_cursor;
    Stmt store_cursor_state;
    Stmt page_count_q;
    Stmt freelist_q;

    // Space on disk (gate holder only, except the atomics).
    DiskPlan plan;
    std::uint64_t page_size = 4096;
    std::uint64_t budget_pages = 0;  // the cap's share for the database file
    std::uint64_t hard_pages = 0;    // max_file_bytes; 0: none
    std::uint64_t held_pages = 0;    // while the disk is full: no growth past this; 0: not held
    std::uint64_t limit_pages = 0;   // what max_page_count is set to
    std::uint64_t covered_pages = 0;  // the database file has blocks for this many pages (cover_pages)
    std::filesystem::path reserve_path;
    bool reserve_held = false;
    std::atomic<bool> disk_full{false};
    std::atomic<std::uint64_t> disk_full_episodes{0};

    // Writer thread only: the encoded batch, reused so append allocates
    // nothing per record once warmed up.
    EncodedRecords encoded;
    std::string pack;  // one pack's body
    std::vector<std::string_view> drop_parts;  // drop_oldest cutting into a pack
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
    bool cursor_txn = false;           // gate holder: the open transaction moves a sink's cursor
    bool failing_cursor_commit() const { return cursor_txn && fail_reader_writes.load(); }
    std::vector<SinkState> sinks;      // mu; in options order, no duplicates
    std::uint64_t bytes = 0;           // written under mu by the gate holder
    std::uint64_t trimmed_to = 0;      // gate holder only: every id <= this is deleted
    // drop_oldest episodes, for the log (gate holder only): when rows were
    // last dropped and last reported, and how many since that report.
    std::int64_t last_drop_ns = 0;
    std::int64_t drop_reported_ns = 0;
    std::uint64_t drops_unreported = 0;
    void log_drops(std::uint64_t dropped);
    std::atomic<std::uint64_t> last_id{0};
    std::atomic<int> live_readers{0};
    RecentRows recent{kRecentRowsBytes};
    std::unique_ptr<StatsSnapshot> snapshot;  // rebuilt whenever the gate is let go
};

}  // namespace sluice
