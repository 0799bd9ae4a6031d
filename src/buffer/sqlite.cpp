#include "buffer/sqlite.hpp"

#include <atomic>
#include <cassert>
#include <mutex>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "core/ioloop.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/stop_request.hpp"

namespace sluice::buffer_detail {

namespace {

std::atomic<bool> g_loop_asserts{true};

Counter& loop_calls_counter() {
    static Counter& c = metrics().counter("sluice_loop_sqlite_calls_total",
                                          "SQLite calls made on the I/O loop thread (a bug if not 0: the loop "
                                          "serves the HTTP API, timers and sources and must not wait on the disk)");
    return c;
}

}  // namespace

// Counts SQLite work done on an I/O loop thread; `what` names it in the log.
void check_thread(const char* what) {
    if (!IoLoop::on_a_loop_thread()) [[likely]] {
        return;
    }
    loop_calls_counter().inc();
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true)) {
        log::error("SQLite ran on the I/O loop thread ({}): a bug, please report it; counted in "
                   "sluice_loop_sqlite_calls_total",
                   std::string_view(what != nullptr ? what : "?").substr(0, 60));
    }
    // Builds with assertions (the dev, asan and tsan presets) stop right
    // here; release builds only count and log.
    assert(!g_loop_asserts.load(std::memory_order_relaxed) && "SQLite on an I/O loop thread");
}

namespace {

std::mutex g_damage_mu;
std::set<std::string, std::less<>>& damaged_files() {
    static std::set<std::string, std::less<>> s;
    return s;
}

}  // namespace

bool is_corruption(int rc) {
    const int primary = rc & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB || rc == SQLITE_IOERR_SHORT_READ;
}

void note_damage(const std::string& path) {
    {
        std::lock_guard lk(g_damage_mu);
        damaged_files().insert(path);
    }
    wake_main();  // the gateway restarts the pipeline on a fresh buffer now, not at its next look
}

bool damage_seen(const std::string& path) {
    std::lock_guard lk(g_damage_mu);
    return damaged_files().count(path) != 0;
}

void clear_damage(const std::string& path) {
    std::lock_guard lk(g_damage_mu);
    damaged_files().erase(path);
}

std::uint64_t loop_sqlite_calls() { return loop_calls_counter().value(); }

bool set_loop_sqlite_asserts(bool on) { return g_loop_asserts.exchange(on); }

Db::Db(const std::filesystem::path& path, int flags) : path_(path.string()) {
    loop_calls_counter();  // the metric reads 0 from the first database on
    check_thread("open");
    int rc = sqlite3_open_v2(path_.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                             nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close_v2(db_);
        db_ = nullptr;
        msg = fmt::format("buffer {}: cannot open database: {}", path_, msg);
        if (is_corruption(rc)) {
            note_damage(path_);
            throw DatabaseCorrupt(msg);
        }
        throw std::runtime_error(msg);
    }
}

Db::~Db() {
    if (db_ != nullptr) {
        check_thread("close");  // closing checkpoints the WAL: disk work too
        sqlite3_close_v2(db_);
    }
}

std::string Db::message(std::string_view what) const {
    return fmt::format("buffer {}: {}: {}", path_, what, sqlite3_errmsg(db_));
}

void Db::fail(std::string_view what) const {
    fail_rc(sqlite3_extended_errcode(db_), message(what));
}

void Db::fail_rc(int rc, std::string msg) const {
    if (is_corruption(rc)) {
        note_damage(path_);
        throw DatabaseCorrupt(msg);
    }
    throw std::runtime_error(msg);
}

void Db::exec(const char* sql) {
    check_thread(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = fmt::format("buffer {}: {}: {}", path_, sql, err != nullptr ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        fail_rc(rc, std::move(msg));
    }
}

std::int64_t Db::query_int(const char* sql) {
    Stmt s(*this, sql);
    ResetGuard g(s);
    return s.step() ? s.col_int(0) : 0;
}

Stmt::Stmt(Db& db, const char* sql) : db_(&db) {
    check_thread(sql);
    if (sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK) {
        db.fail(fmt::format("prepare `{}`", sql));
    }
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
    if (this != &o) {
        sqlite3_finalize(s_);
        db_ = o.db_;
        s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
}

Stmt::~Stmt() {
    sqlite3_finalize(s_);
}

void Stmt::bind(int i, std::int64_t v) {
    if (sqlite3_bind_int64(s_, i, v) != SQLITE_OK) {
        db_->fail("bind");
    }
}

void Stmt::bind_text(int i, std::string_view v) {
    if (sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8) != SQLITE_OK) {
        db_->fail("bind");
    }
}

void Stmt::bind_blob(int i, std::string_view v) {
    // A zero-length blob with a null pointer would bind NULL, which the
    // NOT NULL body column rejects; any non-null pointer gives an empty blob.
    static const char empty = 0;
    const char* p = v.empty() ? &empty : v.data();
    if (sqlite3_bind_blob64(s_, i, p, v.size(), SQLITE_STATIC) != SQLITE_OK) {
        db_->fail("bind");
    }
}

bool Stmt::step() {
    check_thread(sqlite3_sql(s_));
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    // Name the statement, but keep a 32-row INSERT from flooding the log.
    std::string_view sql = sqlite3_sql(s_);
    std::string what(sql.substr(0, 48));
    if (sql.size() > 48) {
        what += "...";
    }
    std::string msg = db_->message(what);
    sqlite3_reset(s_);
    db_->fail_rc(rc, std::move(msg));
}

void Stmt::run() {
    ResetGuard g(*this);
    step();
}

std::string_view Stmt::col_text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    if (p == nullptr) {
        return {};
    }
    return {p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))};
}

std::string_view Stmt::col_blob(int i) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
    if (p == nullptr) {
        return {};
    }
    return {p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))};
}

Txn::Txn(Db& db) : db_(db) {
    db_.exec("BEGIN IMMEDIATE");
    open_ = true;
}

Txn::~Txn() {
    // After some errors (SQLITE_FULL, IOERR) SQLite has already rolled the
    // transaction back; a second ROLLBACK would only report an error.
    if (open_ && sqlite3_get_autocommit(db_.get()) == 0) {
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

void Txn::commit() {
    db_.exec("COMMIT");
    open_ = false;
}

}  // namespace sluice::buffer_detail
