#include "buffer/quarantine.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <mutex>
#include <system_error>

#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "buffer/page_scan.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace sluice {

namespace {

std::mutex g_events_mu;
std::deque<QuarantineEvent>& events() {
    static std::deque<QuarantineEvent> e;
    return e;
}
constexpr std::size_t kKeepEvents = 32;

std::uint64_t size_or_zero(const std::filesystem::path& p, bool* exists = nullptr) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(p, ec);
    if (exists != nullptr) {
        *exists = !ec;
    }
    return ec ? 0 : static_cast<std::uint64_t>(n);
}

// A statement that reports errors as result codes: salvage reads a damaged
// file and goes on after every error.
class Raw {
public:
    Raw(sqlite3* db, const std::string& sql) {
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK) {
            sqlite3_finalize(s_);
            s_ = nullptr;
        }
    }
    ~Raw() { sqlite3_finalize(s_); }
    Raw(const Raw&) = delete;
    Raw& operator=(const Raw&) = delete;
    sqlite3_stmt* get() const { return s_; }
    explicit operator bool() const { return s_ != nullptr; }

private:
    sqlite3_stmt* s_ = nullptr;
};

std::size_t count_columns(const std::string& cols) { return static_cast<std::size_t>(std::count(cols.begin(), cols.end(), ',')) + 1; }

std::string order_by(const std::string& key, bool desc) {
    if (!desc) {
        return key;
    }
    std::string out;
    std::size_t start = 0;
    for (;;) {
        const auto comma = key.find(',', start);
        out += key.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        out += " DESC";
        if (comma == std::string::npos) {
            break;
        }
        out += ",";
        start = comma + 1;
    }
    return out;
}

std::string utc_stamp() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}


}  // namespace

std::vector<QuarantineEvent> quarantine_events() {
    std::lock_guard lk(g_events_mu);
    return {events().begin(), events().end()};
}

std::string describe(const QuarantineEvent& e) {
    return fmt::format("{} {} was damaged ({}) and moved aside as {}; {} rows salvaged into a fresh one", e.kind,
                       e.file.string(), e.reason, e.moved_to.filename().string(), e.salvaged);
}

namespace buffer_detail {

std::string preflight(const std::filesystem::path& db) {
    bool db_exists = false;
    bool wal_exists = false;
    const std::uint64_t db_size = size_or_zero(db, &db_exists);
    const std::uint64_t wal_size = size_or_zero(db.string() + "-wal", &wal_exists);
    if (!db_exists) {
        // SQLite would start an empty database and drop the WAL's pages.
        return wal_exists && wal_size > 0 ? "a WAL file without its database" : "";
    }
    bool shm_exists = false;
    size_or_zero(db.string() + "-shm", &shm_exists);
    if (shm_exists && !wal_exists) {
        // SQLite removes the shared memory before the WAL when it closes, so
        // this pair means the WAL was deleted: what it held is gone and the
        // file may be half-way through a checkpoint.
        return "its WAL file is missing (deleted?) while its shared-memory index remains; commits since the "
               "last checkpoint are lost";
    }
    if (db_size == 0) {
        // A database in WAL mode always has its first page in the file.
        return "zero length";
    }
    // A file this process may not read or write (its mode or owner changed,
    // an I/O error) is as lost as a damaged one; a read-only file system is
    // not (the data directory check names that).
    if (const int fd = ::open(db.c_str(), O_RDWR | O_CLOEXEC); fd < 0) {
        const int err = errno;
        if (err == EACCES || err == EPERM || err == EIO) {
            return fmt::format("unreadable: {}", std::strerror(err));
        }
    } else {
        ::close(fd);
    }
    std::array<unsigned char, 100> h{};
    {
        std::ifstream in(db, std::ios::binary);
        if (!in) {
            return "";  // SQLite names the reason when it opens it
        }
        in.read(reinterpret_cast<char*>(h.data()), h.size());
        if (static_cast<std::size_t>(in.gcount()) < h.size()) {
            return fmt::format("truncated: {} bytes, shorter than a database header", db_size);
        }
    }
    if (std::string_view(reinterpret_cast<const char*>(h.data()), 16) != std::string_view("SQLite format 3\0", 16)) {
        return "not a SQLite database";
    }
    std::uint64_t page = (std::uint32_t{h[16]} << 8) | h[17];
    if (page == 1) {
        page = 65536;
    }
    const std::uint32_t pages = buffer_detail::be32(&h[28]);
    const bool size_valid = pages != 0 && buffer_detail::be32(&h[24]) == buffer_detail::be32(&h[92]);
    // With a WAL a checkpoint may be half-way; SQLite finishes it.
    if (size_valid && !(wal_exists && wal_size > 0) && db_size < page * pages) {
        return fmt::format("truncated: {} bytes, its header says {}", db_size, page * pages);
    }
    return "";
}

std::filesystem::path move_aside(const std::filesystem::path& db) {
    std::string base = db.string() + ".corrupt-" + utc_stamp();
    std::error_code ec;
    for (int i = 1; std::filesystem::exists(base, ec) || std::filesystem::exists(base + "-wal", ec); ++i) {
        base = db.string() + ".corrupt-" + utc_stamp() + "-" + std::to_string(i);
    }
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        const std::filesystem::path from = db.string() + suffix;
        if (!std::filesystem::exists(from, ec)) {
            continue;
        }
        std::filesystem::rename(from, base + suffix, ec);
        if (ec) {
            throw std::runtime_error(fmt::format("{} is damaged but cannot be moved aside to {}: {}", from.string(),
                                                 base + suffix, ec.message()));
        }
    }
    return base;
}

