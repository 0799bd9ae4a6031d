// Subscribes to MQTT topic filters with Eclipse Paho's synchronous client.
//
// Why the synchronous client without callbacks: MQTTClient_receive in a
// loop on our own thread measured about twice the rate of Paho's callback
// subscribers on this hardware, and it gives back-pressure for free — while
// this thread waits in push_all_wait nothing is read, so the broker holds
// QoS>=1 messages and TCP slows QoS 0 publishers.
//
// Messages are collected into a local batch and handed to the ingest queue
// every `batch_size` messages or `flush_interval` after the first one.
//
// Paho acknowledges a QoS 1/2 message as it reads it, before it is stored.
// So the source takes at most `max_unsaved_messages` from Paho ahead of the
// buffer's commits (UnsavedWindow): with the window full it hands its batch
// on, asks the worker to commit at once, and reads nothing until the commit
// is reported. Meanwhile Paho is not called, so it sends no keep-alive
// PINGREQ either (the synchronous client has no thread of its own); a
// commit normally takes milliseconds, and one that stalls for 1.5 times
// `keepalive` (disk full) makes the broker close the connection: what it
// still holds stays in the persistent session, and the source reconnects
// once the commits go on.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <MQTTClient.h>
#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/log.hpp"
#include "core/source_health.hpp"
#include "core/metrics.hpp"
#include "core/tls_options.hpp"
#include "sources/mqtt/mqtt_config.hpp"
#include "sources/mqtt/paho_gate.hpp"
#include "sources/mqtt/tls_probe.hpp"
#include "core/backoff.hpp"
#include "core/guard.hpp"
#include "core/identity.hpp"
#include "sources/mqtt/unsaved_window.hpp"

namespace sluice::components {
namespace {

using namespace std::chrono_literals;
using mqtt::paho_gate;
using mqtt::Settings;

constexpr auto kShutdownDrain = 500ms;
constexpr unsigned long kIdleReceiveMs = 100;  // how often an idle loop looks at stopping_

std::string connack_text(int rc) {
    switch (rc) {
        case 1:
            return "broker refused the connection: unacceptable protocol version";
        case 2:
            return "broker refused the connection: client id rejected";
        case 3:
            return "broker refused the connection: server unavailable";
        case 4:
            return "broker refused the connection: bad user name or password";
        case 5:
            return "broker refused the connection: not authorised";
        default:
            return fmt::format("broker refused the connection (code {})", rc);
    }
}

std::string paho_text(int rc, bool v5) {
    if (rc < 0) {
        const char* s = MQTTClient_strerror(rc);
        return s != nullptr ? s : fmt::format("error {}", rc);
    }
    if (v5) {
        const char* s = MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(rc));
        return fmt::format("broker refused: {}", s != nullptr ? s : std::to_string(rc));
    }
    return connack_text(rc);
}

class MqttSource final : public Source {
public:
    explicit MqttSource(Settings s) : s_(std::move(s)), window_(s_.max_unsaved_messages) {}
    ~MqttSource() override { stop(); }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        client_id_ = s_.client_id.empty()
                         ? mqtt::default_client_id(host_name(), machine_tag(), data_dir_tag(), ctx.name)
                         : s_.client_id;
        takeovers_ = &metrics().counter("sluice_mqtt_session_takeovers_total",
                                        "Times another client with the same MQTT client id took the session over",
                                        {{"component", ctx.name}});
        ctx.committed = [this](std::size_t n) { window_.committed(n); };
        health_down(fmt::format("connecting to {}", s_.server));
        // Committed with every batch: which subscription the stored messages
        // came from. A resumed session with the same one is not subscribed
        // again, as the broker starts sending the session's backlog right
        // after CONNACK, and what Paho reads while it waits for SUBACK it
        // acknowledges at once, unseen by the window.
        std::string what = fmt::format("{}\n{}\n{}", client_id_, s_.qos, s_.protocol);
        for (const auto& t : s_.topics) {
            what += "\n" + t;
        }
        subscription_ = std::stoull(short_hash(what, 15), nullptr, 16);
        ctx.checkpoint_key = "mqtt:" + client_id_;
        if (auto cp = ctx.load_checkpoint(ctx.checkpoint_key)) {
            subscribed_ = cp->starts_with(fmt::format("{}:", subscription_));
        }
        thread_ = std::thread([this] { run(); });
    }

