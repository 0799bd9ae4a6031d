#include "runtime/lifecycle.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "buffer/quarantine.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "runtime/healthcheck.hpp"
#include "runtime/pipeline.hpp"
#include "tables/tables.hpp"

namespace sluice {
namespace {

// The [tables.NAME] sections, plus a private table for every name a stage
// links to (OptionLink) that no section declares (a -e pipeline string or a relay has no
// [tables] section; a TOML file must declare its tables).
std::vector<Tables::Spec> table_specs(const GatewayConfig& config) {
    std::vector<Tables::Spec> out;
    for (const auto& t : config.tables) {
        Tables::Spec s;
        s.name = t.name;
        s.settings.is_public = t.options.boolean("public");
        s.settings.csv = t.options.str_or("csv", "");
        s.settings.key_column = t.options.str_or("key_column", "");
        s.settings.max_keys = static_cast<std::size_t>(t.options.integer("max_keys"));
        if (const std::string left = t.options.str_or("left", ""); !left.empty()) {
            s.settings.join = TableJoin{left, t.options.str_or("right", ""), t.options.str_or("join", "inner") != "left",
                                        t.options.str_or("right_key", "")};
        }
        out.push_back(std::move(s));
    }
    for (const auto& link : component_links(config)) {
        const std::string& name = link.use.name;
        if (links_table(link.use.link) &&
            std::none_of(out.begin(), out.end(), [&](const Tables::Spec& s) { return s.name == name; })) {
            out.push_back(Tables::Spec{name, {}});
        }
    }
    return out;
}

// A pipeline spec as text without source positions: two specs that build
// the same pipeline give the same text.
void put(std::string& out, std::string_view s) { fmt::format_to(std::back_inserter(out), "{}:{};", s.size(), s); }

void put_raw(std::string& out, const RawValue& v) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                out += 's';
                put(out, x);
            } else if constexpr (std::is_same_v<T, RawArray>) {
                fmt::format_to(std::back_inserter(out), "a{}[", x.size());
                for (const auto& e : x) {
                    put_raw(out, e);
                }
                out += ']';
            } else if constexpr (std::is_same_v<T, RawTable>) {
                fmt::format_to(std::back_inserter(out), "t{}{{", x.size());
                for (const auto& e : x) {
                    put(out, e.key);
                    put_raw(out, e.value);
                }
                out += '}';
            } else {
                fmt::format_to(std::back_inserter(out), "v{};", x);
            }
        },
        v.v);
    out += v.from_text ? 'T' : 'R';
}

void put_options(std::string& out, const Options& o) {
    fmt::format_to(std::back_inserter(out), "o{}(", o.entries().size());
    for (const auto& [name, e] : o.entries()) {
        put(out, name);
        fmt::format_to(std::back_inserter(out), "{}/{}/{}=", static_cast<int>(e.type), e.value.index(),
                       e.explicit_ ? 1 : 0);
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    put(out, x);
                } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                    fmt::format_to(std::back_inserter(out), "{}[", x.size());
                    for (const auto& s : x) {
                        put(out, s);
                    }
                    out += ']';
                } else {
                    fmt::format_to(std::back_inserter(out), "{};", x);
                }
            },
            e.value);
    }
    out += ')';
    // The one raw value a spec carries: a source's inline decoder tables.
    if (const RawValue* decode = o.raw("decode")) {
        out += "decode=";
        put_raw(out, *decode);
    }
}

void put_component(std::string& out, const ComponentSpec& c) {
    fmt::format_to(std::back_inserter(out), "c{}", static_cast<int>(c.kind));
    put(out, c.id);
    put(out, c.type);
    put_options(out, c.options);
}

std::string fingerprint(const PipelineSpec& p) {
    std::string out;
    put(out, p.name);
    put_options(out, p.options);
    put_options(out, p.buffer);
    fmt::format_to(std::back_inserter(out), "S{}", p.sources.size());
    for (const auto& s : p.sources) {
        put_component(out, s);
        fmt::format_to(std::back_inserter(out), "D{}", s.decoders.size());
        for (const auto& d : s.decoders) {
            put_component(out, d);
        }
    }
    fmt::format_to(std::back_inserter(out), "G{}", p.stages.size());
    for (const auto& s : p.stages) {
        put_component(out, s);
    }
    fmt::format_to(std::back_inserter(out), "K{}", p.sinks.size());
    for (const auto& s : p.sinks) {
        put_component(out, s);
    }
    return out;
}

