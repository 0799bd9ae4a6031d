// sluice_bench_buffer [dir]: append and read+commit rates of the SQLite
// buffer, the figures the gateway's throughput rests on. Runs in a fresh
// directory under `dir` (default: $TMPDIR or /tmp; use the board's real
// flash, not a tmpfs, to get honest fsync costs).

#include <sys/resource.h>
#include <unistd.h>

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "buffer/buffer.hpp"

namespace {

namespace fs = std::filesystem;
using sluice::Record;

constexpr std::size_t kBatch = 1000;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Process CPU seconds (user + system): on a loaded machine wall-clock rates
// mostly measure the neighbours, CPU rates still compare runs.
double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Timer {
    std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
    double cpu = cpu_seconds();
    double wall_s() const { return seconds_since(wall); }
    double cpu_s() const { return cpu_seconds() - cpu; }
};

// About 100 bytes encoded, like a small sensor reading.
std::vector<Record> make_batch(std::uint64_t first) {
    std::vector<Record> out(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) {
        Record& r = out[i];
        r.time_ns = 1'700'000'000'000'000'000 + static_cast<std::int64_t>(first + i) * 1'000'000;
        r.measurement = "environment";
        r.origin = "sensors/room1";
        r.tags = {{"host", "gw-01"}, {"sensor", "bme280"}};
        r.fields = {{"temperature", 21.5 + static_cast<double>(i % 10)},
                    {"humidity", std::int64_t{40 + static_cast<std::int64_t>(i % 20)}},
                    {"ok", true}};
    }
    return out;
}

std::size_t encoded_size(const Record& r) {
    std::string s;
    sluice::encode_record(r, s);
    return s.size();
}

sluice::BufferOptions options(const fs::path& dir, const char* name, sluice::Synchronous sync) {
    sluice::BufferOptions o;
    o.path = dir / name;
    o.synchronous = sync;
    o.sinks = {"s"};
    o.max_bytes = 4ull << 30;  // the cap is benchmarked separately
    return o;
}

void bench_append(const fs::path& dir, const char* label, sluice::Synchronous sync, std::size_t batches) {
    auto buf = sluice::Buffer::open(options(dir, label, sync));
    auto rs = make_batch(0);
    // Warm-up: page cache, statement plans, first WAL growth.
    for (int i = 0; i < 5; ++i) {
        buf->append(rs, {}, {});
    }
    Timer t;
    for (std::size_t b = 0; b < batches; ++b) {
        auto res = buf->append(rs, {}, {});
        if (!res.ok) {
            std::fprintf(stderr, "append failed: %s\n", res.error.c_str());
            std::exit(1);
        }
    }
    double s = t.wall_s();
    double rows = static_cast<double>(batches * kBatch);
    std::printf("append synchronous=%-6s %zu-row batches: %6.3f M rows/s  (%.3f M rows per CPU-s, %.0f commits/s)\n",
                label, kBatch, rows / s / 1e6, rows / t.cpu_s() / 1e6, static_cast<double>(batches) / s);
}

// The textbook loop straight through the SQLite API (one INSERT per row,
// same settings and schema): the reference the buffer's append (which also
// encodes the records) is measured against.
void bench_raw_sqlite(const fs::path& dir, std::size_t batches) {
    std::string path = (dir / "raw.db").string();
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-2000;"
                 "CREATE TABLE records(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, size INTEGER NOT NULL,"
                 " body BLOB NOT NULL);",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO records(id, ts, size, body) VALUES (?1, ?2, ?3, ?4)", -1, &st, nullptr);
    std::string body;
    sluice::encode_record(make_batch(0)[0], body);
    std::int64_t id = 0;
    Timer t;
    for (std::size_t b = 0; b < batches; ++b) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
        for (std::size_t i = 0; i < kBatch; ++i) {
            ++id;
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, id);
            sqlite3_bind_int64(st, 3, static_cast<std::int64_t>(body.size()));
            sqlite3_bind_blob(st, 4, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
            sqlite3_step(st);
            sqlite3_reset(st);
        }
        if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
            std::fprintf(stderr, "raw sqlite: %s\n", sqlite3_errmsg(db));
            std::exit(1);
        }
    }
    double rows = static_cast<double>(batches * kBatch);
    std::printf("plain SQLite loop NORMAL, 1 row/INSERT:  %6.3f M rows/s  (%.3f M rows per CPU-s)\n",
                rows / t.wall_s() / 1e6, rows / t.cpu_s() / 1e6);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

