// `sluice ping`: one cheap GET to the gateway; prints the round trip, its
// version and uptime.

#include <chrono>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "remote_commands.hpp"

namespace sluice::cli {

namespace {

int run_ping(const ApiArgs& args) {
    auto opened = open_api_client(args);
    if (!opened) {
        return kRemoteRefused;
    }
    ApiClient& client = *opened;
    std::string error;
    const auto t0 = std::chrono::steady_clock::now();
    auto resp = client.get("/stats/", &error);
    const auto t1 = std::chrono::steady_clock::now();
    if (!resp) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return kRemoteUnreachable;
    }
    double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    std::string version = "unknown";
    std::string uptime = "unknown";
    if (resp->status == 200) {
        if (auto json = parse_json(resp->body, nullptr)) {
            if (const auto* v = json->get("version"); v && v->string()) {
                version = *v->string();
            }
            if (auto u = json_at(*json, {"uptime_seconds"})) {
                uptime = fmt_seconds(*u);
            }
        }
    } else {
        // An older gateway without /stats/: its liveness answer still times the trip.
        const auto h0 = std::chrono::steady_clock::now();
        resp = client.get("/health", &error);
        const auto h1 = std::chrono::steady_clock::now();
        if (!resp) {
            std::fprintf(stderr, "%s\n", error.c_str());
            return kRemoteUnreachable;
        }
        if (resp->status != 200) {
            std::fprintf(stderr, "%s: /health answered %s\n", client.target().url.c_str(),
                         describe_failure(*resp).c_str());
            return kRemoteUnreachable;
        }
        ms = std::chrono::duration<double, std::milli>(h1 - h0).count();
    }
    std::printf("%s: round trip %.1f ms, sluice %s, up %s\n", client.target().url.c_str(), ms, version.c_str(),
                uptime.c_str());
    return kRemoteOk;
}

}  // namespace

void add_ping_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<ApiArgs>();
    auto* cmd = app.add_subcommand("ping", "Time a round trip to a running gateway; print its version and uptime");
    add_api_args(cmd, *args);
    cmd->callback([args, &exit_code] { exit_code = run_ping(*args); });
}

}  // namespace sluice::cli
