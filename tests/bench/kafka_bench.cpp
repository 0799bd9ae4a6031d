// sluice_bench_kafka [records] [dir] [rounds] [config] [which]
//
// buffer → kafka sink → librdkafka mock cluster (in process, 3 brokers, a
// topic of 4 partitions), from a filled buffer, driven by the runtime's own
// sink runner (src/runtime/sink_runner.*: read a batch; while it is sent,
// trim the rows sent before and read the next batch, which the Kafka sink
// produces before the last one's delivery reports are in; move the cursor
// over each batch in order), next to its floor measured in the same run:
// librdkafka alone, producing the same messages (payloads, keys, headers and
// timestamps formatted before the clock starts) to the same mock cluster
// with the same producer properties (the sink's own option mapping: acks,
// idempotence, linger, batch size, compression), in batches of the same
// size, each batch produced before the last one's reports are awaited, as
// the sink does with a backlog.
//
// Each round fills a fresh buffer (not timed) and runs sluice and the floor,
// alternately first; it prints medians of `rounds` (default 3) rounds, as
// records/s (wall) and CPU-s per 1M records (the steady figure on a busy
// host). CPU-s are the whole process's, mock cluster included; the breakdown
// line says how much of it was the mock, the runner's read-ahead thread
// (buffer read + trim), the runner's own thread (format, produce, delivery
// reports, cursor commits) and librdkafka's threads.
//
// The last configuration runs the transactional sink (transactional_id)
// against the idempotent sink instead, alternately, both through the runner.
//
// config: -1 (all, the default) or the index of one configuration; which:
// both (default), sluice or floor (for profiling one side).
// Build it Release (no sanitizers) for real figures.

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "buffer/buffer.hpp"
#include "config/resolve.hpp"
#include "core/identity.hpp"
#include "core/metrics.hpp"
#include "text/payload.hpp"
#include "runtime/sink_runner.hpp"
#include "sinks/kafka/kafka_sink.hpp"

namespace {

namespace fs = std::filesystem;
using sluice::Record;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

double process_cpu() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double thread_cpu() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// CPU of this process's threads whose name starts with `prefix`, the main
// thread left out when `skip_main`. The mock cluster's threads ("rdk:mock*")
// live as long as the cluster, so the difference over a run is its share.
double threads_cpu(const std::string& prefix, bool skip_main = false) {
    static const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const std::string main_tid = std::to_string(::getpid());
    double total = 0;
    DIR* d = ::opendir("/proc/self/task");
    if (d == nullptr) {
        return 0;
    }
    while (const dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.' || (skip_main && main_tid == e->d_name)) {
            continue;
        }
        const std::string base = std::string("/proc/self/task/") + e->d_name;
        std::ifstream comm(base + "/comm");
        std::string name;
        std::getline(comm, name);
        if (name.rfind(prefix, 0) != 0) {
            continue;
        }
        std::ifstream stat(base + "/stat");
        std::string line;
        std::getline(stat, line);
        const auto close = line.rfind(')');
        if (close == std::string::npos) {
            continue;
        }
        std::istringstream rest(line.substr(close + 2));
        std::string field;
        double utime = 0;
        double stime = 0;
        for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15: utime, stime
            if (i == 14) {
                utime = std::strtod(field.c_str(), nullptr);
            } else if (i == 15) {
                stime = std::strtod(field.c_str(), nullptr);
            }
        }
        total += (utime + stime) / tick;
    }
    ::closedir(d);
    return total;
}