    void stop() override {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        window_.wake();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    bool v5() const { return s_.protocol == 5; }

    void run() {
        // What escapes a session (not a connection failure: session() retries
        // those itself) is counted and the session runs again after the back-off.
        run_restarting(ctx_->name, ctx_->metrics->errors,
                       [this](auto d) {
                           return !sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(d));
                       },
                       [this] { session(); });
    }

    // Waits up to `d` unless stop() is called first. True if stopping.
    bool sleep_for(std::chrono::milliseconds d) {
        std::unique_lock lk(mu_);
        return cv_.wait_for(lk, d, [this] { return stopping_.load(); });
    }

    // Not connected, and why (sluice_source_up, /ready).
    void health_down(std::string why) {
        if (ctx_->health != nullptr) {
            ctx_->health->down(std::move(why));
        }
    }

    // One log line per change of state, however often the same failure repeats.
    void report_failure(const std::string& message, std::chrono::milliseconds retry_in) {
        ctx_->metrics->errors->inc();
        health_down(message);
        if (message != last_error_) {
            log::error("{}: {}; retrying with back-off (next in {})", ctx_->name, message,
                       format_duration(retry_in));
            last_error_ = message;
        } else {
            log::debug("{}: {} (again; next try in {})", ctx_->name, message, format_duration(retry_in));
        }
    }

    void session() {
        MQTTClient_createOptions co = MQTTClient_createOptions_initializer;
        co.MQTTVersion = v5() ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
        MQTTClient client = nullptr;
        // No client-side persistence: as a subscriber the session that matters
        // (subscriptions, queued QoS>=1 messages) is kept by the broker.
        int rc;
        {
            auto gate = paho_gate().enter();
            rc = MQTTClient_createWithOptions(&client, s_.server.c_str(), client_id_.c_str(),
                                              MQTTCLIENT_PERSISTENCE_NONE, nullptr, &co);
        }
        if (rc != MQTTCLIENT_SUCCESS) {
            ctx_->metrics->errors->inc();
            log::error("{}: cannot create an MQTT client for {}: {}", ctx_->name, s_.server, paho_text(rc, false));
            return;
        }
        MQTTClient_setCommandTimeout(client, static_cast<unsigned long>(s_.connect_timeout.count()) * 1000);
        client_ = client;
        paho_gate().add_client();
        receive_loop();
        shutdown();
        paho_gate().remove_client();
        {
            auto gate = paho_gate().enter();
            MQTTClient_destroy(&client_);
        }
    }

    // ------------------------------------------------------------ connecting

