// Subscribes to MQTT topic filters with Eclipse Paho's asynchronous client.
//
// Paho reads on its own receive thread and calls `on_message` there for
// every message, with its global lock held. The callback copies the message
// into the source's batch and hands the batch to the ingest queue every
// `hand_on_` messages; the source's own thread connects, subscribes, hands
// on a batch `flush_interval` after its first message, and reconnects with
// back-off.
//
// Paho acknowledges a QoS 1/2 message (PUBACK, PUBREC) as it reads it,
// before it is stored, and offers no way to acknowledge later. So the
// source takes at most `max_unsaved_messages` ahead of the buffer's commits
// (UnsavedWindow): with the window full, the callback hands its batch on,
// asks the worker to commit at once, and does not return until the commit
// is reported. Paho's receive thread reads nothing meanwhile (for any
// client in the process), so what Paho acknowledged and sluice has not
// stored stays within the windows. Batches are handed on at half the window
// so the worker commits one half while the other is read.
//
// A blocked callback holds Paho's lock, so Paho's other thread sends no
// keep-alive either; a commit normally takes milliseconds, and one that
// stalls for 1.5 times `keepalive` (disk full) makes the broker close the
// connection: what it still holds stays in the persistent session, and the
// source reconnects once the commits go on. Nothing here calls Paho from a
// callback, and no Paho call is made while holding the batch lock, so the
// callback's lock and Paho's cannot wait on each other.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <MQTTAsync.h>
#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/log.hpp"
#include "core/source_health.hpp"
#include "core/metrics.hpp"
#include "core/tls_options.hpp"
#include "net/mqtt/paho.hpp"
#include "net/mqtt/tls_probe.hpp"
#include "sources/mqtt/mqtt_config.hpp"
#include "core/backoff.hpp"
#include "core/guard.hpp"
#include "core/identity.hpp"
#include "sources/mqtt/unsaved_window.hpp"

namespace sluice::components {
namespace {

using namespace std::chrono_literals;
using mqtt::Pending;
using mqtt::Settings;
using mqtt::kCallbackSlack;
using mqtt::paho_text;
using mqtt::reason_text;

constexpr auto kShutdownDrain = 500ms;   // longest wait for commits while stopping
constexpr auto kStatusWait = 1000ms;     // for the broker to confirm a status message
constexpr auto kDisconnectWait = 1000ms; // for Paho to finish a disconnect

// Committed with every batch: which subscription the stored messages came
// from. A resumed session with the same one is not subscribed again: the
// broker starts sending the session's backlog right after CONNACK, and a
// SUBACK would only come after it.
struct Subscription {
    std::uint64_t epoch = 0;  // hash of client id, QoS, protocol, topics (and the share group)
    bool held = false;        // the buffer holds messages of it, so the broker's session does too
};

Subscription load_subscription(SourceContext& ctx, const std::string& client_id, const std::string& what) {
    Subscription sub;
    sub.epoch = std::stoull(short_hash(what, 15), nullptr, 16);
    ctx.checkpoint_key = "mqtt:" + client_id;
    if (auto cp = ctx.load_checkpoint(ctx.checkpoint_key)) {
        sub.held = cp->starts_with(fmt::format("{}:", sub.epoch));
    }
    return sub;
}

// What the connections of a source with `connections` > 1 share: one window
// of unsaved messages (the source's bound, however many connections), and
// the subscription they hold together.
struct SharedState {
    explicit SharedState(std::size_t limit) : window(limit) {}
    mqtt::UnsavedWindow window;
    Subscription subscription;
    std::function<void()> health_changed;  // a connection went up or down
};

class MqttSource final : public Source {
public:
    // `shared`: one of several connections of a source (MqttConnections).
    explicit MqttSource(Settings s, SharedState* shared = nullptr)
        : s_(std::move(s)), own_window_(s_.max_unsaved_messages), shared_(shared),
          window_(shared != nullptr ? shared->window : own_window_) {
        // Half the window per batch (split between the connections): the
        // worker commits one half while the callbacks read the other.
        const std::size_t parts = 2 * static_cast<std::size_t>(std::max(1, s_.connections));
        hand_on_ = std::max<std::size_t>(1, std::min(s_.batch_size, (window_.limit() + 1) / parts));
    }
    ~MqttSource() override { stop(); }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        client_id_ = s_.client_id.empty()
                         ? mqtt::default_client_id(host_name(), machine_tag(), data_dir_tag(), ctx.name)
                         : s_.client_id;
        takeovers_ = &metrics().counter("sluice_mqtt_session_takeovers_total",
                                        "Times another client with the same MQTT client id took the session over",
                                        {{"component", ctx.name}});
        health_down(fmt::format("connecting to {}", s_.server));
        if (shared_ != nullptr) {
            subscription_ = shared_->subscription.epoch;
            subscribed_ = shared_->subscription.held;
        } else {
            ctx.committed = [this](std::size_t n) { window_.committed(n); };
            std::string what = fmt::format("{}\n{}\n{}", client_id_, s_.qos, s_.protocol);
            for (const auto& t : s_.topics) {
                what += "\n" + t;
            }
            const Subscription sub = load_subscription(ctx, client_id_, what);
            subscription_ = sub.epoch;
            subscribed_ = sub.held;
        }
        thread_ = std::thread([this] { run(); });
    }

