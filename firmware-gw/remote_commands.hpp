#pragma once
// The commands that talk to a running gateway over its HTTP API: send,
// ping, status, top (each in its cmd_<name>.cpp). Each adds its subcommand
// to `app`; when that subcommand runs, its exit status lands in `exit_code`.

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "api_client.hpp"
#include "text/json.hpp"

namespace sluice::cli {

void add_send_command(CLI::App& app, int& exit_code);
void add_ping_command(CLI::App& app, int& exit_code);
void add_status_command(CLI::App& app, int& exit_code);
void add_top_command(CLI::App& app, int& exit_code);

// Exit statuses of the remote commands.
inline constexpr int kRemoteOk = 0;
inline constexpr int kRemoteUnreachable = 1;  // transport failure, or an answer that makes no sense
inline constexpr int kRemoteRefused = 2;      // 4xx: the request was wrong (or the token)
inline constexpr int kRemoteNotReady = 3;     // status: /ready answered other than 200

// GET /stats/ as a JSON tree. nullopt when the gateway has no /stats/ (an
// older one: `why` says so) or the answer is not JSON; `unreachable` is set
// on transport failure.
std::optional<JsonValue> fetch_stats(ApiClient& client, std::string* why, bool* unreachable);

// A number member at a path of object keys ("buffer", "fill"); nullopt if absent.
std::optional<double> json_at(const JsonValue& v, std::initializer_list<std::string_view> path);

// "1.2k/s" style rate, "3.4 s" duration, "12.0 %".
std::string fmt_rate(std::optional<double> per_second);
std::string fmt_seconds(std::optional<double> s);

// The per-component view `status` and `top` print, from a /stats/ tree:
// one line per pipeline, source, stage and sink.
std::string stats_table(const JsonValue& stats, bool with_errors);

}  // namespace sluice::cli
