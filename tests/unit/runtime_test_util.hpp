#pragma once
// Shared by the runtime parts' tests: a temporary directory, a clock whose
// sleeps advance a virtual time (back-offs take about a millisecond of real
// time), records numbered by a "seq" field, and a condition wait.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "buffer/buffer.hpp"
#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/record.hpp"
#include "temp_dir.hpp"

namespace sluice::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Generous: only bounds a hang, never decides a pass.
constexpr auto kDeadline = std::chrono::seconds(30);


class ManualClock : public Clock {
public:
    std::int64_t mono_ns() override { return now_.load(); }
    TimeNs wall_ns() override { return 1'700'000'000'000'000'000 + now_.load(); }
    bool sleep(std::chrono::nanoseconds d, const std::atomic<bool>& stop) override {
        {
            std::lock_guard lk(mu_);
            sleeps_.push_back(d);
        }
        now_ += d.count();
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, 1ms, [&] { return stop.load(); });
        return !stop.load();
    }
    void wake() override {
        { std::lock_guard lk(mu_); }
        cv_.notify_all();
    }
    std::vector<std::chrono::nanoseconds> sleeps() {
        std::lock_guard lk(mu_);
        return sleeps_;
    }

private:
    std::atomic<std::int64_t> now_{1'000'000'000};
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::chrono::nanoseconds> sleeps_;
};

// Metrics live in one registry per process: each fixture instance labels
// its own, so a test repeated in one process (--gtest_repeat) starts at zero.
inline std::string unique_label(const std::string& base) {
    static std::atomic<int> n{0};
    return base + "-" + std::to_string(n.fetch_add(1));
}

inline Record numbered(std::int64_t seq) {
    Record r;
    r.time_ns = 1'700'000'000'000'000'000 + seq;
    r.measurement = "m";
    r.origin = "test";
    r.fields = {{"seq", seq}};
    return r;
}

inline std::int64_t seq_of(const Record& r) {
    const Field* f = r.field("seq");
    if (f == nullptr || !std::holds_alternative<std::int64_t>(f->value)) {
        return -1;
    }
    return std::get<std::int64_t>(f->value);
}

// Polls `cond` until it holds or `limit` passes (a condition wait with a
// deadline, checked every kPollEvery).
constexpr auto kPollEvery = 2ms;

inline bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit = kDeadline) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(kPollEvery);
    }
    return true;
}

// Every row after `sink`'s cursor, by seq (the test's own reader).
inline std::vector<std::int64_t> buffered_seqs(Buffer& buf, const std::string& sink) {
    auto rd = buf.reader(sink);
    std::vector<std::int64_t> out;
    for (const auto& s : rd->read(1'000'000)) {
        out.push_back(seq_of(s.record));
    }
    return out;
}

// The dead letters of a closed buffer, one NDJSON line each.
inline std::vector<std::string> dead_letter_lines(const fs::path& db) {
    std::FILE* f = std::tmpfile();
    offline_export(db, "", f, true);
    std::rewind(f);
    std::vector<std::string> lines;
    std::string line;
    for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) {
        if (c == '\n') {
            lines.push_back(line);
            line.clear();
        } else {
            line.push_back(static_cast<char>(c));
        }
    }
    std::fclose(f);
    return lines;
}

inline std::vector<std::int64_t> iota_seqs(std::int64_t from, std::int64_t to) {
    std::vector<std::int64_t> v;
    for (auto i = from; i < to; ++i) {
        v.push_back(i);
    }
    return v;
}

}  // namespace sluice::test
