// The window stage reads its state back from the buffer's database at
// start-up, and that file may be damaged on flash. Arbitrary key/value
// pairs must never crash the state codec or the stage that loads them and
// then carries on (process, close, checkpoint).
//
// Input: one byte choosing the stage's configuration, then pairs of
// (1-byte key length, key, 2-byte little-endian value length, value).
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/resolve.hpp"
#include "core/component.hpp"
#include "core/metrics.hpp"
#include "core/options.hpp"
#include "stages/window/window_state.hpp"

namespace sluice::components {
const Descriptor& stage_window();
}

namespace {

using namespace sluice;

const std::vector<std::vector<std::pair<std::string, std::string>>>& configs() {
    static const std::vector<std::vector<std::pair<std::string, std::string>>> c = {
        {{"size", "10s"}, {"group_by", "node"}, {"fields", "v"}, {"aggregates", "count,mean,p99"}},
        {{"kind", "hopping"}, {"size", "1m"}, {"hop", "10s"}, {"group_by", "node"}, {"fields", "v,w"},
         {"aggregates", "sum,stddev,first,last,rate,delta,p50"}},
        {{"kind", "session"}, {"gap", "5s"}, {"group_by", "node"}, {"group_by_fields", "unit"}, {"fields", "v"},
         {"aggregates", "min,max"}},
        {{"size", "10s"}, {"time", "processing"}, {"fields", "v"}, {"aggregates", "p90"},
         {"percentile_max_buckets", "16"}},
    };
    return c;
}

Options options_for(std::size_t i) {
    RawTable t;
    for (const auto& [k, v] : configs()[i]) {
        t.push_back(text_entry(k, v));
    }
    Diagnostics diag;
    Options o = resolve_options(components::stage_window().options, t, "stage 'window'", {}, diag);
    if (!diag.empty()) {
        std::abort();
    }
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    if (in.empty()) {
        return 0;
    }
    const std::size_t config = static_cast<std::uint8_t>(in[0]) % configs().size();
    in.remove_prefix(1);
    std::map<std::string, std::string> store;
    while (in.size() >= 1) {
        const std::size_t klen = static_cast<std::uint8_t>(in[0]);
        in.remove_prefix(1);
        if (in.size() < klen + 2) {
            break;
        }
        std::string key(in.substr(0, klen));
        in.remove_prefix(klen);
        const std::size_t vlen = static_cast<std::uint8_t>(in[0]) | (static_cast<std::size_t>(static_cast<std::uint8_t>(in[1])) << 8);
        in.remove_prefix(2);
        if (in.size() < vlen) {
            break;
        }
        store[key] = std::string(in.substr(0, vlen));
        in.remove_prefix(vlen);
    }

    // The codec functions on their own.
    for (const auto& [k, v] : store) {
        window::Meta meta;
        window::decode_meta(v, meta);
        std::vector<std::optional<std::string>> parts;
        window::decode_group_key(k, parts);
        char prefix = 0;
        std::string_view group;
        std::int64_t start = 0;
        window::split_state_key(k, prefix, group, start);
        const window::SketchMapping m(0.01, 64);
        window::PaneData pane;
        if (window::decode_pane(v, pane, 1, &m)) {
            (void)pane.fields[0].sketch.quantile(0.99, m);
            window::PaneData other = pane;
            pane.merge(other, &m);
            std::string again;
            window::encode_pane(pane, again, &m);
        }
        window::decode_pane(v, pane, 2, nullptr);
    }

    // A stage that loads them and keeps working.
    static ComponentMetrics cm = ComponentMetrics::for_component("fuzz/window", "stage");
    auto stage = components::stage_window().make_stage(options_for(config));
    StageContext ctx;
    ctx.name = "fuzz/window";
    ctx.id = "window";
    ctx.metrics = &cm;
    ctx.load_state = [&](const std::function<void(std::string_view, std::string_view)>& fn) {
        for (const auto& [k, v] : store) {
            fn(k, v);
        }
    };
    try {
        stage->open(ctx);
    } catch (const std::runtime_error&) {
        return 0;  // refusing to start is allowed; crashing is not
    }
    const std::int64_t t0 = 1'704'067'200'000'000'000;
    std::vector<DeadLetter> dead;
    std::vector<StateChange> state;
    std::vector<std::pair<std::string, Record>> streams;
    for (int turn = 0; turn < 3; ++turn) {
        std::vector<Record> records;
        for (int i = 0; i < 3; ++i) {
            Record r;
            r.time_ns = t0 + (turn * 3 + i) * 20'000'000'000LL;
            r.measurement = "m";
            r.tags = {{"node", i == 0 ? "a" : "b"}};
            r.fields = {{"v", 1.5 * i}, {"w", std::int64_t{i}}, {"unit", std::string("C")}};
            records.push_back(std::move(r));
        }
        StageBatch b{records, dead, state, streams, t0 + 86'400'000'000'000LL, 1'000'000'000LL * (turn + 1),
                     false};
        stage->process(b);
        StageBatch t{records, dead, state, streams, t0 + 86'400'000'000'000LL, 1'000'000'000LL * (turn + 100), true};
        records.clear();
        stage->process(t);
    }
    return 0;
}
