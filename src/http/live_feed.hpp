#pragma once
// Fans one producer's events out to the HTTP clients streaming them (Server-
// Sent Events), each through its own bounded queue (net::HttpStream): a slow
// or stalled client loses events (counted, and told how many), never holds
// back the producer. With nobody listening, publishing costs one atomic load.
//
//   LiveFeed feed;                                   // e.g. /stats/stream
//   api.add_route("GET", "/stats/stream", [&](const net::HttpRequest&) { return feed.serve(); });
//   loop.add_timer(1s, 1s, [&] { if (feed.listening()) feed.publish(history_point_json()); });

#include <atomic>
#include <cstddef>
#include <memory>
#include <string_view>

#include "net/http_server.hpp"

namespace sluice::http {

class LiveFeed {
public:
    explicit LiveFeed(std::size_t max_subscribers = 8, net::HttpStreamLimits limits = {});
    ~LiveFeed();
    LiveFeed(const LiveFeed&) = delete;
    LiveFeed& operator=(const LiveFeed&) = delete;

    // Any thread: whether anyone is subscribed (skip building the event if not).
    bool listening() const;
    std::size_t subscribers() const;

    // The response for a subscribing request (from a route handler, on the
    // loop): a text/event-stream, or 503 when max_subscribers listen already.
    net::HttpResponse serve();

    // Any thread: sends `data` (one SSE event, `event:` name optional) to every
    // subscriber. Formatted once.
    void publish(std::string_view data, std::string_view event = {});

    // Closes every subscriber's stream (their responses end).
    void close_all();

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace sluice::http
