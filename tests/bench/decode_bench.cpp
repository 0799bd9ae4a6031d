// Decoder throughput on one core: small JSON objects and influx lines like a
// sensor sends them (and the same readings as CBOR and MessagePack maps and
// as protobuf messages, Sparkplug B DDATA by alias and Avro records), decoded into a reused output vector cleared every
// 1000 records (as the pipeline worker does per batch).
//
//   sluice_bench_decode [records [only]]   (records default 2000000; only:
//                                            json, influx, csv, logfmt, cbor,
//                                            msgpack, protobuf, sparkplug_b,
//                                            avro or chain)
//
// Prints one line per decoder: "decode json: 2.41 M records/s (1 core)".
// Rates use the thread's CPU time, so a busy machine (other builds, other
// benchmarks) does not make the decoders look slower than they are; the
// wall time is printed alongside.
#include <time.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "decoders/avro/avro.hpp"
#include "decoders/cbor/cbor.hpp"
#include "decoders/chain.hpp"
#include "decoders/csv/csv.hpp"
#include "decoders/influx/influx.hpp"
#include "decoders/json/json.hpp"
#include "decoders/logfmt/logfmt.hpp"
#include "decoders/msgpack/msgpack.hpp"
#include "decoders/protobuf/protobuf.hpp"
#include "decoders/sparkplug_b/sparkplug_b.hpp"
#include "../unit/avro_writer.hpp"
#include "../unit/protobuf_writer.hpp"

