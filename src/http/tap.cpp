#include "http/tap.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

#include "core/record_json.hpp"

namespace sluice::http {

namespace {

constexpr const char* kText = "text/plain; charset=utf-8";

bool valid_name(std::string_view s) {
    return s.size() <= 256 && std::none_of(s.begin(), s.end(), [](char c) {
               return static_cast<unsigned char>(c) < 0x20 || c == '/';
           });
}

}  // namespace

struct Tap::Client {
    std::string pipeline;   // empty: any
    std::string component;  // empty: any
    std::uint64_t limit = 0;  // 0: none
    std::uint64_t sent = 0;   // guarded by State::mu
    net::HttpStreamHandle stream;

    bool wants(std::string_view p, std::string_view id) const {
        return (pipeline.empty() || pipeline == p) && (component.empty() || component == id);
    }
};

struct Tap::State {
    std::mutex mu;
    std::vector<std::shared_ptr<Client>> clients;  // guarded by mu
    std::atomic<std::size_t> count{0};

    void remove(const Client* c) {
        std::lock_guard lk(mu);
        std::erase_if(clients, [c](const std::shared_ptr<Client>& x) { return x.get() == c; });
        count = clients.size();
    }
};

Tap::Tap() : state_(std::make_shared<State>()), clients_(state_->count) {}

Tap::~Tap() {
    std::lock_guard lk(state_->mu);
    for (const auto& c : state_->clients) {
        c->stream->close();
    }
}

std::string tap_record_json(const Record& r, std::string_view label, std::string_view point) {
    std::string out;
    out.reserve(256);
    append_record_json(out, r);
    if (!out.empty() && out.back() == '}') {
        out.pop_back();
        out += out.size() > 1 ? ",\"_component\":" : "\"_component\":";
        append_json_string(out, label);
        out += ",\"_point\":";
        append_json_string(out, point);
        out += '}';
    }
    return out;
}

void Tap::observe(std::string_view label, std::string_view point, std::span<const Record> records) {
    if (!active() || records.empty()) {
        return;
    }
    const auto slash = label.find('/');
    const std::string_view pipeline = label.substr(0, slash);
    const std::string_view id = slash == std::string_view::npos ? std::string_view() : label.substr(slash + 1);
    std::lock_guard lk(state_->mu);
    std::vector<Client*> wanting;
    for (const auto& c : state_->clients) {
        if (c->wants(pipeline, id) && (c->limit == 0 || c->sent < c->limit) && !c->stream->closed()) {
            wanting.push_back(c.get());
        }
    }
    std::vector<Client*> with_room;
    for (const Record& r : records) {
        if (wanting.empty()) {
            return;
        }
        // A stalled client costs a check, not a formatted record, per record.
        with_room.clear();
        for (Client* c : wanting) {
            if (c->stream->full()) {
                c->stream->drop();
            } else {
                with_room.push_back(c);
            }
        }
        if (with_room.empty()) {
            continue;
        }
        const std::string event = net::sse_event(tap_record_json(r, label, point));
        for (Client* c : with_room) {
            if (c->stream->push(event)) {
                ++c->sent;
            }
        }
        for (auto it = wanting.begin(); it != wanting.end();) {
            Client* c = *it;
            if (c->limit != 0 && c->sent >= c->limit) {
                c->stream->close();  // its response ends after the queued records
                it = wanting.erase(it);
            } else {
                ++it;
            }
        }
    }
}

net::HttpResponse Tap::serve(const net::HttpRequest& req, net::HttpStreamLimits limits) {
    auto client = std::make_shared<Client>();
    client->pipeline = req.query_param("pipeline").value_or("");
    client->component = req.query_param("component").value_or("");
    if (!valid_name(client->pipeline) || !valid_name(client->component)) {
        return net::HttpResponse{400, kText, {}, "pipeline and component are names (no '/')\n"};
    }
    if (auto limit = req.query_param("limit"); limit && !limit->empty()) {
        const auto [p, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), client->limit);
        if (ec != std::errc{} || p != limit->data() + limit->size()) {
            return net::HttpResponse{400, kText, {}, "limit must be a whole number of records\n"};
        }
    }
    if (clients() >= kMaxClients) {
        net::HttpResponse r{503, kText, {}, "too many tap clients connected (at most 8); try again later\n"};
        r.headers.emplace_back("Retry-After", "5");
        return r;
    }
    return net::HttpResponse::event_stream(
        [weak = std::weak_ptr<State>(state_), client](net::HttpStreamHandle stream) {
            auto st = weak.lock();
            if (!st) {
                stream->close();
                return;
            }
            client->stream = stream;
            stream->on_end([weak, raw = client.get()] {
                if (auto s = weak.lock()) {
                    s->remove(raw);
                }
            });
            // A comment first, so the client sees the stream is open before a record flows.
            stream->push(": tap open\n\n");
            std::lock_guard lk(st->mu);
            st->clients.push_back(client);
            st->count = st->clients.size();
        },
        limits);
}

Tap& tap() {
    static Tap t;
    return t;
}

}  // namespace sluice::http