std::uint64_t salvage_table(Db& src, Db& to, const std::string& table, const std::string& cols,
                            const std::string& key) {
    const std::size_t n = count_columns(cols);
    std::string marks;
    for (std::size_t i = 0; i < n; ++i) {
        marks += i == 0 ? "?" : ", ?";
    }
    Raw ins(to.get(), fmt::format("INSERT OR IGNORE INTO {}({}) VALUES ({})", table, cols, marks));
    if (!ins) {
        return 0;
    }
    std::uint64_t copied = 0;
    // From the front until the first damaged page, then from the back: the
    // rows on both sides of it.
    for (const bool desc : {false, true}) {
        Raw q(src.get(), fmt::format("SELECT {} FROM {} ORDER BY {}", cols, table, order_by(key, desc)));
        if (!q) {
            return copied;
        }
        int rc;
        while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
            for (std::size_t i = 0; i < n; ++i) {
                sqlite3_bind_value(ins.get(), static_cast<int>(i + 1), sqlite3_column_value(q.get(), static_cast<int>(i)));
            }
            if (sqlite3_step(ins.get()) == SQLITE_DONE) {
                copied += static_cast<std::uint64_t>(sqlite3_changes(to.get()));
            }
            sqlite3_reset(ins.get());
        }
        if (rc == SQLITE_DONE) {
            break;
        }
    }
    return copied;
}

