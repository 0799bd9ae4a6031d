// Throughput of the record stages on one core, in batches of 1000 records
// (as the pipeline worker hands them over): filter, map (a computed field),
// enrich (a 10 k-row calibration table), join (pairs of records by 1000
// keys), table (latest value per key, written to SQLite after each
// batch), and encrypt and decrypt (two fields a record, 1000 data subjects;
// also printed as fields per second).
//
//   sluice_bench_stages [records]   (default 2000000)
//
// Each batch is copied out of a pool of prepared records first; "(copy)"
// (a filter that keeps everything) shows what that copy costs.
//
// Prints one line per stage: "filter: 31.2 M records/s (1 core)". Rates use
// the thread's CPU time (the table stage's SQLite commits included); the
// wall time is printed alongside.
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "buffer/table_store.hpp"
#include "config/config.hpp"
#include "core/metrics.hpp"
#include "core/registry.hpp"
#include "tables/tables.hpp"

namespace {

using namespace sluice;

constexpr std::size_t kBatch = 1000;
constexpr std::size_t kPool = 200'000;
constexpr std::int64_t kPoolSeconds = kPool / 2000;  // input() advances 1 s per 2000 records

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::unique_ptr<Stage> make(const std::string& stage_toml, const std::string& extra) {
    const std::string text = extra + "\n[[pipelines.p.sources]]\ntype = \"stdin\"\n[[pipelines.p.stages]]\n" +
                             stage_toml + "\n[[pipelines.p.sinks]]\ntype = \"stdout\"\n";
    Diagnostics diag;
    auto cfg = load_config_text(text, "bench", builtin_registry(), diag);
    if (!cfg) {
        std::fprintf(stderr, "%s", diag.str().c_str());
        std::exit(1);
    }
    const auto& s = cfg->pipelines[0].stages[0];
    return s.descriptor->make_stage(s.options);
}

// Readings of 10 k sensors on 1000 nodes, temperature and humidity taking turns.
std::vector<Record> input(std::size_t n) {
    std::vector<Record> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        Record& r = v[i];
        r.time_ns = 1'700'000'000'000'000'000 + static_cast<std::int64_t>(i / 2000) * 1'000'000'000;
        r.measurement = i % 2 == 0 ? "temperature" : "humidity";
        r.origin = "bench";
        r.tags = {{"node", fmt::format("n{}", (i / 2) % 1000)}, {"sensor", fmt::format("s{}", i % 10)}};
        r.fields = {{"value", 20.0 + static_cast<double>(i % 100) / 10}, {"humidity", 40.0 + static_cast<double>(i % 50)}};
    }
    return v;
}

std::filesystem::path data_dir;  // the encrypt stage's key store goes here

