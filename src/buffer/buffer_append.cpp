// Buffer::append: a batch of records (encoded into one reused arena), dead
// letters, checkpoints and stage state in one transaction (group commit),
// with the byte cap applied first: drop_oldest deletes the oldest rows and
// counts what each sink lost, block waits for the sinks to free room. The
// cap on disk and a full disk are in buffer_space.cpp; append retries here.

#include <algorithm>
#include <limits>
#include <string_view>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "buffer/buffer_internal.hpp"
#include "buffer/sqlite.hpp"
#include "buffer/stats_snapshot.hpp"
#include "core/log.hpp"
#include "core/units.hpp"
#include "core/clock.hpp"

namespace sluice {

using namespace buffer_detail;

namespace {

constexpr auto kBlockPoll = std::chrono::milliseconds(100);

}  // namespace

bool Buffer::Impl::wait_for_room(std::uint64_t batch, const std::function<bool()>& keep_waiting,
                                 AppendResult& res) {
    for (;;) {
        acquire();
        if (opts.overflow != Overflow::Block || batch == 0) {
            return true;
        }
        {
            std::lock_guard lk(mu);
            if (room_locked(batch)) {
                return true;
            }
        }
        {
            // Cursors may have moved since the last trim; of the rows kept
            // for replay, as many go as the batch needs.
            std::uint64_t need = 0;
            {
                std::lock_guard lk(mu);
                need = bytes + batch > opts.max_bytes ? bytes + batch - opts.max_bytes : 0;
            }
            trim_owned(need);
        }
        {
            std::lock_guard lk(mu);
            if (room_locked(batch)) {
                return true;
            }
        }
        release();
        bool room = false;
        {
            std::unique_lock lk(mu);
            room = space_cv.wait_for(lk, kBlockPoll, [&] { return room_locked(batch); });
        }
        if (!room && keep_waiting && !keep_waiting()) {
            std::lock_guard lk(mu);
            res.ok = false;
            res.error = fmt::format(
                "buffer {}: full ({} of {} bytes stored, batch of {} bytes) with overflow=block; gave up waiting "
                "for sinks",
                opts.path.string(), bytes, opts.max_bytes, batch);
            return false;
        }
    }
}

void Buffer::Impl::append_owned(const EncodedRecords& records, std::span<const DeadLetter> dead,
                                std::span<const std::pair<std::string, std::string>> checkpoints,
                                std::span<const std::pair<std::string, StateChange>> state,
                                std::uint64_t force_drop, AppendResult& res) {
    const std::uint64_t batch = records.bytes.size();
    // Everything below lands in locals and is published only after COMMIT,
    // so a failed transaction leaves memory and the file as they were.
    std::uint64_t stored = bytes;
    std::uint64_t new_trimmed = trimmed_to;
    bool meta_dirty = false;
    std::fill(drops.begin(), drops.end(), 0);

    Txn txn(db);

    std::uint64_t target = retained_target(trim_target());
    if (target > new_trimmed) {
        Deleted d = delete_through(target);
        stored = stored > d.bytes ? stored - d.bytes : 0;
        new_trimmed = target;
        meta_dirty = meta_dirty || d.rows > 0;
    }

    // Record bytes to drop: for the cap on record bytes, for the pages the
    // database may still use (its share of max_bytes on disk, or what it
    // holds while the disk is full), and what a failed attempt asked for.
    std::uint64_t need = force_drop;
    bool disk_limited = false;  // max_file_bytes (the tests' disk), not the cap, asked for room
    if (opts.overflow == Overflow::DropOldest && stored > 0) {
        if (batch > 0 && stored + batch > opts.max_bytes) {
            // Batch larger than the whole cap: everything goes, then it is stored.
            need = std::max(need, stored + batch - opts.max_bytes);
        }
        std::uint64_t extra = 0;
        for (const auto& d : dead) {
            extra += d.payload.size() + d.reason.size() + d.origin.size() + 64;
        }
        // Rows take a little more than their record bytes (row header, page
        // fill); a quarter more plus a few pages for the tree covers it.
        const std::uint64_t pages_needed = (batch + batch / 4 + extra) / page_size + 4;
        const std::uint64_t room = room_pages();
        if (batch + extra > 0 && pages_needed > room) {
            need = std::max(need, (pages_needed - room) * page_size);
            disk_limited = hard_pages > 0 && hard_pages <= budget_pages;
        }
    }
    if (opts.overflow == Overflow::DropOldest && stored > 0 && need > 0) {
        {
            ResetGuard g(cursor_positions);
            std::fill(positions.begin(), positions.end(), std::numeric_limits<std::uint64_t>::max());
            while (cursor_positions.step()) {
                std::string_view name = cursor_positions.col_text(0);
                for (std::size_t i = 0; i < sinks.size(); ++i) {
                    if (sinks[i].name == name) {
                        positions[i] = cursor_positions.col_u64(1);
                    }
                }
            }
        }
        std::uint64_t freed = 0;
        std::uint64_t upto = 0;
        {
            ResetGuard g(scan_oldest);
            while (freed < need && scan_oldest.step()) {
                // A row holds ids (start, row]; of a pack only the front
                // that makes the room goes (delete_through cuts it).
                const std::uint64_t row = scan_oldest.col_u64(0);
                std::uint64_t size = scan_oldest.col_u64(1);
                const std::uint64_t n = scan_oldest.col_u64(2);
                const std::uint64_t start = row > n ? row - n : 0;
                std::uint64_t end = row;
                if (n > 1 && freed + size > need) {
                    ResetGuard b(pack_body);
                    pack_body.bind_u64(1, row);
                    if (pack_body.step() && split_row(pack_body.col_blob(0), n, drop_parts)) {
                        std::uint64_t front = 0;
                        std::size_t k = 0;
                        while (k < drop_parts.size() && freed + front < need) {
                            front += drop_parts[k].size();
                            ++k;
                        }
                        end = start + k;
                        size = front;
                    }
                }
                upto = end;
                freed += size;
                // Each sink loses the records past its cursor.
                for (std::size_t i = 0; i < sinks.size(); ++i) {
                    if (end > positions[i]) {
                        drops[i] += end - std::max(start, positions[i]);
                    }
                }
            }
        }
        if (upto > 0) {
            Deleted d = delete_through(upto);
            stored = stored > d.bytes ? stored - d.bytes : 0;
            // Dropped: the records some sink had not confirmed. Those every
            // sink had (kept for replay, or not trimmed yet) are not lost.
            const std::uint64_t had =
                positions.empty() ? new_trimmed
                                  : std::max(new_trimmed, *std::min_element(positions.begin(), positions.end()));
            res.dropped = upto > had ? std::min<std::uint64_t>(d.rows, upto - had) : 0;
            new_trimmed = std::max(new_trimmed, upto);
            meta_dirty = true;
            for (std::size_t i = 0; i < sinks.size(); ++i) {
                if (drops[i] > 0) {
                    add_dropped.bind_u64(1, drops[i]);
                    add_dropped.bind_text(2, sinks[i].name);
                    add_dropped.run();
                }
            }
        }
    }

    // Consecutive records go into packs of about kPackBytes; a row's id is
    // its last record's, so "rows with id > cursor" are exactly the rows
    // holding records past it.
    std::uint64_t id = last_id.load(std::memory_order_relaxed);
    const std::uint64_t first = id + 1;
    std::size_t offset = 0;
    for (std::size_t i = 0; i < records.size();) {
        std::size_t end = i + 1;
        std::size_t row_bytes = records.sizes[i];
        while (end < records.size() && row_bytes + records.sizes[end] <= kPackBytes) {
            row_bytes += records.sizes[end];
            ++end;
        }
        const std::string_view span(records.bytes.data() + offset, row_bytes);
        const std::size_t n = end - i;
        std::string_view body = span;
        if (n > 1) {
            pack.clear();
            encode_pack(span, std::span<const std::uint32_t>(records.sizes).subspan(i, n), pack);
            body = pack;
        }
        id += n;
        insert_record.bind_u64(1, id);
        insert_record.bind(2, records.times[i]);
        insert_record.bind_u64(3, row_bytes);
        insert_record.bind_blob(4, body);
        insert_record.bind_u64(5, n);
        insert_record.run();
        offset += row_bytes;
        i = end;
    }
    if (!records.empty()) {
        stored += batch;
        meta_dirty = true;
        set_meta("last_id", id);
    }
    if (meta_dirty) {
        set_meta("bytes", stored);
    }

    for (const auto& d : dead) {
        insert_dead.bind(1, d.time_ns);
        insert_dead.bind_text(2, d.origin);
        insert_dead.bind_text(3, d.stage);
        insert_dead.bind_text(4, d.reason);
        insert_dead.bind_blob(5, d.payload);
        insert_dead.run();
    }
    if (!dead.empty()) {
        cap_dead.bind_u64(1, std::min<std::uint64_t>(opts.max_dead_letters, std::numeric_limits<std::int64_t>::max()));
        cap_dead.run();
        snapshot->dead_letters_changed();
    }

    for (const auto& [key, value] : checkpoints) {
        upsert_checkpoint.bind_text(1, key);
        upsert_checkpoint.bind_text(2, value);
        upsert_checkpoint.run();
    }
    for (const auto& [stage, change] : state) {
        if (change.erase) {
            delete_state.bind_text(1, stage);
            delete_state.bind_blob(2, change.key);
            delete_state.run();
        } else {
            upsert_state.bind_text(1, stage);
            upsert_state.bind_blob(2, change.key);
            upsert_state.bind_blob(3, change.value);
            upsert_state.run();
        }
    }

    txn.commit();
    cover_pages();
    if (!records.empty()) {
        recent.add(first, records);
    }
    if (disk_limited) {
        begin_disk_full();
    }

    {
        std::lock_guard lk(mu);
        bytes = stored;
        for (std::size_t i = 0; i < sinks.size(); ++i) {
            sinks[i].dropped += drops[i];
        }
    }
    trimmed_to = new_trimmed;
    last_id.store(id, std::memory_order_release);
    if (!records.empty()) {
        res.first_id = first;
        res.last_id = id;
    }
    if (res.dropped > 0) {
        log_drops(res.dropped);
    }
}

// One WARN when dropping starts (no drop in the minute before), then one a
// minute with the count while it goes on: the counter has every row, the log
// says that it happens and why.
void Buffer::Impl::log_drops(std::uint64_t dropped) {
    constexpr std::int64_t kMinute = 60'000'000'000;
    const std::int64_t now = mono_now_ns();
    drops_unreported += dropped;
    if (last_drop_ns == 0 || now - last_drop_ns >= kMinute) {
        log::warn("buffer {}: full at its cap (max_bytes {}, or the disk); dropping the oldest rows to take new ones "
                  "(overflow = drop_oldest; every row counted in sluice_buffer_dropped_records_total): {} so far",
                  opts.path.string(), format_size(opts.max_bytes), drops_unreported);
        drops_unreported = 0;
        drop_reported_ns = now;
    } else if (now - drop_reported_ns >= kMinute) {
        log::warn("buffer {}: still dropping the oldest rows: {} in the last {}", opts.path.string(),
                  drops_unreported, format_duration(std::chrono::nanoseconds(now - drop_reported_ns)));
        drops_unreported = 0;
        drop_reported_ns = now;
    }
    last_drop_ns = now;
}

AppendResult Buffer::append(std::span<const Record> records, std::span<const DeadLetter> dead,
                            std::span<const std::pair<std::string, std::string>> checkpoints,
                            const std::function<bool()>& keep_waiting,
                            std::span<const std::pair<std::string, StateChange>> state) {
    Impl& m = *impl_;
    m.encoded.clear();
    for (const auto& r : records) {
        m.encoded.add(r);
    }
    return append_encoded(m.encoded, dead, checkpoints, keep_waiting, state);
}

AppendResult Buffer::append_encoded(const EncodedRecords& records, std::span<const DeadLetter> dead,
                            std::span<const std::pair<std::string, std::string>> checkpoints,
                            const std::function<bool()>& keep_waiting,
                            std::span<const std::pair<std::string, StateChange>> state) {
    Impl& m = *impl_;
    AppendResult res;
    if (records.empty() && dead.empty() && checkpoints.empty() && state.empty()) {
        return res;
    }
    if (!m.wait_for_room(records.bytes.size(), keep_waiting, res)) {
        return res;
    }
    // SQLITE_FULL (the database's share of the cap, or the disk): drop_oldest
    // tries again dropping more, up to everything; block waits for the sinks
    // at the cap and fails on a full disk (the worker retries, /ready says why).
    const std::uint64_t batch = records.bytes.size();
    std::uint64_t force = 0;
    m.check_space_back();
    const bool was_full = m.disk_full.load();
    for (int attempt = 0;; ++attempt) {
        bool full = false;
        res = AppendResult{};
        try {
            m.append_owned(records, dead, checkpoints, state, force, res);
        } catch (const std::exception& e) {
            res = AppendResult{};
            res.ok = false;
            res.error = e.what();
            full = std::string_view(e.what()).find(sqlite3_errstr(SQLITE_FULL)) != std::string_view::npos;
        }
        if (!full) {
            break;
        }
        if (m.opts.overflow == Overflow::Block && m.retaining() && attempt < 16 &&
            m.trim_owned((batch + 16 * m.page_size) << std::min(attempt, 8))) {
            continue;  // the cap or a full disk: the rows kept for replay go first, as many as needed
        }
        const bool disk = m.note_full(batch);
        std::uint64_t stored = 0;
        {
            std::lock_guard lk(m.mu);
            stored = m.bytes;
        }
        if (m.opts.overflow == Overflow::DropOldest && stored > 0 && attempt < 16) {
            force = std::max<std::uint64_t>(force * 2, batch + 16 * m.page_size);
            continue;
        }
        if (m.opts.overflow == Overflow::Block && !disk) {
            // The database's share of the cap is used up: wait for the sinks
            // as at the record-byte cap, then try again.
            m.release();
            bool freed = false;
            {
                std::unique_lock lk(m.mu);
                freed = m.space_cv.wait_for(lk, kBlockPoll) == std::cv_status::no_timeout;
            }
            if (!freed && keep_waiting && !keep_waiting()) {
                res.error = fmt::format("buffer {}: full ({} bytes on disk, max_bytes {}) with overflow=block; gave "
                                        "up waiting for sinks",
                                        m.opts.path.string(), m.plan.db_bytes, m.opts.max_bytes);
                res.disk_full_started = !was_full && m.disk_full.load();
                return res;
            }
            if (!m.wait_for_room(batch, keep_waiting, res)) {
                res.disk_full_started = !was_full && m.disk_full.load();
                return res;
            }
            continue;
        }
        break;
    }
    res.disk_full_started = !was_full && m.disk_full.load();
    m.release();
    if (res.ok && !records.empty()) {
        m.notify_readers();
    }
    return res;
}

}  // namespace sluice