namespace {

using namespace sluice;

constexpr std::size_t kBatch = 1000;
constexpr std::size_t kDistinctFrames = 1024;

// A pool of distinct frames, cycled: realistic variety without holding
// millions of payloads in memory.
template <class Make>
std::vector<Frame> frames(Make make) {
    std::vector<Frame> v(kDistinctFrames);
    for (std::size_t i = 0; i < v.size(); ++i) {
        v[i].payload = make(i);
        v[i].origin = "sensors/hall";
        v[i].arrival_ns = 1;
    }
    return v;
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Outcome {
    double seconds = 0;  // CPU
    double wall = 0;
    std::size_t records = 0;
    std::size_t fields = 0;
    bool ok = true;
};

template <class DecodeOne>
Outcome run(const std::vector<Frame>& pool, std::size_t n, DecodeOne decode_one) {
    std::vector<Record> out;
    out.reserve(kBatch + 16);
    Outcome o;
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = thread_cpu_seconds();
    for (std::size_t i = 0; i < n; ++i) {
        if (!decode_one(pool[i % pool.size()], out)) {
            o.ok = false;
            break;
        }
        if (out.size() >= kBatch) {
            o.records += out.size();
            for (const auto& r : out) {
                o.fields += r.fields.size();
            }
            out.clear();
        }
    }
    o.records += out.size();
    o.seconds = thread_cpu_seconds() - cpu_start;
    o.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return o;
}

void report(const char* name, const Outcome& o) {
    if (!o.ok) {
        std::printf("decode %s: FAILED (a frame did not decode)\n", name);
        return;
    }
    std::printf("decode %s: %.2f M records/s (1 core)  [%zu records, %zu fields, %.2f s CPU, %.2f s wall]\n", name,
                static_cast<double>(o.records) / o.seconds / 1e6, o.records, o.fields, o.seconds, o.wall);
}

Outcome bench_decoder(Decoder& d, const std::vector<Frame>& pool, std::size_t n) {
    std::string error;
    return run(pool, n, [&](const Frame& f, std::vector<Record>& out) {
        return d.decode(f, out, error) == DecodeStatus::Ok;
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t n = 2'000'000;
    const std::string only = argc > 2 ? argv[2] : "";
    auto wanted = [&](std::string_view name) { return only.empty() || only == name; };
    if (argc > 1) {
        n = std::strtoull(argv[1], nullptr, 10);
        if (n == 0) {
            std::fprintf(stderr, "usage: %s [records]\n", argv[0]);
            return 2;
        }
    }

    const auto json = frames([](std::size_t i) {
        return fmt::format(R"({{"sensor":"t{}","temp":{}.{},"hum":{},"ts":{}}})", i % 16, 15 + i % 10, i % 10,
                           30 + i % 40, 1700000000 + i);
    });
    const auto influx = frames([](std::size_t i) {
        return fmt::format("climate,sensor=t{},room=hall temp={}.{},hum={}i {}", i % 16, 15 + i % 10, i % 10,
                           30 + i % 40, 1700000000000000000 + i);
    });
    const auto csv = frames([](std::size_t i) {
        return fmt::format("{},t{},{}.{},{}", 1700000000 + i, i % 16, 15 + i % 10, i % 10, 30 + i % 40);
    });
    const auto logfmt = frames([](std::size_t i) {
        return fmt::format("ts={} sensor=t{} temp={}.{} hum={}", 1700000000 + i, i % 16, 15 + i % 10, i % 10,
                           30 + i % 40);
    });

    // The JSON objects' readings as binary maps: {"sensor": "tN", "temp":
    // float64, "hum": int, "ts": epoch seconds}, a text key's head byte
    // being the format's own (CBOR 0x60 + length, MessagePack 0xa0 + length).
    auto binary = [](bool cbor, std::size_t i) {
        std::string b;
        auto text = [&](std::string_view s) {
            b += static_cast<char>((cbor ? 0x60 : 0xa0) + s.size());
            b += s;
        };
        auto be = [&](std::uint64_t v, int bytes) {
            for (int k = bytes - 1; k >= 0; --k) {
                b += static_cast<char>((v >> (8 * k)) & 0xff);
            }
        };
        b += static_cast<char>(cbor ? 0xa4 : 0x84);
        text("sensor");
        text(fmt::format("t{}", i % 16));
        text("temp");
        b += static_cast<char>(cbor ? 0xfb : 0xcb);
        be(std::bit_cast<std::uint64_t>(static_cast<double>(15 + i % 10) + static_cast<double>(i % 10) / 10), 8);
        text("hum");
        b += static_cast<char>(cbor ? 0x18 : 0xcc);
        be(30 + i % 40, 1);
        text("ts");
        b += static_cast<char>(cbor ? 0x1a : 0xce);
        be(1700000000 + i, 4);
        return b;
    };
    const auto cbor = frames([&](std::size_t i) { return binary(true, i); });
    const auto msgpack = frames([&](std::size_t i) { return binary(false, i); });
    // message Reading { string sensor = 1; double temp = 2; int32 hum = 3; int64 ts = 4; }
    namespace pbw = testing::pb;
    const auto protobuf = frames([](std::size_t i) {
        return pbw::Message()
            .bytes(1, fmt::format("t{}", i % 16))
            .f64(2, static_cast<double>(15 + i % 10) + static_cast<double>(i % 10) / 10)
            .varint(3, 30 + i % 40)
            .varint(4, 1700000000 + i)
            .str();
    });

    if (wanted("json")) {
        auto d = decoders::make_json_decoder();
        report("json", bench_decoder(*d, json, n));
    }
    if (wanted("influx")) {
        auto d = decoders::make_influx_decoder();
        report("influx", bench_decoder(*d, influx, n));
    }
    if (wanted("csv")) {
        decoders::CsvConfig c;
        c.columns = {"time", "sensor", "temp", "hum"};
        auto d = decoders::make_csv_decoder(c);
        report("csv", bench_decoder(*d, csv, n));
    }
    if (wanted("logfmt")) {
        auto d = decoders::make_logfmt_decoder();
        report("logfmt", bench_decoder(*d, logfmt, n));
    }
    if (wanted("cbor")) {
        auto d = decoders::make_cbor_decoder();
        report("cbor", bench_decoder(*d, cbor, n));
    }
    if (wanted("msgpack")) {
        auto d = decoders::make_msgpack_decoder();
        report("msgpack", bench_decoder(*d, msgpack, n));
    }
    if (wanted("protobuf")) {
        decoders::ProtobufConfig c;
        c.schema = decoders::pb::Schema::load(
            pbw::descriptor_set({pbw::file("bench.proto", "bench",
                                           {pbw::message_type("Reading", {{"sensor", 1, pbw::kString},
                                                                          {"temp", 2, pbw::kDouble},
                                                                          {"hum", 3, pbw::kInt32},
                                                                          {"ts", 4, pbw::kInt64}})})}),
            "bench.Reading");
        auto d = decoders::make_protobuf_decoder(std::move(c));
        report("protobuf", bench_decoder(*d, protobuf, n));
    }
    if (wanted("sparkplug_b")) {
        // A device's DDATA by alias (temp, hum, sensor) after its DBIRTH,
        // 16 devices of one edge node.
        auto metric = [](std::uint64_t alias, auto&& set) {
            pbw::Message m;
            m.varint(2, alias);
            set(m);
            return m;
        };
        auto d = decoders::make_sparkplug_decoder();
        std::string error;
        std::vector<Record> births;
        for (int dev = 0; dev < 16; ++dev) {
            pbw::Message birth;
            birth.varint(1, 1700000000000);
            birth.message(2, pbw::Message().bytes(1, "temp").varint(2, 1).varint(4, 10).f64(13, 20));
            birth.message(2, pbw::Message().bytes(1, "hum").varint(2, 2).varint(4, 3).varint(10, 50));
            birth.message(2, pbw::Message().bytes(1, "sensor").varint(2, 3).varint(4, 12).bytes(15, "t"));
            Frame f;
            f.origin = fmt::format("spBv1.0/plant/DBIRTH/gw1/dev{}", dev);
            f.payload = birth.str();
            d->decode(f, births, error);
        }
        std::vector<Frame> ddata(kDistinctFrames);
        for (std::size_t i = 0; i < ddata.size(); ++i) {
            pbw::Message p;
            p.varint(1, 1700000000000 + i);
            p.message(2, metric(1, [&](pbw::Message& m) {
                m.f64(13, static_cast<double>(15 + i % 10) + static_cast<double>(i % 10) / 10);
            }));
            p.message(2, metric(2, [&](pbw::Message& m) { m.varint(10, 30 + i % 40); }));
            p.message(2, metric(3, [&](pbw::Message& m) { m.bytes(15, fmt::format("t{}", i % 16)); }));
            p.varint(3, i % 256);
            ddata[i].origin = fmt::format("spBv1.0/plant/DDATA/gw1/dev{}", i % 16);
            ddata[i].payload = p.str();
            ddata[i].arrival_ns = 1;
        }
        report("sparkplug_b", bench_decoder(*d, ddata, n));
    }
    if (wanted("avro")) {
        // {"sensor": string, "temp": double, "hum": int, "ts": long}, plain binary.
        const auto avro = frames([](std::size_t i) {
            testing::avro::Datum d;
            d.str(fmt::format("t{}", i % 16))
                .dbl(static_cast<double>(15 + i % 10) + static_cast<double>(i % 10) / 10)
                .lng(static_cast<std::int64_t>(30 + i % 40))
                .lng(static_cast<std::int64_t>(1700000000 + i));
            return d.b;
        });
        decoders::AvroConfig c;
        c.schema = decoders::avro::Schema::parse(
            R"({"type":"record","name":"Reading","fields":[{"name":"sensor","type":"string"},)"
            R"({"name":"temp","type":"double"},{"name":"hum","type":"int"},{"name":"ts","type":"long"}]})");
        auto d = decoders::make_avro_decoder(std::move(c));
        report("avro", bench_decoder(*d, avro, n));
    }
    if (wanted("chain")) {
        // Influx lines through a chain that asks json first: the fallback cost.
        std::vector<DecoderChain::Entry> e;
        e.push_back({"json", decoders::make_json_decoder()});
        e.push_back({"influx", decoders::make_influx_decoder()});
        DecoderChain chain(std::move(e), "bench/chain");
        DeadLetter dead;
        report("chain json,influx (influx lines)",
               run(influx, n, [&](const Frame& f, std::vector<Record>& out) { return chain.decode(f, out, dead); }));
    }
    return 0;
}
