#pragma once
// Drives a window stage the way the pipeline worker does, keeping its
// durable state in a map as the buffer would (applied only after each batch).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "config/resolve.hpp"
#include "core/component.hpp"
#include "core/metrics.hpp"
#include "core/options.hpp"

namespace sluice::components {
const Descriptor& stage_window();
}

namespace sluice::testing {

// 2024-01-01T00:00:00Z
constexpr std::int64_t kT0 = 1'704'067'200'000'000'000;
constexpr std::int64_t kSec = 1'000'000'000;

inline Options window_options(const std::vector<std::pair<std::string, std::string>>& kv) {
    RawTable t;
    for (const auto& [k, v] : kv) {
        t.push_back(text_entry(k, v));
    }
    Diagnostics diag;
    Options o = resolve_options(components::stage_window().options, t, "stage 'window'", {}, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    return o;
}

inline Record rec(std::int64_t t, std::vector<Tag> tags, std::vector<Field> fields, std::string measurement = "m") {
    Record r;
    r.time_ns = t;
    r.measurement = std::move(measurement);
    r.tags = std::move(tags);
    r.fields = std::move(fields);
    return r;
}

// "time measurement tag=v,... | field=value ..." with fields in record order.
inline std::string text(const Record& r, bool with_id = false) {
    std::string s = fmt::format("{} {}", (r.time_ns - kT0) / 1'000'000, r.measurement);
    for (const auto& t : r.tags) {
        s += fmt::format(" {}={}", t.name, t.value);
    }
    s += " |";
    for (const auto& f : r.fields) {
        if (f.name == "window_id" && !with_id) {
            continue;
        }
        if ((f.name == "window_start" || f.name == "window_end") && std::holds_alternative<std::int64_t>(f.value)) {
            s += fmt::format(" {}={}", f.name, (std::get<std::int64_t>(f.value) - kT0) / 1'000'000);
            continue;
        }
        std::visit([&](const auto& v) { s += fmt::format(" {}={}", f.name, v); }, f.value);
    }
    return s;
}

inline std::vector<std::string> texts(const std::vector<Record>& rs) {
    std::vector<std::string> out;
    for (const auto& r : rs) {
        out.push_back(text(r));
    }
    return out;
}

class WindowHarness {
public:
    // `stored`: the durable state to start from (a restart), or none.
    explicit WindowHarness(const std::vector<std::pair<std::string, std::string>>& kv,
                           const std::map<std::string, std::string>* stored = nullptr,
                           const std::string& label = "test/window") {
        if (stored != nullptr) {
            store = *stored;
        }
        stage = components::stage_window().make_stage(window_options(kv));
        cm = ComponentMetrics::for_component(label, "stage");
        StageContext ctx;
        ctx.name = label;
        ctx.id = "window";
        ctx.metrics = &cm;
        ctx.load_state = [this](const std::function<void(std::string_view, std::string_view)>& fn) {
            for (const auto& [k, v] : this->store) {
                fn(k, v);
            }
        };
        stage->open(ctx);
    }

    // One turn: returns the records the stage passes on.
    std::vector<Record> feed(std::vector<Record> in, bool tick = false, bool end_of_input = false) {
        std::vector<StateChange> state;
        StageBatch b{in, dead, state, streams, wall, mono, tick, end_of_input};
        stage->process(b);
        for (auto& c : state) {
            if (c.erase) {
                store.erase(c.key);
            } else {
                store[c.key] = c.value;
            }
        }
        changes += state.size();
        return in;
    }
    std::vector<Record> tick() { return feed({}, true); }
    // The last turn of a finite run (`sluice test`).
    std::vector<Record> end_of_input() { return feed({}, true, true); }

    std::unique_ptr<Stage> stage;
    ComponentMetrics cm;
    std::map<std::string, std::string> store;
    std::vector<DeadLetter> dead;
    std::vector<std::pair<std::string, Record>> streams;
    std::int64_t wall = kT0 + 10 * 3600 * kSec;  // a set clock, ten hours after the test data starts
    std::int64_t mono = 1'000 * kSec;
    std::size_t changes = 0;
};

inline std::int64_t t_s(double seconds) { return kT0 + static_cast<std::int64_t>(seconds * 1e9); }

}  // namespace sluice::testing
