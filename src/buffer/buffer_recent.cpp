// RecentRows: the newest committed rows in memory, for sinks that keep up
// (see buffer_internal.hpp).

#include <algorithm>
#include <mutex>

#include "buffer/buffer_internal.hpp"

namespace sluice::buffer_detail {

void RecentRows::add(std::uint64_t first_id, const EncodedRecords& records) {
    if (records.empty() || records.bytes.size() > max_bytes_) {
        return;
    }
    auto c = std::make_shared<Chunk>();
    c->first_id = first_id;
    c->bytes = records.bytes;
    c->ends.reserve(records.sizes.size());
    std::uint32_t end = 0;
    for (const std::uint32_t s : records.sizes) {
        end += s;
        c->ends.push_back(end);
    }
    std::lock_guard lk(mu_);
    if (first_id <= discarded_to_) {
        return;
    }
    if (!chunks_.empty() && chunks_.back()->last_id() + 1 != first_id) {
        chunks_.clear();  // ids skipped (cannot happen today): keep only what is contiguous
        bytes_ = 0;
    }
    bytes_ += c->bytes.size();
    chunks_.push_back(std::move(c));
    while (bytes_ > max_bytes_) {
        bytes_ -= chunks_.front()->bytes.size();
        chunks_.pop_front();
    }
}

void RecentRows::discard_through(std::uint64_t id) {
    std::lock_guard lk(mu_);
    discarded_to_ = std::max(discarded_to_, id);
    while (!chunks_.empty() && chunks_.front()->last_id() <= id) {
        bytes_ -= chunks_.front()->bytes.size();
        chunks_.pop_front();
    }
}

bool RecentRows::rows_after(std::uint64_t after, std::vector<std::shared_ptr<const Chunk>>& out) const {
    out.clear();
    std::lock_guard lk(mu_);
    // after < discarded_to_: the next row was deleted (drop_oldest ran past
    // this sink's cursor); SQLite says what is left.
    if (chunks_.empty() || after < discarded_to_ || after + 1 < chunks_.front()->first_id ||
        after >= chunks_.back()->last_id()) {
        return false;
    }
    for (const auto& c : chunks_) {
        if (c->last_id() > after) {
            out.push_back(c);
        }
    }
    return true;
}

}  // namespace sluice::buffer_detail
