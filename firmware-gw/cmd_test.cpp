// `sluice test`: runs a configuration over fixture input, the way a config
// is tested in CI (Telegraf's --test, `vector test`).
//
// The pipeline is the real one (runtime/pipeline.hpp: decoders, topology,
// stages, windows, buffer, sink runners) with two swaps: the chosen source
// is replaced by one that reads the fixture's lines as frames, and every sink
// by one that captures what it would have sent. The buffer lives in a
// temporary directory that is removed afterwards. At the end of the input
// the stages get one end-of-input turn (every window closes), the sinks
// deliver everything, and the captured records are printed as NDJSON (each
// with "_sink"), grouped by sink in a stable order. With --expect they are
// compared with an expected NDJSON file.
//
// Exit status: 0 ran (and matched), 1 mismatch (or a runtime failure),
// 2 configuration or usage error.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/ioloop.hpp"
#include "core/log.hpp"
#include "core/record_json.hpp"
#include "core/registry.hpp"
#include "core/suggest.hpp"
#include "runtime/lifecycle.hpp"
#include "runtime/pipeline.hpp"
#include "tables/tables.hpp"
#include "text/json.hpp"

namespace sluice {
namespace {

constexpr int kMismatch = 1;
constexpr int kConfigError = 2;

struct TestArgs {
    std::string config;
    std::string input;
    std::string expect;
    std::string pipeline;
    std::string source;
    std::string origin;
    std::vector<std::string> ignore;
    bool unordered = false;
};

struct Captured {
    std::string sink;
    std::string json;  // {"_sink":"id",...the record...}
};

struct Capture {
    std::mutex mu;
    std::vector<Captured> rows;
};

// Hands the fixture's frames to the pipeline from its own thread, then says
// it is finished.
class FixtureSource final : public Source {
public:
    explicit FixtureSource(std::shared_ptr<const std::vector<Frame>> frames) : frames_(std::move(frames)) {}
    ~FixtureSource() override { join(); }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        thread_ = std::thread([this] {
            for (Frame f : *frames_) {
                f.source = ctx_->index;
                f.arrival_ns = wall_now_ns();
                if (!ctx_->ingest->push_wait(std::move(f))) {
                    break;
                }
            }
            ctx_->finished();
        });
    }
    void stop() override { join(); }

private:
    void join() {
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    std::shared_ptr<const std::vector<Frame>> frames_;
    SourceContext* ctx_ = nullptr;
    std::thread thread_;
};

class CaptureSink final : public Sink {
public:
    CaptureSink(std::string id, Capture& capture) : id_(std::move(id)), capture_(capture) {}
    SendResult send(std::span<const Record> batch) override {
        std::lock_guard lk(capture_.mu);
        for (const auto& r : batch) {
            Captured c;
            c.sink = id_;
            c.json = "{\"_sink\":";
            append_json_string(c.json, id_);
            std::string rec;
            append_record_json(rec, r);
            c.json += ',';
            c.json.append(rec, 1);  // without its '{'
            capture_.rows.push_back(std::move(c));
        }
        SendResult res;
        res.confirmed = batch.size();
        return res;
    }

private:
    std::string id_;
    Capture& capture_;
};

// ----------------------------------------------------------------- compare

bool same_json(const JsonValue& a, const JsonValue& b) {
    const auto an = a.number();
    const auto bn = b.number();
    if (an || bn) {
        return an && bn && *an == *bn;  // 1 and 1.0 are the same value
    }
    if (a.v.index() != b.v.index()) {
        return false;
    }
    if (const auto* as = a.string()) {
        return *as == *b.string();
    }
    if (const auto* aa = a.array()) {
        const auto* ba = b.array();
        if (aa->size() != ba->size()) {
            return false;
        }
        for (std::size_t i = 0; i < aa->size(); ++i) {
            if (!same_json((*aa)[i], (*ba)[i])) {
                return false;
            }
        }
        return true;
    }
    if (const auto* ao = a.object()) {
        const auto* bo = b.object();
        if (ao->size() != bo->size()) {
            return false;
        }
        for (const auto& [k, v] : *ao) {  // member order does not matter
            const JsonValue* other = b.get(k);
            if (other == nullptr || !same_json(v, *other)) {
                return false;
            }
        }
        return true;
    }
    return a.v == b.v;  // null, bool
}

// The object without the ignored top-level members.
JsonValue without(const JsonValue& v, const std::vector<std::string>& ignore) {
    const auto* o = v.object();
    if (o == nullptr || ignore.empty()) {
        return v;
    }
    auto copy = std::make_shared<JsonValue::Object>();
    for (const auto& [k, m] : *o) {
        if (std::find(ignore.begin(), ignore.end(), k) == ignore.end()) {
            copy->emplace_back(k, m);
        }
    }
    return JsonValue{copy};
}

struct Line {
    std::string text;
    JsonValue value;
};

bool read_expected(const std::string& path, const std::vector<std::string>& ignore, std::vector<Line>& out) {
    std::ifstream in(path);
    if (!in) {
        std::fprintf(stderr, "sluice test: cannot read --expect %s\n", path.c_str());
        return false;
    }
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        std::string error;
        auto v = parse_json(line, &error);
        if (!v || v->object() == nullptr) {
            std::fprintf(stderr, "%s:%zu: not a JSON object: %s\n", path.c_str(), n,
                         v ? "another JSON value" : error.c_str());
            return false;
        }
        out.push_back({line, without(*v, ignore)});
    }
    return true;
}

int compare(const std::vector<Captured>& got_rows, const TestArgs& a) {
    std::vector<Line> expected;
    if (!read_expected(a.expect, a.ignore, expected)) {
        return kConfigError;
    }
    std::vector<Line> got;
    for (const auto& r : got_rows) {
        std::string error;
        auto v = parse_json(r.json, &error);
        got.push_back({r.json, v ? without(*v, a.ignore) : JsonValue{}});
    }
    std::size_t problems = 0;
    if (a.unordered) {
        std::vector<bool> used(got.size(), false);
        std::vector<std::size_t> missing;
        for (std::size_t i = 0; i < expected.size(); ++i) {
            bool found = false;
            for (std::size_t j = 0; j < got.size() && !found; ++j) {
                if (!used[j] && same_json(expected[i].value, got[j].value)) {
                    used[j] = true;
                    found = true;
                }
            }
            if (!found) {
                missing.push_back(i);
            }
        }
        for (const auto i : missing) {
            std::fprintf(stderr, "- expected, not produced (%s line %zu): %s\n", a.expect.c_str(), i + 1,
                         expected[i].text.c_str());
            ++problems;
        }
        for (std::size_t j = 0; j < got.size(); ++j) {
            if (!used[j]) {
                std::fprintf(stderr, "+ produced, not expected: %s\n", got[j].text.c_str());
                ++problems;
            }
        }
    } else {
        const std::size_t n = std::max(expected.size(), got.size());
        for (std::size_t i = 0; i < n; ++i) {
            if (i >= expected.size()) {
                std::fprintf(stderr, "record %zu: produced, not expected:\n  + %s\n", i + 1, got[i].text.c_str());
            } else if (i >= got.size()) {
                std::fprintf(stderr, "record %zu: expected, not produced:\n  - %s\n", i + 1,
                             expected[i].text.c_str());
            } else if (!same_json(expected[i].value, got[i].value)) {
                std::fprintf(stderr, "record %zu differs:\n  - %s\n  + %s\n", i + 1, expected[i].text.c_str(),
                             got[i].text.c_str());
            } else {
                continue;
            }
            ++problems;
        }
    }
    if (problems > 0) {
        std::fprintf(stderr, "sluice test: MISMATCH: %zu difference(s); %zu record(s) expected, %zu produced%s\n",
                     problems, expected.size(), got.size(),
                     a.unordered ? "" : " (order matters; --unordered to ignore it)");
        return kMismatch;
    }
    std::fprintf(stderr, "sluice test: ok, %zu record(s) as expected\n", got.size());
    return 0;
}

// ----------------------------------------------------------------- run

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-test-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error(fmt::format("cannot create a temporary directory: {}", std::strerror(errno)));
        }
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

