// `sluice status`: what a running gateway does now (pipelines, sources,
// rates, buffer, sinks from /stats/) and whether it is ready (/ready).
// Exit 0 when ready, 3 when not, 1 when unreachable.

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "remote_commands.hpp"

namespace sluice::cli {

namespace {

int run_status(const ApiArgs& args) {
    auto opened = open_api_client(args);
    if (!opened) {
        return kRemoteRefused;
    }
    ApiClient& client = *opened;
    std::string error;
    auto ready = client.get("/ready", &error);
    if (!ready) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return kRemoteUnreachable;
    }
    std::string why;
    bool unreachable = false;
    auto stats = fetch_stats(client, &why, &unreachable);
    if (unreachable) {
        std::fprintf(stderr, "%s\n", why.c_str());
        return kRemoteUnreachable;
    }
    std::string out = fmt::format("gateway {}", client.target().url);
    if (stats) {
        if (const auto* v = stats->get("version"); v && v->string()) {
            out += ", sluice " + *v->string();
        }
        out += fmt::format(", up {}\n", fmt_seconds(json_at(*stats, {"uptime_seconds"})));
        out += fmt::format("events {} (1m {}), records {}, dead letters {} total; buffer {} rows, fill {:.1f} %\n\n",
                           fmt_rate(json_at(*stats, {"events", "rate_1s"})),
                           fmt_rate(json_at(*stats, {"events", "rate_1m"})),
                           fmt_rate(json_at(*stats, {"records", "rate_1m"})),
                           static_cast<long long>(json_at(*stats, {"dead_letters", "total"}).value_or(0)),
                           static_cast<long long>(json_at(*stats, {"buffer", "rows"}).value_or(0)),
                           json_at(*stats, {"buffer", "fill"}).value_or(0) * 100);
        out += stats_table(*stats, true);
    } else {
        out += "\n(" + why + ")\n";
    }
    std::string detail = ready->body;
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) {
        detail.pop_back();
    }
    out += fmt::format("\nready: {}{}\n", ready->status == 200 ? "yes" : "NO",
                       detail.empty() ? "" : " (" + detail + ")");
    std::fputs(out.c_str(), stdout);
    return ready->status == 200 ? kRemoteOk : kRemoteNotReady;
}

}  // namespace

void add_status_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<ApiArgs>();
    auto* cmd = app.add_subcommand(
        "status", "Show a running gateway's pipelines, sources, rates, buffer and sinks; exit 0 ready, 3 not ready");
    add_api_args(cmd, *args);
    cmd->callback([args, &exit_code] { exit_code = run_status(*args); });
}

}  // namespace sluice::cli
