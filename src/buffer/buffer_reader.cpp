// BufferReader: a sink's view of the buffer on its own connection. Reads
// need no gate (WAL); cursor commits and dead letters take it. A cursor is
// stored on the writer's connection, in one transaction with the trim it
// allows. A row that
// does not decode becomes a dead letter instead of stalling the sink.

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "buffer/buffer_internal.hpp"
#include "buffer/schema.hpp"
#include "buffer/sqlite.hpp"
#include "buffer/stats_snapshot.hpp"
#include "core/log.hpp"

namespace sluice {

using namespace buffer_detail;

struct BufferReader::Impl {
    Impl(Buffer::Impl& o, std::size_t i);
    ~Impl() { owner.live_readers.fetch_sub(1); }
    void reject_row(std::uint64_t id, std::string_view body, bool at_front);
    void insert_dead_owned(const DeadLetter& d);

    Buffer::Impl& owner;
    std::size_t index;
    std::string sink;
    Db db;
    Stmt read_stmt;
    Stmt dead_stmt;
    Stmt cap_dead;
    std::uint64_t cursor = 0;
    // A read found nothing in (cursor, empty_upto]; wait() only wakes for
    // ids past it, so an idle sink does not spin on rows dropped under it.
    std::uint64_t empty_upto = 0;
    std::uint64_t rejected_upto = 0;
    // Highest id read() returned: a sink can only confirm what it was given
    // (the atomic last_id may still lag a commit the reader already sees).
    std::uint64_t read_upto = 0;
    // read_rows' view of the rows in memory (RecentRows), reused.
    std::vector<std::shared_ptr<const RecentRows::Chunk>> recent;
    std::vector<std::string_view> in_row;  // a pack's records, reused
};

BufferReader::Impl::Impl(Buffer::Impl& o, std::size_t i)
    : owner(o), index(i), sink(o.sinks[i].name), db(o.opts.path, SQLITE_OPEN_READWRITE) {
    owner.live_readers.fetch_add(1);
    configure(db, owner.opts.synchronous, Role::Reader, 0);
    // Non-zero turns the COMMIT into a rollback (fail_reader_writes_for_test).
    sqlite3_commit_hook(
        db.get(), [](void* flag) { return static_cast<std::atomic<bool>*>(flag)->load() ? 1 : 0; },
        &owner.fail_reader_writes);
    // A row's id is its last record's: the rows holding records past the
    // cursor are those with a larger id (LIMIT bounds rows, so records too).
    read_stmt = Stmt(db, "SELECT id, n, body FROM records WHERE id > ?1 ORDER BY id LIMIT ?2");
    dead_stmt = Stmt(db, "INSERT INTO dead_letters(at, origin, stage, reason, payload) VALUES (?1, ?2, ?3, ?4, ?5)");
    cap_dead = Stmt(db, "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?1");
    std::lock_guard lk(owner.mu);
    cursor = owner.sinks[i].cursor;
}

void BufferReader::Impl::insert_dead_owned(const DeadLetter& d) {
    Txn txn(db);
    dead_stmt.bind(1, d.time_ns);
    dead_stmt.bind_text(2, d.origin);
    dead_stmt.bind_text(3, d.stage);
    dead_stmt.bind_text(4, d.reason);
    dead_stmt.bind_blob(5, d.payload);
    dead_stmt.run();
    cap_dead.bind_u64(1, std::min<std::uint64_t>(owner.opts.max_dead_letters, std::numeric_limits<std::int64_t>::max()));
    cap_dead.run();
    txn.commit();
    owner.cover_pages();  // the gate is held: the owner's connection is free
    owner.snapshot->dead_letters_changed();
}

// A row that does not decode can never be delivered: it becomes a dead
// letter (once), and if nothing deliverable precedes it the cursor moves past
// it so the sink does not stall on it forever.
void BufferReader::Impl::reject_row(std::uint64_t id, std::string_view body, bool at_front) {
    if (id > rejected_upto) {
        rejected_upto = id;
        log::error("buffer {}: row {} is corrupt (does not decode); moved to the dead letters",
                   owner.opts.path.string(), id);
        DeadLetter d;
        d.origin = "buffer";
        d.stage = sink;
        d.reason = fmt::format("buffer row {} does not decode", id);
        d.payload.assign(body);
        owner.acquire();
        try {
            insert_dead_owned(d);
        } catch (const std::exception& e) {
            log::error("{}", e.what());
        }
        owner.release();
    }
    if (at_front) {
        owner.acquire();
        std::string error;
        if (owner.move_cursor_owned(index, id, nullptr, true, error)) {
            cursor = id;
        } else {
            log::error("{}", error);
        }
        owner.release();
    }
}

BufferReader::BufferReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BufferReader::~BufferReader() = default;

std::unique_ptr<BufferReader> Buffer::reader(const std::string& sink) {
    Impl& m = *impl_;
    for (std::size_t i = 0; i < m.sinks.size(); ++i) {
        if (m.sinks[i].name == sink) {
            return std::make_unique<BufferReader>(std::make_unique<BufferReader::Impl>(m, i));
        }
    }
    std::string known;
    for (const auto& s : m.sinks) {
        known += known.empty() ? s.name : ", " + s.name;
    }
    throw std::runtime_error(fmt::format("buffer {}: no cursor for sink '{}' (configured sinks: {})",
                                         m.opts.path.string(), sink, known.empty() ? "none" : known));
}

std::vector<StoredRecord> BufferReader::read(std::size_t max) {
    std::vector<StoredRecord> out;
    auto res = read_into(out, max);
    if (!res.ok) {
        throw std::runtime_error(res.error);
    }
    return out;
}

ReaderResult BufferReader::read_into(std::vector<StoredRecord>& out, std::size_t max) {
    return read_after(impl_->cursor, out, max);
}

// The read behind both read_after forms. `slot(n, id)` returns the Record
// to decode row n into (growing the caller's vectors as needed); `kept` is
// set to the rows decoded, to which the caller then cuts its vectors.
template <typename Slot>
ReaderResult BufferReader::read_rows(std::uint64_t after_id, std::size_t max, Slot&& slot, std::size_t& kept) {
    Impl& r = *impl_;
    ReaderResult res;
    kept = 0;
    after_id = std::max(after_id, r.cursor);
    const bool from_cursor = after_id == r.cursor;
    if (max == 0) {
        return res;
    }
    // The newest rows are in memory when this sink keeps up: no SQLite read.
    // (A row that does not decode there is left to the SQLite path below,
    // which dead-letters it.)
    if (r.owner.recent.rows_after(after_id, r.recent)) {
        check_thread("a buffer read served from memory");
        std::size_t n = 0;
        std::uint64_t last = 0;
        bool bad = false;
        for (const auto& c : r.recent) {
            if (n >= max || bad) {
                break;
            }
            const std::size_t from = after_id >= c->first_id ? static_cast<std::size_t>(after_id + 1 - c->first_id) : 0;
            for (std::size_t k = from; k < c->ends.size() && n < max; ++k) {
                const std::uint64_t id = c->first_id + k;
                if (!decode_record(c->row(k), slot(n, id))) {
                    bad = true;
                    break;
                }
                last = id;
                ++n;
            }
        }
        r.recent.clear();
        if (n > 0) {
            kept = n;
            r.read_upto = std::max(r.read_upto, last);
            res.rows = n;
            return res;
        }
    }
    // A bad record first in line is made a dead letter and the cursor moves
    // past it; then the read starts again after it (each time further on,
    // so this ends), and an empty read still means that nothing is there.
    for (;;) {
        // Ids up to this value were committed before the query starts, so a
        // query that finds none of them proves they are gone.
        const std::uint64_t snapshot = r.owner.last_id.load(std::memory_order_acquire);
        std::size_t n = 0;
        std::uint64_t last = 0;
        std::uint64_t bad_id = 0;
        std::string bad_body;
        try {
            ResetGuard g(r.read_stmt);
            r.read_stmt.bind_u64(1, after_id);
            r.read_stmt.bind(2, static_cast<std::int64_t>(std::min<std::size_t>(max, std::numeric_limits<std::int32_t>::max())));
            while (n < max && r.read_stmt.step()) {
                const std::uint64_t id = r.read_stmt.col_u64(0);
                const std::uint64_t count = r.read_stmt.col_u64(1);
                std::string_view body = r.read_stmt.col_blob(2);
                // A read ends before a record that does not decode (or a pack
                // that does not split): the next read finds it first, makes it a
                // dead letter (a pack that does not split: the whole row) and
                // moves the cursor past it, so every bad record is counted once.
                bool bad = count < 1 || count > id || !split_row(body, count, r.in_row);
                if (bad) {
                    bad_id = id;
                    bad_body.assign(body);
                }
                for (std::size_t k = 0; !bad && k < r.in_row.size() && n < max; ++k) {
                    const std::uint64_t rid = id - count + 1 + k;
                    if (rid <= after_id) {
                        continue;
                    }
                    if (!decode_record(r.in_row[k], slot(n, rid))) {
                        bad = true;
                        bad_id = rid;
                        bad_body.assign(r.in_row[k]);
                        break;
                    }
                    last = rid;
                    ++n;
                }
                if (bad) {
                    break;
                }
            }
        } catch (const std::exception& e) {
            res.ok = false;
            res.error = e.what();
            return res;
        }
        kept = n;
        if (n > 0) {
            r.read_upto = std::max(r.read_upto, last);
        }
        if (bad_id != 0 && n == 0) {
            r.reject_row(bad_id, bad_body, from_cursor);
            if (from_cursor && r.cursor >= bad_id) {
                after_id = r.cursor;
                continue;
            }
        } else if (n == 0 && from_cursor) {
            r.empty_upto = std::max(r.empty_upto, snapshot);
        }
        res.rows = n;
        return res;
    }
}

ReaderResult BufferReader::read_after(std::uint64_t after_id, std::vector<StoredRecord>& out, std::size_t max) {
    std::size_t kept = 0;
    ReaderResult res = read_rows(
        after_id, max,
        [&out](std::size_t n, std::uint64_t id) -> Record& {
            if (n == out.size()) {
                out.emplace_back();
            }
            out[n].id = id;
            return out[n].record;
        },
        kept);
    out.resize(kept);
    return res;
}

ReaderResult BufferReader::read_after(std::uint64_t after_id, std::vector<Record>& out,
                                      std::vector<std::uint64_t>& ids, std::size_t max) {
    std::size_t kept = 0;
    ReaderResult res = read_rows(
        after_id, max,
        [&out, &ids](std::size_t n, std::uint64_t id) -> Record& {
            if (n == out.size()) {
                out.emplace_back();
            }
            if (n == ids.size()) {
                ids.push_back(id);
            } else {
                ids[n] = id;
            }
            return out[n];
        },
        kept);
    out.resize(kept);
    ids.resize(kept);
    return res;
}

ReaderResult BufferReader::commit(std::uint64_t last_id) {
    return commit_cursor(last_id, true, nullptr);
}

ReaderResult BufferReader::commit_keep_rows(std::uint64_t last_id) {
    return commit_cursor(last_id, false, nullptr);
}

ReaderResult BufferReader::commit(std::uint64_t last_id, const std::string& state) {
    return commit_cursor(last_id, true, &state);
}

ReaderResult BufferReader::commit_cursor(std::uint64_t last_id, bool trim, const std::string* state) {
    Impl& r = *impl_;
    ReaderResult res;
    if (state == nullptr) {
        last_id = std::min(last_id, r.read_upto);
        if (last_id <= r.cursor) {
            return res;
        }
    } else {
        // Stored even when the cursor stays: the state may undo partial output.
        last_id = std::clamp(last_id, r.cursor, std::max(r.cursor, r.read_upto));
    }
    r.owner.acquire();
    if (!r.owner.move_cursor_owned(r.index, last_id, state, trim, res.error)) {
        r.owner.release();
        res.ok = false;
        return res;
    }
    r.cursor = last_id;
    r.owner.release();
    return res;
}

std::string BufferReader::committed_state() {
    Impl& r = *impl_;
    Stmt q(r.db, "SELECT coalesce(state, '') FROM cursors WHERE sink = ?1");
    q.bind_text(1, r.sink);
    std::string out;
    if (q.step()) {
        out = std::string(q.col_text(0));
    }
    return out;
}

std::uint64_t BufferReader::cursor() const {
    return impl_->cursor;
}

ReaderResult BufferReader::rewind(std::uint64_t from_id) {
    Impl& r = *impl_;
    ReaderResult res;
    const std::uint64_t to = from_id == 0 ? 0 : from_id - 1;
    // Checked under the gate: no trim or drop can delete the rows between
    // the check and the cursor's move.
    r.owner.acquire();
    try {
        std::uint64_t first = first_id(r.owner.db);
        if (first == 0) {
            first = r.owner.last_id.load() + 1;
        }
        if (from_id < first) {
            res.ok = false;
            res.error = fmt::format("record {} is no longer in the buffer (it keeps records from {} on)", from_id,
                                    first);
        } else if (from_id > r.cursor) {
            res.ok = false;
            res.error = fmt::format("sink '{}' has delivered up to record {}: nothing from {} on to replay", r.sink,
                                    r.cursor, from_id);
        } else if (!r.owner.move_cursor_owned(r.index, to, nullptr, /*trim=*/false, res.error)) {
            res.ok = false;
        } else {
            r.cursor = to;
            r.empty_upto = to;
        }
    } catch (const std::exception& e) {
        res.ok = false;
        res.error = e.what();
    }
    r.owner.release();
    return res;
}

bool BufferReader::wait(std::chrono::milliseconds timeout, const std::atomic<bool>* also,
                        const std::atomic<bool>* also2) {
    Impl& r = *impl_;
    Buffer::Impl& o = r.owner;
    std::uint64_t seen = std::max(r.cursor, r.empty_upto);
    std::unique_lock lk(o.mu);
    bool ready = o.data_cv.wait_for(lk, timeout, [&] {
        return o.closed || o.last_id.load() > seen || (also != nullptr && also->load()) ||
               (also2 != nullptr && also2->load());
    });
    return ready && !o.closed;
}

ReaderResult BufferReader::dead_letter(const DeadLetter& d) {
    Impl& r = *impl_;
    ReaderResult res;
    r.owner.acquire();
    try {
        r.insert_dead_owned(d);
    } catch (const std::exception& e) {
        res.ok = false;
        res.error = e.what();
    }
    r.owner.release();
    return res;
}

}  // namespace sluice
