#include "net/mqtt/paho.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "net/mqtt/tls_probe.hpp"

namespace sluice::mqtt {

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

std::string paho_text(int rc) {
    const char* s = MQTTAsync_strerror(rc);
    return s != nullptr ? s : fmt::format("error {}", rc);
}

std::string reason_text(int rc) {
    const char* s = MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(rc));
    return fmt::format("broker refused: {}", s != nullptr ? s : std::to_string(rc));
}

// Paho formats a line into its in-memory trace for every packet it reads
// or sends unless its trace level is raised to errors: at QoS 1 that was a
// quarter of the receive thread's CPU (47k -> 65k msg/s for a bare client
// here). Nothing reads that trace; the level is process-wide.
void quiet_paho_trace() {
    static std::once_flag once;
    std::call_once(once, [] { MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR); });
}

std::string Client::create(const std::string& client_id, void* context, MQTTAsync_connectionLost* lost,
                           MQTTAsync_messageArrived* arrived, int max_queued) {
    quiet_paho_trace();
    unanswered_ = false;
    MQTTAsync_createOptions co = c_.v5() ? MQTTAsync_createOptions MQTTAsync_createOptions_initializer5
                                         : MQTTAsync_createOptions MQTTAsync_createOptions_initializer;
    co.sendWhileDisconnected = 0;
    co.maxBufferedMessages = max_queued;
    // No client-side persistence: a subscriber's session (subscriptions,
    // queued messages) is kept by the broker, and a publisher's rows stay in
    // sluice's buffer until the broker confirmed them.
    const int rc = MQTTAsync_createWithOptions(&client_, c_.server.c_str(), client_id.c_str(),
                                               MQTTCLIENT_PERSISTENCE_NONE, nullptr, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        client_ = nullptr;
        return fmt::format("cannot create an MQTT client for {}: {}", c_.server, paho_text(rc));
    }
    // Paho sets no callback at all without a message callback: a publisher
    // gets one that drops what it never subscribed to.
    static constexpr MQTTAsync_messageArrived* kDrop = [](void*, char* topic, int, MQTTAsync_message* m) {
        MQTTAsync_freeMessage(&m);
        MQTTAsync_free(topic);
        return 1;
    };
    const int set = MQTTAsync_setCallbacks(client_, context, lost, arrived != nullptr ? arrived : kDrop, nullptr);
    if (set != MQTTASYNC_SUCCESS) {
        MQTTAsync_destroy(&client_);
        client_ = nullptr;
        return fmt::format("cannot set the MQTT client's callbacks: {}", paho_text(set));
    }
    return {};
}

void Client::destroy() {
    if (client_ != nullptr) {
        // Paho calls back with its lock held, which destroy takes: no
        // callback runs during it, and none after.
        MQTTAsync_destroy(&client_);
        client_ = nullptr;
    }
}

int Client::on_ssl_error(const char* str, std::size_t len, void* u) {
    auto* self = static_cast<Client*>(u);
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
    std::lock_guard lk(self->ssl_mu_);
    if (self->ssl_error_.find(reason) == std::string::npos) {
        self->ssl_error_ += (self->ssl_error_.empty() ? "" : "; ") + reason;
    }
    return 0;
}

