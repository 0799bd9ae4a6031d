#pragma once
// Thin RAII over the SQLite C API for the buffer. Every failure becomes a
// std::runtime_error naming the database file and carrying sqlite3_errmsg, so
// callers can turn it into an error value without losing the reason.

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <sqlite3.h>

namespace sluice::buffer_detail {

// SQLite work (open, prepare, step, exec) done on an I/O loop thread since
// the process started. The loop serves the HTTP API, timers and sources and
// must never wait on the disk, so this stays 0; it is exported as the metric
// sluice_loop_sqlite_calls_total (registered with the first database opened)
// and the first such call is logged as an error with its statement.
std::uint64_t loop_sqlite_calls();
// In builds with assertions (not NDEBUG) such a call also fails an assert
// after it is counted; release builds only count. Tests that make one on
// purpose turn the assert off; returns the previous setting.
bool set_loop_sqlite_asserts(bool on);
// The check every SQLite entry point makes, for a buffer call that may run
// SQLite but this time did not (a read served from memory): the call is as
// wrong on a loop thread either way.
void check_thread(const char* what);

// SQLite found the file damaged: SQLITE_CORRUPT ("database disk image is
// malformed"), SQLITE_NOTADB, or a short read of a truncated file. Thrown by
// Db and Stmt instead of a plain runtime_error, so the open path and the
// threads' boundaries can tell a damaged file (moved aside, see
// buffer/quarantine.hpp) from a full disk or a lock (retried).
class DatabaseCorrupt : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// rc is a primary or extended result code.
bool is_corruption(int rc);

// Files in which SQLite reported damage since the process started (by the
// path given to Db). Whatever catches the error, the next open of the file
// knows to move it aside; the owner of the file polls damage_seen().
void note_damage(const std::string& path);
bool damage_seen(const std::string& path);
void clear_damage(const std::string& path);

class Db {
public:
    // flags: SQLITE_OPEN_* (NOMUTEX and EXRESCODE are added).
    Db(const std::filesystem::path& path, int flags);
    Db(Db&& o) noexcept : db_(std::exchange(o.db_, nullptr)), path_(std::move(o.path_)) {}
    Db& operator=(Db&&) = delete;
    Db(const Db&) = delete;
    ~Db();

    sqlite3* get() const { return db_; }
    const std::string& path() const { return path_; }

    void exec(const char* sql);
    std::int64_t query_int(const char* sql);  // first column of the first row; 0 if none
    // Throws DatabaseCorrupt (and notes the damage) when the last error was
    // corruption, else std::runtime_error.
    [[noreturn]] void fail(std::string_view what) const;
    [[noreturn]] void fail_rc(int rc, std::string msg) const;
    std::string message(std::string_view what) const;

private:
    sqlite3* db_ = nullptr;
    std::string path_;
};

class Stmt {
public:
    Stmt() = default;
    Stmt(Db& db, const char* sql);
    Stmt(Stmt&& o) noexcept : db_(o.db_), s_(std::exchange(o.s_, nullptr)) {}
    Stmt& operator=(Stmt&& o) noexcept;
    Stmt(const Stmt&) = delete;
    ~Stmt();

    void bind(int i, std::int64_t v);
    void bind_u64(int i, std::uint64_t v) { bind(i, static_cast<std::int64_t>(v)); }
    // Text and blobs are bound without a copy: the bytes must stay alive
    // until the statement is reset.
    void bind_text(int i, std::string_view v);
    void bind_blob(int i, std::string_view v);

    bool step();  // true: a row is ready; false: done. Throws (after a reset) on error.
    void reset() { sqlite3_reset(s_); }
    // step() on a statement that returns no rows, then reset.
    void run();

    std::int64_t col_int(int i) const { return sqlite3_column_int64(s_, i); }
    std::uint64_t col_u64(int i) const { return static_cast<std::uint64_t>(col_int(i)); }
    bool col_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
    std::string_view col_text(int i) const;
    std::string_view col_blob(int i) const;

private:
    Db* db_ = nullptr;
    sqlite3_stmt* s_ = nullptr;
};

// Resets a statement when a scope ends, so no statement keeps a read
// snapshot open (an open snapshot would stop WAL checkpoints).
class ResetGuard {
public:
    explicit ResetGuard(Stmt& s) : s_(s) {}
    ~ResetGuard() { s_.reset(); }
    ResetGuard(const ResetGuard&) = delete;
    ResetGuard& operator=(const ResetGuard&) = delete;

private:
    Stmt& s_;
};

// BEGIN IMMEDIATE: take the write lock up front (through busy_timeout), so a
// transaction never fails half-way for a lock upgrade.
class Txn {
public:
    explicit Txn(Db& db);
    ~Txn();
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;
    void commit();

private:
    Db& db_;
    bool open_ = false;
};

}  // namespace sluice::buffer_detail
