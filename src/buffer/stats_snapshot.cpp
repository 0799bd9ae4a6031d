#include "buffer/stats_snapshot.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <system_error>
#include <utility>

#include "core/log.hpp"

namespace sluice::buffer_detail {

StatsSnapshot::StatsSnapshot(Db& db, std::filesystem::path path)
    : db_(db),
      path_(std::move(path)),
      wal_(path_.string() + "-wal"),
      times_(db),
      count_dead_(db, "SELECT count(*) FROM dead_letters"),
      current_(std::make_shared<const BufferStats>()) {}

std::int64_t StatsSnapshot::time_after(TimeAfter& cache, std::uint64_t id) {
    if (cache.valid && cache.after == id) {
        return cache.ts;
    }
    const std::int64_t ts = times_.after(id);
    if (ts == 0) {
        cache.valid = false;
        return 0;
    }
    cache = TimeAfter{id, ts, true};
    return cache.ts;
}

void StatsSnapshot::publish(BufferStats st) {
    try {
        st.oldest_ns = st.rows > 0 ? time_after(oldest_, st.first_id - 1) : 0;
        if (dead_changed_.exchange(false, std::memory_order_acq_rel)) {
            try {
                ResetGuard g(count_dead_);
                dead_letters_ = count_dead_.step() ? count_dead_.col_u64(0) : 0;
            } catch (...) {
                dead_changed_.store(true);
                throw;
            }
        }
        st.dead_letters = dead_letters_;
        pending_.resize(st.sinks.size());
        for (std::size_t i = 0; i < st.sinks.size(); ++i) {
            SinkStats& s = st.sinks[i];
            const std::uint64_t from = std::max(s.cursor, st.first_id - 1);
            s.lag_rows = st.last_id > from ? st.last_id - from : 0;
            if (s.lag_rows == 0) {
                s.oldest_pending_ns = 0;
            } else if (from == st.first_id - 1) {
                s.oldest_pending_ns = st.oldest_ns;  // this sink is the one holding the oldest row
            } else {
                s.oldest_pending_ns = time_after(pending_[i], from);
            }
        }
    } catch (const std::exception& e) {
        if (!warned_) {
            warned_ = true;
            log::warn("{} (buffer stats keep their last figures)", e.what());
        }
        return;
    }
    const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    if (file_bytes_at_ == 0 || now - file_bytes_at_ >= 1'000'000'000) {
        std::error_code ec;
        auto size_of = [&](const std::filesystem::path& p) -> std::uint64_t {
            auto n = std::filesystem::file_size(p, ec);
            return ec ? 0 : static_cast<std::uint64_t>(n);
        };
        file_bytes_ = size_of(path_) + size_of(wal_) + size_of(path_.string() + "-shm") +
                      size_of(path_.string() + ".reserve");
        file_bytes_at_ = now;
    }
    st.file_bytes = file_bytes_;
    auto fresh = std::make_shared<const BufferStats>(std::move(st));
    std::lock_guard lk(mu_);
    current_ = std::move(fresh);
}

}  // namespace sluice::buffer_detail
