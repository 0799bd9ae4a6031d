// `sluice buffer stats|export|drop` on a stopped gateway's database. Each
// holds the same lock file the gateway takes, so it refuses a live buffer and
// a gateway cannot start half-way through a drop.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "buffer/dead_letters.hpp"
#include "buffer/quarantine.hpp"
#include "buffer/schema.hpp"
#include "buffer/sqlite.hpp"
#include "text/base64.hpp"
#include "core/log.hpp"
#include "core/record_json.hpp"

namespace sluice {

using namespace buffer_detail;

namespace {

struct Offline {
    FileLock lock;  // declared first: released after the connection closed
    Db db;
};

Offline open_offline(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw std::runtime_error(fmt::format("no buffer database at {}", path.string()));
    }
    FileLock lock(path);
    Db db(path, SQLITE_OPEN_READWRITE);
    configure(db, Synchronous::Full, Role::Offline, 0);
    if (db.query_int("PRAGMA user_version") == 0) {
        throw std::runtime_error(fmt::format("{} is not a sluice buffer database", path.string()));
    }
    migrate(db);
    return Offline{std::move(lock), std::move(db)};
}

const Cursor& find_cursor(const std::vector<Cursor>& cursors, const std::string& sink,
                          const std::filesystem::path& path) {
    for (const auto& c : cursors) {
        if (c.sink == sink) {
            return c;
        }
    }
    std::string known;
    for (const auto& c : cursors) {
        known += known.empty() ? c.sink : ", " + c.sink;
    }
    throw std::runtime_error(fmt::format("buffer {}: no cursor for sink '{}' (known: {})", path.string(), sink,
                                         known.empty() ? "none" : known));
}

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= s.size()) {
            return false;  // truncated sequence
        }
        for (std::size_t k = 1; k <= n; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (cc & 0x3f);
        }
        static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

class LineWriter {
public:
    LineWriter(std::FILE* out, const std::filesystem::path& path) : out_(out), path_(path) { buf_.reserve(kChunk); }
    std::string& buf() { return buf_; }
    void end_line() {
        buf_ += '\n';
        if (buf_.size() >= kChunk) {
            flush();
        }
    }
    void flush() {
        if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), out_) != buf_.size()) {
            throw std::runtime_error(
                fmt::format("buffer {}: export: write failed: {}", path_.string(), std::strerror(errno)));
        }
        buf_.clear();
        if (std::fflush(out_) != 0) {
            throw std::runtime_error(
                fmt::format("buffer {}: export: write failed: {}", path_.string(), std::strerror(errno)));
        }
    }

private:
    static constexpr std::size_t kChunk = 64 * 1024;
    std::FILE* out_;
    const std::filesystem::path& path_;
    std::string buf_;
};

}  // namespace

BufferStats offline_stats(const std::filesystem::path& db) {
    // Read-only and without the lock: a WAL reader beside a running
    // gateway sees its last commit and changes nothing.
    std::error_code ec;
    if (!std::filesystem::is_regular_file(db, ec)) {
        throw std::runtime_error(fmt::format("no buffer database at {}", db.string()));
    }
    Db conn(db, SQLITE_OPEN_READONLY);
    if (sqlite3_busy_timeout(conn.get(), 5000) != SQLITE_OK) {
        conn.fail("busy_timeout");
    }
    if (conn.query_int("PRAGMA user_version") == 0) {
        throw std::runtime_error(fmt::format("{} is not a sluice buffer database", db.string()));
    }
    return compute_stats(conn, db);
}

