#include "buffer/table_store.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "buffer/schema.hpp"
#include "buffer/sqlite.hpp"

namespace sluice {
namespace {

using buffer_detail::Db;
using buffer_detail::FileLock;
using buffer_detail::ResetGuard;
using buffer_detail::Stmt;
using buffer_detail::Txn;

constexpr int kTablesSchemaVersion = 1;

class SqliteTableStore final : public TableStore {
public:
    explicit SqliteTableStore(const std::filesystem::path& path)
        : lock_(path), db_(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {
        if (sqlite3_busy_timeout(db_.get(), 5000) != SQLITE_OK) {
            db_.fail("busy_timeout");
        }
        {
            Stmt mode(db_, "PRAGMA journal_mode = WAL");
            ResetGuard g(mode);
            if (!mode.step() || mode.col_text(0) != "wal") {
                throw std::runtime_error(fmt::format(
                    "tables {}: cannot switch to WAL mode (file system without shared memory?)", path.string()));
            }
        }
        // NORMAL in WAL mode: a power cut may lose the last commits, never
        // corrupts the file.
        db_.exec("PRAGMA synchronous = NORMAL");
        db_.exec("PRAGMA temp_store = MEMORY");
        db_.exec("PRAGMA journal_size_limit = 8388608");
        const auto version = db_.query_int("PRAGMA user_version");
        if (version > kTablesSchemaVersion) {
            throw std::runtime_error(fmt::format(
                "tables {}: schema version {} is newer than this sluice understands ({}); use a newer sluice",
                path.string(), version, kTablesSchemaVersion));
        }
        if (version == 0) {
            Txn txn(db_);
            db_.exec(
                "CREATE TABLE IF NOT EXISTS table_rows ("
                "  tbl TEXT NOT NULL,"
                "  key TEXT NOT NULL,"
                "  value TEXT NOT NULL,"
                "  PRIMARY KEY (tbl, key)"
                ") WITHOUT ROWID");
            db_.exec("PRAGMA user_version = 1");
            txn.commit();
        }
        put_ = Stmt(db_, "INSERT INTO table_rows(tbl, key, value) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT(tbl, key) DO UPDATE SET value = excluded.value");
        erase_ = Stmt(db_, "DELETE FROM table_rows WHERE tbl = ?1 AND key = ?2");
        clear_ = Stmt(db_, "DELETE FROM table_rows WHERE tbl = ?1");
        load_ = Stmt(db_, "SELECT key, value FROM table_rows WHERE tbl = ?1");
    }

    void load(std::string_view table,
              const std::function<void(std::string_view key, std::string_view json)>& fn) override {
        ResetGuard g(load_);
        load_.bind_text(1, table);
        while (load_.step()) {
            fn(load_.col_text(0), load_.col_text(1));
        }
    }

    void write(std::span<const Change> changes) override {
        if (changes.empty()) {
            return;
        }
        Txn txn(db_);
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

private:
    FileLock lock_;
    Db db_;
    Stmt put_, erase_, clear_, load_;
};

}  // namespace

std::unique_ptr<TableStore> open_table_store(const std::filesystem::path& path) {
    return std::make_unique<SqliteTableStore>(path);
}

}  // namespace sluice
