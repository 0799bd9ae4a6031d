// sluice_bench_sqlite_floor [records] [dir]: the floor of the durable path.
//
// The least work any SQLite-buffered gateway must do per record: insert it,
// read it back and delete it, in batches of 1000, one transaction per step,
// WAL with synchronous=NORMAL (sluice's default), straight through the SQLite
// API with prepared statements. The body is what sluice's buffer stores for
// one line of tests/bench/run's input (encode_record of the same reading), so
// the bytes moved are the same. Prints CPU seconds per 1M records and rows/s;
// tests/bench/run sets sluice's durable path against it.

#include <sys/resource.h>
#include <unistd.h>

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "buffer/buffer.hpp"

namespace {

namespace fs = std::filesystem;

constexpr int kBatch = 1000;

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void check(sqlite3* db, int rc, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        std::exit(1);
    }
}

sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* st = nullptr;
    check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr), sql);
    return st;
}

void exec(sqlite3* db, const char* sql) {
    check(db, sqlite3_exec(db, sql, nullptr, nullptr, nullptr), sql);
}

// One line of tests/bench/run's input as the buffer stores it.
std::string body() {
    sluice::Record r;
    r.time_ns = 1'700'000'000'000'000'000;
    r.origin = "stdin";
    r.fields = {{"sensor", std::string("t17")}, {"temp", 21.7}, {"hum", std::int64_t{47}}};
    std::string s;
    sluice::encode_record(r, s);
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    long records = argc > 1 ? std::atol(argv[1]) : 1'000'000;
    fs::path base = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path();
    std::string tmpl = (base / "sluice-bench-floor-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    const fs::path dir = tmpl;
    const std::string b = body();

    sqlite3* db = nullptr;
    if (sqlite3_open((dir / "floor.db").c_str(), &db) != SQLITE_OK) {
        std::fprintf(stderr, "open: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
             "CREATE TABLE records(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, size INTEGER NOT NULL,"
             " body BLOB NOT NULL);");
    sqlite3_stmt* ins = prepare(db, "INSERT INTO records(id, ts, size, body) VALUES (?1, ?2, ?3, ?4)");
    sqlite3_stmt* sel = prepare(db, "SELECT id, body FROM records WHERE id > ?1 ORDER BY id LIMIT ?2");
    sqlite3_stmt* del = prepare(db, "DELETE FROM records WHERE id <= ?1");

    const double cpu0 = cpu_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    std::int64_t next = 0;
    std::int64_t cursor = 0;
    std::size_t read_bytes = 0;
    while (next < records) {
        exec(db, "BEGIN IMMEDIATE");
        for (int i = 0; i < kBatch && next < records; ++i) {
            ++next;
            sqlite3_bind_int64(ins, 1, next);
            sqlite3_bind_int64(ins, 2, next);
            sqlite3_bind_int64(ins, 3, static_cast<std::int64_t>(b.size()));
            sqlite3_bind_blob(ins, 4, b.data(), static_cast<int>(b.size()), SQLITE_STATIC);
            check(db, sqlite3_step(ins), "insert");
            sqlite3_reset(ins);
        }
        exec(db, "COMMIT");
        exec(db, "BEGIN");
        sqlite3_bind_int64(sel, 1, cursor);
        sqlite3_bind_int(sel, 2, kBatch);
        while (sqlite3_step(sel) == SQLITE_ROW) {
            cursor = sqlite3_column_int64(sel, 0);
            read_bytes += static_cast<std::size_t>(sqlite3_column_bytes(sel, 1));
        }
        sqlite3_reset(sel);
        exec(db, "COMMIT");
        exec(db, "BEGIN IMMEDIATE");
        sqlite3_bind_int64(del, 1, cursor);
        check(db, sqlite3_step(del), "delete");
        sqlite3_reset(del);
        exec(db, "COMMIT");
    }
    const double cpu = cpu_seconds() - cpu0;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    if (read_bytes != b.size() * static_cast<std::size_t>(records)) {
        std::fprintf(stderr, "read back %zu bytes, expected %zu\n", read_bytes,
                     b.size() * static_cast<std::size_t>(records));
        return 1;
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    sqlite3_close(db);
    std::error_code ec;
    fs::remove_all(dir, ec);
    std::printf("{\"records\":%ld,\"body_bytes\":%zu,\"cpu_seconds\":%.4f,\"wall_seconds\":%.4f}\n", records,
                b.size(), cpu, wall);
    return 0;
}