    static int on_ssl_error(const char* str, std::size_t len, void* u) {
        auto* self = static_cast<MqttSource*>(u);
        std::string_view line(str, len);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
            line.remove_suffix(1);
        }
        // OpenSSL lines look like "...:error:0A000086:SSL routines:...:certificate verify failed:../ssl/...";
        // keep the reason only.
        std::string reason(line);
        const auto err = line.find("error:");
        if (err != std::string_view::npos) {
            std::vector<std::string_view> parts;
            std::string_view rest = line.substr(err);
            std::size_t start = 0;
            while (start <= rest.size()) {
                auto colon = rest.find(':', start);
                if (colon == std::string_view::npos) {
                    colon = rest.size();
                }
                parts.push_back(rest.substr(start, colon - start));
                start = colon + 1;
            }
            if (parts.size() >= 6) {
                reason = std::string(parts[5]);
            }
        }
        if (self->ssl_error_.find(reason) == std::string::npos) {
            self->ssl_error_ += (self->ssl_error_.empty() ? "" : "; ") + reason;
        }
        return 0;
    }

    // "" on success, else what went wrong.
    std::string connect_once() {
        MQTTClient_connectOptions o;
        if (v5()) {
            o = MQTTClient_connectOptions_initializer5;
            o.cleanstart = s_.clean_session ? 1 : 0;
        } else {
            o = MQTTClient_connectOptions_initializer;
            o.cleansession = s_.clean_session ? 1 : 0;
        }
        o.keepAliveInterval = static_cast<int>(s_.keepalive.count());
        o.connectTimeout = static_cast<int>(s_.connect_timeout.count());
        o.reliable = 0;
        o.username = s_.user.empty() ? nullptr : s_.user.c_str();
        o.password = s_.password.empty() ? nullptr : s_.password.c_str();
        static const char kOffline[] = "offline";
        MQTTClient_willOptions will = MQTTClient_willOptions_initializer;
        if (!s_.status_topic.empty()) {
            will.topicName = s_.status_topic.c_str();
            will.message = kOffline;
            will.retained = 1;
            will.qos = s_.status_qos;
            o.will = &will;
        }
        MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;
        if (s_.tls) {
            ssl.trustStore = s_.ca_file.empty() ? nullptr : s_.ca_file.c_str();
            ssl.CApath = s_.ca_path.empty() ? nullptr : s_.ca_path.c_str();
            ssl.keyStore = s_.cert_file.empty() ? nullptr : s_.cert_file.c_str();
            ssl.privateKey = s_.key_file.empty() ? nullptr : s_.key_file.c_str();
            ssl.privateKeyPassword = s_.key_password.empty() ? nullptr : s_.key_password.c_str();
            ssl.enableServerCertAuth = s_.insecure_skip_verify ? 0 : 1;
            ssl.verify = (s_.verify_hostname && !s_.insecure_skip_verify) ? 1 : 0;
            ssl.ssl_error_cb = &MqttSource::on_ssl_error;
            ssl.ssl_error_context = this;
            o.ssl = &ssl;
        }
        ssl_error_.clear();
        int rc;
        if (v5()) {
            MQTTProperties props = MQTTProperties_initializer;
            if (!s_.clean_session && s_.session_expiry.count() > 0) {
                MQTTProperty p;
                p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
                p.value.integer4 = static_cast<unsigned int>(
                    std::min<std::int64_t>(s_.session_expiry.count(), 0xFFFFFFFFLL));
                MQTTProperties_add(&props, &p);
            }
            MQTTResponse r;
            {
                auto gate = paho_gate().enter();
                r = MQTTClient_connect5(client_, &o, &props, nullptr);
            }
            rc = r.reasonCode;
            MQTTResponse_free(r);
            MQTTProperties_free(&props);
        } else {
            auto gate = paho_gate().enter();
            rc = MQTTClient_connect(client_, &o);
        }
        if (rc == MQTTCLIENT_SUCCESS) {
            session_present_ = o.returned.sessionPresent != 0;
            return {};
        }
        const std::string endpoint = fmt::format("{}:{}", s_.host, s_.port);
        if (rc > 0) {
            return fmt::format("connect to {} failed: {}", s_.server, paho_text(rc, v5()));
        }
        // Paho's negative codes do not say whether TCP or TLS failed, or why.
        if (const std::string tcp = mqtt::probe_tcp(s_.host, s_.port, s_.connect_timeout); !tcp.empty()) {
            return fmt::format("cannot connect to {}: {}", endpoint, tcp);
        }
        if (s_.tls) {
            const std::string verdict = mqtt::probe_tls(s_, s_.connect_timeout);
            if (!verdict.empty() || !ssl_error_.empty()) {
                return mqtt::explain_tls_failure(endpoint, ssl_error_, verdict);
            }
        }
        return fmt::format("connect to {} failed: {}", s_.server, paho_text(rc, v5()));
    }

    // "" on success. Refused filters are logged but do not fail the session:
    // the others still deliver.
    std::string subscribe() {
        std::vector<char*> topics;
        for (auto& t : s_.topics) {
            topics.push_back(t.data());
        }
        std::vector<int> qos(topics.size(), s_.qos);
        const int n = static_cast<int>(topics.size());
        std::vector<int> granted;
        if (v5()) {
            std::vector<MQTTSubscribe_options> opts(topics.size(), MQTTSubscribe_options_initializer);
            auto gate = paho_gate().enter();
            MQTTResponse r = MQTTClient_subscribeMany5(client_, n, topics.data(), qos.data(), opts.data(), nullptr);
            if (r.reasonCodeCount > 0 && r.reasonCodes != nullptr) {
                granted.assign(r.reasonCodes, r.reasonCodes + r.reasonCodeCount);
            } else {
                granted.assign(topics.size(), r.reasonCode);
            }
            const int rc = r.reasonCode;
            MQTTResponse_free(r);
            if (rc < 0) {
                return fmt::format("subscribe failed: {}", paho_text(rc, true));
            }
        } else {
            auto gate = paho_gate().enter();
            const int rc = MQTTClient_subscribeMany(client_, n, topics.data(), qos.data());
            if (rc < 0 && rc != MQTTCLIENT_FAILURE) {
                return fmt::format("subscribe failed: {}", paho_text(rc, false));
            }
            if (rc == MQTTCLIENT_FAILURE && !MQTTClient_isConnected(client_)) {
                return "subscribe failed: connection lost";
            }
            granted = qos;
        }
        std::string refused;
        for (std::size_t i = 0; i < granted.size() && i < s_.topics.size(); ++i) {
            if (granted[i] >= 0x80) {
                refused += (refused.empty() ? "" : ", ") + s_.topics[i];
            } else if (granted[i] < s_.qos) {
                log::warn("{}: broker granted QoS {} instead of {} for '{}'", ctx_->name, granted[i], s_.qos,
                          s_.topics[i]);
            }
        }
        if (!refused.empty()) {
            ctx_->metrics->errors->inc();
            log::error("{}: broker refused the subscription to {} (check its ACL)", ctx_->name, refused);
        }
        return {};
    }

    void publish_status(const char* text) {
        if (s_.status_topic.empty()) {
            return;
        }
        MQTTClient_deliveryToken token = 0;
        const int len = static_cast<int>(std::char_traits<char>::length(text));
        auto gate = paho_gate().enter();
        int rc;
        if (v5()) {
            MQTTResponse r = MQTTClient_publish5(client_, s_.status_topic.c_str(), len, text, s_.status_qos, 1,
                                                 nullptr, &token);
            rc = r.reasonCode;
            MQTTResponse_free(r);
        } else {
            rc = MQTTClient_publish(client_, s_.status_topic.c_str(), len, text, s_.status_qos, 1, &token);
        }
        if (rc == MQTTCLIENT_SUCCESS && s_.status_qos > 0) {
            rc = MQTTClient_waitForCompletion(client_, token, 1000);
        }
        if (rc != MQTTCLIENT_SUCCESS) {
            ctx_->metrics->errors->inc();
            log::warn("{}: publishing '{}' to status topic '{}' failed: {}", ctx_->name, text, s_.status_topic,
                      paho_text(rc, false));
        }
    }

    // Connects (with back-off) and subscribes. False if stopping first.
    bool ensure_connected(Backoff& backoff) {
        while (!stopping_) {
            std::string err = connect_once();
            if (err.empty() && !(session_present_ && subscribed_)) {
                err = subscribe();
                if (!err.empty()) {
                    disconnect(0);
                }
                subscribed_ = err.empty();
            }
            if (err.empty()) {
                std::string list;
                for (const auto& t : s_.topics) {
                    list += (list.empty() ? "" : ", ") + t;
                }
                log::info("{}: connected to {} as '{}' (MQTT {}, {} session{}), subscribed to {} at QoS {}",
                          ctx_->name, s_.server, client_id_, v5() ? "5" : "3.1.1",
                          s_.clean_session ? "clean" : "persistent",
                          session_present_ ? " resumed" : "", list, s_.qos);
                if (ever_connected_) {
                    ctx_->metrics->reconnects->inc();
                }
                ever_connected_ = true;
                if (ctx_->health != nullptr) {
                    ctx_->health->up();
                }
                connected_at_ns_ = mono_now_ns();
                last_error_.clear();
                backoff.reset();
                publish_status("online");
                return true;
            }
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(backoff.next());
            report_failure(err, wait);
            if (sleep_for(wait)) {
                return false;
            }
        }
        return false;
    }

    void disconnect(int timeout_ms) {
        if (v5()) {
            auto gate = paho_gate().enter();
            MQTTClient_disconnect5(client_, timeout_ms, MQTTREASONCODE_NORMAL_DISCONNECTION, nullptr);
        } else {
            auto gate = paho_gate().enter();
            MQTTClient_disconnect(client_, timeout_ms);
        }
    }

    // ------------------------------------------------------------ receiving

    // One message (or none on timeout). False when the connection is gone.
    enum class Got { Message, Nothing, Lost };
    Got receive_one(unsigned long timeout_ms) {
        char* topic = nullptr;
        int topic_len = 0;
        MQTTClient_message* m = nullptr;
        int rc;
        {
            auto gate = paho_gate().enter();
            rc = MQTTClient_receive(client_, &topic, &topic_len, &m, paho_gate().receive_timeout(timeout_ms));
        }
        if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
            if (m != nullptr) {
                MQTTClient_freeMessage(&m);
            }
            if (topic != nullptr) {
                MQTTClient_free(topic);
            }
            lost_reason_ = paho_text(rc, false);
            return Got::Lost;
        }
        if (m == nullptr) {
            if (topic != nullptr) {
                MQTTClient_free(topic);
            }
            return Got::Nothing;
        }
        Frame f;
        // topic_len is only set when the topic holds a NUL (TOPICNAME_TRUNCATED).
        if (rc == MQTTCLIENT_TOPICNAME_TRUNCATED && topic_len > 0) {
            f.origin.assign(topic, static_cast<std::size_t>(topic_len));
        } else {
            f.origin.assign(topic);
        }
        f.payload.assign(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen));
        f.arrival_ns = wall_now_ns();
        f.source = ctx_->index;
        f.has_position = true;
        f.position_epoch = subscription_;
        ctx_->metrics->frame_in(f.payload.size(), static_cast<double>(f.arrival_ns) / 1e9);
        batch_.push_back(std::move(f));
        window_.received();
        MQTTClient_freeMessage(&m);
        MQTTClient_free(topic);
        return Got::Message;
    }

    // False once the pipeline no longer takes frames.
    bool flush() {
        if (batch_.empty()) {
            return true;
        }
        if (!ctx_->ingest->push_all_wait(batch_)) {
            window_.forget(batch_.size());
            ctx_->metrics->dropped->inc(batch_.size());
            log::warn("{}: pipeline closed; {} received messages not taken", ctx_->name, batch_.size());
            batch_.clear();
            queue_open_ = false;
            return false;
        }
        return true;
    }

    // Hands the batch on and waits until the worker has stored enough of
    // what this source took to take more. False if stopping first.
    bool wait_for_commits() {
        if (!flush()) {
            return false;
        }
        while (window_.full()) {
            ctx_->commit_soon();
            if (stopping_) {
                return false;
            }
            window_.wait_for_room(100ms, stopping_);
        }
        return true;
    }

    // The connection was lost: was it taken over by a client with our id?
    // Then one clear line, a count, and a longer wait than a reconnect's.
    // True if stopping during that wait.
    bool after_lost(Backoff& takeover_backoff) {
        const auto lasted = std::chrono::nanoseconds(mono_now_ns() - connected_at_ns_);
        if (!takeover_.lost_after(lasted)) {
            if (lasted >= mqtt::TakeoverDetector::kShortSession) {
                takeover_backoff.reset();
            }
            log::warn("{}: connection to {} lost ({}); reconnecting", ctx_->name, s_.server, lost_reason_);
            return false;
        }
        takeovers_->inc();
        health_down(fmt::format("another client with the client id '{}' took the session over", client_id_));
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(takeover_backoff.next());
        if (!takeover_.reported()) {
            takeover_.set_reported();
            log::error("{}: another client with the same client id '{}' took the session over (the broker closed "
                       "the connection within {} of connecting, {} times in a row); set client_id to one unique to "
                       "this gateway; retrying with back-off (next in {})",
                       ctx_->name, client_id_, format_duration(mqtt::TakeoverDetector::kShortSession),
                       mqtt::TakeoverDetector::kShortInARow, format_duration(wait));
        } else {
            log::debug("{}: session taken over again; next try in {}", ctx_->name, format_duration(wait));
        }
        return sleep_for(wait);
    }

    void receive_loop() {
        const auto seed = static_cast<std::uint32_t>(std::hash<std::string>{}(client_id_) ^ getpid());
        Backoff backoff(s_.reconnect_initial, s_.reconnect_max, seed);
        // After a takeover the first wait (half to all of the step) is longer
        // than a short session, so the other client's next loss does not
        // count as short: the client that held the session keeps it.
        Backoff takeover_backoff(
            std::max<std::chrono::nanoseconds>(s_.reconnect_initial, 4 * mqtt::TakeoverDetector::kShortSession),
            std::max<std::chrono::nanoseconds>(s_.reconnect_max, 120s), seed + 1);
        const std::size_t batch_max = std::min(s_.batch_size, window_.limit());
        batch_.reserve(batch_max);
        std::int64_t flush_at = 0;
        while (!stopping_ && queue_open_) {
            if (!connected_) {
                if (!ensure_connected(backoff)) {
                    return;
                }
                connected_ = true;
            }
            if (window_.full() && !wait_for_commits()) {
                return;
            }
            unsigned long timeout_ms = kIdleReceiveMs;
            if (!batch_.empty()) {
                const std::int64_t left = flush_at - mono_now_ns();
                timeout_ms = left <= 0 ? 0 : static_cast<unsigned long>(left / 1'000'000);
            }
            const Got got = receive_one(timeout_ms);
            if (got == Got::Message && batch_.size() == 1) {
                flush_at = mono_now_ns() + std::chrono::nanoseconds(s_.flush_interval).count();
            }
            if (got == Got::Lost) {
                connected_ = false;
                health_down(fmt::format("connection to {} lost ({})", s_.server, lost_reason_));
                ctx_->metrics->errors->inc();
                last_error_.clear();
                if (!flush() || after_lost(takeover_backoff)) {
                    return;
                }
                // Otherwise a first retry at once: a broker restart is the common case.
                continue;
            }
            if (!batch_.empty() &&
                (batch_.size() >= batch_max || got == Got::Nothing || mono_now_ns() >= flush_at)) {
                if (!flush()) {
                    return;
                }
            }
        }
    }

    void shutdown() {
        if (!connected_) {
            flush();
            return;
        }
        publish_status("offline");
        // Paho acknowledged what is already in its queue (QoS 1: PUBACK on
        // receipt), so take that in before saying goodbye; what is still in
        // the socket is redelivered by the broker to the persistent session.
        const std::int64_t until = mono_now_ns() + std::chrono::nanoseconds(kShutdownDrain).count();
        const std::atomic<bool> no_stop{false};
        while (queue_open_ && mono_now_ns() < until) {
            if (window_.full()) {
                if (!flush()) {
                    break;
                }
                ctx_->commit_soon();
                if (!window_.wait_for_room(std::chrono::nanoseconds(until - mono_now_ns()), no_stop)) {
                    break;
                }
            }
            const Got got = receive_one(0);
            if (got != Got::Message || batch_.size() >= std::min(s_.batch_size, window_.limit())) {
                if (!flush() || got != Got::Message) {
                    break;
                }
            }
        }
        flush();
        disconnect(100);
        connected_ = false;
        health_down("stopped");
        log::info("{}: disconnected from {}", ctx_->name, s_.server);
    }

    Settings s_;
    std::string client_id_;
    SourceContext* ctx_ = nullptr;
    MQTTClient client_ = nullptr;
    std::vector<Frame> batch_;
    std::string ssl_error_;
    std::string last_error_;
    std::string lost_reason_;
    bool connected_ = false;
    bool ever_connected_ = false;
    bool session_present_ = false;
    bool queue_open_ = true;
    std::uint64_t subscription_ = 0;  // hash of client id, QoS, protocol and topics
    bool subscribed_ = false;         // the broker's session holds that subscription
    std::int64_t connected_at_ns_ = 0;
    mqtt::UnsavedWindow window_;
    mqtt::TakeoverDetector takeover_;
    Counter* takeovers_ = nullptr;
    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

