// `sluice tap`: streams the records a running gateway sees at its sources,
// stages and sinks (GET /api/tap, Server-Sent Events) to stdout, one per
// line; reports what the gateway dropped for a slow client on stderr.

#include "cmd_tap.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/url.hpp"

#include "api_client.hpp"
#include "net/sse_reader.hpp"
#include "text/json.hpp"

namespace sluice::cli {

namespace {

struct TapArgs {
    ApiArgs api;
    std::string target;  // PIPELINE[/COMPONENT]
    std::uint64_t limit = 0;
    std::string format = "json";
};

void append_value(std::string& out, const JsonValue& v) {
    if (const auto* s = v.string()) {
        out += fmt::format("\"{}\"", *s);
    } else if (const auto* i = std::get_if<std::int64_t>(&v.v)) {
        out += std::to_string(*i);
    } else if (const auto* d = std::get_if<double>(&v.v)) {
        out += fmt::format("{}", *d);
    } else if (const auto* b = std::get_if<bool>(&v.v)) {
        out += *b ? "true" : "false";
    } else {
        out += "null";
    }
}

// "p/id source 2026-12-05T02:00:00Z temp room=kitchen value=21.5"
std::string text_line(std::string_view json) {
    std::string error;
    const auto doc = parse_json(json, &error);
    if (!doc || doc->object() == nullptr) {
        return std::string(json);
    }
    auto str = [&](std::string_view key) {
        const JsonValue* v = doc->get(key);
        return v != nullptr && v->string() != nullptr ? *v->string() : std::string();
    };
    std::string out = fmt::format("{} {} {} {}", str("_component"), str("_point"), str("time"), str("measurement"));
    if (const JsonValue* tags = doc->get("tags"); tags != nullptr && tags->object() != nullptr) {
        bool first = true;
        for (const auto& [k, v] : *tags->object()) {
            out += first ? " " : ",";
            first = false;
            out += k + "=";
            out += v.string() != nullptr ? *v.string() : std::string();
        }
    }
    if (const JsonValue* fields = doc->get("fields"); fields != nullptr && fields->object() != nullptr) {
        for (const auto& [k, v] : *fields->object()) {
            out += " " + k + "=";
            append_value(out, v);
        }
    }
    return out;
}

int run_tap(const TapArgs& args) {
    std::string error;
    auto opened = open_api_client(args.api);
    if (!opened) {
        return 2;
    }
    ApiClient& client = *opened;
    std::string path = "/api/tap";
    std::string sep = "?";
    if (!args.target.empty()) {
        const auto slash = args.target.find('/');
        path += sep + "pipeline=" + percent_encode(args.target.substr(0, slash));
        sep = "&";
        if (slash != std::string::npos && slash + 1 < args.target.size()) {
            path += sep + "component=" + percent_encode(args.target.substr(slash + 1));
        }
    }
    if (args.limit > 0) {
        path += sep + "limit=" + std::to_string(args.limit);
    }
    // A closed stdout (`sluice tap | head`) is an ordinary end, not a signal.
    std::signal(SIGPIPE, SIG_IGN);
    const bool text = args.format == "text";
    std::uint64_t records = 0;
    bool stdout_closed = false;
    net::SseReader reader([&](std::string_view event, std::string_view data) {
        if (event == "dropped") {
            std::string why;
            const auto doc = parse_json(data, &why);
            const JsonValue* n = doc ? doc->get("dropped") : nullptr;
            std::fprintf(stderr, "gateway dropped %.0f records for this tap: the client was too slow\n",
                         n != nullptr && n->number() ? *n->number() : 0.0);
            return true;
        }
        if (!event.empty() && event != "message") {
            return true;
        }
        const std::string line = text ? text_line(data) : std::string(data);
        if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fputc('\n', stdout) == EOF ||
            std::fflush(stdout) != 0) {
            stdout_closed = true;
            return false;
        }
        ++records;
        return args.limit == 0 || records < args.limit;
    });
    auto resp = client.stream(path, [&](std::string_view piece) { return reader.feed(piece); }, 60, &error);
    if (stdout_closed) {
        return 0;
    }
    if (!reader.error().empty()) {
        std::fprintf(stderr, "sluice tap: the gateway sent %s; stopping\n", reader.error().c_str());
        return 1;
    }
    if (!resp) {
        std::fprintf(stderr, "sluice tap: %s\n", error.c_str());
        return 1;
    }
    if (resp->status < 200 || resp->status > 299) {
        std::fprintf(stderr, "sluice tap: %s\n", describe_failure(*resp).c_str());
        return 1;
    }
    return 0;
}

}  // namespace

std::function<int()> add_tap_command(CLI::App& app) {
    auto args = std::make_shared<TapArgs>();
    auto* cmd = app.add_subcommand(
        "tap", "Stream live records from a running gateway as they leave sources and stages and enter sinks");
    cmd->add_option("TARGET", args->target, "PIPELINE or PIPELINE/COMPONENT (default: everything)");
    cmd->add_option("--limit", args->limit, "Stop after this many records (default: run until Ctrl-C)");
    cmd->add_option("--format", args->format, "json (one record per line) or text (a compact line)")
        ->check(CLI::IsMember({"json", "text"}));
    add_api_args(cmd, args->api);
    cmd->footer("Needs the gateway's [http] token (records are revealed): --token or $SLUICE_TOKEN. The gateway never "
                "slows down for a tap: records a slow client cannot take are dropped and reported on stderr.");
    return [args] { return run_tap(*args); };
}

}  // namespace sluice::cli
