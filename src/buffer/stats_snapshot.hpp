#pragma once
// The buffer's published stats (Buffer::snapshot()): what Buffer::stats()
// reports, rebuilt by whichever thread holds the writer gate as it lets go
// (the worker after an append, a sink after moving its cursor, a trim), and
// read by any thread without SQL or waiting (the I/O loop's /metrics and
// /ready, the service status line).
//
// The counts come from the buffer's memory; only the record times (the oldest
// row, each sink's oldest pending row) and the dead-letter count need SQL,
// and each runs only when its answer can have changed: a row's time never
// changes, so a look-up is kept until the id it starts from moves. The
// files' size on disk is at most a second old.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>
#include <atomic>

#include "buffer/buffer.hpp"
#include "buffer/schema.hpp"
#include "buffer/sqlite.hpp"

namespace sluice::buffer_detail {

class StatsSnapshot {
public:
    // `db` is the writer connection; it must outlive this object.
    StatsSnapshot(Db& db, std::filesystem::path path);

    // Any thread: a dead letter was stored or the dead letters were capped.
    void dead_letters_changed() { dead_changed_.store(true, std::memory_order_release); }

    // Writer-gate holder only. `st` carries rows, bytes, first_id, last_id
    // and each sink's name, cursor and dropped; the rest is filled in here.
    // On a SQLite error the previous snapshot stays (logged once).
    void publish(BufferStats st);

    // Any thread.
    std::shared_ptr<const BufferStats> get() const {
        std::lock_guard lk(mu_);
        return current_;
    }

private:
    struct TimeAfter {
        std::uint64_t after = 0;
        std::int64_t ts = 0;
        bool valid = false;
    };
    // Time of the first row after `id` (which exists); cached per slot.
    std::int64_t time_after(TimeAfter& cache, std::uint64_t id);

    Db& db_;
    std::filesystem::path path_;
    std::filesystem::path wal_;
    RecordTimes times_;
    Stmt count_dead_;
    std::atomic<bool> dead_changed_{true};
    std::uint64_t dead_letters_ = 0;
    TimeAfter oldest_;
    std::vector<TimeAfter> pending_;  // per sink, in the order publish() gets them
    bool warned_ = false;
    // The files' sizes, looked up at most once a second (four stat() calls
    // per publish would be most of an idle gateway's system calls).
    std::uint64_t file_bytes_ = 0;
    std::int64_t file_bytes_at_ = 0;  // steady clock ns; 0: never

    mutable std::mutex mu_;
    std::shared_ptr<const BufferStats> current_;
};

}  // namespace sluice::buffer_detail