int run_test(const TestArgs& a) {
    Diagnostics diag;
    auto cfg = load_config_file(a.config, builtin_registry(), diag);
    if (!cfg) {
        std::fputs(diag.str().c_str(), stderr);
        std::fprintf(stderr, "%zu error(s) in the configuration\n", diag.size());
        return kConfigError;
    }
    if (cfg->pipelines.empty()) {
        std::fprintf(stderr, "%s: no pipelines to test\n", a.config.c_str());
        return kConfigError;
    }
    const PipelineSpec* chosen = &cfg->pipelines.front();
    if (!a.pipeline.empty()) {
        chosen = nullptr;
        std::vector<std::string> names;
        for (const auto& p : cfg->pipelines) {
            names.push_back(p.name);
            if (p.name == a.pipeline) {
                chosen = &p;
            }
        }
        if (chosen == nullptr) {
            const auto hint = did_you_mean(a.pipeline, names);
            std::fprintf(stderr, "no pipeline named '%s'%s\n", a.pipeline.c_str(),
                         hint ? fmt::format(" (did you mean '{}'?)", *hint).c_str() : "");
            return kConfigError;
        }
    } else if (cfg->pipelines.size() > 1) {
        std::fprintf(stderr, "sluice test: testing pipeline '%s' (the first; --pipeline NAME for another)\n",
                     chosen->name.c_str());
    }
    PipelineSpec spec = *chosen;
    if (spec.sources.empty()) {
        std::fprintf(stderr, "pipeline '%s' has no source to feed the input to\n", spec.name.c_str());
        return kConfigError;
    }
    std::size_t src = 0;
    if (!a.source.empty()) {
        std::vector<std::string> ids;
        src = spec.sources.size();
        for (std::size_t i = 0; i < spec.sources.size(); ++i) {
            ids.push_back(spec.sources[i].id);
            if (spec.sources[i].id == a.source) {
                src = i;
            }
        }
        if (src == spec.sources.size()) {
            const auto hint = did_you_mean(a.source, ids);
            std::fprintf(stderr, "pipeline '%s' has no source '%s'%s\n", spec.name.c_str(), a.source.c_str(),
                         hint ? fmt::format(" (did you mean '{}'?)", *hint).c_str() : "");
            return kConfigError;
        }
    }

    // The fixture: one frame per non-empty line.
    auto frames = std::make_shared<std::vector<Frame>>();
    {
        std::ifstream in(a.input, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "sluice test: cannot read --input %s\n", a.input.c_str());
            return kConfigError;
        }
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            if (line.empty()) {
                continue;
            }
            Frame f;
            f.payload = std::move(line);
            f.origin = a.origin.empty() ? a.input : a.origin;
            frames->push_back(std::move(f));
        }
    }

    // The chosen source keeps its decoders, topology and measurement; the
    // others are left out. Every sink captures instead of sending.
    Descriptor fixture_desc = *spec.sources[src].descriptor;
    fixture_desc.make_source = [frames](const Options&) { return std::make_unique<FixtureSource>(frames); };
    SourceSpec source = spec.sources[src];
    source.descriptor = &fixture_desc;
    spec.sources = {source};
    Capture capture;
    std::deque<Descriptor> sink_descs;
    for (auto& s : spec.sinks) {
        Descriptor d = *s.descriptor;
        d.make_sink = [id = s.id, &capture](const Options&) { return std::make_unique<CaptureSink>(id, capture); };
        sink_descs.push_back(std::move(d));
        s.descriptor = &sink_descs.back();
    }

    std::unique_ptr<TempDir> dir;
    std::uint64_t dead = 0;
    try {
        dir = std::make_unique<TempDir>();
        IoLoop loop;
        loop.start();
        Tables tables;
        for (const auto& p : configure_tables_for(tables, *cfg)) {
            std::fprintf(stderr, "%s\n", p.c_str());
        }
        {
            std::unique_ptr<Pipeline> pipeline;
            try {
                pipeline = std::make_unique<Pipeline>(spec, dir->path, loop, &tables);
            } catch (const ConfigError& e) {
                std::fprintf(stderr, "%s\n", e.what());
                loop.stop();
                return kConfigError;
            }
            pipeline->close_windows_at_end();
            pipeline->start();
            while (!pipeline->sources_finished()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            pipeline->stop(std::chrono::steady_clock::time_point::max());
        }
        loop.stop();
        // Dead letters, with their reasons, on stderr (one JSON object a line).
        std::fflush(stdout);
        dead = offline_export(dir->path / (spec.name + ".sqlite"), "", stderr, true);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice test: %s\n", e.what());
        return kMismatch;
    }

    std::stable_sort(capture.rows.begin(), capture.rows.end(),
                     [](const Captured& x, const Captured& y) { return x.sink < y.sink; });
    for (const auto& r : capture.rows) {
        std::fwrite(r.json.data(), 1, r.json.size(), stdout);
        std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    std::fprintf(stderr, "sluice test: %zu frame(s) in, %zu record(s) out, %llu dead letter(s)\n", frames->size(),
                 capture.rows.size(), static_cast<unsigned long long>(dead));
    if (a.expect.empty()) {
        return 0;
    }
    return compare(capture.rows, a);
}

}  // namespace

