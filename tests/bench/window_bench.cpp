// The window stage alone, as the pipeline worker drives it (batches of 1000
// records, state checkpoints included):
//   - records/s for a 1-minute window hopping every 10 s over 10 k groups
//     with 5 aggregates of one field, p99 among them;
//   - memory for 100 k open groups (RSS growth, each group with a record in
//     every pane of its minute).
// Building the input records is not timed.
//
//   sluice_bench_window [records [--no-memory]]   (default 5,000,000 records)

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <ctime>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "config/resolve.hpp"
#include "core/component.hpp"
#include "core/metrics.hpp"
#include "core/options.hpp"

namespace sluice::components {
const Descriptor& stage_window();
}

namespace {

using namespace sluice;

constexpr std::int64_t kT0 = 1'704'067'200'000'000'000;

std::unique_ptr<Stage> make(ComponentMetrics& cm, const std::string& label) {
    RawTable t;
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"kind", "hopping"},
             {"size", "1m"},
             {"hop", "10s"},
             {"group_by", "sensor"},
             {"fields", "temperature"},
             {"aggregates", "count,mean,min,max,p99"},
             {"allowed_lateness", "1s"},
             {"max_groups", "1000000"}}) {
        t.push_back(text_entry(k, v));
    }
    Diagnostics diag;
    Options o = resolve_options(components::stage_window().options, t, "stage 'window'", {}, diag);
    if (!diag.empty()) {
        std::fprintf(stderr, "%s\n", diag.str().c_str());
        std::exit(1);
    }
    auto stage = components::stage_window().make_stage(o);
    cm = ComponentMetrics::for_component(label, "stage");
    StageContext ctx;
    ctx.name = label;
    ctx.id = "window";
    ctx.metrics = &cm;
    stage->open(ctx);
    return stage;
}

// CPU time of this thread: the machine may be shared, and the figure is
// per core.
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

long rss_kib() {
    std::ifstream f("/proc/self/statm");
    long pages = 0;
    long resident = 0;
    f >> pages >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void fill(std::vector<Record>& batch, std::size_t first, std::size_t n, std::size_t groups, std::int64_t step_ns) {
    batch.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = first + k;
        Record& r = batch[k];
        r.time_ns = kT0 + static_cast<std::int64_t>(i) * step_ns;
        r.measurement = "climate";
        r.tags.resize(1);
        r.tags[0].name = "sensor";
        r.tags[0].value = fmt::format("s{:05}", i % groups);
        r.fields.resize(1);
        r.fields[0].name = "temperature";
        r.fields[0].value = 15.0 + static_cast<double>((i * 7919) % 2000) / 100.0;
    }
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 5'000'000;
    const std::size_t groups = 10'000;
    const std::size_t batch_size = 1000;
    // 20 µs of event time per record: each group gets a reading every 0.2 s,
    // and 5 M records cover 100 s (about ten hops, 10 k windows each).
    const std::int64_t step = 20'000;

    ComponentMetrics cm;
    auto stage = make(cm, "bench/window");
    std::vector<Record> batch;
    std::vector<DeadLetter> dead;
    std::vector<StateChange> state;
    std::vector<std::pair<std::string, Record>> streams;
    std::size_t emitted = 0;
    std::size_t changes = 0;
    std::size_t state_bytes = 0;
    double busy = 0;
    for (std::size_t i = 0; i < total; i += batch_size) {
        fill(batch, i, std::min(batch_size, total - i), groups, step);
        state.clear();
        StageBatch b{batch, dead, state, streams, kT0 + 86'400'000'000'000LL, static_cast<std::int64_t>(i), false};
        const double t0 = thread_cpu_seconds();
        stage->process(b);
        busy += thread_cpu_seconds() - t0;
        emitted += batch.size();
        changes += state.size();
        for (const auto& c : state) {
            state_bytes += c.key.size() + c.value.size();
        }
    }
    std::printf("window stage: 1m window hopping every 10s, %zu groups, 5 aggregates (count, mean, min, max, p99): "
                "%.2f M records/s per core (CPU time; %zu records, %zu windows emitted, %.0f state writes and %.0f KiB per "
                "1000-record batch)\n",
                groups, static_cast<double>(total) / busy / 1e6, total, emitted,
                static_cast<double>(changes) / (static_cast<double>(total) / batch_size),
                static_cast<double>(state_bytes) / 1024 / (static_cast<double>(total) / batch_size));
    if (!dead.empty()) {
        std::printf("  (%zu records were late: the input generator is off)\n", dead.size());
    }

    // Memory: 100 k groups, each with a reading in all six 10 s panes of
    // the same minute, nothing closed yet. Measured in a fresh child process
    // so the heap left over from the run above does not blur the figure.
    stage.reset();
    if (argc > 2 && std::string(argv[2]) == "--no-memory") {
        return 0;
    }
    std::fflush(stdout);
    const pid_t child = fork();
    if (child != 0) {
        int status = 0;
        waitpid(child, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    const std::size_t many = 100'000;
    ComponentMetrics cm2;
    const long before = rss_kib();
    auto big = make(cm2, "bench/window-memory");
    for (int pane = 0; pane < 6; ++pane) {
        for (std::size_t i = 0; i < many; i += batch_size) {
            batch.resize(batch_size);
            fill(batch, i, batch_size, many, 0);
            for (std::size_t k = 0; k < batch.size(); ++k) {
                batch[k].time_ns = kT0 + pane * 10'000'000'000LL + static_cast<std::int64_t>(i + k);
            }
            state.clear();
            StageBatch b{batch, dead, state, streams, kT0 + 86'400'000'000'000LL, 0, false};
            big->process(b);
        }
    }
    const long after = rss_kib();
    std::printf("window stage memory: %zu open groups x 6 panes (1m/10s, 5 aggregates incl. p99): RSS +%.1f MiB, "
                "%.0f bytes per group\n",
                many, static_cast<double>(after - before) / 1024,
                static_cast<double>(after - before) * 1024 / static_cast<double>(many));
    return 0;
}
