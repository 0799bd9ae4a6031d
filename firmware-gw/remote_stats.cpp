// Reading and printing the gateway's /stats/ for `ping`, `status` and `top`.

#include <fmt/format.h>

#include "remote_commands.hpp"

namespace sluice::cli {

std::optional<JsonValue> fetch_stats(ApiClient& client, std::string* why, bool* unreachable) {
    *unreachable = false;
    std::string error;
    auto resp = client.get("/stats/", &error);
    if (!resp) {
        *why = error;
        *unreachable = true;
        return std::nullopt;
    }
    if (resp->status != 200) {
        *why = fmt::format("the gateway has no statistics (/stats/ answered {})", resp->status);
        return std::nullopt;
    }
    auto json = parse_json(resp->body, &error);
    if (!json || json->object() == nullptr) {
        *why = fmt::format("/stats/ is not a JSON object: {}", error);
        return std::nullopt;
    }
    return json;
}

std::optional<double> json_at(const JsonValue& v, std::initializer_list<std::string_view> path) {
    const JsonValue* at = &v;
    for (auto key : path) {
        at = at->get(key);
        if (at == nullptr) {
            return std::nullopt;
        }
    }
    return at->number();
}

std::string fmt_rate(std::optional<double> r) {
    if (!r) {
        return "-";
    }
    if (*r >= 1e6) {
        return fmt::format("{:.1f}M/s", *r / 1e6);
    }
    if (*r >= 1e4) {
        return fmt::format("{:.1f}k/s", *r / 1e3);
    }
    return fmt::format("{:.1f}/s", *r);
}

std::string fmt_seconds(std::optional<double> s) {
    if (!s) {
        return "-";
    }
    if (*s < 1) {
        return fmt::format("{:.1f} ms", *s * 1000);
    }
    if (*s < 120) {
        return fmt::format("{:.1f} s", *s);
    }
    if (*s < 7200) {
        return fmt::format("{:.1f} min", *s / 60);
    }
    return fmt::format("{:.1f} h", *s / 3600);
}

namespace {

std::string count(std::optional<double> n) {
    return n ? fmt::format("{}", static_cast<long long>(*n)) : std::string("-");
}

}  // namespace

std::string stats_table(const JsonValue& stats, bool with_errors) {
    std::string out;
    out += fmt::format("{:<32} {:<10} {:>4} {:>10} {:>10} {:>10} {:>10}\n", "COMPONENT", "TYPE", "UP", "IN/s(1s)",
                       "OUT/s(1m)", "LAG rows", "LAG");
    const auto* pipelines = stats.get("pipelines") ? stats.get("pipelines")->object() : nullptr;
    if (pipelines == nullptr) {
        return out;
    }
    for (const auto& entry : *pipelines) {
        // Named references, not a structured binding: the lambdas below
        // capture them (clang 14 cannot capture bindings).
        const std::string& pname = entry.first;
        const JsonValue& p = entry.second;
        out += fmt::format("{:<32} {:<10} {:>4} {:>10} {:>10} {:>10} {:>10}  buffer {} rows, fill {:.1f} %\n", pname,
                           "pipeline", "", fmt_rate(json_at(p, {"events", "rate_1s"})),
                           fmt_rate(json_at(p, {"records", "rate_1m"})), "", "",
                           count(json_at(p, {"buffer", "rows"})), json_at(p, {"buffer", "fill"}).value_or(0) * 100);
        auto list = [&](const char* group, auto&& line) {
            if (const auto* g = p.get(group); g && g->object()) {
                for (const auto& [id, c] : *g->object()) {
                    line(id, c);
                }
            }
        };
        auto type_of = [](const JsonValue& c) {
            const auto* t = c.get("type");
            return t && t->string() ? *t->string() : std::string("?");
        };
        auto up_of = [](const JsonValue& c) -> std::string {
            const auto* u = c.get("up");
            if (u == nullptr) {
                return "";
            }
            const auto* b = std::get_if<bool>(&u->v);
            return b ? (*b ? "up" : "DOWN") : "";
        };
        list("sources", [&](const std::string& id, const JsonValue& c) {
            out += fmt::format("  {:<30} {:<10} {:>4} {:>10}\n", pname + "/" + id, type_of(c), up_of(c),
                               fmt_rate(json_at(c, {"events", "rate_1s"})));
        });
        list("stages", [&](const std::string& id, const JsonValue& c) {
            out += fmt::format("  {:<30} {:<10} {:>4} {:>10} {:>10}\n", pname + "/" + id, type_of(c), "",
                               fmt_rate(json_at(c, {"in", "rate_1s"})), fmt_rate(json_at(c, {"out", "rate_1m"})));
        });
        list("sinks", [&](const std::string& id, const JsonValue& c) {
            out += fmt::format("  {:<30} {:<10} {:>4} {:>10} {:>10} {:>10} {:>10}", pname + "/" + id, type_of(c),
                               up_of(c), "", fmt_rate(json_at(c, {"sent", "rate_1m"})),
                               count(json_at(c, {"lag_rows"})), fmt_seconds(json_at(c, {"lag_seconds"})));
            const auto* e = c.get("last_error");
            if (with_errors && e && e->string() && !e->string()->empty()) {
                out += "  last error: " + *e->string();
            }
            out += "\n";
        });
    }
    return out;
}

}  // namespace sluice::cli
