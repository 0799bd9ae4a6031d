#include "stats/routes.hpp"

#include <charconv>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/record_json.hpp"
#include "http/api.hpp"
#include "net/live_feed.hpp"
#include "http/ui_assets.hpp"
#include "net/http_parser.hpp"
#include "stats/hub.hpp"
#include "stats/rate.hpp"
#include "tables/tables.hpp"

namespace sluice::stats {

namespace {

// Write rates per table, sampled after each hub tick (on the loop).
struct TableRates {
    std::mutex mu;
    std::map<std::string, RateWindow, std::less<>> rates;
};

net::HttpResponse json(std::string body) {
    net::HttpResponse r;
    r.content_type = "application/json";
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body = std::move(body);
    return r;
}

// A browser (Accept: text/html) gets the same figures as an HTML page of
// tables, so the stats pages work with JavaScript off.
net::HttpResponse answer(const net::HttpRequest& req, std::string body, std::string_view title) {
    if (!http::accepts_html(req)) {
        return json(std::move(body));
    }
    net::HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body = http::stats_json_to_html(body, title);
    return r;
}

// /stats/stream: one SSE event a second with the newest history point, to at
// most 8 clients, each with its own bounded queue (src/net/live_feed.hpp).
// Process-wide, so it outlives every Api that serves it.
net::LiveFeed& stats_feed() {
    static net::LiveFeed feed;
    return feed;
}

net::HttpResponse not_found(std::string_view what) {
    net::HttpResponse r;
    r.status = 404;
    r.content_type = "application/json";
    r.body = "{\"error\":";
    append_json_string(r.body, what);
    r.body += '}';
    return r;
}

}  // namespace

std::optional<std::vector<std::string>> stats_path_segments(std::string_view t) {
    if (const auto q = t.find('?'); q != std::string_view::npos) {
        t = t.substr(0, q);
    }
    constexpr std::string_view kPrefix = "/stats";
    if (t.starts_with(kPrefix)) {
        t.remove_prefix(kPrefix.size());
    }
    std::vector<std::string> out;
    while (!t.empty()) {
        if (t.front() == '/') {
            t.remove_prefix(1);
            continue;
        }
        const auto end = t.find('/');
        auto seg = percent_decode(t.substr(0, end), false);
        if (!seg) {
            return std::nullopt;
        }
        out.push_back(std::move(*seg));
        t.remove_prefix(end == std::string_view::npos ? t.size() : end);
    }
    return out;
}

std::optional<double> parse_since(std::string_view text) {
    double v = 0;
    const auto* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || p != end || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

std::uint64_t add_stats_routes(http::Api& api, StatsHub& hub, Tables* tables) {
    auto table_rates = std::make_shared<TableRates>();
    // After each tick (on the loop): the tables' write rates, and the new
    // point to /stats/stream's clients, formatted only when one listens.
    const std::uint64_t sub = hub.subscribe([table_rates, tables](const std::string& point) {
        if (stats_feed().listening()) {
            stats_feed().publish(point);
        }
        if (tables == nullptr) {
            return;
        }
        const double now = static_cast<double>(mono_now_ns()) / 1e9;
        std::lock_guard lk(table_rates->mu);
        for (const auto& name : tables->names(false)) {
            if (const Table* t = tables->find(name)) {
                table_rates->rates[name].sample(now, t->writes_total());
            }
        }
    });
    api.add_route("GET", "/stats/stream", [](const net::HttpRequest&) { return stats_feed().serve(); });
    api.add_route("GET", "/stats", [&hub, tables, table_rates](const net::HttpRequest& req) {
        const auto segs = stats_path_segments(req.target);
        if (!segs) {
            net::HttpResponse r;
            r.status = 400;
            r.body = "malformed percent-encoding in the path\n";
            return r;
        }
        const auto& s = *segs;
        if (s.empty()) {
            return answer(req, hub.stats_json(), "sluice stats");
        }
        if (s[0] == "topic") {
            if (s.size() == 1) {
                return answer(req, hub.topics_json(), "sluice stats: topics");
            }
            if (s.size() == 2) {
                auto body = hub.topic_json(s[1]);
                return body.empty() ? not_found("no such topic") : answer(req, std::move(body), "sluice stats: topic");
            }
        } else if (s[0] == "task" && s.size() == 3) {
            auto body = hub.task_json(s[1], s[2]);
            return body.empty() ? not_found("no such component")
                                : answer(req, std::move(body), "sluice stats: component");
        } else if (s[0] == "table" && s.size() == 2) {
            const Table* t = tables != nullptr ? tables->find(s[1]) : nullptr;
            if (t == nullptr) {
                return not_found("no such table");
            }
            double rate = 0;
            {
                std::lock_guard lk(table_rates->mu);
                if (const auto it = table_rates->rates.find(s[1]); it != table_rates->rates.end()) {
                    rate = it->second.rate(60);
                }
            }
            std::string body = "{\"table\":";
            append_json_string(body, t->name());
            body += ",\"writes_total\":";
            append_int(body, static_cast<std::int64_t>(t->writes_total()));
            body += ",\"writes_rate_1m\":";
            append_double(body, rate);
            body += ",\"keys\":";
            append_int(body, static_cast<std::int64_t>(t->size()));
            body += ",\"bytes\":";
            append_int(body, static_cast<std::int64_t>(t->stored_bytes()));
            body += '}';
            return answer(req, std::move(body), "sluice stats: table");
        } else if (s[0] == "history" && s.size() == 1) {
            double since = 0;
            if (const auto v = req.query_param("since")) {
                const auto parsed = parse_since(*v);
                if (parsed) {
                    since = *parsed;
                } else {
                    net::HttpResponse r;
                    r.status = 400;
                    r.body = "since: expected a Unix time in seconds\n";
                    return r;
                }
            }
            return json(hub.history_json(since));
        }
        return not_found("no such stats path");
    });
    return sub;
}

}  // namespace sluice::stats
