#pragma once
// Eclipse Paho's asynchronous client as sluice's MQTT components use it: a
// client handle made from a Connection (net/mqtt/connection.hpp) that
// connects with the session, last will, TLS and MQTT 5 properties the
// options asked for, says why a connect failed in one line, publishes the
// retained online/offline status and disconnects. Requests are waited for
// on the caller's thread; Paho answers on its own.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <MQTTAsync.h>

#include "net/mqtt/connection.hpp"
#include "core/units.hpp"

namespace sluice::mqtt {

// Beyond connect_timeout before a Paho request is given up on.
constexpr std::chrono::seconds kCallbackSlack{5};

std::string connack_text(int rc);  // a 3.1.1 CONNACK refusal
std::string paho_text(int rc);     // one of Paho's negative codes
std::string reason_text(int rc);   // an MQTT 5 reason code

// Paho formats a line into its in-memory trace for every packet it reads
// or sends unless its trace level is raised to errors. Process-wide, once.
void quiet_paho_trace();

// One asynchronous Paho request (connect, subscribe, publish, disconnect)
// a component's thread waits for; Paho completes it from its own threads.
// One per kind, living as long as the client: a request whose answer never
// came ends the Paho client (destroying it drops what it still owes).
class Pending {
public:
    struct Result {
        bool ok = false;
        int code = 0;       // on failure: Paho's (< 0), the broker's CONNACK code (3.1.1) or reason code (5)
        std::string message;
        bool session_present = false;
        int receive_maximum = 0;   // connect, MQTT 5: the broker's Receive Maximum (0: none given)
        std::vector<int> granted;  // subscribe: what the broker granted per filter (>= 0x80: refused)
    };

    void begin() {
        std::lock_guard lk(mu_);
        done_ = false;
        result_ = {};
    }
    // False if no answer came within `max`.
    bool wait(std::chrono::nanoseconds max, Result& out) {
        std::unique_lock lk(mu_);
        if (!cv_.wait_for(lk, max, [this] { return done_; })) {
            return false;
        }
        out = std::move(result_);
        return true;
    }
    void finish(Result r) {
        std::lock_guard lk(mu_);
        result_ = std::move(r);
        done_ = true;
        cv_.notify_all();
    }

