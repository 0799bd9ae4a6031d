// GET /ws/<pipeline>/<sink>: the live records of a websocket sink, over a
// WebSocket. The sinks list their feeds in net::websocket_feeds(); this
// route finds one, checks the API token unless the sink is public, and
// hands the connection to the feed.

#include <string>

#include <fmt/format.h>

#include "http/api.hpp"
#include "net/live_feed.hpp"

namespace sluice::http {

namespace {

net::HttpResponse plain(int status, std::string body) {
    return net::HttpResponse{status, "text/plain; charset=utf-8", {}, std::move(body)};
}

}  // namespace

void add_websocket_routes(Api& api) {
    api.add_route("GET", "/ws/", [&api](const net::HttpRequest& req) {
        const std::string name = req.path.substr(4);
        auto entry = net::websocket_feeds().find(name);
        if (!entry) {
            const auto names = net::websocket_feeds().names();
            return plain(404, fmt::format("no websocket sink named '{}'{}{}\n", name,
                                          names.empty() ? "" : "; there are: /ws/",
                                          fmt::join(names, ", /ws/")));
        }
        if (!entry->is_public) {
            const std::string token = api.token();
            if (token.empty()) {
                return plain(403, "this websocket sink needs the API token and none is configured; or mark the "
                                  "sink public\n");
            }
            if (!check_token(req, token, true)) {
                auto r = plain(401, "missing or wrong token: send \"Authorization: Bearer <token>\" or "
                                    "?access_token=<token>\n");
                r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"sluice\"");
                return r;
            }
        }
        return entry->feed->serve(true);
    });
}

}  // namespace sluice::http
