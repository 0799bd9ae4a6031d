#include "net/live_feed.hpp"

#include <algorithm>
#include <utility>

namespace sluice::net {

struct LiveFeed::State {
    struct Sub {
        HttpStreamHandle stream;
        bool websocket = false;
    };
    std::size_t max_subscribers;
    HttpStreamLimits limits;
    std::mutex mu;
    std::vector<Sub> subs;  // guarded by mu
    bool closed = false;    // guarded by mu: close_all() ran; a late subscriber is closed at once
    std::atomic<std::size_t> count{0};

    void remove(const HttpStream* s) {
        std::lock_guard lk(mu);
        std::erase_if(subs, [s](const Sub& sub) { return sub.stream.get() == s; });
        count = subs.size();
    }
};

LiveFeed::LiveFeed(std::size_t max_subscribers, HttpStreamLimits limits) : state_(std::make_shared<State>()) {
    state_->max_subscribers = max_subscribers;
    state_->limits = limits;
}

LiveFeed::~LiveFeed() { close_all(); }

bool LiveFeed::listening() const { return state_->count.load(std::memory_order_relaxed) > 0; }

std::size_t LiveFeed::subscribers() const { return state_->count.load(std::memory_order_relaxed); }

HttpResponse LiveFeed::serve(bool websocket) {
    if (subscribers() >= state_->max_subscribers) {
        HttpResponse r{503, "text/plain; charset=utf-8", {}, "too many live streams open; try again later\n"};
        r.headers.emplace_back("Retry-After", "5");
        return r;
    }
    auto start = [weak = std::weak_ptr<State>(state_), websocket](HttpStreamHandle stream) {
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
        std::unique_lock lk(st->mu);
        if (st->closed) {
            lk.unlock();
            stream->close();
            return;
        }
        st->subs.push_back(State::Sub{std::move(stream), websocket});
        st->count = st->subs.size();
    };
    return websocket ? HttpResponse::websocket_stream(std::move(start), state_->limits)
                     : HttpResponse::event_stream(std::move(start), state_->limits);
}

std::size_t LiveFeed::publish(std::string_view data, std::string_view event) {
    if (!listening()) {
        return 0;
    }
    std::string sse;
    std::size_t lost = 0;
    std::lock_guard lk(state_->mu);
    for (const auto& s : state_->subs) {
        if (s.websocket) {
            lost += s.stream->push(std::string(data)) ? 0 : 1;
            continue;
        }
        if (sse.empty()) {
            sse = sse_event(data, event);
        }
        lost += s.stream->push(sse) ? 0 : 1;
    }
    return lost;
}

void LiveFeed::close_all() {
    std::vector<HttpStreamHandle> subs;
    {
        std::lock_guard lk(state_->mu);
        state_->closed = true;
        for (const auto& s : state_->subs) {
            subs.push_back(s.stream);
        }
    }
    for (const auto& s : subs) {
        s->close();
    }
}

std::uint64_t FeedDirectory::add(std::string name, Entry entry) {
    std::lock_guard lk(mu_);
    const std::uint64_t h = next_++;
    items_.push_back(Item{h, std::move(name), std::move(entry)});
    return h;
}

void FeedDirectory::remove(std::uint64_t handle) {
    std::lock_guard lk(mu_);
    std::erase_if(items_, [handle](const Item& i) { return i.handle == handle; });
}

std::optional<FeedDirectory::Entry> FeedDirectory::find(std::string_view name) const {
    std::lock_guard lk(mu_);
    for (auto it = items_.rbegin(); it != items_.rend(); ++it) {
        if (it->name == name) {
            return it->entry;
        }
    }
    return std::nullopt;
}

std::vector<std::string> FeedDirectory::names() const {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (const auto& i : items_) {
        out.push_back(i.name);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

FeedDirectory& websocket_feeds() {
    static FeedDirectory d;
    return d;
}

}  // namespace sluice::net
