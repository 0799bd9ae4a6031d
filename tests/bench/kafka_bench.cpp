// sluice_bench_kafka [records] [dir]: buffer → kafka sink → librdkafka mock
// cluster (in process, 3 brokers), in records/s from a filled buffer, the
// way the runtime drives a sink (read a batch; send it while the rows sent
// before are trimmed and the next batch is read; commit the cursor).
// Build it Release (no sanitizers) for real figures.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "buffer/buffer.hpp"
#include "config/resolve.hpp"
#include "core/metrics.hpp"
#include "sinks/kafka/kafka_sink.hpp"

namespace {

namespace fs = std::filesystem;
using sluice::Record;

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Kafka brokers set TCP_NODELAY on their connections (so does librdkafka's
// client side once socket.nagle.disable is set); the mock cluster's accepted
// sockets do not, and Nagle plus delayed ACKs then hold responses back for
// 40 ms. Set it on every TCP socket of this process, as a broker would.
void nodelay_everywhere() {
    for (int fd = 3; fd < 4096; ++fd) {
        int type = 0;
        socklen_t len = sizeof type;
        if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM) {
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
    }
}

std::vector<Record> make_batch(std::uint64_t first, std::size_t n) {
    std::vector<Record> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        Record& r = out[i];
        r.time_ns = 1'700'000'000'000'000'000 + static_cast<std::int64_t>(first + i) * 1'000'000;
        r.measurement = "environment";
        r.origin = "sensors/room1";
        r.tags = {{"gateway", "gw-01"}, {"node", fmt::format("n{}", (first + i) % 64)}};
        r.fields = {{"temperature", 21.5 + static_cast<double>(i % 10)},
                    {"seq", static_cast<std::int64_t>(first + i)}};
    }
    return out;
}

sluice::RawEntry text(std::string key, std::string value) {
    sluice::RawEntry e;
    e.key = std::move(key);
    e.value.v = std::move(value);
    e.value.from_text = true;
    return e;
}

// Each configuration gets a buffer of its own, all filled before the first
// run, so each pays for trimming the rows it delivered, as a lone sink does.
std::unique_ptr<sluice::Buffer> fill(const fs::path& dir, std::size_t records, const std::string& sink) {
    sluice::BufferOptions bo;
    bo.path = dir / (sink + ".db");
    bo.sinks = {sink};
    bo.max_bytes = 4ull << 30;
    auto buf = sluice::Buffer::open(bo);
    for (std::size_t done = 0; done < records; done += 1000) {
        auto rs = make_batch(done, 1000);
        if (!buf->append(rs, {}, {}).ok) {
            std::fprintf(stderr, "append failed\n");
            std::exit(1);
        }
    }
    return buf;
}

std::string sink_name(std::size_t batch, const char* format, const char* compression) {
    return fmt::format("k{}-{}-{}", batch, format, compression);
}

void run(sluice::Buffer& buffer, const std::string& bootstrap, std::size_t batch, const char* format,
         const char* compression) {
    auto* buf = &buffer;
    const auto& d = sluice::components::sink_kafka();
    sluice::RawTable t = {text("brokers", bootstrap), text("topic", "bench"), text("key", "{gateway}/{node}"),
                          text("format", format), text("compression", compression),
                          text("rdkafka_properties", "batch.num.messages=10000,queue.buffering.max.messages=200000")};
    sluice::Diagnostics diag;
    auto opts = sluice::resolve_options(d.options, t, "sink 'kafka'", {}, diag);
    if (!diag.empty()) {
        std::fprintf(stderr, "%s\n", diag.str().c_str());
        std::exit(1);
    }
    auto sink = d.make_sink(opts);
    const std::string name = sink_name(batch, format, compression);
    auto metrics = sluice::ComponentMetrics::for_component("bench/" + name, "sink");
    sluice::SinkContext ctx{"bench/" + name, &metrics};
    sink->open(ctx);
    auto reader = buf->reader(name);
    std::vector<Record> rs;
    std::vector<sluice::StoredRecord> got;
    std::vector<sluice::StoredRecord> next;
    bool have_next = false;
    std::size_t sent = 0;
    double send_s = 0;  // inside send(): the sink alone, without buffer reads
    std::vector<double> batch_s;
    double commit_s = 0;  // moving the cursor and trimming the delivered rows
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    for (;;) {
        // As the runtime does: no per-record allocation in steady state, and
        // behind a full batch the next one is read while this one is sent.
        if (have_next) {
            std::swap(got, next);
            have_next = false;
        } else {
            reader->read_into(got, batch);
        }
        if (got.empty()) {
            break;
        }
        if (rs.size() < got.size()) {
            rs.resize(got.size());
        }
        for (std::size_t i = 0; i < got.size(); ++i) {
            std::swap(rs[i], got[i].record);
        }
        const std::span<const Record> sending(rs.data(), got.size());
        std::future<void> reading;
        if (got.size() == batch) {
            reading = std::async(std::launch::async, [buf, &reader, &next, after = got.back().id, batch] {
                buf->trim();
                reader->read_after(after, next, batch);
            });
        }
        const auto s0 = std::chrono::steady_clock::now();
        auto res = sink->send(sending);
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
        send_s += took;
        batch_s.push_back(took);
        if (reading.valid()) {
            reading.get();
            have_next = !next.empty();
        }
        if (!res.error.empty() || res.confirmed != sending.size()) {
            std::fprintf(stderr, "send: %s\n", res.error.c_str());
            std::exit(1);
        }
        const auto k0 = std::chrono::steady_clock::now();
        if (have_next) {
            reader->commit_keep_rows(got.back().id);  // trimmed beside the next send
        } else {
            reader->commit(got.back().id);
        }
        commit_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - k0).count();
        if (sent == 0) {
            nodelay_everywhere();  // the connections exist now
        }
        sent += sending.size();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("buffer -> kafka mock, batch %6zu, %-6s %-5s: %8.0f records/s  (%.0f per CPU-s; send() alone "
                "%.0f records/s; %zu records)\n",
                batch, format, compression, static_cast<double>(sent) / s,
                static_cast<double>(sent) / (cpu_seconds() - c0), static_cast<double>(sent) / send_s, sent);
    std::sort(batch_s.begin(), batch_s.end());
    if (!batch_s.empty()) {
        std::printf("    send() per batch: median %.1f ms, p90 %.1f ms, max %.1f ms over %zu batches; "
                    "commit + trim %.2f s in all\n",
                    batch_s[batch_s.size() / 2] * 1e3, batch_s[batch_s.size() * 9 / 10] * 1e3, batch_s.back() * 1e3,
                    batch_s.size(), commit_s);
    }
    sink->close();
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t records = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 500'000;
    const fs::path base = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path();
    const fs::path dir = base / ("sluice-kafka-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);

    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, 3);
    rd_kafka_mock_topic_create(mc, "bench", 4, 1);
    const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mc);

    struct Config {
        std::size_t batch;
        const char* format;
        const char* compression;
    };
    const Config configs[] = {{1000, "json", "lz4"}, {10000, "json", "lz4"}, {10000, "influx", "none"}};
    std::vector<std::unique_ptr<sluice::Buffer>> buffers;
    for (const auto& c : configs) {
        buffers.push_back(fill(dir, records, sink_name(c.batch, c.format, c.compression)));
    }
    std::fprintf(stderr, "%zu buffers filled with %zu records each\n", buffers.size(), records);
    for (std::size_t i = 0; i < std::size(configs); ++i) {
        run(*buffers[i], bootstrap, configs[i].batch, configs[i].format, configs[i].compression);
    }
    buffers.clear();

    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
