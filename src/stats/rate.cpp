#include "stats/rate.hpp"

#include <algorithm>
#include <cmath>

namespace sluice::stats {

void RateWindow::sample(double now, std::uint64_t total) {
    if (!have_) {
        have_ = true;
        secs_[0] = {now, total};
        newest_ = 0;
        sec_count_ = 1;
        mins_[0] = {now, total};
        min_newest_ = 0;
        min_count_ = 1;
        return;
    }
    newest_ = (newest_ + 1) % kSeconds;
    secs_[newest_] = {now, total};
    sec_count_ = std::min(sec_count_ + 1, kSeconds);
    if (now - mins_[min_newest_].t >= 60.0 - 0.5) {
        min_newest_ = (min_newest_ + 1) % kMinutes;
        mins_[min_newest_] = {now, total};
        min_count_ = std::min(min_count_ + 1, kMinutes);
    }
}

double RateWindow::rate(double seconds) const {
    if (sec_count_ < 2) {
        return 0;
    }
    const Point& last = secs_[newest_];
    // The oldest sample no older than `seconds` (with half a second of slack
    // for timer jitter): from the 1 s ring when it reaches back far enough,
    // else from the minute ring.
    const Point* from = nullptr;
    for (std::size_t back = sec_count_ - 1;; --back) {
        const Point& p = secs_[(newest_ + kSeconds - back) % kSeconds];
        if (last.t - p.t <= seconds + 0.5) {
            from = &p;
            break;
        }
        if (back == 1) {
            break;
        }
    }
    const Point& oldest_sec = secs_[(newest_ + kSeconds - (sec_count_ - 1)) % kSeconds];
    if (from == &oldest_sec && seconds > last.t - oldest_sec.t + 0.5) {
        for (std::size_t back = min_count_ - 1;; --back) {
            const Point& p = mins_[(min_newest_ + kMinutes - back) % kMinutes];
            if (last.t - p.t <= seconds + 0.5) {
                if (p.t < from->t) {
                    from = &p;
                }
                break;
            }
            if (back == 0) {
                break;
            }
        }
    }
    if (from == nullptr) {
        from = &secs_[(newest_ + kSeconds - 1) % kSeconds];
    }
    const double dt = last.t - from->t;
    if (dt <= 0 || last.total < from->total) {
        return 0;
    }
    return static_cast<double>(last.total - from->total) / dt;
}

std::size_t LatencyHistogram::bucket_of(double seconds) {
    if (!(seconds >= 1e-6)) {
        return 0;  // also NaN and negative (a clock step)
    }
    const double steps = std::floor(std::log2(seconds * 1e6) * 4.0);
    if (steps >= static_cast<double>(kBuckets - 2)) {
        return kBuckets - 1;
    }
    return static_cast<std::size_t>(steps) + 1;
}

double LatencyHistogram::bucket_value(std::size_t i) {
    if (i == 0) {
        return 0.5e-6;
    }
    return 1e-6 * std::exp2((static_cast<double>(i - 1) + 0.5) / 4.0);
}

void LatencyHistogram::observe(double seconds, std::uint64_t n) {
    if (n == 0) {
        return;
    }
    counts_[bucket_of(seconds)].fetch_add(n, std::memory_order_relaxed);
    count_.fetch_add(n, std::memory_order_relaxed);
    const double ns = std::clamp(seconds, 0.0, 1e7) * 1e9;
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns) * n, std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
    Snapshot s;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    }
    s.count = count_.load(std::memory_order_relaxed);
    s.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
}

LatencySummary LatencyHistogram::summarize(const Snapshot& now, const Snapshot* before) {
    std::array<std::uint64_t, kBuckets> c{};
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        const std::uint64_t b = before != nullptr ? before->counts[i] : 0;
        c[i] = now.counts[i] >= b ? now.counts[i] - b : 0;
        total += c[i];
    }
    LatencySummary s;
    s.count = total;
    if (total == 0) {
        return s;
    }
    const double sum = now.sum - (before != nullptr ? before->sum : 0.0);
    s.avg = std::max(0.0, sum / static_cast<double>(total));
    auto quantile = [&](double q) {
        // The bucket holding the ceil(q * total)-th observation.
        const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < kBuckets; ++i) {
            seen += c[i];
            if (seen >= std::max<std::uint64_t>(rank, 1)) {
                return bucket_value(i);
            }
        }
        return bucket_value(kBuckets - 1);
    };
    s.p50 = quantile(0.5);
    s.p99 = quantile(0.99);
    return s;
}

void LatencyWindow::sample(const LatencyHistogram::Snapshot& s) {
    latest_ = s;
    if (samples_++ % kStep != 0) {
        return;
    }
    if (ring_.size() < kKeep) {
        if (ring_.empty()) {
            ring_.reserve(kKeep);
        }
        ring_.push_back(s);
        newest_ = ring_.size() - 1;
        return;
    }
    newest_ = (newest_ + 1) % kKeep;
    ring_[newest_] = s;
}

LatencySummary LatencyWindow::last_minute() const {
    if (ring_.empty()) {
        return {};
    }
    if (ring_.size() < kKeep) {
        return LatencyHistogram::summarize(latest_, nullptr);  // everything since the start
    }
    return LatencyHistogram::summarize(latest_, &ring_[(newest_ + 1) % kKeep]);
}

}  // namespace sluice::stats
