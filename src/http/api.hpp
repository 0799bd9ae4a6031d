#pragma once
// The gateway's own HTTP API: /health, /ready, /metrics and an index, plus
// routes that later parts register (tables, stats). Runs on the I/O loop.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ioloop.hpp"
#include "http/blocking_worker.hpp"
#include "net/http_server.hpp"

namespace sluice::http {

struct ApiHooks {
    // /ready: every sink healthy or buffering within limits. `detail` explains
    // (JSON if it starts with '{' or '[', else text). Runs on the I/O loop
    // thread, so it must only read cached state, never probe a sink.
    // Unset: not ready (the pipeline has not been wired yet).
    std::function<bool(std::string& detail)> ready;
    // Bearer token for write endpoints; empty = writes refused.
    std::string token;
};

class Api {
public:
    Api(IoLoop& loop, ApiHooks hooks, net::HttpServerLimits limits = {});
    ~Api();
    Api(const Api&) = delete;
    Api& operator=(const Api&) = delete;

    bool listen(std::string_view address, std::string* error);
    std::uint16_t port() const;
    // Thread-safe; takes effect for the next request (config reload).
    void set_hooks(ApiHooks hooks);
    void close();
    // The bearer token of the current hooks (for GET handlers that reveal
    // record contents and check it themselves with require_token).
    std::string token() const;

    // Serves `method` for `prefix` and everything below it ("/api/table"
    // matches "/api/table" and "/api/table/x", not "/api/tables"). The longest
    // prefix wins. GET routes also answer HEAD. Methods other than GET, HEAD
    // and OPTIONS are writes: they need the bearer token from the hooks and
    // get 401 (or 403 when no token is configured) without it, before the
    // handler is called. Thread-safe.
    void add_route(std::string method, std::string prefix, net::HttpHandler handler);

    // For a handler whose answer needs blocking work (a table write that
    // commits to SQLite): returns the deferred response to hand back, which
    // runs `work` on the API's one writer thread, in the order requests
    // came, and sends its result (500 if it throws) from the loop.
    net::HttpResponse off_loop(std::function<net::HttpResponse()> work);
    // The same for work whose answer comes later: `work` runs on the writer
    // thread and sees that `respond` is called, from any thread (500 if
    // `work` throws before it did). Only the first answer is sent.
    net::HttpResponse off_loop_deferred(std::function<void(net::HttpRespond)> work);

private:
    struct Route {
        std::string method;
        std::string prefix;
        net::HttpHandler handler;
    };

    net::HttpResponse handle(const net::HttpRequest& req);
    net::HttpResponse index() const;

    // Declared before server_, so it is stopped after it: jobs still queued
    // run (their answers are dropped) before the handlers' state goes.
    BlockingWorker writer_;
    std::unique_ptr<net::HttpServer> server_;
    mutable std::mutex mu_;  // hooks_ and routes_: set from other threads, read on the loop
    std::shared_ptr<const ApiHooks> hooks_;
    std::vector<Route> routes_;
};

// Authorization: Bearer <token>, compared in constant time. An empty
// `token` (none configured) never matches. With `access_token_query` a
// request without the header may carry ?access_token=<token> instead
// (RFC 6750 2.3): a browser cannot set headers on a WebSocket.
bool check_token(const net::HttpRequest& req, const std::string& token, bool access_token_query = false);

// nullopt when the request carries the token; otherwise the response to send:
// 401 with WWW-Authenticate, or 403 when no token is configured at all.
std::optional<net::HttpResponse> require_token(const net::HttpRequest& req, const std::string& token);

// GET /api/tap: live records from the process-wide tap (http/tap.hpp); the
// token is required, as the records' contents are revealed.
void add_tap_route(Api& api);

// GET /ws/<pipeline>/<sink>: a websocket sink's live records over a
// WebSocket (websocket_api.cpp); the token (header or ?access_token=) unless
// the sink is public.
void add_websocket_routes(Api& api);

}  // namespace sluice::http