// Returns the CPU seconds taken.
double run(const char* name, Stage& stage, Tables* tables, const std::vector<Record>& pool, std::size_t total) {
    auto metrics = ComponentMetrics::for_component(std::string("bench/") + name, "stage");
    StageContext ctx;
    ctx.name = std::string("bench/") + name;
    ctx.id = name;
    ctx.metrics = &metrics;
    ctx.tables = tables;
    ctx.data_dir = data_dir;
    ctx.load_state = [](const std::function<void(std::string_view, std::string_view)>&) {};
    stage.open(ctx);
    std::vector<Record> batch;
    std::vector<DeadLetter> dead;
    std::vector<StateChange> state;
    std::vector<std::pair<std::string, Record>> streams;
    std::size_t out = 0;
    const double cpu0 = thread_cpu_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    for (std::size_t done = 0; done < total; done += kBatch) {
        batch.assign(pool.begin() + static_cast<std::ptrdiff_t>(done % pool.size()),
                     pool.begin() + static_cast<std::ptrdiff_t>(done % pool.size() + kBatch));
        // Time keeps moving forward when the pool starts over.
        const auto shift = static_cast<std::int64_t>(done / pool.size()) * kPoolSeconds * 1'000'000'000;
        for (auto& r : batch) {
            r.time_ns += shift;
        }
        dead.clear();
        state.clear();
        StageBatch b{batch, dead, state, streams, 0, static_cast<std::int64_t>(done), false};
        stage.process(b);
        stage.after_commit(true);
        out += batch.size();
    }
    const double cpu = thread_cpu_seconds() - cpu0;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    std::printf("%-8s %6.2f M records/s (1 core; %.2f s CPU, %.2f s wall, %zu out)\n", name,
                static_cast<double>(total) / cpu / 1e6, cpu, wall, out);
    return cpu;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) / kBatch * kBatch : 2'000'000;
    const auto pool = input(kPool);

    char tmpl[] = "/tmp/sluice-bench-stages-XXXXXX";
    const std::filesystem::path dir = ::mkdtemp(tmpl);
    data_dir = dir;
    Tables tables(open_table_store(dir / "tables.db"));
    tables.configure({{"cal", {}}, {"latest", {}}});
    std::vector<std::pair<std::string, TableValue>> rows;
    for (int n = 0; n < 1000; ++n) {
        for (int s = 0; s < 10; ++s) {
            rows.emplace_back(fmt::format("n{}/s{}", n, s),
                              TableValue{{"scale", 1.01}, {"offset", -0.2}, {"site", std::string("lab")}});
        }
    }
    tables.find("cal")->put_many(std::move(rows));

    auto filter = make("type = \"filter\"\nkeep = \"measurement == 'temperature' or value > 22.5\"", "");
    run("filter", *filter, &tables, pool, total);
    auto map = make("type = \"map\"\ncompute = [\"dew = value - (100 - humidity) / 5\"]", "");
    run("map", *map, &tables, pool, total);
    auto enrich = make("type = \"enrich\"\ntable = \"cal\"\nkey = \"{node}/{sensor}\"\ntags = [\"site\"]",
                       "[tables.cal]\n");
    run("enrich", *enrich, &tables, pool, total);
    auto join = make("type = \"join\"\nleft = \"measurement == 'temperature'\"\nright = \"measurement == "
                     "'humidity'\"\nkey = \"{node}\"\nwindow = \"5s\"\ntimeout = \"0s\"",
                     "");
    run("join", *join, &tables, pool, total);
    auto table = make("type = \"table\"\ntable = \"latest\"\nkey = \"{node}/{sensor}\"", "[tables.latest]\n");
    run("table", *table, &tables, pool, total);
    // The same without the SQLite store: what the in-memory part costs.
    Tables memory;
    memory.configure({{"latest", {}}});
    auto table_mem = make("type = \"table\"\ntable = \"latest\"\nkey = \"{node}/{sensor}\"", "[tables.latest]\n");
    run("table/mem", *table_mem, &memory, pool, total);
    // Personal data: two fields a record under 1000 subjects' keys.
    const std::string key = "master_key = \"" + std::string(64, 'a') + "\"\n";
    auto encrypt = make("type = \"encrypt\"\nsubject = \"{node}\"\nfields = [\"value\", \"humidity\"]\n" + key, "");
    const double enc_cpu = run("encrypt", *encrypt, &tables, pool, total);
    std::printf("encrypt  %6.2f M fields/s (1 core)\n", 2.0 * static_cast<double>(total) / enc_cpu / 1e6);
    std::vector<Record> sealed = pool;
    for (std::size_t at = 0; at < sealed.size(); at += kBatch) {
        std::vector<Record> batch(sealed.begin() + static_cast<std::ptrdiff_t>(at),
                                  sealed.begin() + static_cast<std::ptrdiff_t>(at + kBatch));
        std::vector<DeadLetter> dead;
        std::vector<StateChange> state;
        std::vector<std::pair<std::string, Record>> streams;
        StageBatch b{batch, dead, state, streams, 0, 0, false};
        encrypt->process(b);
        std::move(batch.begin(), batch.end(), sealed.begin() + static_cast<std::ptrdiff_t>(at));
    }
    auto decrypt = make("type = \"decrypt\"\n" + key, "");
    const double dec_cpu = run("decrypt", *decrypt, &tables, sealed, total);
    std::printf("decrypt  %6.2f M fields/s (1 core)\n", 2.0 * static_cast<double>(total) / dec_cpu / 1e6);
    // Copying the batch out of the pool is part of every figure above.
    auto copy_only = make("type = \"filter\"\nkeep = \"true\"", "");
    run("(copy)", *copy_only, &tables, pool, total);
    std::filesystem::remove_all(dir);
    return 0;
}