BufferCheck offline_check(const std::filesystem::path& db) {
    BufferCheck out;
    std::error_code ec;
    auto size_of = [&](const std::filesystem::path& p) -> std::string {
        const auto n = std::filesystem::file_size(p, ec);
        return ec ? std::string("absent") : fmt::format("{} bytes", n);
    };
    out.info.push_back(fmt::format("files: database {}, WAL {}, shared memory {}", size_of(db),
                                   size_of(db.string() + "-wal"), size_of(db.string() + "-shm")));
    if (const std::string why = preflight(db); !why.empty()) {
        out.problems.push_back(why);
        return out;
    }
    if (!std::filesystem::is_regular_file(db, ec)) {
        out.problems.push_back("no database file");
        return out;
    }
    FileLock lock(db);  // a running gateway is not damage: that throws
    try {
        Db conn(db, SQLITE_OPEN_READWRITE);
        if (conn.query_int("PRAGMA user_version") == 0) {
            out.problems.push_back("not a sluice buffer database (no schema)");
            return out;
        }
        {
            Stmt ic(conn, "PRAGMA integrity_check(20)");
            ResetGuard g(ic);
            while (ic.step()) {
                if (ic.col_text(0) != "ok") {
                    out.problems.push_back(fmt::format("integrity: {}", ic.col_text(0)));
                }
            }
        }
        const Meta meta = read_meta(conn);
        const std::uint64_t first = first_id(conn);
        const std::string sum_n = fmt::format("SELECT coalesce(sum({}), 0) FROM records", count_column(conn));
        const std::uint64_t rows = static_cast<std::uint64_t>(conn.query_int(sum_n.c_str()));
        const std::uint64_t packs = static_cast<std::uint64_t>(conn.query_int("SELECT count(*) FROM records"));
        const std::uint64_t sum = static_cast<std::uint64_t>(conn.query_int("SELECT coalesce(sum(size), 0) FROM records"));
        out.info.push_back(fmt::format("records: {} in {} rows, ids {}..{}, {} bytes (meta says {})", rows, packs,
                                       first == 0 ? meta.last_id + 1 : first, meta.last_id, sum, meta.bytes));
        if (sum != meta.bytes) {
            out.problems.push_back(fmt::format("meta.bytes is {} but the records hold {} bytes", meta.bytes, sum));
        }
        if (first != 0 && rows != meta.last_id - first + 1) {
            out.problems.push_back(fmt::format("ids {}..{} are not contiguous ({} records)", first, meta.last_id, rows));
        }
        const std::uint64_t low = first == 0 ? meta.last_id : first - 1;
        for (const auto& c : read_cursors(conn)) {
            out.info.push_back(fmt::format("cursor {}: {}", c.sink, c.position));
            if (c.position > meta.last_id) {
                out.problems.push_back(
                    fmt::format("cursor {} at {} is past the last id {}", c.sink, c.position, meta.last_id));
            } else if (first != 0 && c.position < low) {
                // Rows a sink had not confirmed are gone: possible after
                // drop_oldest, so only said, not a problem.
                out.info.push_back(fmt::format("cursor {} at {} is before the oldest row {} (rows dropped)", c.sink,
                                               c.position, first));
            }
        }
        conn.query_int("SELECT sum(length(key) + length(value)) FROM stage_state");
        conn.query_int("SELECT sum(length(key) + length(value)) FROM checkpoints");
    } catch (const std::exception& e) {
        out.problems.push_back(e.what());
    }
    return out;
}

