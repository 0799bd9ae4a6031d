// The sluice executable: CLI verbs over libsluice.
//
// Exit status: 0 success; 1 runtime failure (cannot bind, cannot open the
// buffer, ...); 2 configuration or usage error; 3 health check failed.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <tuple>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "buffer/buffer.hpp"
#include "cmd_tap.hpp"
#include "config/config.hpp"
#include "config/docs.hpp"
#include "core/log.hpp"
#include "core/record_json.hpp"
#include "core/registry.hpp"
#include "runtime/gateway.hpp"
#include "runtime/replay_api.hpp"
#include "runtime/healthcheck.hpp"
#include "remote_commands.hpp"

using namespace sluice;

namespace sluice {
void add_test_command(CLI::App& app, int& status);  // cmd_test.cpp
void add_keys_command(CLI::App& app, int& status);  // cmd_keys.cpp
}

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;
constexpr int kExitUnhealthy = 3;

struct ConfigArgs {
    std::string file;
    std::string pipeline;
};

// An option given with an empty value is a usage error, not "use the
// default": `-e ""` would otherwise run the embedded default config and
// `--data-dir ""` fall back to /var/lib/sluice without a word.
const CLI::Validator kNotEmpty(
    [](std::string& v) { return v.empty() ? std::string("must not be empty") : std::string(); }, "NOT EMPTY");

void add_config_args(CLI::App* cmd, ConfigArgs& a) {
    auto* file = cmd->add_option("-c,--config", a.file, "TOML configuration file (default: /etc/sluice/sluice.toml)")
                     ->check(kNotEmpty);
    auto* pipeline = cmd->add_option("-e,--pipeline", a.pipeline,
                                     "A one-line pipeline instead of a file, e.g. 'stdin ! decode chain=json ! stdout'")
                         ->check(kNotEmpty);
    // `sluice validate FILE` works like `sluice validate -c FILE`.
    auto* positional = cmd->add_option("CONFIG", a.file, "The configuration file (same as -c)")->check(kNotEmpty);
    file->excludes(positional);
    pipeline->excludes(file)->excludes(positional);
}

// Loads the configuration the arguments name; prints the problems and
// returns nullopt if it is wrong.
std::optional<GatewayConfig> load(const ConfigArgs& a, bool announce_default) {
    Diagnostics diag;
    std::optional<GatewayConfig> cfg;
    const auto& reg = builtin_registry();
    if (!a.pipeline.empty()) {
        cfg = parse_pipeline_string(a.pipeline, reg, diag);
    } else if (!a.file.empty()) {
        cfg = load_config_file(a.file, reg, diag);
    } else if (std::filesystem::exists(kDefaultConfigPath)) {
        cfg = load_config_file(std::string(kDefaultConfigPath), reg, diag);
    } else {
        if (announce_default) {
            log::info("no -c given and {} does not exist: running the embedded default config "
                      "(simulated sensors -> buffer -> stdout; see `sluice describe`)",
                      kDefaultConfigPath);
        }
        cfg = load_config_text(embedded_default_config(), "embedded default config", reg, diag);
        if (cfg) {
            cfg->embedded_default = true;
        }
    }
    if (!cfg) {
        std::fputs(diag.str().c_str(), stderr);
        std::fprintf(stderr, "%zu error(s) in the configuration\n", diag.size());
    }
    return cfg;
}

ConfigLoader reloader(const ConfigArgs& a) {
    if (!a.pipeline.empty()) {
        return {};
    }
    return [a](Diagnostics& diag) -> std::optional<GatewayConfig> {
        const std::string path = a.file.empty() ? std::string(kDefaultConfigPath) : a.file;
        if (a.file.empty() && !std::filesystem::exists(path)) {
            return load_config_text(embedded_default_config(), "embedded default config", builtin_registry(), diag);
        }
        return load_config_file(path, builtin_registry(), diag);
    };
}

void add_run_args(CLI::App* cmd, RunOverrides& o) {
    cmd->add_option_function<std::string>(
        "--data-dir", [&o](const std::string& v) { o.data_dir = v; },
        "Directory for the buffer databases (overrides the config)")
        ->check(kNotEmpty);
    cmd->add_option_function<std::string>(
        "--http", [&o](const std::string& v) { o.http = v; },
        "HTTP API address, e.g. 127.0.0.1:6666, or 'off' (overrides the config)");
    cmd->add_option_function<std::string>(
        "--log-level", [&o](const std::string& v) { o.log_level = v; }, "error, warn, info, debug or trace")
        ->check(CLI::IsMember({"error", "warn", "info", "debug", "trace"}));
    cmd->add_option_function<std::string>(
        "--log-format", [&o](const std::string& v) { o.log_format = v; },
        "text (one line per line, with time and level) or json (one object per message)")
        ->check(CLI::IsMember({"text", "json"}));
}