    void stop() override {
        request_stop();
        join();
    }
    // stop() in two halves, so several connections stop at once.
    void request_stop() {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
    }
    void join() {
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    const std::string& client_id() const { return client_id_; }

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
            health_changed();
        }
    }
    void health_up() {
        if (ctx_->health != nullptr) {
            ctx_->health->up();
            health_changed();
        }
    }
    void health_changed() {
        if (shared_ != nullptr && shared_->health_changed) {
            shared_->health_changed();
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

    // One Paho client at a time, connected and reconnected until stop; a new
    // client when Paho left a request unanswered.
    void session() {
        for (;;) {
            unanswered_ = false;
            give_up_ = false;
            if (!create_client()) {
                return;
            }
            struct Destroy {
                MqttSource& self;
                ~Destroy() { self.destroy_client(); }
            } destroy{*this};
            connection_loop();
            shutdown();
            if (!unanswered_ || stopping_ || !queue_open_) {
                return;
            }
        }
    }

    bool create_client() {
        if (std::string err = client_.create(client_id_, this, &MqttSource::on_connection_lost, &MqttSource::on_message);
            !err.empty()) {
            ctx_->metrics->errors->inc();
            log::error("{}: {}", ctx_->name, err);
            return false;
        }
        return true;
    }

    void destroy_client() {
        give_up_ = true;
        window_.wake();
        client_.destroy();
        // What the callback took in after the disconnect started.
        std::unique_lock lk(batch_mu_);
        hand_on_locked();
    }

    // ------------------------------------------------------------ Paho's threads

    static int on_message(void* context, char* topic, int topic_len, MQTTAsync_message* m) {
        auto* self = static_cast<MqttSource*>(context);
        self->take(topic, topic_len, m);
        MQTTAsync_freeMessage(&m);
        MQTTAsync_free(topic);
        return 1;
    }

    static void on_connection_lost(void* context, char* cause) {
        auto* self = static_cast<MqttSource*>(context);
        {
            std::lock_guard lk(self->mu_);
            self->lost_ = true;
            self->lost_reason_ = cause != nullptr && *cause != '\0' ? cause : "connection lost";
        }
        self->cv_.notify_all();
    }

    // One message, on Paho's receive thread.
    void take(const char* topic, int topic_len, const MQTTAsync_message* m) {
        Frame f;
        // topic_len is only set when the topic holds a NUL.
        if (topic_len > 0) {
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
        bool first = false;
        {
            std::unique_lock lk(batch_mu_);
            first = batch_.empty();
            batch_.push_back(std::move(f));
            window_.received();
            if (batch_.size() >= hand_on_ || window_.full()) {
                hand_on_locked();
                first = false;
            } else if (first) {
                flush_at_ns_ = mono_now_ns() + std::chrono::nanoseconds(s_.flush_interval).count();
            }
        }
        if (first) {
            // The source's thread hands the batch on after flush_interval.
            { std::lock_guard lk(mu_); }
            cv_.notify_all();
        }
        // Read no more until the buffer stored enough of what was taken.
        while (window_.full() && !give_up_) {
            ctx_->commit_soon();
            window_.wait_for_room(100ms, give_up_);
        }
    }

    // Hands the batch to the ingest queue (batch_mu_ held; blocks while the
    // queue is full, which holds Paho's receive thread too).
    void hand_on_locked() {
        if (batch_.empty()) {
            return;
        }
        const std::size_t n = batch_.size();
        if (!queue_open_ || !ctx_->ingest->push_all_wait(batch_)) {
            window_.forget(n);
            ctx_->metrics->dropped->inc(n);
            if (queue_open_.exchange(false)) {
                log::warn("{}: pipeline closed; {} received messages not taken", ctx_->name, n);
            }
            batch_.clear();
            give_up_ = true;
            window_.wake();
            {
                std::lock_guard lk(mu_);
            }
            cv_.notify_all();
            return;
        }
        flush_at_ns_ = 0;
        // Half the window handed on: have it committed now rather than after
        // batch_max_delay, so the other half can follow without waiting.
        if (window_.unsaved() * 2 >= window_.limit()) {
            ctx_->commit_soon();
        }
    }

    // ------------------------------------------------------------ connecting

    // "" on success, else what went wrong.
    std::string connect_once() {
        {
            std::lock_guard lk(mu_);
            lost_ = false;
        }
        std::string err = client_.connect();
        unanswered_ = client_.unanswered();
        session_present_ = client_.session_present();
        return err;
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
        MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
        std::vector<MQTTSubscribe_options> opts(topics.size(), MQTTSubscribe_options MQTTSubscribe_options_initializer);
        if (v5() && n > 1) {
            o.subscribeOptionsList = opts.data();
            o.subscribeOptionsCount = n;
        }
        Pending::set_subscribe(o, &subscribe_op_, v5());
        subscribe_op_.set_filters(topics.size());
        subscribe_op_.begin();
        int rc = MQTTAsync_subscribeMany(client_.handle(), n, topics.data(), qos.data(), &o);
        Pending::Result r;
        if (rc == MQTTASYNC_SUCCESS) {
            if (!subscribe_op_.wait(s_.connect_timeout + kCallbackSlack, r)) {
                unanswered_ = true;
                return "subscribe failed: no SUBACK";
            }
            rc = r.ok ? MQTTASYNC_SUCCESS : r.code;
        }
        if (rc != MQTTASYNC_SUCCESS) {
            return fmt::format("subscribe failed: {}", rc > 0 ? reason_text(rc) : paho_text(rc));
        }
        std::vector<int> granted = r.granted;
        granted.resize(topics.size(), granted.empty() ? s_.qos : granted.back());
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
        std::string err = client_.publish_status(text, kStatusWait);
        unanswered_ = unanswered_ || client_.unanswered();
        if (!err.empty()) {
            ctx_->metrics->errors->inc();
            log::warn("{}: {}", ctx_->name, err);
        }
    }

    // Connects (with back-off) and subscribes. False if stopping first, or
    // if Paho left a request unanswered (the session starts a new client).
    bool ensure_connected(Backoff& backoff) {
        while (!stopping_ && queue_open_) {
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
                health_up();
                connected_at_ns_ = mono_now_ns();
                last_error_.clear();
                backoff.reset();
                publish_status("online");
                return true;
            }
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(backoff.next());
            report_failure(err, wait);
            if (sleep_for(wait) || unanswered_) {
                return false;  // stopping, or a new client (session())
            }
        }
        return false;
    }

    // True if Paho confirmed the disconnect within kDisconnectWait.
    bool disconnect(int timeout_ms) { return client_.disconnect(timeout_ms, kDisconnectWait); }

    // ------------------------------------------------------------ the source's thread

    // The connection was lost: was it taken over by a client with our id?
    // Then one clear line, a count, and a longer wait than a reconnect's.
    // True if stopping during that wait.
    bool after_lost(Backoff& takeover_backoff, const std::string& reason) {
        const auto lasted = std::chrono::nanoseconds(mono_now_ns() - connected_at_ns_);
        if (!takeover_.lost_after(lasted)) {
            if (lasted >= mqtt::TakeoverDetector::kShortSession) {
                takeover_backoff.reset();
            }
            log::warn("{}: connection to {} lost ({}); reconnecting", ctx_->name, s_.server, reason);
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

    // Hands on a batch whose flush_interval has passed.
    void hand_on_if_due() {
        std::unique_lock lk(batch_mu_);
        const std::int64_t due = flush_at_ns_.load();
        if (!batch_.empty() && due != 0 && mono_now_ns() >= due) {
            hand_on_locked();
        }
    }

    // Until stop or a lost connection: hands on batches at flush_interval.
    // True if the connection was lost.
    bool watch() {
        std::unique_lock lk(mu_);
        for (;;) {
            if (stopping_ || !queue_open_) {
                return false;
            }
            if (lost_) {
                return true;
            }
            const std::int64_t due = flush_at_ns_.load();
            if (due == 0) {
                // Woken by the first message of a batch, a loss or stop.
                cv_.wait(lk);
                continue;
            }
            const std::int64_t left = due - mono_now_ns();
            if (left > 0) {
                cv_.wait_for(lk, std::chrono::nanoseconds(left));
                continue;
            }
            lk.unlock();
            hand_on_if_due();
            lk.lock();
        }
    }

    void connection_loop() {
        const auto seed = static_cast<std::uint32_t>(std::hash<std::string>{}(client_id_) ^ getpid());
        Backoff backoff(s_.reconnect_initial, s_.reconnect_max, seed);
        // After a takeover the first wait (half to all of the step) is longer
        // than a short session, so the other client's next loss does not
        // count as short: the client that held the session keeps it.
        Backoff takeover_backoff(
            std::max<std::chrono::nanoseconds>(s_.reconnect_initial, 4 * mqtt::TakeoverDetector::kShortSession),
            std::max<std::chrono::nanoseconds>(s_.reconnect_max, 120s), seed + 1);
        while (!stopping_ && queue_open_) {
            if (!ensure_connected(backoff)) {
                return;
            }
            connected_ = true;
            if (!watch()) {
                return;
            }
            connected_ = false;
            std::string reason;
            {
                std::lock_guard lk(mu_);
                reason = lost_reason_;
            }
            health_down(fmt::format("connection to {} lost ({})", s_.server, reason));
            ctx_->metrics->errors->inc();
            last_error_.clear();
            {
                std::unique_lock lk(batch_mu_);
                hand_on_locked();
            }
            if (after_lost(takeover_backoff, reason)) {
                return;
            }
            // Otherwise a first retry at once: a broker restart is the common case.
        }
    }

    void shutdown() {
        if (connected_) {
            publish_status("offline");
            // Paho acknowledged what it delivered; the callback keeps taking
            // it in until the disconnect is through, waiting for commits up
            // to kShutdownDrain.
            const std::int64_t until = mono_now_ns() + std::chrono::nanoseconds(kShutdownDrain).count();
            const bool clean = disconnect(100);
            while (window_.full() && !give_up_ && mono_now_ns() < until) {
                ctx_->commit_soon();
                window_.wait_for_room(10ms, give_up_);
            }
            if (!clean) {
                log::debug("{}: the disconnect did not complete", ctx_->name);
            }
            connected_ = false;
            log::info("{}: disconnected from {}", ctx_->name, s_.server);
        }
        health_down("stopped");
    }

    Settings s_;
    std::string client_id_;
    SourceContext* ctx_ = nullptr;
    mqtt::Client client_{s_};
    Pending subscribe_op_;
    bool unanswered_ = false;  // Paho left a request unanswered
    std::string last_error_;
    bool connected_ = false;
    bool ever_connected_ = false;
    bool session_present_ = false;
    std::uint64_t subscription_ = 0;  // hash of client id, QoS, protocol and topics
    bool subscribed_ = false;         // the broker's session holds that subscription
    std::int64_t connected_at_ns_ = 0;
    mqtt::TakeoverDetector takeover_;
    Counter* takeovers_ = nullptr;

    // Shared with Paho's threads.
    std::mutex batch_mu_;  // batch_ and handing on (in order); mu_ may be taken while holding it, never the other way round
    std::vector<Frame> batch_;
    std::atomic<std::int64_t> flush_at_ns_{0};  // 0: the batch is empty
    std::size_t hand_on_ = 1;
    mqtt::UnsavedWindow own_window_;
    SharedState* shared_ = nullptr;
    mqtt::UnsavedWindow& window_;  // own_window_, or the one the connections share
    std::atomic<bool> queue_open_{true};
    std::atomic<bool> give_up_{false};  // the callback waits for commits no more

    std::mutex mu_;  // stopping_, lost_, lost_reason_; cv_ wakes the source's thread
    std::condition_variable cv_;
    std::atomic<bool> stopping_{false};
    bool lost_ = false;
    std::string lost_reason_;
    std::thread thread_;
};

// A source with `connections` > 1: that many MqttSource connections, each
// with its own client id ("<client id>-1" ...) and persistent session, all
// subscribed to "$share/<group>/<filter>", so the broker hands each message
// to one of them. They share one window of unsaved messages (the loss bound
// stays `max_unsaved_messages`) and one subscription checkpoint. Paho reads
// all of them on its one receive thread; what several connections gain is
// the broker's and Paho's per-connection work spread over more sessions.
class MqttConnections final : public Source {
public:
    explicit MqttConnections(Settings s) : s_(std::move(s)), shared_(s_.max_unsaved_messages) {}
    ~MqttConnections() override { stop(); }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        const std::string base = s_.client_id.empty()
                                     ? mqtt::default_client_id(host_name(), machine_tag(), data_dir_tag(), ctx.name)
                                     : s_.client_id;
        const std::string group = mqtt::share_group_name(s_, base);
        std::string what = fmt::format("{}\n{}\n{}\n{}\n{}", base, s_.qos, s_.protocol, s_.connections, group);
        for (const auto& t : s_.topics) {
            what += "\n" + t;
        }
        shared_.subscription = load_subscription(ctx, base, what);
        ctx.committed = [this](std::size_t n) { shared_.window.committed(n); };
        const auto n = static_cast<std::size_t>(s_.connections);
        health_ = std::make_unique<SourceHealth[]>(n);
        shared_.health_changed = [this] { report_health(); };
        for (std::size_t i = 0; i < n; ++i) {
            Settings c = s_;
            c.client_id = fmt::format("{}-{}", base, i + 1);
            for (auto& t : c.topics) {
                t = mqtt::shared_filter(group, t);
            }
            if (i > 0) {
                c.status_topic.clear();  // one online/offline voice: the first connection's
            }
            contexts_.push_back(ctx);
            contexts_.back().health = ctx.health != nullptr ? &health_[i] : nullptr;
            connections_.push_back(std::make_unique<MqttSource>(std::move(c), &shared_));
        }
        log::info("{}: {} connections on the shared subscription group '{}'", ctx.name, n, group);
        for (std::size_t i = 0; i < n; ++i) {
            connections_[i]->start(contexts_[i]);
        }
    }

    void stop() override {
        for (auto& c : connections_) {
            c->request_stop();
        }
        for (auto& c : connections_) {
            c->join();
        }
    }

private:
    // Up while every connection is; else down with the first one's reason.
    void report_health() {
        if (ctx_->health == nullptr) {
            return;
        }
        std::lock_guard lk(health_mu_);
        const auto n = static_cast<std::size_t>(s_.connections);
        for (std::size_t i = 0; i < n; ++i) {
            const auto v = health_[i].view();
            if (!v.up) {
                ctx_->health->down(fmt::format("connection {} of {}: {}", i + 1, n, v.reason));
                return;
            }
        }
        ctx_->health->up();
    }

    Settings s_;
    SharedState shared_;
    SourceContext* ctx_ = nullptr;
    std::mutex health_mu_;
    std::unique_ptr<SourceHealth[]> health_;
    std::deque<SourceContext> contexts_;  // each connection's, with its own health
    std::vector<std::unique_ptr<MqttSource>> connections_;
};

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
        .options = mqtt::connection_option_specs(
            {
                {.name = "topics", .type = OptionType::List,
                 .doc = "Topic filters to subscribe to; + and # wildcards allowed", .required = true, .min = 1,
                 .max = 256},
                {.name = "qos", .type = OptionType::Int, .default_value = "1",
                 .doc = "Requested QoS for every topic filter (0, 1 or 2); QoS 1 and 2 survive sluice restarts "
                        "through the persistent session",
                 .min = 0, .max = 2},
            },
            {
                {.name = "batch_size", .type = OptionType::Int, .default_value = "1024",
                 .doc = "Most messages handed to the ingest queue at once (never more than half of max_unsaved_messages, "
                        "split between the connections, so one half is committed while the other is read)",
                 .min = 1, .max = 65536},
                {.name = "flush_interval", .type = OptionType::Duration, .default_value = "10ms",
                 .doc = "Longest time a received message waits in the source before it is handed on",
                 .min = 0.001, .max = 1},
                {.name = "max_unsaved_messages", .type = OptionType::Int, .default_value = "100",
                 .doc = "Most messages taken from the broker (and so acknowledged, QoS 1/2) but not yet committed "
                        "to the buffer; the source reads no more until the buffer stored them. A crash or kill -9 "
                        "loses at most this many acknowledged messages; larger values read faster",
                 .min = 1, .max = 65536},
                {.name = "connections", .type = OptionType::Int, .default_value = "1",
                 .doc = "Connections to the broker; more than 1 subscribes each to \"$share/<share_group>/<filter>\" "
                        "(a shared subscription: the broker needs to support them, as mosquitto 2, EMQX, HiveMQ and "
                        "VerneMQ do), so the broker hands each message to one of them. Each has its own client id "
                        "(<client_id>-1, -2, ...) and persistent session; they share max_unsaved_messages. Order is "
                        "kept per connection only, retained messages are not sent to shared subscriptions, and "
                        "changing this starts new sessions (drain the old ones first)",
                 .min = 1, .max = 16},
                {.name = "share_group", .type = OptionType::String,
                 .doc = "Share name of the shared subscription with connections > 1 (default: the client id); "
                        "gateways with the same share_group and topics split the messages between them",
                 .max = 256},
            }),
        .url_schemes = {"mqtt", "mqtts"},
        .from_url = mqtt::from_url,
        .url_example = "mqtt://host:1883/sensors/%23?qos=1&decode=json,influx&topology=wan",
        .make_source = [](const Options& o) -> std::unique_ptr<Source> {
            Settings s = mqtt::settings_from(o);
            if (s.connections > 1) {
                return std::make_unique<MqttConnections>(std::move(s));
            }
            return std::make_unique<MqttSource>(std::move(s));
        },
        .watched = true,
        .probe = [](const Options& o, std::string& detail) {
            return mqtt::probe_broker(mqtt::settings_from(o), detail);
        },
    };
    return d;
}

}  // namespace sluice::components