SalvageResult offline_salvage(const std::filesystem::path& damaged, const std::filesystem::path& to) {
    std::error_code ec;
    if (!std::filesystem::exists(damaged, ec)) {
        throw std::runtime_error(fmt::format("no file at {}", damaged.string()));
    }
    if (std::filesystem::exists(to, ec)) {
        throw std::runtime_error(fmt::format("{} exists already; name a new file with --to", to.string()));
    }
    FileLock lock(damaged);
    Db fresh(to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    fresh.exec("PRAGMA journal_mode = WAL");
    migrate(fresh);
    const Salvaged s = salvage_buffer(damaged, fresh);
    return SalvageResult{s.records, s.other, s.skipped};
}

ReplayPlan offline_replay(const std::filesystem::path& db, const std::string& sink, const BufferPoint& from) {
    Offline o = open_offline(db);
    ReplayPlan plan = plan_replay_on(o.db, sink, from, db);
    if (!plan.error.empty()) {
        return plan;
    }
    Txn txn(o.db);
    std::string state;
    {
        Stmt get(o.db, "SELECT coalesce(state, '') FROM cursors WHERE sink = ?1");
        get.bind_text(1, sink);
        if (get.step()) {
            state = std::string(get.col_text(0));
        }
    }
    if (state.starts_with(kReplayMark)) {
        state.erase(0, state.find('\n') == std::string::npos ? state.size() : state.find('\n') + 1);  // an earlier replay's
    }
    // The mark tells the sink at its next open that it replays (a sink with
    // its own cursor on the far side must not skip what it holds there).
    state = fmt::format("{}{}\n{}", kReplayMark, plan.from_id, state);
    Stmt set(o.db, "UPDATE cursors SET position = ?1, state = ?3 WHERE sink = ?2");
    set.bind_u64(1, plan.from_id - 1);
    set.bind_text(2, sink);
    set.bind_text(3, state);
    set.run();
    txn.commit();
    return plan;
}

std::uint64_t offline_export(const std::filesystem::path& db, const std::string& sink, std::FILE* out,
                             bool dead_letters, const std::optional<BufferPoint>& from,
                             const std::optional<BufferPoint>& to) {
    if (out == nullptr) {
        throw std::runtime_error("buffer export: no output stream");
    }
    Offline o = open_offline(db);
    LineWriter w(out, db);
    std::uint64_t lines = 0;
    if (dead_letters) {
        // Binary payloads (not UTF-8) are written as "payload_base64" so the
        // line stays valid JSON and nothing is lost.
        Stmt s(o.db, "SELECT at, origin, stage, reason, payload FROM dead_letters ORDER BY id");
        ResetGuard g(s);
        while (s.step()) {
            std::string& b = w.buf();
            b += "{\"at\":\"";
            append_rfc3339(b, s.col_int(0));
            b += "\",\"origin\":";
            append_json_string(b, s.col_text(1));
            b += ",\"stage\":";
            append_json_string(b, s.col_text(2));
            b += ",\"reason\":";
            append_json_string(b, s.col_text(3));
            std::string_view payload = s.col_blob(4);
            if (valid_utf8(payload)) {
                b += ",\"payload\":";
                append_json_string(b, payload);
            } else {
                b += ",\"payload_base64\":\"";
                append_base64(b, payload);
                b += '"';
            }
            b += '}';
            w.end_line();
            ++lines;
        }
        w.flush();
        return lines;
    }
    std::uint64_t after = 0;
    if (!sink.empty()) {
        after = find_cursor(read_cursors(o.db), sink, db).position;
    }
    if (from) {
        // A range is written delivered or not: it replaces the sink's cursor.
        const std::uint64_t f = record_at(o.db, *from);
        after = f == 0 ? 0 : f - 1;
    }
    std::uint64_t upto = std::numeric_limits<std::uint64_t>::max();
    if (to) {
        if (to->id) {
            upto = *to->id;
        } else {
            const std::uint64_t t = record_at(o.db, *to);
            upto = t == 0 ? 0 : t - 1;
        }
    }
    Stmt s(o.db, "SELECT id, n, body FROM records WHERE id > ?1 ORDER BY id");
    ResetGuard g(s);
    s.bind_u64(1, after);
    Record r;
    std::vector<std::string_view> in_row;
    while (s.step()) {
        const std::uint64_t id = s.col_u64(0);
        const std::uint64_t n = s.col_u64(1);
        if (n == 0 || n > id || !split_row(s.col_blob(2), n, in_row)) {
            log::warn("buffer {}: row {} is corrupt (does not decode); skipped", db.string(), id);
            continue;
        }
        if (id - n + 1 > upto) {
            break;
        }
        for (std::size_t k = 0; k < in_row.size(); ++k) {
            const std::uint64_t rid = id - n + 1 + k;
            if (rid <= after || rid > upto) {
                continue;
            }
            if (!decode_record(in_row[k], r)) {
                log::warn("buffer {}: record {} is corrupt (does not decode); skipped", db.string(), rid);
                continue;
            }
            append_record_json(w.buf(), r);
            w.end_line();
            ++lines;
        }
    }
    w.flush();
    return lines;
}

std::uint64_t offline_drop(const std::filesystem::path& db, const std::string& sink, bool dead_letters) {
    Offline o = open_offline(db);
    Txn txn(o.db);
    std::uint64_t affected = 0;
    if (dead_letters) {
        o.db.exec("DELETE FROM dead_letters");
        affected = static_cast<std::uint64_t>(sqlite3_changes64(o.db.get()));
        txn.commit();
        return affected;
    }
    Meta meta = read_meta(o.db);
    std::vector<Cursor> cursors = read_cursors(o.db);
    Stmt set(o.db, "UPDATE cursors SET position = ?1 WHERE sink = ?2");
    auto move_to_end = [&](const std::string& name) {
        set.bind_u64(1, meta.last_id);
        set.bind_text(2, name);
        set.run();
    };
    if (sink.empty()) {
        affected = static_cast<std::uint64_t>(o.db.query_int("SELECT coalesce(sum(n), 0) FROM records"));
        o.db.exec("DELETE FROM records");
        // Every cursor moves to the end too: a cursor left behind would make
        // its sink wait for rows that will never come back.
        for (const auto& c : cursors) {
            move_to_end(c.sink);
        }
        o.db.exec("UPDATE meta SET value = 0 WHERE key = 'bytes'");
    } else {
        const Cursor& c = find_cursor(cursors, sink, db);
        std::uint64_t first = first_id(o.db);
        std::uint64_t from = std::max(c.position, first == 0 ? meta.last_id : first - 1);
        affected = meta.last_id > from ? meta.last_id - from : 0;
        move_to_end(sink);
        // Rows every cursor is now past go right away (the gateway would
        // delete them at its next start anyway).
        std::uint64_t upto = meta.last_id;
        for (const auto& k : cursors) {
            if (k.sink != sink) {
                upto = std::min(upto, k.position);
            }
        }
        RowTrimmer trim(o.db);
        const std::uint64_t freed = trim.delete_through(upto).bytes;
        Stmt bytes(o.db, "UPDATE meta SET value = ?1 WHERE key = 'bytes'");
        bytes.bind_u64(1, meta.bytes > freed ? meta.bytes - freed : 0);
        bytes.run();
    }
    txn.commit();
    return affected;
}

std::string latest_dead_letters_json(const std::filesystem::path& path, std::size_t limit) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw std::runtime_error(fmt::format("no buffer database at {}", path.string()));
    }
    Db db(path, SQLITE_OPEN_READONLY);
    db.exec("PRAGMA busy_timeout = 2000");
    std::string out = fmt::format("{{\"total\":{},\"dead_letters\":[", db.query_int("SELECT count(*) FROM dead_letters"));
    Stmt s(db, "SELECT at, origin, stage, reason, payload FROM dead_letters ORDER BY id DESC LIMIT ?1");
    ResetGuard g(s);
    s.bind_u64(1, limit);
    bool comma = false;
    while (s.step()) {
        out += comma ? ",{\"time\":" : "{\"time\":";
        comma = true;
        append_double(out, static_cast<double>(s.col_int(0)) / 1e9);
        out += ",\"origin\":";
        append_json_string(out, s.col_text(1));
        out += ",\"stage\":";
        append_json_string(out, s.col_text(2));
        out += ",\"reason\":";
        append_json_string(out, s.col_text(3));
        const std::string_view payload = s.col_blob(4);
        if (valid_utf8(payload)) {
            out += ",\"payload\":";
            append_json_string(out, payload);
        } else {
            out += ",\"payload_base64\":\"";
            append_base64(out, payload);
            out += '"';
        }
        out += '}';
    }
    out += "]}\n";
    return out;
}

}  // namespace sluice
