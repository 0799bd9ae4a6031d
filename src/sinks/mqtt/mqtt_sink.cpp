// Publishes records to an MQTT broker with Eclipse Paho's asynchronous
// client: one message per record, on a topic rendered from the record
// ("plant/{gateway}/{node}/{measurement}"), as json, influx or one raw field.
//
// The cursor moves only past messages the broker confirmed: send() publishes
// the whole batch, then waits for Paho's delivery callbacks (QoS 1: PUBACK,
// QoS 2: PUBCOMP; QoS 0: the message was written to the socket, which is all
// QoS 0 can say) and confirms the longest prefix that completed. A lost
// connection, a refused publish or `batch_timeout` ends the wait; the runner
// retries the rest after its back-off (retry_initial .. retry_max), and the
// next send() connects again first. Paho keeps a persistent session's
// in-flight messages and sends them again on reconnect, and the retried
// batch publishes them once more: after a lost connection a subscriber can
// see a message twice, never not at all.
//
// Callbacks come on Paho's threads with Paho's lock held. They only take
// this sink's mutex, and no Paho call is made while holding it.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <MQTTAsync.h>
#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/identity.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "net/mqtt/connection.hpp"
#include "net/mqtt/paho.hpp"
#include "net/mqtt/tls_probe.hpp"
#include "text/payload.hpp"
#include "text/template.hpp"

namespace sluice::components {
namespace {

using namespace std::chrono_literals;

constexpr auto kStatusWait = 1000ms;      // for the broker to confirm a status message
constexpr auto kDisconnectWait = 1000ms;  // for Paho to finish a disconnect

struct Settings : mqtt::Connection {
    Template topic;
    int qos = 1;
    bool retain = false;
    payload::Format format = payload::Format::Json;
    std::string raw_field;
    bool user_properties = true;
    std::chrono::nanoseconds batch_timeout{30s};
    std::size_t max_in_flight = 1000;
};

Settings settings_from(const Options& o) {
    Settings s;
    static_cast<mqtt::Connection&>(s) = mqtt::connection_from(o, "mqtt sink");
    std::string error;
    auto topic = Template::parse(o.str("topic"), &error);
    if (!topic) {
        throw ConfigError(fmt::format("option 'topic': {}", error));
    }
    if (topic->text().find_first_of("+#") != std::string::npos) {
        throw ConfigError(fmt::format("option 'topic': \"{}\" holds a wildcard ('+' or '#'); a published topic "
                                      "names one topic",
                                      topic->text()));
    }
    s.topic = std::move(*topic);
    s.qos = static_cast<int>(o.integer("qos"));
    s.retain = o.boolean("retain");
    s.format = *payload::parse_format(o.str("format"));
    s.raw_field = o.str("raw_field");
    s.user_properties = o.boolean("user_properties");
    if (o.is_explicit("user_properties") && s.user_properties && !s.v5()) {
        throw ConfigError("option 'user_properties' needs protocol = \"5\" (MQTT 3.1.1 has no user properties)");
    }
    s.batch_timeout = o.duration("batch_timeout");
    s.max_in_flight = static_cast<std::size_t>(o.integer("max_in_flight"));
    return s;
}

std::string excerpt_topic(std::string_view t) {
    return t.size() <= 80 ? std::string(t) : std::string(t.substr(0, 77)) + "...";
}

// A rendered topic the broker would refuse; the record goes to dead letters.
std::string bad_topic(std::string_view t) {
    if (t.empty()) {
        return "the topic is empty";
    }
    if (t.size() > 65535) {
        return "the topic is longer than 65,535 bytes";
    }
    if (t.find_first_of(std::string_view("+#\0", 3)) != std::string_view::npos) {
        return fmt::format("the topic \"{}\" holds '+', '#' or NUL", excerpt_topic(t));
    }
    return {};
}

class MqttSink final : public Sink {
public:
    explicit MqttSink(Settings s) : s_(std::move(s)) {}
    ~MqttSink() override { close(); }

    void open(SinkContext& ctx) override {
        name_ = ctx.name;
        metrics_ = ctx.metrics;
        client_id_ = s_.client_id.empty() ? mqtt::default_client_id(host_name(), machine_tag(), data_dir_tag(), ctx.name)
                                          : s_.client_id;
        // Connected from the start, so the status topic says "online" and
        // /ready knows; a failure is retried by the runner like a send's.
        if (std::string err = ensure_connected(); !err.empty()) {
            throw std::runtime_error(err);
        }
    }

