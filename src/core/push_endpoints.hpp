#pragma once
// Where frames pushed over the gateway's HTTP API, or by a program that
// embeds the gateway (libsluice's callback sources), go. Each `http` source
// registers itself here under its pipeline and component id when it starts;
// the API's `POST /api/send/...` route (src/http/send_api.cpp) hands each
// request to the matching source, which answers once the frames are
// committed to the buffer (or refuses them). Sources only link the core, the
// API only knows this table: neither needs the other.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct PushRequest {
    std::string body;
    bool ndjson = false;  // one frame per line (Content-Type application/x-ndjson)
    std::string key;      // the frames' origin; empty: the source's default
    // When not empty: these frames, one each, and `body` is not used (an
    // embedding program's push of several payloads or records).
    std::vector<std::string> frames;
};

struct PushAnswer {
    int status = 200;
    std::string message;      // one line for the client
    std::size_t frames = 0;   // frames committed (200)
    int retry_after = 0;      // seconds, for 503; 0: no Retry-After
    bool stopping = false;    // 503 because the source is stopping (not busy)
};

// Answers a push: any thread, once.
using PushReply = std::function<void(PushAnswer)>;

class PushEndpoints {
public:
    // `kind` names the sources in messages ("http"); `how_to_name` says how
    // a caller names one of several ("/api/send/<pipeline>/<source id>").
    explicit PushEndpoints(std::string kind = "http",
                           std::string how_to_name = "/api/send/<pipeline>/<source id>")
        : kind_(std::move(kind)), how_to_name_(std::move(how_to_name)) {}

    // Called on the I/O loop thread (the HTTP server's): must not block.
    using Handler = std::function<void(PushRequest&& req, PushReply reply)>;

    // Returns a handle for remove().
    std::uint64_t add(std::string pipeline, std::string id, Handler fn);
    // After it returns the handler is not called again.
    void remove(std::uint64_t handle);

    // Hands `req` to the endpoint of `pipeline` (empty: the gateway's only
    // one) and `id` (empty: the pipeline's only one). False with a message
    // in `error` (for a 404) when there is no such endpoint or the choice
    // is ambiguous; `reply` is then not called.
    bool dispatch(std::string_view pipeline, std::string_view id, PushRequest&& req, const PushReply& reply,
                  std::string* error);

private:
    struct Entry {
        std::uint64_t handle;
        std::string pipeline;
        std::string id;
        Handler fn;
    };
    std::string kind_;
    std::string how_to_name_;
    std::mutex mu_;
    std::vector<Entry> entries_;
    std::uint64_t next_ = 1;
};

// The process-wide table of the `http` sources (POST /api/send).
PushEndpoints& push_endpoints();
// The process-wide table of the `callback` sources: an embedding program's
// pushes (libsluice, src/embed).
PushEndpoints& callback_endpoints();

}  // namespace sluice
