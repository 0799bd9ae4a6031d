#include "http/live_feed.hpp"

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

namespace sluice::http {

struct LiveFeed::State {
    std::size_t max_subscribers;
    net::HttpStreamLimits limits;
    std::mutex mu;
    std::vector<net::HttpStreamHandle> subs;  // guarded by mu
    std::atomic<std::size_t> count{0};

    void remove(const net::HttpStream* s) {
        std::lock_guard lk(mu);
        std::erase_if(subs, [s](const net::HttpStreamHandle& h) { return h.get() == s; });
        count = subs.size();
    }
};

LiveFeed::LiveFeed(std::size_t max_subscribers, net::HttpStreamLimits limits)
    : state_(std::make_shared<State>()) {
    state_->max_subscribers = max_subscribers;
    state_->limits = limits;
}

LiveFeed::~LiveFeed() { close_all(); }

bool LiveFeed::listening() const { return state_->count.load(std::memory_order_relaxed) > 0; }

std::size_t LiveFeed::subscribers() const { return state_->count.load(std::memory_order_relaxed); }

net::HttpResponse LiveFeed::serve() {
    if (subscribers() >= state_->max_subscribers) {
        net::HttpResponse r{503, "text/plain; charset=utf-8", {}, "too many live streams open; try again later\n"};
        r.headers.emplace_back("Retry-After", "5");
        return r;
    }
    return net::HttpResponse::event_stream(
        [weak = std::weak_ptr<State>(state_)](net::HttpStreamHandle stream) {
            auto st = weak.lock();
            if (!st) {
                stream->close();
                return;
            }
            stream->on_end([weak, raw = stream.get()] {
                if (auto s = weak.lock()) {
                    s->remove(raw);
                }
            });
            std::lock_guard lk(st->mu);
            st->subs.push_back(std::move(stream));
            st->count = st->subs.size();
        },
        state_->limits);
}

void LiveFeed::publish(std::string_view data, std::string_view event) {
    if (!listening()) {
        return;
    }
    const std::string wire = net::sse_event(data, event);
    std::lock_guard lk(state_->mu);
    for (const auto& s : state_->subs) {
        s->push(wire);
    }
}

void LiveFeed::close_all() {
    std::vector<net::HttpStreamHandle> subs;
    {
        std::lock_guard lk(state_->mu);
        subs = state_->subs;
    }
    for (const auto& s : subs) {
        s->close();
    }
}

}  // namespace sluice::http