double mock_cpu() {
    return threads_cpu("rdk:mock");
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

// A fresh buffer for each sluice run, so each pays for trimming the rows it
// delivered, as a lone sink does.
std::unique_ptr<sluice::Buffer> fill(const fs::path& path, std::size_t records, const std::string& sink) {
    sluice::BufferOptions bo;
    bo.path = path;
    bo.sinks = {sink};
    bo.max_bytes = 4ull << 30;
    auto buf = sluice::Buffer::open(bo);
    for (std::size_t done = 0; done < records; done += 1000) {
        auto rs = make_batch(done, std::min<std::size_t>(1000, records - done));
        if (!buf->append(rs, {}, {}).ok) {
            std::fprintf(stderr, "append failed\n");
            std::exit(1);
        }
    }
    return buf;
}

struct Config {
    std::size_t batch;
    std::size_t growth;  // the sink's batch_growth; the floor produces batches of batch * growth
    const char* format;
    const char* compression;
    bool transactional = false;  // transactional_id set; compared with the idempotent sink, not the floor
};

sluice::Options options_for(const Config& c, const std::string& bootstrap, int round = 0) {
    const auto& d = sluice::components::sink_kafka();
    sluice::RawTable t = {text("brokers", bootstrap), text("topic", "bench"), text("key", "{gateway}/{node}"),
                          text("format", c.format), text("compression", c.compression),
                          text("rdkafka_properties", "batch.num.messages=10000,queue.buffering.max.messages=200000")};
    if (c.transactional) {
        t.push_back(text("transactional_id", fmt::format("bench-{}", round)));
    }
    sluice::Diagnostics diag;
    auto opts = sluice::resolve_options(d.options, t, "sink 'kafka'", {}, diag);
    if (!diag.empty()) {
        std::fprintf(stderr, "%s\n", diag.str().c_str());
        std::exit(1);
    }
    return opts;
}

// One timed run. CPU-s are process-wide; the parts are what could be told
// apart (the rest of `cpu` is librdkafka's own threads).
struct Run {
    std::size_t records = 0;
    double wall = 0;
    double cpu = 0;
    double mock = 0;
    double buffer = 0;  // sluice: the read-ahead thread (buffer read + trim)
    double app = 0;     // the producing thread: the sink runner's, or the floor's loop
};

// The Kafka sink as the runner sees it, except that once the first batch
// came back (its produce requests opened the connections) the mock's
// sockets get TCP_NODELAY, as a broker's have (see nodelay_everywhere).
class NodelayAfterFirst final : public sluice::Sink {
public:
    explicit NodelayAfterFirst(sluice::Sink& sink) : sink_(sink) {}
    void open(sluice::SinkContext& ctx) override { sink_.open(ctx); }
    sluice::SendResult send(std::span<const Record> batch) override { return after(sink_.send(batch)); }
    bool overlaps() const override { return sink_.overlaps(); }
    void start(std::span<const Record> batch) override { sink_.start(batch); }
    sluice::SendResult finish() override { return after(sink_.finish()); }
    void close() override { sink_.close(); }

private:
    sluice::SendResult after(sluice::SendResult r) {
        if (!done_) {
            nodelay_everywhere();
            done_ = true;
        }
        return r;
    }
    sluice::Sink& sink_;
    bool done_ = false;
};

Run run_sluice(const fs::path& dir, std::size_t records, const Config& c, const sluice::Options& opts,
               int round) {
    const std::string name = fmt::format("k{}x{}-{}-{}{}-r{}", c.batch, c.growth, c.format, c.compression,
                                         c.transactional ? "-txn" : "", round);
    auto buffer = fill(dir / (name + ".db"), records, name);
    auto sink = sluice::components::sink_kafka().make_sink(opts);
    sluice::SinkRunnerOptions ro;
    ro.id = name;
    ro.label = "bench/" + name;
    ro.batch_size = c.batch;
    ro.batch_max = c.batch * c.growth;
    sluice::SinkStatus status;
    std::atomic<bool> stop{false};
    std::atomic<bool> input_done{true};  // everything is in the buffer: run() returns once it is delivered
    sluice::Clock clock;
    Run out;
    {
        NodelayAfterFirst first_batch(*sink);
        sluice::SinkRunner runner(ro, first_batch, *buffer, status, stop, input_done, clock);
        const std::string thread_name = ("sink:" + name).substr(0, 15);  // what the kernel keeps of it
        const auto t0 = Clock::now();
        const double c0 = process_cpu();
        const double m0 = mock_cpu();
        const double a0 = thread_cpu();
        runner.run();  // on this thread, named sink:<name> by the runner
        out.app = thread_cpu() - a0;
        out.wall = seconds_since(t0);
        out.cpu = process_cpu() - c0;
        out.mock = mock_cpu() - m0;
        out.buffer = threads_cpu(thread_name, true);  // its read-ahead thread, started by this run
        out.records = runner.metrics().sent->value();
        runner.close();
        if (out.records != records || !status.healthy) {
            std::fprintf(stderr, "sluice: delivered %zu of %zu: %s\n", out.records, records, status.last_error.c_str());
            std::exit(1);
        }
    }
    sink.reset();
    buffer.reset();
    std::error_code ec;
    for (const char* suffix : {".db", ".db-wal", ".db-shm"}) {
        fs::remove(dir / (name + suffix), ec);
    }
    return out;
}

// The floor's messages, formatted before the clock starts: payloads and keys
// in two arenas, as librdkafka alone would be handed them.
struct Prepared {
    std::string payloads;
    std::string keys;
    std::vector<std::size_t> payload_end;
    std::vector<std::size_t> key_end;
    std::vector<std::int64_t> ts_ms;
    std::string origin = "sensors/room1";
    std::string gateway = sluice::gateway_id();
};

Prepared prepare(std::size_t records, const Config& c) {
    Prepared p;
    const auto format = *sluice::payload::parse_format(c.format);
    std::string payload;
    for (std::size_t done = 0; done < records; done += 1000) {
        for (const Record& r : make_batch(done, std::min<std::size_t>(1000, records - done))) {
            sluice::payload::encode_payload(format, "payload", r, payload, nullptr);
            p.payloads += payload;
            p.payload_end.push_back(p.payloads.size());
            p.keys += *r.tag("gateway");  // the key template "{gateway}/{node}"
            p.keys += '/';
            p.keys += *r.tag("node");
            p.key_end.push_back(p.keys.size());
            p.ts_ms.push_back(r.time_ns / 1'000'000);
        }
    }
    return p;
}

struct FloorReports {
    std::size_t ok = 0;
    std::size_t failed = 0;
};

void floor_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* r = static_cast<FloorReports*>(opaque);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++r->ok;
    } else {
        ++r->failed;
    }
}