void add_test_command(CLI::App& app, int& status) {
    auto args = std::make_shared<TestArgs>();
    auto* cmd = app.add_subcommand(
        "test", "Run a configuration over fixture input (no real sinks, temporary buffer) and print or check "
                "the output records (exit 0 match, 1 mismatch, 2 configuration error)");
    cmd->add_option("-c,--config", args->config, "The TOML configuration file to test")->required();
    cmd->add_option("--input", args->input, "Fixture: one frame per line, fed to the source")->required();
    cmd->add_option("--expect", args->expect,
                    "Expected output, NDJSON as `sluice test` prints it; fields are compared by value");
    cmd->add_option("--pipeline", args->pipeline, "The pipeline to test (default: the first)");
    cmd->add_option("--source", args->source, "The source whose decoders read the input (default: the first)");
    cmd->add_option("--origin", args->origin,
                    "The frames' origin (MQTT topic, path) for topology (default: the --input path)");
    cmd->add_option("--ignore", args->ignore,
                    "Leave this top-level member out of the comparison (repeatable), e.g. --ignore time");
    cmd->add_flag("--unordered", args->unordered, "Compare without regard to the order of the records");
    cmd->callback([args, &status] {
        log::set_level(log::Level::Warn);
        status = run_test(*args);
    });
}

}  // namespace sluice