// The source's options with the shared TLS group (core/tls_options.hpp)
// after `password`, in the broker's words.
std::vector<OptionSpec> with_tls_options(std::vector<OptionSpec> own) {
    auto tls = tls_option_specs();
    for (auto& spec : tls) {
        if (spec.name == "ca_file") {
            spec.doc = "PEM file of CA certificates to verify the broker with (TLS; default: the system store)";
        } else if (spec.name == "server_name") {
            spec.doc = "Not supported by the mqtt source (the certificate is checked against the host in "
                       "`server`): setting it is an error";
        } else if (spec.name == "verify_hostname") {
            spec.doc = "Check that the broker's certificate names the host (or IP) in `server`";
        }
    }
    auto at = std::find_if(own.begin(), own.end(), [](const OptionSpec& s) { return s.name == "password"; });
    own.insert(at == own.end() ? at : at + 1, tls.begin(), tls.end());
    return own;
}

// validate --healthcheck: the broker accepts a TCP connection (and, with
// TLS, a handshake whose certificate verifies as configured).
bool probe_mqtt(const Options& o, std::string& detail) {
    const Settings s = mqtt::settings_from(o);
    const auto timeout = std::max(s.connect_timeout, std::chrono::seconds(1));
    std::string why = mqtt::probe_tcp(s.host, s.port, timeout);
    if (why.empty() && s.tls) {
        why = mqtt::probe_tls(s, timeout);
    }
    detail = fmt::format("{} {}", s.server, why.empty() ? "accepts connections" : why);
    return why.empty();
}

}  // namespace

