#pragma once
// The tap: records as they leave a source (decoded), leave each stage and
// enter each sink, streamed to `GET /api/tap` clients (`sluice tap`, the web
// UI) while one wants that pipeline/component. Each record is one SSE event:
//   data: {<the record as the json encoder writes it>,"_component":"p/id","_point":"source|stage|sink"}
// Bounded: at most kMaxClients tap clients (503 beyond), each with its own
// bounded queue; a slow client loses records (announced as `event: dropped`,
// counted in sluice_http_stream_dropped_events_total), the pipeline never
// waits. With no tap client the data path pays one relaxed atomic load:
//
//   if (http::tap().active()) { http::tap().observe("p/id", "stage", records); }

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"
#include "net/http_server.hpp"

namespace sluice::http {

class Tap {
public:
    static constexpr std::size_t kMaxClients = 8;

    Tap();
    ~Tap();
    Tap(const Tap&) = delete;
    Tap& operator=(const Tap&) = delete;

    // Any thread, on the data path: is any tap client connected?
    bool active() const { return clients_.load(std::memory_order_relaxed) > 0; }
    std::size_t clients() const { return clients_.load(std::memory_order_relaxed); }

    // Publishes `records` seen at `point` ("source", "stage", "sink") of the
    // component `label` ("<pipeline>/<id>") to the clients that want it.
    // Any thread; never blocks on a client.
    void observe(std::string_view label, std::string_view point, std::span<const Record> records);

    // GET /api/tap?pipeline=P&component=C&limit=N (token checked by the
    // caller): the stream response, 400 for a bad query, 503 when
    // kMaxClients are connected. Loop thread.
    net::HttpResponse serve(const net::HttpRequest& req, net::HttpStreamLimits limits = {});

    struct Client;
    struct State;

private:
    std::shared_ptr<State> state_;
    std::atomic<std::size_t>& clients_;
};

// The process-wide tap the pipelines publish to and /api/tap serves.
Tap& tap();

// The event data of one tapped record (exposed for tests).
std::string tap_record_json(const Record& r, std::string_view label, std::string_view point);

}  // namespace sluice::http
