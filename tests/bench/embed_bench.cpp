// libsluice through its public API (sluice/sluice.hpp), as a program
// embedding it sees it: callback source -> buffer -> callback sink.
//   - one record per push_records() call, each returning once committed:
//     pushes/s and the commit wait (median, p99);
//   - 100 records per call: records/s committed;
//   - in both, the records/s the callback sink got (from the first push to
//     the last record handed to it).
// The buffer lives in a fresh directory under $TMPDIR (default /tmp): what
// that file system is decides the commit wait.
//
//   sluice_bench_embed [records]   (default 20,000 one at a time, 20x that in batches)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <stdlib.h>

#include "sluice/sluice.hpp"

namespace se = sluice::embed;
using Clock = std::chrono::steady_clock;

namespace {

struct Sunk {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t n = 0;
    Clock::time_point last{};
};

void run(const char* what, std::size_t records, std::size_t per_push) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/sluice-bench-embed-XXXXXX";
    const std::string dir = ::mkdtemp(tmpl.data());

    se::Config c;
    c.set("gateway", "log_level", "warn");
    c.source("p", "callback", {{"id", "in"}, {"decode", std::vector<std::string>{"record"}}});
    c.sink("p", "callback", {{"id", "out"}});
    auto gw = se::Gateway::from_config(c);
    gw.data_dir(dir);
    Sunk sunk;
    gw.on_batch("p/out", [&](std::span<const se::Record> batch) {
        std::lock_guard lk(sunk.mu);
        sunk.n += batch.size();
        sunk.last = Clock::now();
        sunk.cv.notify_all();
        return se::BatchResult::all(batch.size());
    });
    gw.start();

    std::vector<se::Record> batch(per_push);
    for (std::size_t i = 0; i < per_push; ++i) {
        batch[i].measurement = "m";
        batch[i].tags = {{"device", "d1"}};
        batch[i].fields = {{"v", 1.5}, {"n", std::int64_t{1}}};
    }
    std::vector<double> waits;
    waits.reserve(records / per_push);
    const auto start = Clock::now();
    for (std::size_t done = 0; done < records; done += per_push) {
        for (auto& r : batch) {
            r.time_ns = 1'767'225'600'000'000'000 + static_cast<std::int64_t>(done);
        }
        const auto t0 = Clock::now();
        const se::PushResult res = gw.push_records("p/in", batch);
        waits.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (!res.committed()) {
            std::fprintf(stderr, "push refused: %s\n", res.message.c_str());
            std::exit(1);
        }
    }
    const auto pushed = Clock::now();
    {
        std::unique_lock lk(sunk.mu);
        sunk.cv.wait(lk, [&] { return sunk.n >= records; });
    }
    gw.stop();
    std::filesystem::remove_all(dir);

    std::sort(waits.begin(), waits.end());
    const double push_s = std::chrono::duration<double>(pushed - start).count();
    const double sink_s = std::chrono::duration<double>(sunk.last - start).count();
    std::printf("%-28s %8.0f records/s committed, commit wait median %6.0f us p99 %6.0f us; "
                "%8.0f records/s reached the callback sink\n",
                what, static_cast<double>(records) / push_s, waits[waits.size() / 2],
                waits[waits.size() * 99 / 100], static_cast<double>(records) / sink_s);
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000;
    std::printf("libsluice, public API: callback source -> buffer -> callback sink (buffer under %s)\n",
                std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp");
    run("1 record per push:", n, 1);
    run("100 records per push:", n * 20, 100);
    return 0;
}