    SendResult send(std::span<const Record> batch) override {
        SendResult result;
        prune();
        if (std::string err = ensure_connected(); !err.empty()) {
            result.error = std::move(err);
            return result;
        }
        auto t = std::make_shared<Tracker>(this, batch.size());
        live_.push_back(t);
        const auto deadline = std::chrono::steady_clock::now() + s_.batch_timeout;
        std::string stop;  // why publishing stopped before the end of the batch
        std::size_t published = 0;
        for (; published < batch.size() && stop.empty(); ++published) {
            stop = publish(*t, published, batch[published], deadline, result.rejected);
        }
        if (!stop.empty()) {
            --published;  // that record was not handed to Paho
        }
        // Wait for the broker's answers to what was handed over.
        {
            std::unique_lock lk(mu_);
            awaited_ = t.get();
            const bool all = cv_.wait_until(lk, deadline, [&] { return t->pending == 0 || lost_; });
            awaited_ = nullptr;
            std::size_t n = 0;
            while (n < published && t->state[n] != State::Pending && t->state[n] != State::Failed) {
                ++n;
            }
            result.confirmed = n;
            if (n < batch.size()) {
                if (lost_) {
                    result.error = fmt::format("connection to {} lost ({}) with {} of {} messages unconfirmed",
                                               s_.server, lost_reason_, batch.size() - n, batch.size());
                } else if (n < published && t->state[n] == State::Failed) {
                    result.error = fmt::format("the broker did not take message {} of {}: {}", n + 1,
                                               batch.size(), t->reasons[n]);
                } else if (!stop.empty()) {
                    result.error = std::move(stop);
                } else if (!all) {
                    result.error = fmt::format("no acknowledgement within {} for message {} of {}",
                                               format_duration(s_.batch_timeout), n + 1, batch.size());
                }
            }
            if (lost_) {
                connected_ = false;
            }
        }
        std::erase_if(result.rejected, [&](const auto& r) { return r.first >= result.confirmed; });
        return result;
    }

    bool healthy(std::string& reason) override {
        std::lock_guard lk(mu_);
        if (connected_ && !lost_) {
            return true;
        }
        reason = last_error_.empty() ? fmt::format("not connected to {}", s_.server) : last_error_;
        return false;
    }

    void close() override {
        if (!client_.created()) {
            return;
        }
        if (connected_) {
            if (std::string err = client_.publish_status("offline", kStatusWait); !err.empty()) {
                log::warn("{}: {}", name_, err);
            }
            client_.disconnect(100, kDisconnectWait);
            log::info("{}: disconnected from {}", name_, s_.server);
        }
        client_.destroy();
        connected_ = false;
        live_.clear();  // no callback comes after destroy
        queued_ = 0;
    }

private:
    enum class State : std::uint8_t { Pending, Done, Rejected, Failed };

    // One batch's messages and what became of them; kept until every
    // callback for it came (or the client is destroyed), so a late callback
    // after a timeout still finds it.
    struct Tracker;
    struct Slot {
        Tracker* tracker = nullptr;
        std::uint32_t index = 0;
    };
    struct Tracker {
        Tracker(MqttSink* s, std::size_t n) : sink(s), state(n, State::Pending), reasons(n), slots(n) {
            for (std::size_t i = 0; i < n; ++i) {
                slots[i] = Slot{this, static_cast<std::uint32_t>(i)};
            }
        }
        MqttSink* sink;
        std::vector<State> state;        // under sink->mu_
        std::vector<std::string> reasons;  // of Failed ones
        std::vector<Slot> slots;         // Paho's callback contexts (never resized)
        std::size_t pending = 0;         // handed to Paho, no callback yet
    };