std::string Client::connect() {
    MQTTAsync_connectOptions o;
    if (c_.v5()) {
        o = MQTTAsync_connectOptions MQTTAsync_connectOptions_initializer5;
        o.cleanstart = c_.clean_session ? 1 : 0;
    } else {
        o = MQTTAsync_connectOptions MQTTAsync_connectOptions_initializer;
        o.cleansession = c_.clean_session ? 1 : 0;
    }
    o.keepAliveInterval = static_cast<int>(c_.keepalive.count());
    o.connectTimeout = static_cast<int>(c_.connect_timeout.count());
    o.automaticReconnect = 0;
    o.username = c_.user.empty() ? nullptr : c_.user.c_str();
    o.password = c_.password.empty() ? nullptr : c_.password.c_str();
    static const char kOffline[] = "offline";
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    if (!c_.status_topic.empty()) {
        will.topicName = c_.status_topic.c_str();
        will.message = kOffline;
        will.retained = 1;
        will.qos = c_.status_qos;
        o.will = &will;
    }
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (c_.tls) {
        ssl.trustStore = c_.ca_file.empty() ? nullptr : c_.ca_file.c_str();
        ssl.CApath = c_.ca_path.empty() ? nullptr : c_.ca_path.c_str();
        ssl.keyStore = c_.cert_file.empty() ? nullptr : c_.cert_file.c_str();
        ssl.privateKey = c_.key_file.empty() ? nullptr : c_.key_file.c_str();
        ssl.privateKeyPassword = c_.key_password.empty() ? nullptr : c_.key_password.c_str();
        ssl.enableServerCertAuth = c_.insecure_skip_verify ? 0 : 1;
        ssl.verify = (c_.verify_hostname && !c_.insecure_skip_verify) ? 1 : 0;
        ssl.ssl_error_cb = &Client::on_ssl_error;
        ssl.ssl_error_context = this;
        o.ssl = &ssl;
    }
    MQTTProperties props = MQTTProperties_initializer;
    if (c_.v5() && !c_.clean_session && c_.session_expiry.count() > 0) {
        MQTTProperty p;
        p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
        p.value.integer4 =
            static_cast<unsigned int>(std::min<std::int64_t>(c_.session_expiry.count(), 0xFFFFFFFFLL));
        MQTTProperties_add(&props, &p);
        o.connectProperties = &props;
    }
    {
        std::lock_guard lk(ssl_mu_);
        ssl_error_.clear();
    }
    set_callbacks(o, &connect_op_, c_.v5());
    connect_op_.begin();
    int rc = MQTTAsync_connect(client_, &o);
    MQTTProperties_free(&props);
    Pending::Result r;
    if (rc == MQTTASYNC_SUCCESS) {
        if (!connect_op_.wait(c_.connect_timeout + kCallbackSlack, r)) {
            unanswered_ = true;
            return fmt::format("connect to {} failed: no answer from the MQTT client within {}", c_.server,
                               format_duration(c_.connect_timeout + kCallbackSlack));
        }
        if (r.ok) {
            session_present_ = r.session_present;
            receive_maximum_ = r.receive_maximum > 0 ? r.receive_maximum : 65535;
            return {};
        }
        rc = r.code;
    }
    const std::string endpoint = fmt::format("{}:{}", c_.host, c_.port);
    if (rc > 0) {
        return fmt::format("connect to {} failed: {}", c_.server, c_.v5() ? reason_text(rc) : connack_text(rc));
    }
    // Paho's negative codes do not say whether TCP or TLS failed, or why.
    if (const std::string tcp = probe_tcp(c_.host, c_.port, c_.connect_timeout); !tcp.empty()) {
        return fmt::format("cannot connect to {}: {}", endpoint, tcp);
    }
    if (c_.tls) {
        std::string ssl_error;
        {
            std::lock_guard lk(ssl_mu_);
            ssl_error = ssl_error_;
        }
        const std::string verdict = probe_tls(c_, c_.connect_timeout);
        if (!verdict.empty() || !ssl_error.empty()) {
            return explain_tls_failure(endpoint, ssl_error, verdict);
        }
    }
    std::string why = paho_text(rc);
    if (!r.message.empty() && r.message != why) {
        why += ": " + r.message;
    }
    return fmt::format("connect to {} failed: {}", c_.server, why);
}

std::string Client::publish_status(const char* text, std::chrono::milliseconds wait) {
    if (c_.status_topic.empty()) {
        return {};
    }
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = const_cast<char*>(text);
    m.payloadlen = static_cast<int>(std::char_traits<char>::length(text));
    m.qos = c_.status_qos;
    m.retained = 1;
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    set_callbacks(o, &publish_op_, c_.v5());
    publish_op_.begin();
    int rc = MQTTAsync_sendMessage(client_, c_.status_topic.c_str(), &m, &o);
    Pending::Result r;
    if (rc == MQTTASYNC_SUCCESS) {
        if (!publish_op_.wait(wait, r)) {
            unanswered_ = true;
            rc = MQTTASYNC_OPERATION_INCOMPLETE;
        } else if (!r.ok) {
            rc = r.code;
        }
    }
    if (rc == MQTTASYNC_SUCCESS) {
        return {};
    }
    return fmt::format("publishing '{}' to status topic '{}' failed: {}", text, c_.status_topic,
                       rc > 0 ? reason_text(rc) : paho_text(rc));
}

bool Client::disconnect(int timeout_ms, std::chrono::milliseconds wait) {
    MQTTAsync_disconnectOptions o;
    if (c_.v5()) {
        o = MQTTAsync_disconnectOptions MQTTAsync_disconnectOptions_initializer5;
        o.reasonCode = MQTTREASONCODE_NORMAL_DISCONNECTION;
    } else {
        o = MQTTAsync_disconnectOptions MQTTAsync_disconnectOptions_initializer;
    }
    o.timeout = timeout_ms;
    set_callbacks(o, &disconnect_op_, c_.v5());
    disconnect_op_.begin();
    if (MQTTAsync_disconnect(client_, &o) != MQTTASYNC_SUCCESS) {
        return false;  // not connected
    }
    Pending::Result r;
    return disconnect_op_.wait(wait + std::chrono::milliseconds(timeout_ms), r);
}

}  // namespace sluice::mqtt