std::vector<std::filesystem::path> pipeline_databases(const std::filesystem::path& dir, const std::string& only) {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".sqlite" && (only.empty() || e.path().stem() == only)) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

int buffer_salvage(const std::string& file, const std::string& to_arg) {
    if (file.empty()) {
        std::fprintf(stderr, "buffer salvage: name the damaged file, e.g. `sluice buffer salvage "
                             "/var/lib/sluice/main.sqlite.corrupt-20260101T000000Z`\n");
        return kExitConfig;
    }
    const std::string to = to_arg.empty() ? file + ".salvaged" : to_arg;
    try {
        const auto r = offline_salvage(file, to);
        std::printf("salvaged %llu records and %llu cursor, checkpoint, state and dead-letter rows from %s into %s "
                    "(%llu unreadable rows skipped)\n",
                    (unsigned long long)r.records, (unsigned long long)r.other, file.c_str(), to.c_str(),
                    (unsigned long long)r.skipped);
        std::printf("to use it: stop the gateway, move it to <data_dir>/<pipeline>.sqlite\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return kExitRuntime;
    }
    return 0;
}

struct BufferRange {
    std::optional<BufferPoint> from;
    std::optional<BufferPoint> to;
};

int buffer_command(const std::string& action, const std::string& data_dir_arg, const std::string& pipeline,
                   const std::string& sink, bool dead_letters, bool yes, const BufferRange& range) {
    const std::filesystem::path dir = data_dir_arg.empty() ? default_data_dir() : std::filesystem::path(data_dir_arg);
    auto dbs = pipeline_databases(dir, pipeline);
    if (dbs.empty()) {
        std::fprintf(stderr, "no pipeline buffers%s in %s\n",
                     pipeline.empty() ? "" : fmt::format(" named '{}'", pipeline).c_str(), dir.c_str());
        return kExitConfig;
    }
    try {
        if (action == "stats") {
            for (const auto& db : dbs) {
                const auto s = offline_stats(db);
                std::printf("pipeline %s (%s)\n", db.stem().c_str(), db.c_str());
                std::printf("  rows %llu, record bytes %llu, file bytes %llu, ids %llu..%llu, dead letters %llu\n",
                            (unsigned long long)s.rows, (unsigned long long)s.bytes, (unsigned long long)s.file_bytes,
                            (unsigned long long)s.first_id, (unsigned long long)s.last_id,
                            (unsigned long long)s.dead_letters);
                for (const auto& k : s.sinks) {
                    std::printf("  sink %-20s cursor %llu, pending %llu rows, dropped %llu\n", k.sink.c_str(),
                                (unsigned long long)k.cursor, (unsigned long long)k.lag_rows,
                                (unsigned long long)k.dropped);
                }
            }
            return 0;
        }
        if (action == "check") {
            int bad = 0;
            for (const auto& db : dbs) {
                const auto c = offline_check(db);
                std::printf("pipeline %s (%s): %s\n", db.stem().c_str(), db.c_str(),
                            c.problems.empty() ? "ok" : "DAMAGED");
                for (const auto& i : c.info) {
                    std::printf("  %s\n", i.c_str());
                }
                for (const auto& p : c.problems) {
                    std::printf("  problem: %s\n", p.c_str());
                }
                bad += c.problems.empty() ? 0 : 1;
            }
            if (bad > 0) {
                std::fprintf(stderr, "%d damaged buffer(s); `sluice run` moves a damaged buffer aside and salvages "
                                     "it, or use `sluice buffer salvage FILE`\n",
                             bad);
                return kExitRuntime;
            }
            return 0;
        }
        if (action == "replay") {
            if (sink.empty() || !range.from || dbs.size() != 1) {
                std::fprintf(stderr, "buffer replay: name the pipeline (--pipeline, when there are several), the "
                                     "sink (--sink) and where to start (--from: a record id, a time or -DURATION)\n");
                return kExitConfig;
            }
            const auto& db = dbs.front();
            ReplayPlan plan;
            try {
                plan = offline_replay(db, sink, *range.from);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "buffer replay: %s\n(a running gateway replays through its API: POST "
                                     "/api/buffer/replay?pipeline=P&sink=S&from=POINT with the token, or the web "
                                     "UI's pipeline page)\n",
                             e.what());
                return kExitRuntime;
            }
            if (!plan.error.empty()) {
                std::fprintf(stderr, "buffer replay: %s\n", plan.error.c_str());
                return kExitRuntime;
            }
            if (!plan.note.empty()) {
                std::fprintf(stderr, "note: %s\n", plan.note.c_str());
            }
            std::string when;
            append_rfc3339(when, plan.from_time);
            std::printf("sink %s of pipeline %s will deliver %llu records again, from record %llu (%s), when the "
                        "gateway starts\n",
                        sink.c_str(), db.stem().c_str(), (unsigned long long)plan.records,
                        (unsigned long long)plan.from_id, when.c_str());
            return 0;
        }
        if (action == "export") {
            std::uint64_t n = 0;
            for (const auto& db : dbs) {
                n += offline_export(db, sink, stdout, dead_letters, range.from, range.to);
            }
            std::fflush(stdout);
            std::fprintf(stderr, "exported %llu %s\n", (unsigned long long)n, dead_letters ? "dead letters" : "records");
            return 0;
        }
        if (action == "drop") {
            if (!yes) {
                std::fprintf(stderr, "buffer drop discards data: add --yes to confirm\n");
                return kExitConfig;
            }
            std::uint64_t n = 0;
            for (const auto& db : dbs) {
                n += offline_drop(db, sink, dead_letters);
            }
            std::fprintf(stderr, "dropped %llu %s\n", (unsigned long long)n, dead_letters ? "dead letters" : "rows");
            return 0;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return kExitRuntime;
    }
    return kExitConfig;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"sluice: edge data-acquisition gateway. Reads sensors, decodes, buffers on flash, forwards upstream."};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("sluice ") + SLUICE_VERSION);
    app.footer("Exit status: 0 ok, 1 runtime failure, 2 configuration or usage error, 3 health check failed.\n"
               "Run `sluice COMMAND --help` for a command's options.");

    ConfigArgs cfg_args;
    RunOverrides overrides;

    auto* run = app.add_subcommand("run", "Run the gateway (embedded default config if there is no config file)");
    add_config_args(run, cfg_args);
    add_run_args(run, overrides);

    std::string relay_src, relay_sink;
    auto* relay = app.add_subcommand("relay", "Relay from a source URL to a sink URL (default: stdout)");
    relay->add_option("SOURCE_URL", relay_src, "e.g. file:///var/log/sensors.log?decode=json")->required();
    relay->add_option("SINK_URL", relay_sink, "e.g. file:///tmp/out.ndjson (default: stdout)");
    add_run_args(relay, overrides);

    bool healthcheck = false;
    auto* validate = app.add_subcommand("validate", "Check a configuration; exit 2 with file:line:col messages if wrong");
    add_config_args(validate, cfg_args);
    validate->add_flag("--healthcheck", healthcheck, "Also open every sink and check that it is reachable, and probe the sources that connect (broker, publisher, device)");

    std::string describe_format = "text";
    auto* describe = app.add_subcommand("describe", "Show the pipeline graph");
    add_config_args(describe, cfg_args);
    describe->add_option("--format", describe_format, "text, dot (Graphviz) or json")
        ->check(CLI::IsMember({"text", "dot", "json"}));

    std::string component_name;
    bool markdown = false;
    auto* components = app.add_subcommand("components", "List components, or document one with its options");
    components->add_option("NAME", component_name, "A component name, or KIND/NAME (e.g. sink/file)");
    components->add_flag("--markdown", markdown,
                         "Print the configuration reference (docs/config-reference.md), or with NAME the block of the "
                         "component's README (delivery and options)");

    bool toml_snippet = false;
    components->add_flag("--toml", toml_snippet,
                         "With NAME: a ready-to-paste TOML snippet (required options with example values, optional "
                         "ones commented with their defaults)");
    auto* version = app.add_subcommand("version", "Print the version and the components built in");
    auto* config_cmd = app.add_subcommand(
        "config", "Print the embedded default configuration (what `run` uses without a config file) as TOML");

    std::string buf_action, buf_dir, buf_pipeline, buf_sink;
    bool buf_dead = false, buf_yes = false;
    auto* buffer = app.add_subcommand("buffer", "Inspect, check, salvage or change a stopped gateway's buffer");
    std::string buf_file, buf_to;
    buffer->add_option("ACTION", buf_action,
                       "stats (also while the gateway runs), export (NDJSON to stdout), drop, check (integrity, "
                       "cursors, sizes; exit 1 on damage), salvage FILE (readable rows into a fresh buffer) or "
                       "replay (--sink delivers its records from --from on again; see `retain`)")
        ->required()
        ->check(CLI::IsMember({"stats", "export", "drop", "check", "salvage", "replay"}));
    buffer->add_option("FILE", buf_file, "salvage: the damaged database file");
    std::string buf_from;
    buffer->add_option("--from", buf_from,
                       "export, replay: the first record: its id, a time (2026-12-07T10:00:00Z; no offset: UTC) or a "
                       "duration before now (-2h)");
    buffer->add_option("--to", buf_to,
                       "export: the last record (an id, inclusive) or the end (a time, exclusive); salvage: the new "
                       "buffer file (default: FILE.salvaged)");
    buffer->add_option("--data-dir", buf_dir, "The gateway's data directory (default: as `run` would use)")
        ->check(kNotEmpty);
    buffer->add_option("--pipeline", buf_pipeline, "Only this pipeline");
    buffer->add_option("--sink", buf_sink, "export: rows after this sink's cursor; drop: move its cursor to the end");
    buffer->add_flag("--dead-letters", buf_dead, "Work on the dead letters instead of the records");
    buffer->add_flag("--yes", buf_yes, "Confirm drop");

    int test_status = 0;
    add_test_command(app, test_status);
    int keys_status = 0;
    add_keys_command(app, keys_status);
    auto run_tap = cli::add_tap_command(app);
    int remote_exit = -1;  // set by a remote command (send, ping, status, top) that ran
    cli::add_send_command(app, remote_exit);
    cli::add_ping_command(app, remote_exit);
    cli::add_status_command(app, remote_exit);
    cli::add_top_command(app, remote_exit);

    // An unknown command is named, with the nearest known one, instead of
    // CLI11's "A subcommand is required".
    std::vector<std::string> names;
    for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        names.push_back(sub->get_name());
    }
    if (argc > 1 && argv[1][0] != '-' && std::find(names.begin(), names.end(), argv[1]) == names.end()) {
        const auto hint = did_you_mean(argv[1], names);
        std::fprintf(stderr, "unknown command '%s'%s; commands: %s\nRun with --help for more information.\n", argv[1],
                     hint ? fmt::format(" (did you mean '{}'?)", *hint).c_str() : "", fmt::format("{}", fmt::join(names, ", ")).c_str());
        return kExitConfig;
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : kExitConfig;
    }
    if (remote_exit >= 0) {
        return remote_exit;
    }

    if (app.got_subcommand("test")) {
        return test_status;
    }
    if (app.got_subcommand("keys")) {
        return keys_status;
    }
    if (app.got_subcommand("tap")) {
        return run_tap();
    }
    if (*run) {
        auto cfg = load(cfg_args, true);
        if (!cfg) {
            return kExitConfig;
        }
        return run_gateway(std::move(*cfg), overrides, reloader(cfg_args));
    }
    if (*relay) {
        Diagnostics diag;
        auto cfg = parse_relay(relay_src, relay_sink, builtin_registry(), diag);
        if (!cfg) {
            std::fputs(diag.str().c_str(), stderr);
            return kExitConfig;
        }
        return run_gateway(std::move(*cfg), overrides, {});
    }
    if (*validate) {
        auto cfg = load(cfg_args, false);
        if (!cfg) {
            return kExitConfig;
        }
        if (Diagnostics stage_diag; !check_build(*cfg, stage_diag)) {
            std::fputs(stage_diag.str().c_str(), stderr);
            std::fprintf(stderr, "%zu error(s) in the configuration\n", stage_diag.size());
            return kExitConfig;
        }
        std::size_t components_n = 0;
        for (const auto& p : cfg->pipelines) {
            components_n += p.sources.size() + p.stages.size() + p.sinks.size();
        }
        std::printf("%s: ok (%zu pipeline(s), %zu components)\n", cfg->origin.c_str(), cfg->pipelines.size(),
                    components_n);
        if (healthcheck) {
            apply_overrides(*cfg, {});
            return run_healthcheck(*cfg) ? 0 : kExitUnhealthy;
        }
        return 0;
    }
    if (*describe) {
        auto cfg = load(cfg_args, false);
        if (!cfg) {
            return kExitConfig;
        }
        std::fputs(describe_config(*cfg, describe_format).c_str(), stdout);
        return 0;
    }
    if (*components) {
        const auto& reg = builtin_registry();
        if (markdown && component_name.empty()) {
            std::fputs(generate_config_reference(reg).c_str(), stdout);
            return 0;
        }
        if (!component_name.empty()) {
            bool found = false;
            // NAME or KIND/NAME ("source/file"), as `sluice version` lists them.
            const auto slash = component_name.find('/');
            const std::string kind = slash == std::string::npos ? "" : component_name.substr(0, slash);
            const std::string name = slash == std::string::npos ? component_name : component_name.substr(slash + 1);
            for (const auto* d : reg.all()) {
                if (d->name == name && (kind.empty() || kind_name(d->kind) == kind)) {
                    // --markdown: the block of the component's README.
                    std::fputs((toml_snippet ? component_toml(*d)
                                : markdown   ? component_markdown(*d)
                                             : describe_component(*d))
                                   .c_str(),
                               stdout);
                    std::fputs("\n", stdout);
                    found = true;
                }
            }
            if (!found) {
                std::vector<std::string> names;
                for (const auto* d : reg.all()) {
                    names.emplace_back(d->name);
                }
                auto hint = did_you_mean(component_name, names);
                std::fprintf(stderr, "no component named '%s'%s\n", component_name.c_str(),
                             hint ? fmt::format(" (did you mean '{}'?)", *hint).c_str() : "");
                return kExitConfig;
            }
            return 0;
        }
        for (Kind k : {Kind::Source, Kind::Decoder, Kind::Stage, Kind::Sink}) {
            bool header = false;
            for (const auto* d : reg.all()) {
                if (d->kind != k) {
                    continue;
                }
                if (!header) {
                    std::printf("%ss:\n", std::string(kind_name(k)).c_str());
                    header = true;
                }
                if (d->delivery != Delivery::NotApplicable) {
                    // Sources and sinks: what they promise across a crash.
                    std::printf("  %-12s %-14s %s\n", std::string(d->name).c_str(),
                                std::string(delivery_name(d->delivery)).c_str(), std::string(d->summary).c_str());
                } else {
                    std::printf("  %-12s %s\n", std::string(d->name).c_str(), std::string(d->summary).c_str());
                }
            }
        }
        return 0;
    }
    if (*config_cmd) {
        const std::string_view text = embedded_default_config();
        std::fwrite(text.data(), 1, text.size(), stdout);
        return 0;
    }
    if (*version) {
        std::printf("sluice %s\ncomponents:", SLUICE_VERSION);
        for (const auto* d : builtin_registry().all()) {
            std::printf(" %s/%s", std::string(kind_name(d->kind)).c_str(), std::string(d->name).c_str());
        }
        std::printf("\n");
        return 0;
    }
    if (*buffer) {
        if (buf_action == "salvage") {
            return buffer_salvage(buf_file, buf_to);
        }
        BufferRange range;
        // --to is salvage's new file too; otherwise both choose records.
        const bool ranged = buf_action == "export" || buf_action == "replay";
        const bool range_given = !buf_from.empty() || (!buf_to.empty() && buf_action != "salvage");
        if (range_given && (!ranged || buf_dead)) {
            std::fprintf(stderr, "--from and --to choose records to export (and --from where a replay starts), not "
                                 "%s\n",
                         buf_dead ? "dead letters" : ("for " + buf_action).c_str());
            return kExitConfig;
        }
        if (buf_action == "replay" && !buf_to.empty()) {
            std::fprintf(stderr, "replay takes --from only: everything after it is delivered again\n");
            return kExitConfig;
        }
        for (auto [text, slot, name] : {std::tuple{&buf_from, &range.from, "--from"}, std::tuple{&buf_to, &range.to, "--to"}}) {
            if (text->empty() || (buf_action != "export" && buf_action != "replay")) {
                continue;
            }
            std::string why;
            *slot = parse_buffer_point(*text, &why);
            if (!*slot) {
                std::fprintf(stderr, "%s: %s\n", name, why.c_str());
                return kExitConfig;
            }
        }
        return buffer_command(buf_action, buf_dir, buf_pipeline, buf_sink, buf_dead, buf_yes, range);
    }
    return kExitConfig;
}