Salvaged salvage_buffer(const std::filesystem::path& from, Db& to) {
    Salvaged out;
    std::error_code ec;
    if (!std::filesystem::exists(from, ec)) {
        return out;
    }
    std::unique_ptr<Db> src;
    try {
        src = std::make_unique<Db>(from, SQLITE_OPEN_READWRITE);
        sqlite3_busy_timeout(src->get(), 1000);
        // Reads a file shorter than its header says (else SQLITE_CORRUPT
        // before the first row).
        sqlite3_exec(src->get(), "PRAGMA writable_schema = ON", nullptr, nullptr, nullptr);
    } catch (const std::exception&) {
        return out;
    }
    std::uint64_t meta_last = 0;
    {
        Raw q(src->get(), "SELECT value FROM meta WHERE key = 'last_id'");
        if (q && sqlite3_step(q.get()) == SQLITE_ROW) {
            meta_last = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0));
        }
    }
    Txn txn(to);
    Raw ins(to.get(), "INSERT OR IGNORE INTO records(id, ts, size, body, n) VALUES (?1, ?2, ?3, ?4, ?5)");
    std::uint64_t max_id = 0;
    std::uint64_t bytes = 0;
    Record r;
    std::vector<std::string_view> in_row;
    Raw overlap(to.get(), "SELECT id - n + 1 FROM records WHERE id >= ?1 ORDER BY id LIMIT 1");
    // A row is kept only if every record in it decodes (a pack is kept or
    // lost whole). Rows found twice (the b-tree and a page scan) or that
    // overlap a row already kept are left out, so ids stay unique.
    auto store = [&](std::uint64_t id, std::int64_t ts, std::uint64_t n, std::string_view body, bool count_bad) {
        bool ok = id != 0 && n >= 1 && n <= id && split_row(body, n, in_row);
        std::uint64_t size = 0;
        for (std::size_t k = 0; ok && k < in_row.size(); ++k) {
            ok = decode_record(in_row[k], r);
            size += in_row[k].size();
        }
        if (!ok) {
            out.skipped += count_bad ? n : 0;
            return;
        }
        // Its ids must not be taken by a row kept already: the first row
        // ending at or after its first id must start after its last.
        sqlite3_bind_int64(overlap.get(), 1, static_cast<std::int64_t>(id - n + 1));
        const bool clash = sqlite3_step(overlap.get()) == SQLITE_ROW &&
                           static_cast<std::uint64_t>(sqlite3_column_int64(overlap.get(), 0)) <= id;
        sqlite3_reset(overlap.get());
        if (clash) {
            return;
        }
        sqlite3_bind_int64(ins.get(), 1, static_cast<std::int64_t>(id));
        sqlite3_bind_int64(ins.get(), 2, ts);
        sqlite3_bind_int64(ins.get(), 3, static_cast<std::int64_t>(size));
        sqlite3_bind_blob64(ins.get(), 4, body.empty() ? "" : body.data(), body.size(), SQLITE_STATIC);
        sqlite3_bind_int64(ins.get(), 5, static_cast<std::int64_t>(n));
        if (sqlite3_step(ins.get()) == SQLITE_DONE && sqlite3_changes(to.get()) > 0) {
            out.records += n;
            bytes += size;
            max_id = std::max(max_id, id);
        }
        sqlite3_reset(ins.get());
    };
    auto take = [&](sqlite3_stmt* q) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(q, 3));
        store(static_cast<std::uint64_t>(sqlite3_column_int64(q, 0)), sqlite3_column_int64(q, 1),
              static_cast<std::uint64_t>(sqlite3_column_int64(q, 2)),
              std::string_view(p != nullptr ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(q, 3))), true);
    };
    // A buffer from before schema v3 has no n: each of its rows is one record.
    const bool has_n = static_cast<bool>(Raw(src->get(), "SELECT n FROM records LIMIT 0"));
    const std::string cols = has_n ? "id, ts, n, body" : "id, ts, 1, body";
    if (ins && overlap) {
        // Forward by id; after an error the scan starts again further on,
        // each miss jumping twice as far, so a damaged page costs the rows on
        // it and not the rest of the table.
        std::uint64_t next = 0;
        int misses = 0;
        bool finished = false;
        while (!finished && misses < 48) {
            Raw q(src->get(), ("SELECT " + cols + " FROM records WHERE id >= ?1 ORDER BY id").c_str());
            if (!q) {
                break;
            }
            sqlite3_bind_int64(q.get(), 1, static_cast<std::int64_t>(next));
            int rc;
            while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
                take(q.get());
                next = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0)) + 1;
                misses = 0;
            }
            if (rc == SQLITE_DONE) {
                finished = true;
                break;
            }
            ++misses;
            next += std::uint64_t{1} << std::min(misses - 1, 40);
            if (meta_last != 0 && next > meta_last) {
                break;
            }
        }
        if (!finished) {
            Raw q(src->get(), ("SELECT " + cols + " FROM records ORDER BY id DESC").c_str());
            while (q && sqlite3_step(q.get()) == SQLITE_ROW) {
                take(q.get());
            }
            // Rows the b-tree no longer leads to (pages in the WAL are not
            // seen here; the scans above read those).
            buffer_detail::scan_record_pages(from, [&](std::uint64_t id, std::int64_t ts, std::string_view body,
                                                        std::uint64_t n) {
                if (meta_last == 0 || id <= meta_last) {
                    store(id, ts, n, body, false);
                }
            });
        }
    }
    out.other += salvage_table(*src, to, "cursors", "sink, position, dropped, state", "sink");
    out.other += salvage_table(*src, to, "checkpoints", "key, value", "key");
    out.other += salvage_table(*src, to, "stage_state", "stage, key, value", "stage, key");
    out.other += salvage_table(*src, to, "dead_letters", "id, at, origin, stage, reason, payload", "id");
    Stmt meta(to, "UPDATE meta SET value = ?1 WHERE key = ?2");
    meta.bind_u64(1, std::max(meta_last, max_id));
    meta.bind_text(2, "last_id");
    meta.run();
    meta.bind_u64(1, bytes);
    meta.bind_text(2, "bytes");
    meta.run();
    txn.commit();
    return out;
}

void quick_check_buffer(Db& db) {
    // Opening read the header, the schema, meta and the cursors; these read
    // the small tables to their last overflow page, and both ends of the
    // records. Damage elsewhere shows up when it is read, at run time.
    db.query_int("SELECT sum(length(key) + length(value)) FROM stage_state");
    db.query_int("SELECT sum(length(key) + length(value)) FROM checkpoints");
    db.query_int("SELECT sum(length(sink) + coalesce(length(state), 0)) FROM cursors");
    db.query_int("SELECT length(body) FROM records ORDER BY id LIMIT 1");
    db.query_int("SELECT length(body) FROM records ORDER BY id DESC LIMIT 1");
    db.query_int("SELECT max(id) FROM dead_letters");
}

void report_quarantine(QuarantineEvent e) {
    e.at_ns = wall_now_ns();
    log::error("{} {} is damaged ({}): moved aside as {}; a fresh one took its place with {} rows salvaged "
               "({} unreadable rows skipped, {} cursor/checkpoint/state/dead-letter rows kept)",
               e.kind, e.file.string(), e.reason, e.moved_to.string(), e.salvaged, e.skipped, e.other);
    metrics()
        .counter("sluice_buffer_quarantined_total",
                 "Damaged databases moved aside and replaced by a fresh one (with the rows that could be read)",
                 {{"kind", e.kind}, {"file", e.file.filename().string()}})
        .inc();
    std::lock_guard lk(g_events_mu);
    events().push_back(std::move(e));
    while (events().size() > kKeepEvents) {
        events().pop_front();
    }
}

}  // namespace buffer_detail
}  // namespace sluice
