#pragma once
// Fans one producer's events out to the HTTP clients streaming them, as
// Server-Sent Events or over a WebSocket, each through its own bounded queue
// (net::HttpStream): a slow or stalled client loses events (counted, and
// told how many), never holds back the producer. With nobody listening,
// publishing costs one atomic load.
//
//   LiveFeed feed;                                   // e.g. /stats/stream
//   api.add_route("GET", "/stats/stream", [&](const net::HttpRequest&) { return feed.serve(); });
//   loop.add_timer(1s, 1s, [&] { if (feed.listening()) feed.publish(history_point_json()); });
//
// The websocket sink's feeds are listed in websocket_feeds(), where the
// gateway's API finds them for `GET /ws/<pipeline>/<sink>`.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_server.hpp"

namespace sluice::net {

class LiveFeed {
public:
    explicit LiveFeed(std::size_t max_subscribers = 8, HttpStreamLimits limits = {});
    ~LiveFeed();
    LiveFeed(const LiveFeed&) = delete;
    LiveFeed& operator=(const LiveFeed&) = delete;

    // Any thread: whether anyone is subscribed (skip building the event if not).
    bool listening() const;
    std::size_t subscribers() const;

    // The response for a subscribing request (from a route handler, on the
    // loop): a text/event-stream, or with `websocket` a WebSocket (the
    // request must be its handshake), or 503 when max_subscribers listen
    // already.
    HttpResponse serve(bool websocket = false);

    // Any thread: sends `data` to every subscriber: one SSE event (`event:`
    // name optional, formatted once), or one WebSocket text frame (`data`
    // as it is: UTF-8). Returns how many subscribers' queues were full and
    // lost it.
    std::size_t publish(std::string_view data, std::string_view event = {});

    // Closes every subscriber's stream (their responses end), and any that
    // subscribes later: the feed is over.
    void close_all();

    struct State;

private:
    std::shared_ptr<State> state_;
};

// The live feeds served at /ws/<name> (websocket sinks, by their
// "<pipeline>/<id>"). Thread-safe.
class FeedDirectory {
public:
    struct Entry {
        std::shared_ptr<LiveFeed> feed;
        bool is_public = false;  // readable without the API token
    };
    // Returns a handle for remove(). A name added twice: the newer wins.
    std::uint64_t add(std::string name, Entry entry);
    void remove(std::uint64_t handle);
    std::optional<Entry> find(std::string_view name) const;
    std::vector<std::string> names() const;

private:
    struct Item {
        std::uint64_t handle;
        std::string name;
        Entry entry;
    };
    mutable std::mutex mu_;
    std::vector<Item> items_;
    std::uint64_t next_ = 1;
};

FeedDirectory& websocket_feeds();

}  // namespace sluice::net
