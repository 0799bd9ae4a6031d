// Serves records live to WebSocket clients at /ws/<pipeline>/<id> on the
// gateway's own HTTP server: each record one text frame of JSON, to every
// client connected at that moment. Best effort by nature: the cursor moves
// as the frames are queued; a client whose queue is full loses frames
// (counted, and told how many), never slowing the pipeline or the others.

#include <memory>

#include "core/component.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/record_json.hpp"
#include "net/live_feed.hpp"
#include "text/text_value.hpp"

namespace sluice::components {
namespace {

class WebSocketSink final : public Sink {
public:
    explicit WebSocketSink(const Options& o)
        : is_public_(o.boolean("public")),
          feed_(std::make_shared<net::LiveFeed>(
              static_cast<std::size_t>(o.integer("max_clients")),
              net::HttpStreamLimits{static_cast<std::size_t>(o.integer("max_queued")),
                                    o.memory_size("max_queued_bytes")})) {}

    ~WebSocketSink() override { unlist(); }

    void open(SinkContext& ctx) override {
        name_ = ctx.name;
        dropped_ = &metrics().counter("sluice_websocket_sink_dropped_frames_total",
                                      "Frames a websocket sink's clients lost because they read too slowly (one "
                                      "per record per client)",
                                      {{"component", name_}});
        clients_ = metrics().gauge_fn("sluice_websocket_sink_clients", "WebSocket clients of a websocket sink",
                                      {{"component", name_}},
                                      [feed = feed_] { return static_cast<double>(feed->subscribers()); });
        unlist();
        handle_ = net::websocket_feeds().add(name_, {feed_, is_public_});
        log::info("{}: serving records at /ws/{}{}", name_, name_, is_public_ ? " (public: no token needed)" : "");
    }

    SendResult send(std::span<const Record> batch) override {
        // Nobody listening: the records pass, as on a radio nobody tunes in to.
        if (feed_->listening()) {
            std::size_t lost = 0;
            for (const Record& r : batch) {
                json_.clear();
                append_record_json(json_, r);
                // A text frame must be UTF-8, or clients close with 1007:
                // bytes a device sent in Latin-1, say, become U+FFFD.
                lost += feed_->publish(valid_utf8(json_) ? json_ : replace_invalid_utf8(json_));
            }
            if (lost > 0 && dropped_ != nullptr) {
                dropped_->inc(lost);
            }
        }
        return SendResult{.confirmed = batch.size()};
    }

    void close() override {
        unlist();
        feed_->close_all();
        clients_ = GaugeFnHandle();
    }

private:
    void unlist() {
        if (handle_ != 0) {
            net::websocket_feeds().remove(handle_);
            handle_ = 0;
        }
    }

    bool is_public_;
    std::shared_ptr<net::LiveFeed> feed_;
    std::uint64_t handle_ = 0;
    std::string name_ = "websocket";
    Counter* dropped_ = nullptr;
    GaugeFnHandle clients_;
    std::string json_;
};

}  // namespace

const Descriptor& sink_websocket() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "websocket",
        .summary = "Serves records live to WebSocket clients at /ws/<pipeline>/<id> on the gateway's HTTP server, "
                   "one JSON text frame each",
        .delivery = Delivery::BestEffort,
        .loss_window = "A live feed: the cursor moves as soon as the frames are queued for the clients connected "
                       "then. Records pass unseen while nobody is connected, a client whose queue is full loses "
                       "frames (counted in sluice_websocket_sink_dropped_frames_total and announced to it as "
                       "{\"dropped\":N}), and queued frames die with the process.",
        .options =
            {
                {.name = "public", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Let clients connect without the API token (default: \"Authorization: Bearer <token>\" or "
                        "?access_token=<token>)"},
                {.name = "max_clients", .type = OptionType::Int, .default_value = "8",
                 .doc = "Most clients connected at once; more get 503", .min = 1, .max = 1024},
                {.name = "max_queued", .type = OptionType::Int, .default_value = "1000",
                 .doc = "Frames queued per client that reads too slowly; beyond it the newest are dropped",
                 .min = 1, .max = 1000000},
                {.name = "max_queued_bytes", .type = OptionType::Size, .default_value = "1MiB",
                 .doc = "Bytes queued per client that reads too slowly; beyond it the newest frames are dropped",
                 .min = 4096, .max = 1u << 30},
            },
        .make_sink = [](const Options& o) { return std::make_unique<WebSocketSink>(o); },
    };
    return d;
}

}  // namespace sluice::components