    static void completed(void* context, bool ok, int code, const char* message) {
        auto* slot = static_cast<Slot*>(context);
        Tracker* t = slot->tracker;
        MqttSink* self = t->sink;
        bool wake = false;
        {
            std::lock_guard lk(self->mu_);
            if (t->state[slot->index] == State::Pending) {
                t->state[slot->index] = ok ? State::Done : State::Failed;
                if (!ok) {
                    t->reasons[slot->index] =
                        message != nullptr && *message != '\0'
                            ? fmt::format("{} ({})", message, code > 0 ? mqtt::reason_text(code) : mqtt::paho_text(code))
                            : (code > 0 ? mqtt::reason_text(code) : mqtt::paho_text(code));
                }
                --t->pending;
                --self->queued_;
                // Wake the sink's thread only for what it waits for, not for
                // every acknowledgement.
                wake = (t == self->awaited_ && t->pending == 0) || self->queued_ < self->room_below_;
            }
        }
        if (wake) {
            self->cv_.notify_all();
        }
    }
    static void on_success(void* context, MQTTAsync_successData*) { completed(context, true, 0, nullptr); }
    static void on_success5(void* context, MQTTAsync_successData5*) { completed(context, true, 0, nullptr); }
    static void on_failure(void* context, MQTTAsync_failureData* d) {
        completed(context, false, d != nullptr ? d->code : MQTTASYNC_FAILURE, d != nullptr ? d->message : nullptr);
    }
    static void on_failure5(void* context, MQTTAsync_failureData5* d) {
        int code = MQTTASYNC_FAILURE;
        if (d != nullptr) {
            code = d->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR ? static_cast<int>(d->reasonCode) : d->code;
        }
        completed(context, false, code, d != nullptr ? d->message : nullptr);
    }

    static void on_connection_lost(void* context, char* cause) {
        auto* self = static_cast<MqttSink*>(context);
        {
            std::lock_guard lk(self->mu_);
            self->lost_ = true;
            self->lost_reason_ = cause != nullptr && *cause != '\0' ? cause : "connection lost";
        }
        self->cv_.notify_all();
    }

    // "" once connected (now or before), else why not (the runner retries
    // after its back-off).
    std::string ensure_connected() {
        {
            std::lock_guard lk(mu_);
            if (connected_ && !lost_) {
                return {};
            }
        }
        if (client_.created() && client_.unanswered()) {
            client_.destroy();
            std::lock_guard lk(mu_);
            live_.clear();
            queued_ = 0;
        }
        if (!client_.created()) {
            if (std::string err = client_.create(client_id_, this, &MqttSink::on_connection_lost, nullptr,
                                                  static_cast<int>(s_.max_in_flight) + 16);
                !err.empty()) {
                return err;
            }
        }
        {
            std::lock_guard lk(mu_);
            connected_ = false;
            lost_ = false;
        }
        std::string err = client_.connect();
        if (!err.empty()) {
            std::lock_guard lk(mu_);
            last_error_ = err;
            return err;
        }
        log::info("{}: connected to {} as '{}' (MQTT {}, {} session{}), publishing to \"{}\" at QoS {}", name_,
                  s_.server, client_id_, s_.v5() ? "5" : "3.1.1", s_.clean_session ? "clean" : "persistent",
                  client_.session_present() ? " resumed" : "", s_.topic.text(), s_.qos);
        if (ever_connected_) {
            metrics_->reconnects->inc();
        }
        ever_connected_ = true;
        if (std::string st = client_.publish_status("online", kStatusWait); !st.empty()) {
            metrics_->errors->inc();
            log::warn("{}: {}", name_, st);
        }
        std::lock_guard lk(mu_);
        connected_ = true;
        in_flight_max_ = s_.qos == 0 ? s_.max_in_flight
                                     : std::min(s_.max_in_flight, static_cast<std::size_t>(client_.receive_maximum()));
        last_error_.clear();
        return {};
    }

    // Drops trackers whose callbacks all came.
    // Drops trackers whose callbacks all came. Earlier batches still waiting
    // for answers are bounded: past kMaxOpenBatches Paho is not going to
    // answer them (a session the broker lost), so the client is made anew,
    // which drops what it held and every callback it owed.
    void prune() {
        std::size_t open = 0;
        {
            std::lock_guard lk(mu_);
            std::erase_if(live_, [](const std::shared_ptr<Tracker>& t) { return t->pending == 0; });
            open = live_.size();
        }
        if (open >= kMaxOpenBatches && client_.created()) {
            log::warn("{}: {} earlier batches still wait for the broker's answers; starting a new MQTT client", name_,
                      open);
            metrics_->errors->inc();
            client_.destroy();
            std::lock_guard lk(mu_);
            live_.clear();
            queued_ = 0;
            connected_ = false;
        }
    }