const Descriptor& source_mqtt() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "mqtt",
        .summary = "Subscribes to MQTT topic filters (3.1.1 or 5, QoS 0-2, TLS) with a persistent session",
        .delivery = Delivery::BestEffort,
        .loss_window = "Paho acknowledges a QoS 1 message (QoS 2: PUBREC) on receipt, before it is committed, so a "
                       "crash or power cut loses the messages received but not yet committed: at most "
                       "`max_unsaved_messages` (default 100), as the source reads no more until the buffer stored "
                       "them. The broker keeps what is published while sluice is away only for a persistent session "
                       "at QoS 1/2; at QoS 0 everything in flight is lost.",
        .options = with_tls_options(
            {
                {.name = "server", .type = OptionType::String, .default_value = "tcp://127.0.0.1:1883",
                 .doc = "Broker address: tcp://host:port or mqtt://… for plain TCP, ssl://host:port or mqtts://… "
                        "for TLS (default ports 1883 and 8883)",
                 .min = 1, .max = 1024},
                {.name = "topics", .type = OptionType::List,
                 .doc = "Topic filters to subscribe to; + and # wildcards allowed", .required = true, .min = 1,
                 .max = 256},
                {.name = "qos", .type = OptionType::Int, .default_value = "1",
                 .doc = "Requested QoS for every topic filter (0, 1 or 2); QoS 1 and 2 survive sluice restarts "
                        "through the persistent session",
                 .min = 0, .max = 2},
                {.name = "client_id", .type = OptionType::String,
                 .doc = "MQTT client id; default sluice-<host name>-<machine id>-<data dir>-<pipeline>-<source id> "
                        "(12 hex digits of /etc/machine-id, 4 of a hash of the data directory), stable across "
                        "restarts so the broker keeps the session, and different for every machine and instance",
                 .max = 256},
                {.name = "clean_session", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Start a fresh session on every connect (messages sent while sluice was away are lost)"},
                {.name = "session_expiry", .type = OptionType::Duration, .default_value = "7d",
                 .doc = "MQTT 5: how long the broker keeps the session after a disconnect (3.1.1: the broker "
                        "decides)",
                 .min = 0, .max = 4294967295.0},
                {.name = "protocol", .type = OptionType::Enum, .default_value = "3.1.1",
                 .doc = "MQTT protocol version", .choices = "3.1.1|5"},
                {.name = "user", .type = OptionType::String, .doc = "User name for the broker", .max = 65535},
                {.name = "password", .type = OptionType::Secret,
                 .doc = "Password for the broker (\"@/path\" or \"@credential:NAME\" to read it from a file)",
                 .max = 65535},
                {.name = "keepalive", .type = OptionType::Duration, .default_value = "30s",
                 .doc = "MQTT keep-alive interval; a dead connection is noticed after about 1.5 times this",
                 .min = 1, .max = 65535},
                {.name = "connect_timeout", .type = OptionType::Duration, .default_value = "10s",
                 .doc = "Longest wait for a connect (TCP, TLS and CONNACK) and for SUBACK", .min = 1, .max = 300},
                {.name = "reconnect_initial", .type = OptionType::Duration, .default_value = "500ms",
                 .doc = "First wait after a failed connect; doubles per failure, with jitter", .min = 0.01,
                 .max = 3600},
                {.name = "reconnect_max", .type = OptionType::Duration, .default_value = "30s",
                 .doc = "Longest wait between connect attempts", .min = 0.01, .max = 86400},
                {.name = "status_topic", .type = OptionType::String,
                 .doc = "If set: retained \"online\" is published here after connecting, \"offline\" on stop and "
                        "as the last will",
                 .max = 65535},
                {.name = "status_qos", .type = OptionType::Int, .default_value = "1",
                 .doc = "QoS of the status messages", .min = 0, .max = 2},
                {.name = "batch_size", .type = OptionType::Int, .default_value = "1024",
                 .doc = "Most messages handed to the ingest queue at once (never more than max_unsaved_messages)",
                 .min = 1, .max = 65536},
                {.name = "flush_interval", .type = OptionType::Duration, .default_value = "10ms",
                 .doc = "Longest time a received message waits in the source before it is handed on",
                 .min = 0.001, .max = 1},
                {.name = "max_unsaved_messages", .type = OptionType::Int, .default_value = "100",
                 .doc = "Most messages taken from the broker (and so acknowledged, QoS 1/2) but not yet committed "
                        "to the buffer; the source reads no more until the buffer stored them. A crash or kill -9 "
                        "loses at most this many acknowledged messages; larger values read faster",
                 .min = 1, .max = 65536},
            }),
        .url_schemes = {"mqtt", "mqtts"},
        .from_url = mqtt::from_url,
        .url_example = "mqtt://host:1883/sensors/%23?qos=1&decode=json,influx&topology=wan",
        .make_source = [](const Options& o) { return std::make_unique<MqttSource>(mqtt::settings_from(o)); },
        .watched = true,
        .probe = probe_mqtt,
    };
    return d;
}

}  // namespace sluice::components