    // Paho's callbacks; the context is the Pending.
    static void succeeded(void* context, MQTTAsync_successData* d) {
        Result r{.ok = true};
        if (d != nullptr) {
            r.session_present = d->alt.connect.sessionPresent != 0;
        }
        static_cast<Pending*>(context)->finish(std::move(r));
    }
    static void succeeded5(void* context, MQTTAsync_successData5* d) {
        Result r{.ok = true};
        if (d != nullptr) {
            r.session_present = d->alt.connect.sessionPresent != 0;
            const int max = MQTTProperties_getNumericValue(&d->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
            r.receive_maximum = max > 0 ? max : 0;
        }
        static_cast<Pending*>(context)->finish(std::move(r));
    }
    static void failed(void* context, MQTTAsync_failureData* d) {
        Result r;
        if (d != nullptr) {
            r.code = d->code;
            r.message = d->message != nullptr ? d->message : "";
        } else {
            r.code = MQTTASYNC_FAILURE;
        }
        static_cast<Pending*>(context)->finish(std::move(r));
    }
    static void failed5(void* context, MQTTAsync_failureData5* d) {
        Result r;
        if (d != nullptr) {
            r.code = d->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR ? static_cast<int>(d->reasonCode) : d->code;
            r.message = d->message != nullptr ? d->message : "";
        } else {
            r.code = MQTTASYNC_FAILURE;
        }
        static_cast<Pending*>(context)->finish(std::move(r));
    }

    // SUBACK: one granted QoS (or refusal) per filter. `n` is the number of filters.
    static void set_subscribe(MQTTAsync_responseOptions& o, Pending* p, bool v5) {
        o.context = p;
        if (v5) {
            o.onSuccess5 = [](void* context, MQTTAsync_successData5* d) {
                auto* self = static_cast<Pending*>(context);
                Result r{.ok = true};
                if (d != nullptr) {
                    if (d->alt.sub.reasonCodeCount > 1 && d->alt.sub.reasonCodes != nullptr) {
                        r.granted.assign(d->alt.sub.reasonCodes, d->alt.sub.reasonCodes + d->alt.sub.reasonCodeCount);
                    } else {
                        r.granted.push_back(d->reasonCode);
                    }
                }
                self->finish(std::move(r));
            };
            o.onFailure5 = [](void* context, MQTTAsync_failureData5* d) {
                auto* self = static_cast<Pending*>(context);
                // A single filter the broker refused comes as a failure with
                // its reason code; it is a refusal, not a lost connection.
                if (d != nullptr && d->packet_type == 9 /* SUBACK */ &&
                    d->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR) {
                    self->finish(Result{.ok = true, .granted = {static_cast<int>(d->reasonCode)}});
                    return;
                }
                failed5(context, d);
            };
        } else {
            o.onSuccess = [](void* context, MQTTAsync_successData* d) {
                auto* self = static_cast<Pending*>(context);
                Result r{.ok = true};
                const std::size_t n = self->filters_;
                if (d != nullptr) {
                    if (n > 1 && d->alt.qosList != nullptr) {
                        r.granted.assign(d->alt.qosList, d->alt.qosList + n);
                    } else {
                        r.granted.push_back(d->alt.qos);
                    }
                }
                self->finish(std::move(r));
            };
            o.onFailure = [](void* context, MQTTAsync_failureData* d) {
                auto* self = static_cast<Pending*>(context);
                if (d != nullptr && d->code == 0x80) {
                    self->finish(Result{.ok = true, .granted = {0x80}});
                    return;
                }
                failed(context, d);
            };
        }
    }
    void set_filters(std::size_t n) { filters_ = n; }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    Result result_;
    std::size_t filters_ = 1;
};

template <class Options>
void set_callbacks(Options& o, Pending* p, bool v5) {
    o.context = p;
    if (v5) {
        o.onSuccess5 = &Pending::succeeded5;
        o.onFailure5 = &Pending::failed5;
    } else {
        o.onSuccess = &Pending::succeeded;
        o.onFailure = &Pending::failed;
    }
}

class Client {
public:
    explicit Client(const Connection& c) : c_(c) {}
    ~Client() { destroy(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // A new Paho handle for `client_id` with the component's callbacks
    // (either may be null). `max_queued`: how many requests Paho takes
    // before sendMessage answers MQTTASYNC_MAX_BUFFERED_MESSAGES (a
    // publisher hands over a whole batch). "" on success, else why not.
    std::string create(const std::string& client_id, void* context, MQTTAsync_connectionLost* lost,
                       MQTTAsync_messageArrived* arrived, int max_queued = 100);
    // Ends the handle: no callback runs during or after it, and whatever
    // Paho still owed is dropped.
    void destroy();
    MQTTAsync handle() const { return client_; }
    bool created() const { return client_ != nullptr; }

    // Connects once: "" on success, else one line saying why (a broker's
    // refusal, the TCP probe's or the TLS probe's verdict).
    std::string connect();
    bool session_present() const { return session_present_; }
    // How many QoS 1/2 messages the broker takes unacknowledged (MQTT 5's
    // Receive Maximum; 65,535 when it set none, and for 3.1.1). Paho holds
    // a publish beyond it until its send thread next wakes, up to a second
    // later: a publisher keeps below it itself.
    int receive_maximum() const { return receive_maximum_; }
    // Publishes a retained status text to status_topic (if set) and waits up
    // to `wait` for the broker: "" on success, else why not.
    std::string publish_status(const char* text, std::chrono::milliseconds wait);
    // True if Paho confirmed the disconnect within `wait` plus `timeout_ms`.
    bool disconnect(int timeout_ms, std::chrono::milliseconds wait);
    // Paho left a request unanswered: the handle should be destroyed and made again.
    bool unanswered() const { return unanswered_; }
    void clear_unanswered() { unanswered_ = false; }


private:
    static int on_ssl_error(const char* str, std::size_t len, void* u);

    const Connection& c_;
    MQTTAsync client_ = nullptr;
    Pending connect_op_, publish_op_, disconnect_op_;
    bool unanswered_ = false;
    bool session_present_ = false;
    int receive_maximum_ = 65535;
    std::mutex ssl_mu_;
    std::string ssl_error_;  // what OpenSSL said during the last connect
};

}  // namespace sluice::mqtt