    // Hands record `i` to Paho. "" unless publishing must stop (then the
    // record was not handed over); a record the broker could never take is
    // marked rejected and "" returned.
    std::string publish(Tracker& t, std::size_t i, const Record& r, std::chrono::steady_clock::time_point deadline,
                        std::vector<std::pair<std::size_t, std::string>>& rejected) {
        auto reject = [&](std::string why) {
            std::lock_guard lk(mu_);
            t.state[i] = State::Rejected;
            rejected.emplace_back(i, std::move(why));
            return std::string{};
        };
        if (!s_.topic.render(r, topic_buf_)) {
            return reject(fmt::format("topic template \"{}\": the record has no '{}'", s_.topic.text(),
                                      s_.topic.missing_name(r)));
        }
        if (std::string bad = bad_topic(topic_buf_); !bad.empty()) {
            return reject(std::move(bad));
        }
        payload_buf_.clear();
        std::string error;
        if (!payload::append_payload(s_.format, s_.raw_field, r, payload_buf_, &error)) {
            return reject(std::move(error));
        }
        if (payload_buf_.size() > kMaxPayload) {
            return reject(fmt::format("the payload is {} bytes, more than MQTT's 268,435,455", payload_buf_.size()));
        }
        MQTTAsync_message m = MQTTAsync_message_initializer;
        m.payload = payload_buf_.data();
        m.payloadlen = static_cast<int>(payload_buf_.size());
        m.qos = s_.qos;
        m.retained = s_.retain ? 1 : 0;
        MQTTProperties props = MQTTProperties_initializer;
        if (s_.v5() && s_.user_properties) {
            for (const auto& tag : r.tags) {
                MQTTProperty p;
                p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
                p.value.data.data = const_cast<char*>(tag.name.data());
                p.value.data.len = static_cast<int>(tag.name.size());
                p.value.value.data = const_cast<char*>(tag.value.data());
                p.value.value.len = static_cast<int>(tag.value.size());
                MQTTProperties_add(&props, &p);  // copies the strings
            }
            m.properties = props;
        }
        MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
        o.context = &t.slots[i];
        if (s_.v5()) {
            o.onSuccess5 = &MqttSink::on_success5;
            o.onFailure5 = &MqttSink::on_failure5;
        } else {
            o.onSuccess = &MqttSink::on_success;
            o.onFailure = &MqttSink::on_failure;
        }
        int rc = MQTTASYNC_SUCCESS;
        for (;;) {
            {
                // Room for one more (the answers of older batches count too).
                // Not a refill in bursts: Paho's socket has Nagle's algorithm
                // on, and bursts with pauses between them wait for delayed
                // ACKs (100k messages took 33 s instead of 6 with half the
                // room as the mark).
                std::unique_lock lk(mu_);
                if (queued_ >= in_flight_max_ && !lost_) {
                    room_below_ = in_flight_max_;
                    cv_.wait_until(lk, deadline, [&] { return queued_ < room_below_ || lost_; });
                    room_below_ = 0;
                }
                ++t.pending;
                ++queued_;
            }
            rc = MQTTAsync_sendMessage(client_.handle(), topic_buf_.c_str(), &m, &o);
            if (rc == MQTTASYNC_SUCCESS) {
                break;
            }
            std::unique_lock lk(mu_);
            --t.pending;
            --queued_;
            // Paho's queue is full after all: wait for an answer, then again.
            if (rc != MQTTASYNC_MAX_BUFFERED_MESSAGES || lost_ || queued_ == 0) {
                break;
            }
            room_below_ = queued_;
            const bool room = cv_.wait_until(lk, deadline, [&] { return queued_ < room_below_ || lost_; });
            room_below_ = 0;
            if (!room) {
                break;
            }
        }
        MQTTProperties_free(&props);
        if (rc == MQTTASYNC_SUCCESS) {
            return {};
        }
        if (rc == MQTTASYNC_DISCONNECTED) {
            // Paho saw the connection go before its callback told us.
            std::lock_guard lk(mu_);
            if (!lost_) {
                lost_ = true;
                lost_reason_ = "the MQTT client is disconnected";
            }
        }
        if (rc == MQTTASYNC_BAD_UTF8_STRING) {
            return reject(fmt::format("the topic \"{}\" is not valid UTF-8", excerpt_topic(topic_buf_)));
        }
        return fmt::format("publishing to \"{}\" failed: {}", excerpt_topic(topic_buf_), mqtt::paho_text(rc));
    }

