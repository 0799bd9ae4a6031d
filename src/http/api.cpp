#include "http/api.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <utility>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/tap.hpp"
#include "http/ui_assets.hpp"
#include "text/text.hpp"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

namespace sluice::http {
namespace {

constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";

net::HttpResponse text(int status, std::string body) {
    return net::HttpResponse{status, kText, {}, std::move(body)};
}

net::HttpResponse no_store(net::HttpResponse r) {
    // Probes and scrapes must see the live state, never a cached copy.
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

bool is_write(std::string_view method) { return method != "GET" && method != "HEAD" && method != "OPTIONS"; }

bool prefix_matches(std::string_view prefix, std::string_view path) {
    if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) {
        return false;
    }
    return path.size() == prefix.size() || prefix.ends_with('/') || path[prefix.size()] == '/';
}

// Also compares the bytes past the shorter length, so only the length (not
// the position of the first difference) can be learnt from timing.
bool constant_time_equals(std::string_view a, std::string_view b) {
    const std::size_t n = std::max(a.size(), b.size());
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (std::size_t i = 0; i < n; ++i) {
        const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
        const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
        diff |= static_cast<unsigned>(x ^ y);
    }
    return diff == 0;
}

std::string join_allow(const std::vector<std::string>& methods) {
    std::string out;
    for (const auto& m : methods) {
        if (!out.empty()) {
            out += ", ";
        }
        out += m;
    }
    return out;
}

net::HttpResponse method_not_allowed(std::vector<std::string> allowed) {
    auto r = text(405, "method not allowed\n");
    r.headers.emplace_back("Allow", join_allow(allowed));
    return r;
}

}  // namespace

bool check_token(const net::HttpRequest& req, const std::string& token, bool access_token_query) {
    if (token.empty()) {
        return false;
    }
    const std::string* auth = req.header("authorization");
    if (auth == nullptr) {
        const auto q = access_token_query ? req.query_param("access_token") : std::nullopt;
        return q && constant_time_equals(*q, token);
    }
    std::string_view v = *auth;
    constexpr std::string_view scheme = "bearer";
    if (v.size() <= scheme.size() || !iequals(v.substr(0, scheme.size()), scheme) ||
        (v[scheme.size()] != ' ' && v[scheme.size()] != '\t')) {
        return false;
    }
    v.remove_prefix(scheme.size());
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    return constant_time_equals(v, token);
}

std::optional<net::HttpResponse> require_token(const net::HttpRequest& req, const std::string& token) {
    if (token.empty()) {
        return text(403, "write endpoints are disabled: no API token is configured\n");
    }
    if (check_token(req, token)) {
        return std::nullopt;
    }
    auto r = text(401, "missing or wrong bearer token\n");
    r.headers.emplace_back("WWW-Authenticate", req.header("authorization") != nullptr
                                                   ? "Bearer realm=\"sluice\", error=\"invalid_token\""
                                                   : "Bearer realm=\"sluice\"");
    return r;
}

Api::Api(IoLoop& loop, ApiHooks hooks, net::HttpServerLimits limits)
    : hooks_(std::make_shared<const ApiHooks>(std::move(hooks))) {
    server_ = std::make_unique<net::HttpServer>(
        loop, [this](const net::HttpRequest& req) { return handle(req); }, limits);
}

Api::~Api() { server_.reset(); }

bool Api::listen(std::string_view address, std::string* error) { return server_->listen(address, error); }

std::uint16_t Api::port() const { return server_->port(); }

void Api::close() { server_->close(); }

std::string Api::token() const {
    std::lock_guard lk(mu_);
    return hooks_->token;
}

void Api::set_hooks(ApiHooks hooks) {
    auto fresh = std::make_shared<const ApiHooks>(std::move(hooks));
    std::lock_guard lk(mu_);
    hooks_ = std::move(fresh);
}

net::HttpResponse Api::off_loop(std::function<net::HttpResponse()> work) {
    net::HttpResponse r;
    r.deferred = [this, work = std::move(work)](net::HttpRespond respond) mutable {
        writer_.post([work = std::move(work), respond = std::move(respond)] {
            net::HttpResponse answer;
            try {
                answer = work();
            } catch (const std::exception& e) {
                log::error("http: request failed: {}", e.what());
                answer = text(500, "internal error\n");
            }
            respond(std::move(answer));
        });
    };
    return r;
}

net::HttpResponse Api::off_loop_deferred(std::function<void(net::HttpRespond)> work) {
    net::HttpResponse r;
    r.deferred = [this, work = std::move(work)](net::HttpRespond respond) mutable {
        // Answered once, whatever `work` does: a second answer would go to
        // the connection's next request.
        auto once = std::make_shared<std::atomic<bool>>(false);
        net::HttpRespond guarded = [once, respond = std::move(respond)](net::HttpResponse a) {
            if (!once->exchange(true)) {
                respond(std::move(a));
            }
        };
        writer_.post([work = std::move(work), guarded = std::move(guarded)] {
            try {
                work(guarded);
            } catch (const std::exception& e) {
                log::error("http: request failed: {}", e.what());
                guarded(text(500, "internal error\n"));
            }
        });
    };
    return r;
}

void add_tap_route(Api& api) {
    api.add_route("GET", "/api/tap", [&api](const net::HttpRequest& req) {
        if (auto refused = require_token(req, api.token())) {
            return *refused;
        }
        return tap().serve(req);
    });
}

void Api::add_route(std::string method, std::string prefix, net::HttpHandler handler) {
    std::lock_guard lk(mu_);
    routes_.push_back(Route{std::move(method), std::move(prefix), std::move(handler)});
}

net::HttpResponse Api::index() const {
    std::string body = fmt::format("sluice {}\n\n", SLUICE_VERSION);
    body += "GET /         this index\n";
    body += "GET /health   liveness: 200 \"ok\" while the process answers\n";
    body += "GET /ready    readiness: 200 when every sink is healthy or buffering within limits, else 503\n";
    body += "GET /metrics  Prometheus metrics (text format 0.0.4)\n";
    std::lock_guard lk(mu_);
    for (const auto& r : routes_) {
        body += fmt::format("{} {}\n", r.method, r.prefix);
    }
    return text(200, std::move(body));
}

net::HttpResponse Api::handle(const net::HttpRequest& req) {
    const std::string& path = req.path;
    const bool builtin = path == "/" || path == "/health" || path == "/ready" || path == "/metrics";
    if (builtin) {
        if (req.method == "OPTIONS") {
            net::HttpResponse r{204, "", {{"Allow", "GET, HEAD, OPTIONS"}}, ""};
            return r;
        }
        if (req.method != "GET" && req.method != "HEAD") {
            return method_not_allowed({"GET", "HEAD", "OPTIONS"});
        }
        if (path == "/health") {
            return no_store(text(200, "ok\n"));
        }
        if (path == "/metrics") {
            return no_store(net::HttpResponse{200, kPrometheusText, {}, metrics().render()});
        }
        if (path == "/ready") {
            std::shared_ptr<const ApiHooks> hooks;
            {
                std::lock_guard lk(mu_);
                hooks = hooks_;
            }
            if (!hooks->ready) {
                return no_store(text(503, "not ready: the pipeline is not running yet\n"));
            }
            std::string detail;
            bool ok = false;
            try {
                ok = hooks->ready(detail);
            } catch (const std::exception& e) {
                detail = fmt::format("readiness check failed: {}", e.what());
            }
            const bool json = !detail.empty() && (detail.front() == '{' || detail.front() == '[');
            if (detail.empty()) {
                detail = ok ? "ready" : "not ready";
            }
            if (!json && detail.back() != '\n') {
                detail += '\n';
            }
            return no_store(net::HttpResponse{ok ? 200 : 503, json ? "application/json" : kText, {}, std::move(detail)});
        }
        // A browser gets the web UI; curl and scripts keep the plain index.
        if (accepts_html(req)) {
            if (const UiAsset* page = find_ui_asset("index.html")) {
                return serve_ui_asset(*page, req);
            }
        }
        return index();
    }

    // Registered routes: the longest matching prefix decides which set of
    // methods applies, so a deeper route is not shadowed by a shallower one.
    net::HttpHandler handler;
    std::string token;
    std::vector<std::string> allowed;
    bool write = false;
    {
        std::lock_guard lk(mu_);
        std::size_t best = 0;
        bool any = false;
        for (const auto& r : routes_) {
            if (prefix_matches(r.prefix, path) && (!any || r.prefix.size() > best)) {
                best = r.prefix.size();
                any = true;
            }
        }
        if (!any) {
            return text(404, "not found\n");
        }
        const Route* exact = nullptr;
        const Route* get = nullptr;
        for (const auto& r : routes_) {
            if (r.prefix.size() != best || !prefix_matches(r.prefix, path)) {
                continue;
            }
            if (std::find(allowed.begin(), allowed.end(), r.method) == allowed.end()) {
                allowed.push_back(r.method);
            }
            if (r.method == req.method && exact == nullptr) {
                exact = &r;
            }
            if (r.method == "GET" && get == nullptr) {
                get = &r;
            }
        }
        const Route* chosen = exact != nullptr ? exact : (req.method == "HEAD" ? get : nullptr);
        if (chosen != nullptr) {
            handler = chosen->handler;
            write = is_write(chosen->method);
            token = hooks_->token;
        }
    }
    if (!handler) {
        if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end() &&
            std::find(allowed.begin(), allowed.end(), "HEAD") == allowed.end()) {
            allowed.emplace_back("HEAD");
        }
        if (req.method == "OPTIONS") {
            allowed.emplace_back("OPTIONS");
            return net::HttpResponse{204, "", {{"Allow", join_allow(allowed)}}, ""};
        }
        return method_not_allowed(std::move(allowed));
    }
    if (write) {
        if (auto refused = require_token(req, token)) {
            log::debug("http: refused {} {}: {}", req.method, net::logged_path(req), refused->status);
            return *refused;
        }
    }
    return handler(req);
}

}  // namespace sluice::http
