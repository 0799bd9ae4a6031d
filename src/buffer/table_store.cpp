#include "buffer/table_store.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "buffer/quarantine.hpp"
#include "buffer/schema.hpp"
#include "buffer/sqlite.hpp"

namespace sluice {
namespace {

using buffer_detail::DatabaseCorrupt;
using buffer_detail::Db;
using buffer_detail::FileLock;
using buffer_detail::ResetGuard;
using buffer_detail::Stmt;
using buffer_detail::Txn;

constexpr int kTablesSchemaVersion = 1;

class SqliteTableStore final : public TableStore {
public:
    // A damaged file (found at open, or reported by SQLite on a later read
    // or write) is moved aside and replaced by a fresh one holding the rows
    // that could still be read.
    explicit SqliteTableStore(const std::filesystem::path& path) : path_(path), lock_(path) {
        std::string why = buffer_detail::preflight(path);
        if (why.empty()) {
            try {
                open_db();
                db_->query_int("SELECT sum(length(tbl) + length(key) + length(value)) FROM table_rows");
                return;
            } catch (const DatabaseCorrupt& e) {
                why = e.what();
            }
        }
        quarantine(why);
    }

    void load(std::string_view table,
              const std::function<void(std::string_view key, std::string_view json)>& fn) override {
        try {
            load_once(table, fn);
        } catch (const DatabaseCorrupt& e) {
            quarantine(e.what());
            load_once(table, fn);
        }
    }

    void write(std::span<const Change> changes) override {
        if (changes.empty()) {
            return;
        }
        try {
            write_once(changes);
        } catch (const DatabaseCorrupt& e) {
            quarantine(e.what());
            write_once(changes);
        }
    }

private:
    void open_db() {
        close_db();
        db_ = std::make_unique<Db>(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        if (sqlite3_busy_timeout(db_->get(), 5000) != SQLITE_OK) {
            db_->fail("busy_timeout");
        }
        {
            Stmt mode(*db_, "PRAGMA journal_mode = WAL");
            ResetGuard g(mode);
            if (!mode.step() || mode.col_text(0) != "wal") {
                throw std::runtime_error(fmt::format(
                    "tables {}: cannot switch to WAL mode (file system without shared memory?)", path_.string()));
            }
        }
        // NORMAL in WAL mode: a power cut may lose the last commits, never
        // corrupts the file.
        db_->exec("PRAGMA synchronous = NORMAL");
        db_->exec("PRAGMA temp_store = MEMORY");
        db_->exec("PRAGMA journal_size_limit = 8388608");
        const auto version = db_->query_int("PRAGMA user_version");
        if (version > kTablesSchemaVersion) {
            throw std::runtime_error(fmt::format(
                "tables {}: schema version {} is newer than this sluice understands ({}); use a newer sluice",
                path_.string(), version, kTablesSchemaVersion));
        }
        if (version == 0) {
            Txn txn(*db_);
            db_->exec(
                "CREATE TABLE IF NOT EXISTS table_rows ("
                "  tbl TEXT NOT NULL,"
                "  key TEXT NOT NULL,"
                "  value TEXT NOT NULL,"
                "  PRIMARY KEY (tbl, key)"
                ") WITHOUT ROWID");
            db_->exec("PRAGMA user_version = 1");
            txn.commit();
        }
        put_ = Stmt(*db_, "INSERT INTO table_rows(tbl, key, value) VALUES (?1, ?2, ?3) "
                          "ON CONFLICT(tbl, key) DO UPDATE SET value = excluded.value");
        erase_ = Stmt(*db_, "DELETE FROM table_rows WHERE tbl = ?1 AND key = ?2");
        clear_ = Stmt(*db_, "DELETE FROM table_rows WHERE tbl = ?1");
        load_ = Stmt(*db_, "SELECT key, value FROM table_rows WHERE tbl = ?1");
    }

    void close_db() {
        put_ = Stmt();
        erase_ = Stmt();
        clear_ = Stmt();
        load_ = Stmt();
        db_.reset();
    }

    void quarantine(const std::string& why) {
        close_db();
        const auto moved = buffer_detail::move_aside(path_);
        open_db();
        std::uint64_t rows = 0;
        try {
            Db src(moved, SQLITE_OPEN_READWRITE);
            sqlite3_exec(src.get(), "PRAGMA writable_schema = ON", nullptr, nullptr, nullptr);
            Txn txn(*db_);
            rows = buffer_detail::salvage_table(src, *db_, "table_rows", "tbl, key, value", "tbl, key");
            txn.commit();
        } catch (const std::exception&) {
            // Nothing readable: the fresh file stays empty.
        }
        buffer_detail::clear_damage(path_.string());
        buffer_detail::report_quarantine(QuarantineEvent{"tables", path_, moved, why, rows, 0, 0, 0});
    }

    void load_once(std::string_view table,
                   const std::function<void(std::string_view key, std::string_view json)>& fn) {
        ResetGuard g(load_);
        load_.bind_text(1, table);
        while (load_.step()) {
            fn(load_.col_text(0), load_.col_text(1));
        }
    }

    void write_once(std::span<const Change> changes) {
        Txn txn(*db_);
        for (const auto& c : changes) {
            switch (c.op) {
                case Change::Op::Put:
                    put_.bind_text(1, c.table);
                    put_.bind_text(2, c.key);
                    put_.bind_text(3, c.json);
                    put_.run();
                    break;
                case Change::Op::Erase:
                    erase_.bind_text(1, c.table);
                    erase_.bind_text(2, c.key);
                    erase_.run();
                    break;
                case Change::Op::Clear:
                    clear_.bind_text(1, c.table);
                    clear_.run();
                    break;
            }
        }
        txn.commit();
    }

    std::filesystem::path path_;
    FileLock lock_;
    std::unique_ptr<Db> db_;
    Stmt put_, erase_, clear_, load_;
};

}  // namespace

std::unique_ptr<TableStore> open_table_store(const std::filesystem::path& path) {
    return std::make_unique<SqliteTableStore>(path);
}

}  // namespace sluice