    static constexpr std::size_t kMaxPayload = 268'435'455;  // MQTT's remaining-length limit
    static constexpr std::size_t kMaxOpenBatches = 16;

    Settings s_;
    std::string name_ = "mqtt";
    std::string client_id_;
    ComponentMetrics* metrics_ = nullptr;
    mqtt::Client client_{s_};
    bool ever_connected_ = false;
    std::string topic_buf_;
    std::string payload_buf_;

    std::mutex mu_;  // what Paho's callbacks touch: the trackers' states, lost_, and the fields below
    std::condition_variable cv_;
    bool connected_ = false;
    std::size_t in_flight_max_ = 1;  // max_in_flight, or the broker's Receive Maximum at QoS 1/2
    std::size_t queued_ = 0;         // messages handed to Paho without an answer yet, all batches
    std::size_t room_below_ = 0;     // non-zero: the sink's thread waits for queued_ to drop below it
    Tracker* awaited_ = nullptr;     // the batch whose last answer the sink's thread waits for
    bool lost_ = false;
    std::string lost_reason_;
    std::string last_error_;
    std::deque<std::shared_ptr<Tracker>> live_;
};

}  // namespace

const Descriptor& sink_mqtt() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "mqtt",
        .summary = "Publishes each record as an MQTT message (3.1.1 or 5, QoS 0-2, TLS) on a topic made from it",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "At QoS 1 and 2 the cursor moves only past messages the broker acknowledged (PUBACK, "
                       "PUBCOMP): a crash, a lost connection or a timeout sends the unacknowledged ones again, so a "
                       "subscriber may see a message twice, never not at all. At QoS 0 nothing is acknowledged: a "
                       "message written to the socket counts as delivered, and a broker or network failure can "
                       "lose it.",
        .options = mqtt::connection_option_specs(
            {
                {.name = "topic", .type = OptionType::String,
                 .doc = "Topic template: literal text and {tag or field name}, {measurement}, {origin}, e.g. "
                        "\"plant/{gateway}/{node}/{measurement}\"; a record that lacks a name, or whose topic "
                        "holds '+', '#' or NUL, is a dead letter",
                 .required = true, .min = 1, .max = 4096},
                {.name = "qos", .type = OptionType::Int, .default_value = "1",
                 .doc = "QoS of every message: 1 and 2 move the cursor on the broker's acknowledgement, 0 as soon "
                        "as the message is written",
                 .min = 0, .max = 2},
                {.name = "retain", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Publish retained messages (the broker keeps the last one per topic for new subscribers)"},
            },
            concat_specs({
                payload::option_specs(),
                {
                    {.name = "user_properties", .type = OptionType::Bool, .default_value = "true",
                     .doc = "MQTT 5: the record's tags as user properties of each message (3.1.1 has none: "
                            "setting it true there is an error)"},
                    {.name = "max_in_flight", .type = OptionType::Int, .default_value = "1000",
                     .doc = "Most messages handed to Paho and not yet acknowledged (QoS 0: not yet written); "
                            "with MQTT 5 also at most the broker's Receive Maximum. Paho keeps a copy of each",
                     .min = 1, .max = 65535},
                    {.name = "batch_timeout", .type = OptionType::Duration, .default_value = "30s",
                     .doc = "Longest wait for the broker's acknowledgements of a batch; what is unacknowledged "
                            "by then is sent again after the retry back-off",
                     .min = 0.01, .max = 3600},
                },
            }),
            false),
        .url_schemes = {"mqtt", "mqtts"},
        .from_url =
            [](const Url& url, RawTable& out) {
                mqtt::connection_from_url(url, out);
                if (url.path.size() > 1) {
                    out.push_back(text_entry("topic", url.path.substr(1)));
                }
                for (const auto& [key, value] : url.query) {
                    out.push_back(text_entry(key, value));
                }
            },
        .url_example = "mqtt://broker:1883/plant/{gateway}/{measurement}?qos=1",
        .make_sink = [](const Options& o) { return std::make_unique<MqttSink>(settings_from(o)); },
        .probe = [](const Options& o, std::string& detail) {
            return mqtt::probe_broker(mqtt::connection_from(o, "mqtt sink"), detail);
        },
    };
    return d;
}

}  // namespace sluice::components
