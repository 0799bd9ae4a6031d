// An example of libsluice: a program that embeds the gateway (docs/library.md).
//
// It pushes readings into a `callback` source, a tumbling one-second window
// counts and sums them, and a `callback` sink writes each closed window to a
// file before it confirms it. tests/embed/test_embed.py builds it against
// the installed package (find_package(sluice), and pkg-config) and runs it,
// also killed with SIGKILL half-way, to show that nothing confirmed is lost.
//
//   sluice-embed-example DATA_DIR OUT ACKED run N   push N readings, close their windows, stop
//   sluice-embed-example DATA_DIR OUT ACKED produce push readings until killed
//   sluice-embed-example DATA_DIR OUT ACKED drain   go on after a crash: close the
//                                                   windows of what was acknowledged, stop
//
// Reading i has the time kBase + i * 100 ms and the value i. Its number is
// appended to ACKED once push_records() returned Committed; each window the
// sink gets is appended to OUT as "<window start ns> <count> <sum>".

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>

#include <sluice/sluice.hpp>

namespace se = sluice::embed;

namespace {

constexpr std::int64_t kBase = 1'767'225'600'000'000'000;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kStep = 100'000'000;                // 100 ms: ten readings a window
constexpr std::int64_t kWindow = 1'000'000'000;

std::int64_t as_int(const se::Value* v) {
    if (v == nullptr) {
        return 0;
    }
    if (const auto* i = std::get_if<std::int64_t>(v)) {
        return *i;
    }
    if (const auto* d = std::get_if<double>(v)) {
        return static_cast<std::int64_t>(*d);
    }
    return 0;
}

void append_line(int fd, const std::string& line) {
    // One write(2) per line: once it returned the line is the kernel's, and
    // SIGKILL of this process cannot lose it.
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        throw std::runtime_error("cannot write the output file");
    }
}

// The windows the sink has written, so the program can wait for one.
class Windows {
public:
    void seen(std::int64_t start) {
        std::lock_guard lk(mu_);
        if (start > latest_) {
            latest_ = start;
        }
        cv_.notify_all();
    }
    bool wait_until(std::int64_t start, std::chrono::seconds timeout) {
        std::unique_lock lk(mu_);
        return cv_.wait_for(lk, timeout, [&] { return latest_ >= start; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::int64_t latest_ = -1;
};

se::Record reading(std::int64_t i) {
    se::Record r;
    r.time_ns = kBase + i * kStep;
    r.measurement = "reading";
    r.tags = {{"device", "pump-1"}};
    r.fields = {{"v", i}};
    return r;
}

std::int64_t window_of(std::int64_t i) { return (kBase + i * kStep) / kWindow * kWindow; }

std::int64_t last_acked(const std::string& path) {
    std::ifstream in(path);
    std::int64_t i = -1;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            i = std::stoll(line);
        }
    }
    return i;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::cerr << "usage: " << argv[0] << " DATA_DIR OUT ACKED run N | produce | drain\n";
        return 2;
    }
    const std::string data_dir = argv[1], out_path = argv[2], acked_path = argv[3], mode = argv[4];
    if (se::api_version() != SLUICE_EMBED_API_VERSION) {
        std::cerr << "libsluice implements API " << se::api_version() << ", this program was built for "
                  << SLUICE_EMBED_API_VERSION << "\n";
        return 1;
    }

    // The configuration, in code (a TOML string or file works the same way).
    se::Config config;
    config.set("gateway", "log_level", "warn");
    config.pipeline_option("readings", "batch_max_delay", "20ms");
    config.source("readings", "callback", {{"id", "in"}, {"decode", std::vector<std::string>{"record"}}});
    config.stage("readings", "window",
                 {{"kind", "tumbling"}, {"size", "1s"}, {"fields", std::vector<std::string>{"v"}},
                  {"aggregates", std::vector<std::string>{"count", "sum"}}});
    config.sink("readings", "callback", {{"id", "out"}, {"retry_initial", "50ms"}});

    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int acked = ::open(acked_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0 || acked < 0) {
        std::perror("open");
        return 1;
    }
    // Declared before the gateway: its handler uses it until the gateway is gone.
    Windows windows;
    try {
        auto gateway = se::Gateway::from_config(config);
        gateway.data_dir(data_dir);

        // Only what this returns as confirmed leaves the buffer.
        gateway.on_batch("readings/out", [&](std::span<const se::Record> batch) {
            for (const auto& w : batch) {
                const std::int64_t start = as_int(w.field("window_start"));
                append_line(out, std::to_string(start) + " " + std::to_string(as_int(w.field("count"))) + " " +
                                     std::to_string(as_int(w.field("v_sum"))) + "\n");
                windows.seen(start);
            }
            return se::BatchResult::all(batch.size());
        });
        gateway.start();

        auto push = [&](std::int64_t i) {
            const se::Record r = reading(i);
            for (;;) {
                const se::PushResult res = gateway.push_records("readings/in", std::span<const se::Record>(&r, 1));
                if (res.committed()) {
                    append_line(acked, std::to_string(i) + "\n");
                    return;
                }
                if (res.status != se::PushStatus::Busy) {
                    throw std::runtime_error("push refused: " + res.message);
                }
            }
        };
        // A reading far past the others closes every window before it.
        auto close_windows_up_to = [&](std::int64_t last) {
            const se::Record closer = reading(last + 100);
            if (!gateway.push_records("readings/in", std::span<const se::Record>(&closer, 1)).committed()) {
                throw std::runtime_error("the closing reading was refused");
            }
            if (!windows.wait_until(window_of(last), std::chrono::seconds(60))) {
                throw std::runtime_error("the last window did not reach the sink within 60 s");
            }
        };

        if (mode == "run" && argc > 5) {
            const std::int64_t n = std::atoll(argv[5]);
            for (std::int64_t i = 0; i < n; ++i) {
                push(i);
            }
            close_windows_up_to(n - 1);
        } else if (mode == "produce") {
            for (std::int64_t i = last_acked(acked_path) + 1;; ++i) {
                push(i);
            }
        } else if (mode == "drain") {
            const std::int64_t last = last_acked(acked_path);
            if (last >= 0) {
                close_windows_up_to(last);
            }
        } else {
            std::cerr << "unknown mode " << mode << "\n";
            return 2;
        }
        const se::Stats stats = gateway.stats();
        gateway.stop();
        std::cout << "records in " << stats.records_in << ", buffered " << stats.buffered << "\n";
    } catch (const se::Error& e) {
        std::cerr << "sluice: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    ::close(out);
    ::close(acked);
    return 0;
}
