#include "http/send_api.hpp"

#include <memory>

#include <fmt/format.h>

#include "core/push_endpoints.hpp"
#include "core/record_json.hpp"

namespace sluice::http {

namespace {

constexpr std::string_view kJson = "application/json";

net::HttpResponse answer(const PushAnswer& a) {
    std::string body = "{";
    if (a.status == 200) {
        body += fmt::format("\"status\":\"committed\",\"frames\":{}", a.frames);
    } else {
        body += "\"error\":";
        append_json_string(body, a.message);
    }
    body += "}\n";
    net::HttpResponse r{a.status, std::string(kJson), {}, std::move(body)};
    r.headers.emplace_back("Cache-Control", "no-store");
    if (a.retry_after > 0) {
        r.headers.emplace_back("Retry-After", std::to_string(a.retry_after));
    }
    return r;
}

bool is_ndjson(const net::HttpRequest& req) {
    const std::string* ct = req.header("Content-Type");
    if (ct == nullptr) {
        return false;
    }
    std::string v;
    for (char c : *ct) {
        if (c == ';') {
            break;
        }
        if (c != ' ' && c != '\t') {
            v += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
    }
    return v == "application/x-ndjson" || v == "application/ndjson" || v == "application/jsonl";
}

net::HttpResponse handle_send(const net::HttpRequest& req) {
    // "/api/send", "/api/send/", "/api/send/p", "/api/send/p/", "/api/send/p/id"
    std::string_view rest = std::string_view(req.path).substr(kSendPrefix.size());
    while (!rest.empty() && rest.front() == '/') {
        rest.remove_prefix(1);
    }
    while (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
    }
    std::string pipeline(rest.substr(0, rest.find('/')));
    std::string id;
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
        id = std::string(rest.substr(slash + 1));
        if (id.find('/') != std::string::npos) {
            return answer(PushAnswer{.status = 404, .message = "use /api/send/<pipeline>[/<source id>]"});
        }
    }
    auto push = std::make_shared<PushRequest>();
    push->body = req.body;
    push->ndjson = is_ndjson(req);
    push->key = req.query_param("key").value_or("");
    net::HttpResponse deferred;
    // The source answers from the worker thread once the frames are
    // committed; the connection waits until then.
    deferred.deferred = [push, pipeline = std::move(pipeline), id = std::move(id)](net::HttpRespond respond) {
        auto reply = [respond](PushAnswer a) { respond(answer(a)); };
        std::string error;
        if (!push_endpoints().dispatch(pipeline, id, std::move(*push), reply, &error)) {
            respond(answer(PushAnswer{.status = 404, .message = error}));
        }
    };
    return deferred;
}

}  // namespace

void add_send_routes(Api& api) {
    api.add_route("POST", std::string(kSendPrefix), handle_send);
    api.add_route("PUT", std::string(kSendPrefix), handle_send);
}

}  // namespace sluice::http