std::filesystem::path data_dir_of(const GatewayConfig& config) { return config.gateway.str_or("data_dir", ""); }

std::string join(const std::vector<std::string>& names) {
    return names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

bool same_pipeline(const PipelineSpec& a, const PipelineSpec& b) { return fingerprint(a) == fingerprint(b); }

GatewayLifecycle::GatewayLifecycle(IoLoop& loop, Tables& tables, std::function<void(GatewayConfig&)> prepare)
    : loop_(loop), tables_(tables), prepare_(std::move(prepare)) {}

GatewayLifecycle::~GatewayLifecycle() {
    if (!running_.empty()) {
        stop(std::chrono::steady_clock::now());
    }
}

std::vector<std::string> configure_tables_for(Tables& tables, const GatewayConfig& config) {
    return tables.configure(table_specs(config));
}

bool GatewayLifecycle::configure_tables(const GatewayConfig& config) {
    const auto problems = tables_.configure(table_specs(config));
    for (const auto& p : problems) {
        log::error("{}", p);
    }
    return problems.empty();
}

GatewayLifecycle::Running GatewayLifecycle::build(const PipelineSpec& spec, const std::filesystem::path& data_dir) {
    Running r;
    r.pipeline = std::make_unique<Pipeline>(spec, data_dir, loop_, &tables_);
    r.generation = next_generation_++;
    return r;
}

void GatewayLifecycle::start(GatewayConfig config) {
    std::vector<Running> built;
    {
        std::lock_guard lk(mu_);
        const auto data_dir = data_dir_of(config);
        for (const auto& spec : config.pipelines) {
            built.push_back(build(spec, data_dir));  // on a throw, `built` stops and drops what was built
        }
        running_ = std::move(built);
        config_ = std::move(config);
    }
    // Pipelines that read a named stream start first: a stream keeps
    // nothing for a reader that has not subscribed yet, and the writing
    // pipeline may publish within its first batch.
    auto reads_stream = [](const PipelineSpec& spec) {
        return std::any_of(spec.sources.begin(), spec.sources.end(), [](const SourceSpec& s) {
            return s.descriptor != nullptr &&
                   std::any_of(s.descriptor->options.begin(), s.descriptor->options.end(),
                               [](const OptionSpec& o) { return o.link == OptionLink::ConsumesStream; });
        });
    };
    for (const bool readers : {true, false}) {
        for (std::size_t i = 0; i < running_.size(); ++i) {
            if (reads_stream(config_.pipelines[i]) == readers) {
                running_[i].pipeline->start();
            }
        }
    }
}

ReloadReport GatewayLifecycle::reload(const Loader& load) {
    Diagnostics diag;
    auto next = load(diag);
    if (!next) {
        ReloadReport r;
        r.outcome = ReloadReport::Outcome::Rejected;
        r.error = diag.str();
        r.error_count = diag.size();
        log::error("reload rejected, the running configuration stays:\n{}", r.error);
        return r;
    }
    return reload(std::move(*next));
}

ReloadReport GatewayLifecycle::reload(GatewayConfig next) {
    if (prepare_) {
        prepare_(next);
    }
    log::info("reloading configuration from {}", next.origin);
    ReloadReport report;
    // Build every component of the new config first (as validate does):
    // one that fails to build rejects the reload before anything running is
    // torn down.
    if (Diagnostics diag; !check_build(next, diag)) {
        report.outcome = ReloadReport::Outcome::Rejected;
        report.error = diag.str();
        report.error_count = diag.size();
        log::error("reload rejected, the running configuration stays:\n{}", report.error);
        return report;
    }
    const auto deadline = this->deadline();  // the running configuration's shutdown_timeout
    const bool same_dir = data_dir_of(next) == data_dir_of(config_);

    // For each pipeline of the new config, the running one it keeps (or none).
    std::vector<std::optional<std::size_t>> keeps(next.pipelines.size());
    std::vector<bool> kept_old(config_.pipelines.size(), false);
    for (std::size_t j = 0; j < next.pipelines.size(); ++j) {
        const auto& spec = next.pipelines[j];
        const auto it = std::find_if(config_.pipelines.begin(), config_.pipelines.end(),
                                     [&](const PipelineSpec& p) { return p.name == spec.name; });
        if (it == config_.pipelines.end()) {
            report.added.push_back(spec.name);
        } else if (same_dir && same_pipeline(*it, spec)) {
            const auto i = static_cast<std::size_t>(it - config_.pipelines.begin());
            keeps[j] = i;
            kept_old[i] = true;
            report.kept.push_back(spec.name);
        } else {
            report.restarted.push_back(spec.name);
        }
    }
    for (const auto& p : config_.pipelines) {
        if (std::none_of(next.pipelines.begin(), next.pipelines.end(),
                         [&](const PipelineSpec& q) { return q.name == p.name; })) {
            report.removed.push_back(p.name);
        }
    }

    std::unique_lock lk(mu_);
    // Stop what changes or goes (its buffer file and metrics are then free
    // for the new one); what stays keeps running.
    for (std::size_t i = 0; i < running_.size(); ++i) {
        if (!kept_old[i]) {
            running_[i].pipeline->stop(deadline);
            running_[i].pipeline.reset();
        }
    }
    std::vector<Running> next_running(next.pipelines.size());
    try {
        // A table whose CSV cannot be read keeps its rows (logged).
        configure_tables(next);
        const auto data_dir = data_dir_of(next);
        for (std::size_t j = 0; j < next.pipelines.size(); ++j) {
            if (!keeps[j]) {
                next_running[j] = build(next.pipelines[j], data_dir);
            }
        }
    } catch (const std::exception& e) {
        report.outcome = ReloadReport::Outcome::Reverted;
        report.error = e.what();
        log::error("reload failed, restarting the previous configuration: {}", e.what());
        next_running.clear();  // stops nothing that ran: these were never started
        try {
            configure_tables(config_);
            const auto data_dir = data_dir_of(config_);
            for (std::size_t i = 0; i < running_.size(); ++i) {
                if (!running_[i].pipeline) {
                    running_[i] = build(config_.pipelines[i], data_dir);
                    running_[i].pipeline->start();
                }
            }
        } catch (const std::exception& again) {
            report.outcome = ReloadReport::Outcome::Failed;
            report.error = again.what();
            log::error("cannot restart the previous configuration either: {}", again.what());
            std::erase_if(running_, [](const Running& r) { return !r.pipeline; });
        }
        return report;
    }
    for (std::size_t j = 0; j < next.pipelines.size(); ++j) {
        if (keeps[j]) {
            next_running[j] = std::move(running_[*keeps[j]]);
        } else {
            next_running[j].pipeline->start();
        }
    }
    running_ = std::move(next_running);
    config_ = std::move(next);
    lk.unlock();
    log::info("reload done: {} pipeline(s); restarted: {}; added: {}; removed: {}; unchanged: {}", running_.size(),
              join(report.restarted), join(report.added), join(report.removed), join(report.kept));
    return report;
}

void GatewayLifecycle::stop(std::chrono::steady_clock::time_point deadline) {
    std::vector<Pipeline*> live;
    {
        std::lock_guard lk(mu_);
        for (auto& r : running_) {
            live.push_back(r.pipeline.get());
        }
    }
    for (auto* p : live) {
        p->stop(deadline);
    }
    std::lock_guard lk(mu_);
    running_.clear();
}

void GatewayLifecycle::cut_short() {
    std::lock_guard lk(mu_);
    for (auto& r : running_) {
        r.pipeline->cut_short();
    }
}

std::chrono::steady_clock::time_point GatewayLifecycle::deadline() const {
    return std::chrono::steady_clock::now() + config_.gateway.duration("shutdown_timeout");
}

bool GatewayLifecycle::ready(std::string& detail) const {
    // Called on the I/O loop: never wait for a start, stop or reload, which
    // hold the pipelines for seconds. The main thread's checks when woken
    // (all_sources_finished, restart_damaged, the service monitor's sample)
    // hold them for microseconds: those are waited out, at most ~5 ms, so a
    // probe that lands on one is not told "reloading".
    std::unique_lock lk(mu_, std::defer_lock);
    for (int tries = 0; !lk.try_lock(); ++tries) {
        if (tries == 50) {
            detail = "starting, stopping or reloading\n";
            return false;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    bool ok = true;
    for (const auto& r : running_) {
        ok = r.pipeline->ready(detail) && ok;
    }
    // Named, but not a reason to stop sending traffic: the gateway runs on
    // the fresh file.
    for (const auto& e : quarantine_events()) {
        detail += describe(e) + "\n";
    }
    return ok;
}

std::vector<std::string> GatewayLifecycle::restart_damaged() {
    std::vector<std::string> out;
    std::lock_guard lk(mu_);
    for (std::size_t i = 0; i < running_.size();) {
        if (!running_[i].pipeline->buffer_damaged()) {
            ++i;
            continue;
        }
        const std::string name = running_[i].pipeline->name();
        log::error("pipeline {}: SQLite reports its buffer damaged; restarting the pipeline on a fresh buffer", name);
        running_[i].pipeline->stop(std::chrono::steady_clock::now() + std::chrono::seconds(2));
        running_[i].pipeline.reset();
        try {
            running_[i] = build(config_.pipelines[i], data_dir_of(config_));
            running_[i].pipeline->start();
            out.push_back(name);
            ++i;
        } catch (const std::exception& e) {
            log::error("pipeline {}: cannot restart it, it stays stopped: {}", name, e.what());
            running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
            config_.pipelines.erase(config_.pipelines.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    return out;
}

ServiceSample GatewayLifecycle::sample(std::int64_t stale_after_ns, bool figures) const {
    ServiceSample s;
    std::unique_lock lk(mu_, std::try_to_lock);
    if (!lk.owns_lock()) {
        return s;  // a reload or a stop holds them
    }
    s.available = true;
    s.pipelines = running_.size();
    s.quarantined = quarantine_events().size();
    const std::int64_t now = mono_now_ns();
    for (const auto& r : running_) {
        const auto& p = *r.pipeline;
        const std::int64_t idle = now - p.last_worker_turn_ns();
        if (idle > stale_after_ns && idle > s.stalled_for_ns) {
            s.stalled = p.name();
            s.stalled_for_ns = idle;
        }
        s.records_in += p.records_committed();
        s.sinks += p.sink_count();
        if (figures) {
            s.buffered += p.buffered_rows();
            s.sinks_retrying += p.sinks_retrying();
        }
    }
    return s;
}

std::size_t GatewayLifecycle::size() const {
    std::lock_guard lk(mu_);
    return running_.size();
}

bool GatewayLifecycle::all_sources_finished() const {
    std::lock_guard lk(mu_);
    bool all = !running_.empty();
    for (const auto& r : running_) {
        all = all && r.pipeline->sources_finished();
    }
    return all;
}

std::vector<std::string> GatewayLifecycle::names() const {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (const auto& r : running_) {
        out.push_back(r.pipeline->name());
    }
    return out;
}

std::uint64_t GatewayLifecycle::generation(const std::string& name) const {
    std::lock_guard lk(mu_);
    for (const auto& r : running_) {
        if (r.pipeline->name() == name) {
            return r.generation;
        }
    }
    return 0;
}

std::uint64_t GatewayLifecycle::records_committed(const std::string& name) const {
    std::lock_guard lk(mu_);
    for (const auto& r : running_) {
        if (r.pipeline->name() == name) {
            return r.pipeline->records_committed();
        }
    }
    return 0;
}

void GatewayLifecycle::replay(const std::string& name, const std::string& sink, std::uint64_t from_id,
                              std::function<void(ReplayOutcome)> done) {
    {
        // Held only to hand the request over: the runner plans nothing here.
        std::lock_guard lk(mu_);
        for (const auto& r : running_) {
            if (r.pipeline->name() == name) {
                r.pipeline->replay(sink, from_id, std::move(done));
                return;
            }
        }
    }
    done(ReplayOutcome{404, fmt::format("no pipeline '{}' runs", name), {}, 0});
}

}  // namespace sluice