void bench_read_commit(const fs::path& dir, std::size_t batches) {
    auto buf = sluice::Buffer::open(options(dir, "read", sluice::Synchronous::Normal));
    auto rs = make_batch(0);
    for (std::size_t b = 0; b < batches; ++b) {
        buf->append(rs, {}, {});
    }
    auto rd = buf->reader("s");
    std::vector<sluice::StoredRecord> rows;
    std::size_t total = 0;
    Timer t;
    while (rd->read_into(rows, kBatch).rows > 0) {
        total += rows.size();
        rd->commit(rows.back().id);  // also trims: the rows are deleted here
    }
    double n = static_cast<double>(total);
    std::printf("read+commit one sink   %zu-row batches: %6.3f M rows/s  (%.3f M rows per CPU-s; decode, cursor "
                "txn, delete)\n",
                kBatch, n / t.wall_s() / 1e6, n / t.cpu_s() / 1e6);
    if (buf->stats().rows != 0) {
        std::fprintf(stderr, "rows left after draining\n");
        std::exit(1);
    }
}

void bench_drop_oldest(const fs::path& dir, std::size_t batches) {
    auto o = options(dir, "cap", sluice::Synchronous::Normal);
    auto rs = make_batch(0);
    o.max_bytes = 50 * kBatch * encoded_size(rs[0]);
    auto buf = sluice::Buffer::open(o);
    for (int i = 0; i < 50; ++i) {
        buf->append(rs, {}, {});
    }
    std::uint64_t dropped = 0;
    Timer t;
    for (std::size_t b = 0; b < batches; ++b) {
        dropped += buf->append(rs, {}, {}).dropped;
    }
    double n = static_cast<double>(batches * kBatch);
    std::printf("append at the cap (drop_oldest, sink down): %6.3f M rows/s  (%.3f M rows per CPU-s, %llu dropped)\n",
                n / t.wall_s() / 1e6, n / t.cpu_s() / 1e6, static_cast<unsigned long long>(dropped));
}

// The steady state of a sink that keeps up: append a batch, read it,
// confirm it; with `retain` the delivered rows stay (the retention query on
// every trim) instead of being deleted. Then, with retain, a replay of
// everything kept: the cursor moved back to the first row and read again.
void bench_deliver(const fs::path& dir, const char* label, std::chrono::nanoseconds retain, std::size_t batches,
                   bool young = true) {
    auto o = options(dir, label, sluice::Synchronous::Normal);
    o.retain = retain;
    auto buf = sluice::Buffer::open(o);
    auto rd = buf->reader("s");
    auto rs = make_batch(0);
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    for (auto& r : rs) {
        // Young: kept by retain; else two days old: the retention query runs
        // at every trim and lets everything go.
        r.time_ns = young ? now : now - std::chrono::nanoseconds(std::chrono::hours(48)).count();
    }
    std::vector<sluice::StoredRecord> rows;
    Timer t;
    for (std::size_t b = 0; b < batches; ++b) {
        buf->append(rs, {}, {});
        rd->read_into(rows, kBatch);
        rd->commit(rows.back().id);
    }
    const double n = static_cast<double>(batches * kBatch);
    std::printf("append+read+commit, %-16s %6.3f M rows/s  (%.3f M rows per CPU-s; %llu rows left in the buffer)\n",
                label, n / t.wall_s() / 1e6, n / t.cpu_s() / 1e6,
                static_cast<unsigned long long>(buf->stats().rows));
    if (retain.count() == 0 || !young) {
        return;
    }
    Timer r;
    if (!rd->rewind(1).ok) {
        std::fprintf(stderr, "rewind failed\n");
        std::exit(1);
    }
    std::size_t again = 0;
    while (rd->read_into(rows, kBatch).rows > 0) {
        again += rows.size();
        rd->commit(rows.back().id);
    }
    std::printf("replay of the %zu kept rows (rewind, read, commit): %6.3f M rows/s  (%.3f M rows per CPU-s)\n", again,
                static_cast<double>(again) / r.wall_s() / 1e6, static_cast<double>(again) / r.cpu_s() / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
    fs::path base = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path();
    std::string tmpl = (base / "sluice-bench-buffer-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    fs::path dir = tmpl;
    std::printf("sluice_bench_buffer in %s (record ~%zu bytes encoded)\n", dir.c_str(),
                encoded_size(make_batch(0)[0]));
    try {
        bench_raw_sqlite(dir, 1000);
        bench_append(dir, "NORMAL", sluice::Synchronous::Normal, 1000);
        bench_append(dir, "FULL", sluice::Synchronous::Full, 300);
        bench_read_commit(dir, 500);
        bench_drop_oldest(dir, 300);
        bench_deliver(dir, "retain 0s:", std::chrono::nanoseconds(0), 500);
        bench_deliver(dir, "retain 24h, old:", std::chrono::hours(24), 500, /*young=*/false);
        bench_deliver(dir, "retain 24h:", std::chrono::hours(24), 500);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        fs::remove_all(dir);
        return 1;
    }
    fs::remove_all(dir);
    return 0;
}