// librdkafka alone: the same producer properties (the sink's own mapping of
// the same options), the same messages, produced in batches of the same size
// (the grown size when the sink grows its batches), each batch produced
// before the last one's delivery reports are awaited, as the sink does with
// a backlog.
Run run_floor(const Prepared& p, const Config& c, const sluice::Options& opts, int msgflags) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& prop : sluice::kafka::producer_properties(opts)) {
        if (rd_kafka_conf_set(conf, prop.key.c_str(), prop.value.c_str(), errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            std::fprintf(stderr, "floor: %s\n", errstr);
            std::exit(1);
        }
    }
    FloorReports reports;
    rd_kafka_conf_set_opaque(conf, &reports);
    rd_kafka_conf_set_dr_msg_cb(conf, &floor_delivery);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        std::fprintf(stderr, "floor: %s\n", errstr);
        std::exit(1);
    }
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, "bench", nullptr);
    const std::size_t n = p.payload_end.size();
    Run out;
    const auto t0 = Clock::now();
    const double c0 = process_cpu();
    const double m0 = mock_cpu();
    const double a0 = thread_cpu();
    std::size_t produced = 0;
    const std::size_t batch = c.batch * c.growth;
    for (std::size_t first = 0; first < n; first += batch) {
        const std::size_t last = std::min(n, first + batch);
        for (std::size_t i = first; i < last; ++i) {
            const std::size_t pb = i == 0 ? 0 : p.payload_end[i - 1];
            const std::size_t kb = i == 0 ? 0 : p.key_end[i - 1];
            char* const value = const_cast<char*>(p.payloads.data()) + pb;
            const char* const key = p.keys.data() + kb;
            for (;;) {
                const auto err = rd_kafka_producev(
                    rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(msgflags),
                    RD_KAFKA_V_VALUE(value, p.payload_end[i] - pb),
                    RD_KAFKA_V_KEY(key, p.key_end[i] - kb), RD_KAFKA_V_TIMESTAMP(p.ts_ms[i]),
                    RD_KAFKA_V_HEADER("origin", p.origin.data(), static_cast<ssize_t>(p.origin.size())),
                    RD_KAFKA_V_HEADER("gateway", p.gateway.data(), static_cast<ssize_t>(p.gateway.size())),
                    RD_KAFKA_V_OPAQUE(nullptr), RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    break;
                }
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    std::fprintf(stderr, "floor: produce: %s\n", rd_kafka_err2str(err));
                    std::exit(1);
                }
                rd_kafka_poll(rk, 10);
            }
        }
        // The batch before this one is awaited; this one is on its way.
        while (reports.ok + reports.failed < produced) {
            rd_kafka_poll(rk, 100);
        }
        produced += last - first;
        if (first == 0) {
            while (reports.ok + reports.failed < produced) {
                rd_kafka_flush(rk, 100);  // the first batch opens the connections
            }
            nodelay_everywhere();
        }
    }
    while (reports.ok + reports.failed < produced) {
        rd_kafka_flush(rk, 100);
    }
    out.app = thread_cpu() - a0;
    out.wall = seconds_since(t0);
    out.cpu = process_cpu() - c0;
    out.mock = mock_cpu() - m0;
    out.records = reports.ok;
    if (reports.failed != 0) {
        std::fprintf(stderr, "floor: %zu delivery reports failed\n", reports.failed);
        std::exit(1);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

struct Medians {
    double rate;
    double cpu;  // CPU-s per 1M records
    double mock;
    double buffer;
    double app;
    double rdkafka;
};

Medians medians(const std::vector<Run>& runs) {
    auto per_m = [](const Run& r, double x) { return x / static_cast<double>(r.records) * 1e6; };
    std::vector<double> rate, cpu, mock, buffer, app, rdkafka;
    for (const Run& r : runs) {
        rate.push_back(static_cast<double>(r.records) / r.wall);
        cpu.push_back(per_m(r, r.cpu));
        mock.push_back(per_m(r, r.mock));
        buffer.push_back(per_m(r, r.buffer));
        app.push_back(per_m(r, r.app));
        rdkafka.push_back(per_m(r, r.cpu - r.mock - r.buffer - r.app));
    }
    return {median(rate), median(cpu), median(mock), median(buffer), median(app), median(rdkafka)};
}

// The transactional sink (one transaction a batch, the cursor in it) and
// the idempotent one, the same options otherwise, alternately first.
void compare_transactional(const fs::path& dir, std::size_t records, const Config& c, const std::string& bootstrap,
                           int rounds) {
    Config idempotent = c;
    idempotent.transactional = false;
    std::vector<Run> txn_runs;
    std::vector<Run> idem_runs;
    for (int round = 0; round < rounds; ++round) {
        const bool txn_first = round % 2 == 0;
        for (int side = 0; side < 2; ++side) {
            if ((side == 0) == txn_first) {
                txn_runs.push_back(run_sluice(dir, records, c, options_for(c, bootstrap, round), round));
            } else {
                idem_runs.push_back(run_sluice(dir, records, idempotent, options_for(idempotent, bootstrap), round));
            }
        }
    }
    const Medians t = medians(txn_runs);
    const Medians i = medians(idem_runs);
    std::printf("buffer -> kafka mock, batch %zu growing to %zu, %s %s: transactional sink %7.0f records/s %5.2f "
                "CPU-s/1M | idempotent sink %7.0f records/s %5.2f CPU-s/1M | transactional/idempotent: %.2fx the "
                "rate, %.2fx the CPU\n",
                c.batch, c.batch * c.growth, c.format, c.compression, t.rate, t.cpu, i.rate, i.cpu,
                i.rate > 0 ? t.rate / i.rate : 0, i.cpu > 0 ? t.cpu / i.cpu : 0);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t records = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 500'000;
    const fs::path base = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path();
    const int rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 3;
    const int only = argc > 4 ? std::atoi(argv[4]) : -1;
    const std::string which = argc > 5 ? argv[5] : "both";
    // The floor produces from its arena without a copy (the payloads outlive
    // the run); SLUICE_BENCH_FLOOR_COPY=1 makes it copy as RD_KAFKA_MSG_F_COPY does.
    const char* copy_env = std::getenv("SLUICE_BENCH_FLOOR_COPY");
    const int floor_flags = copy_env != nullptr && copy_env[0] == '1' ? RD_KAFKA_MSG_F_COPY : 0;
    const fs::path dir = base / ("sluice-kafka-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);

    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);  // no "no bootstrap.servers" notice
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, 3);
    rd_kafka_mock_topic_create(mc, "bench", 4, 1);
    const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mc);

    // The sink's defaults (batch_size 1000, batch_growth 4) first; then fixed
    // batches of 1000 and 10000.
    // Last, the transactional sink against the idempotent one (the same
    // options but transactional_id), alternately.
    const Config configs[] = {{1000, 4, "json", "lz4"},
                              {1000, 1, "json", "lz4"},
                              {10000, 1, "json", "lz4"},
                              {10000, 1, "influx", "none"},
                              {1000, 4, "json", "lz4", true}};
    std::printf("kafka: buffer -> kafka sink (the runtime's sink runner) -> librdkafka mock cluster (in process), %zu "
                "records a run, next to librdkafka alone producing the same messages; medians of %d alternating "
                "rounds\n",
                records, rounds);
    for (int ci = 0; ci < static_cast<int>(std::size(configs)); ++ci) {
        if (only >= 0 && ci != only) {
            continue;
        }
        const Config& c = configs[ci];
        if (c.transactional) {
            compare_transactional(dir, records, c, bootstrap, rounds);
            continue;
        }
        const auto opts = options_for(c, bootstrap);
        const Prepared prepared = which == "sluice" ? Prepared{} : prepare(records, c);
        std::vector<Run> sluice_runs;
        std::vector<Run> floor_runs;
        for (int round = 0; round < rounds; ++round) {
            const bool sluice_first = round % 2 == 0;
            for (int side = 0; side < 2; ++side) {
                const bool sluice_turn = (side == 0) == sluice_first;
                if (sluice_turn && which != "floor") {
                    sluice_runs.push_back(run_sluice(dir, records, c, opts, round));
                } else if (!sluice_turn && which != "sluice") {
                    floor_runs.push_back(run_floor(prepared, c, opts, floor_flags));
                }
            }
        }
        const double avg_size = static_cast<double>(prepared.payloads.size()) / static_cast<double>(records);  // 0: not prepared
        const Medians s = medians(sluice_runs);
        const Medians f = medians(floor_runs);
        const std::string batch =
            c.growth > 1 ? fmt::format("{}, growing to {}", c.batch, c.batch * c.growth) : std::to_string(c.batch);
        std::printf("buffer -> kafka mock, batch %-17s %-6s %-4s (%.0f B): sluice %7.0f records/s %5.2f CPU-s/1M | "
                    "librdkafka alone %7.0f records/s %5.2f CPU-s/1M | sluice/alone: %.2fx the rate, %.2fx the "
                    "CPU\n",
                    batch.c_str(), c.format, c.compression, avg_size, s.rate, s.cpu, f.rate, f.cpu,
                    f.rate > 0 ? s.rate / f.rate : 0, f.cpu > 0 ? s.cpu / f.cpu : 0);
        std::printf("    CPU-s/1M, sluice: read-ahead thread (buffer read, trim) %.2f, runner thread (format, "
                    "produce, reports, cursor) %.2f, librdkafka threads %.2f, mock cluster %.2f\n",
                    s.buffer, s.app, s.rdkafka, s.mock);
        std::printf("    CPU-s/1M, alone:  producing thread %.2f, librdkafka threads %.2f, mock cluster %.2f\n", f.app,
                    f.rdkafka, f.mock);
        std::fflush(stdout);
    }

    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
