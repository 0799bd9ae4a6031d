// Produces records to Kafka with librdkafka's idempotent producer. Only
// delivery reports move the cursor: send() produces the whole batch, serves
// delivery reports until each one arrived or batch_timeout passed, and
// confirms the longest prefix that was acknowledged (acks=all by default).
// Anything else is retried by the runtime, so a broker outage never loses a
// row; it may duplicate the ones whose acknowledgement was lost.

#include "sinks/kafka/kafka_sink.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "core/identity.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/url.hpp"
#include "net/kafka/kafka_client.hpp"
#include "sinks/kafka/kafka_format.hpp"
#include "text/payload.hpp"
#include "text/template.hpp"

namespace sluice::kafka {
namespace {

using Clock = std::chrono::steady_clock;

// Errors that are about the message itself: sending it again cannot help,
// so the record becomes a dead letter instead of blocking the sink forever.
bool permanent_data_error(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return true;
    default:
        return false;
    }
}

// Status of one message of the current batch.
enum class Status : std::uint8_t { NotProduced, Pending, Delivered, Rejected, Failed };

// The messages of one send(). A message's delivery opaque is the address of
// its Slot: the report finds its batch and its index from that address alone,
// with no numbers packed into a pointer (a 32-bit pointer has no room for a
// batch generation beside the index). A batch that gave up with messages
// still in flight is retired, not freed, until their reports have arrived or
// the producer is destroyed, so a late report never touches freed memory and
// never counts for a newer batch.
//
// The batch also owns its payloads: all of them are formatted into one
// buffer before the first is produced, and librdkafka is handed pointers
// into it (no RD_KAFKA_MSG_F_COPY), which stay valid until the last report
// of the batch came in, retired or not. In the steady state the buffers'
// capacity is reused: no allocation per message on sluice's side.
struct InFlight;
struct Slot {
    InFlight* batch;
    Status status;
};
struct InFlight {
    std::vector<Slot> slots;
    // Why a record was rejected or failed, by index; empty until a batch has
    // such a record (nothing to fill per batch in the steady state).
    std::vector<std::string> reasons;
    std::string payloads;                 // every payload of the batch, back to back
    std::vector<std::size_t> payload_end;  // where the i-th ends in `payloads`
    std::size_t outstanding = 0;           // produced messages whose report is still to come
    bool current = false;                  // false: retired, its reports only count down
    Clock::time_point deadline;            // finish() waits for reports until then
    std::string stop_reason;               // why producing stopped before the end; empty: it did not

    void reset(std::size_t n) {
        slots.assign(n, Slot{this, Status::NotProduced});
        reasons.clear();
        payloads.clear();
        payload_end.clear();
        outstanding = 0;
        current = true;
        stop_reason.clear();
    }
    std::size_t index_of(const Slot* s) const { return static_cast<std::size_t>(s - slots.data()); }
    void set_reason(std::size_t i, std::string reason) {
        if (reasons.size() != slots.size()) {
            reasons.assign(slots.size(), std::string());
        }
        reasons[i] = std::move(reason);
    }
    std::string reason(std::size_t i) const { return i < reasons.size() ? reasons[i] : std::string(); }
};

class KafkaSink final : public Sink {
public:
    KafkaSink(const Options& o, std::vector<Property> props)
        : props_(std::move(props)),
          topic_(*sluice::Template::parse(o.str("topic"), nullptr)),
          key_(*sluice::Template::parse(o.str_or("key", ""), nullptr)),
          format_(*payload::parse_format(o.str("format"))),
          raw_field_(o.str("raw_field")),
          gateway_id_(o.str_or("gateway_id", "").empty() ? gateway_id() : o.str("gateway_id")),
          batch_timeout_(o.duration("batch_timeout")),
          health_timeout_(o.duration("health_timeout")) {
        if (topic_.constant()) {
            topic_constant_ = true;
            topic_.render(Record{}, topic_buf_);  // the same text for every record: rendered once
        }
        make_conf(props_);  // fail now, at factory time, rather than in open()
    }
    ~KafkaSink() override { close(); }

    void open(SinkContext& ctx) override {
        name_ = ctx.name;
        metrics_ = ctx.metrics;
        std::lock_guard lk(mu_);
        create_locked();
    }

    // One batch: produced, then waited for. With a backlog the runner
    // overlaps batches instead (start, start, finish, ...), so librdkafka
    // always has the next batch queued while the last one's reports come in.
    SendResult send(std::span<const Record> batch) override {
        start(batch);
        return finish();
    }

    bool overlaps() const override { return true; }

    void start(std::span<const Record> batch) override {
        std::string error;
        try {
            std::lock_guard lk(mu_);
            if (fatal_ || rk_ == nullptr) {
                if (!started_.empty()) {
                    // A batch before this one still waits for its reports,
                    // which a new producer would never bring.
                    error = "the producer failed";
                } else {
                    // An idempotent producer that hit a fatal error cannot
                    // go on: start a new one (a new producer id);
                    // unconfirmed rows are simply produced again.
                    create_locked();
                }
            }
        } catch (const std::exception& e) {
            error = e.what();
        }
        InFlight& b = begin_batch(batch.size());
        b.deadline = Clock::now() + batch_timeout_;
        if (!error.empty()) {
            b.stop_reason = std::move(error);
            return;
        }
        try {
            format_payloads(batch, b);
            for (std::size_t i = 0; i < batch.size() && b.stop_reason.empty(); ++i) {
                produce_one(batch[i], b, i, b.deadline, b.stop_reason);
            }
        } catch (const std::exception& e) {
            b.stop_reason = fmt::format("producing failed: {}", e.what());
        }
    }

    SendResult finish() override {
        SendResult result;
        if (started_.empty()) {
            result.error = "no batch was started";
            return result;
        }
        InFlight& b = *started_.front();
        while (b.outstanding > 0 && Clock::now() < b.deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(b.deadline - Clock::now());
            const int wait_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 1, 100));
            if (started_.size() == 1) {
                // flush rather than poll: it sends what linger.ms still
                // holds back right away, and this batch is all we wait for.
                rd_kafka_flush(rk_, wait_ms);
            } else {
                rd_kafka_poll(rk_, wait_ms);  // the next batch fills the produce requests
            }
        }
        if (b.outstanding > 0) {
            // Messages not yet on the wire would only add duplicates to the
            // retry; ones in flight may still land (their reports are ignored).
            // A batch started after this one is purged too: it is sent again.
            rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE);
            rd_kafka_poll(rk_, 0);
        }
        const std::size_t n = b.slots.size();
        for (std::size_t i = 0; i < n; ++i) {
            const Status st = b.slots[i].status;
            if (st == Status::Delivered) {
                ++result.confirmed;
                continue;
            }
            if (st == Status::Rejected) {
                result.rejected.emplace_back(i, b.reason(i));
                ++result.confirmed;
                continue;
            }
            if (st == Status::Pending) {
                result.error = fmt::format("no delivery report within {} for record {} of {}",
                                           format_duration(batch_timeout_), i + 1, n);
            } else if (st == Status::Failed) {
                result.error = fmt::format("delivery of record {} of {} failed: {}", i + 1, n, b.reason(i));
            } else {
                result.error = b.stop_reason.empty() ? "record was not produced" : b.stop_reason;
            }
            break;
        }
        end_batch();
        if (!result.error.empty() && !started_.empty() && rk_ != nullptr) {
            // The batch started after this one is sent again from the
            // cursor whatever becomes of it: what of it librdkafka still
            // holds back would only arrive twice (say the brokers come back
            // between this batch's timeout and its own).
            rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE);
        }
        if (result.error.empty()) {
            down_log_.clear();
            log_log_.clear();
        }
        return result;
    }

    bool healthy(std::string& reason) override {
        std::lock_guard lk(mu_);
        try {
            if (rk_ == nullptr) {
                create_locked();
            }
        } catch (const std::exception& e) {
            reason = e.what();
            return false;
        }
        const rd_kafka_metadata_t* md = nullptr;
        const auto err = rd_kafka_metadata(rk_, 0, nullptr, &md,
                                           static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                health_timeout_)
                                                                .count()));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            reason = fmt::format("metadata request failed: {}", rd_kafka_err2str(err));
            return false;
        }
        const int brokers = md->broker_cnt;
        rd_kafka_metadata_destroy(md);
        if (brokers == 0) {
            reason = "the cluster reported no brokers";
            return false;
        }
        return true;
    }

    void close() override {
        std::lock_guard lk(mu_);
        destroy_locked();
    }

private:
    // A batch for start(), queued behind those started before: a spare one
    // when there is (no allocation in the steady state), else a new one.
    InFlight& begin_batch(std::size_t n) {
        std::unique_ptr<InFlight> b;
        if (!spare_.empty()) {
            b = std::move(spare_.back());
            spare_.pop_back();
        } else {
            b = std::make_unique<InFlight>();
        }
        b->reset(n);
        started_.push_back(std::move(b));
        return *started_.back();
    }

    // After finish(): the oldest started batch is done; one with reports
    // still to come is retired, the others kept for reuse.
    void end_batch() {
        std::unique_ptr<InFlight> b = std::move(started_.front());
        started_.pop_front();
        b->current = false;
        if (b->outstanding > 0) {
            retired_.push_back(std::move(b));
        } else if (spare_.size() < 2) {
            spare_.push_back(std::move(b));
        }
    }

    // The last report of a retired batch came in: keep a couple for reuse.
    void release(InFlight* b) {
        const auto it = std::find_if(retired_.begin(), retired_.end(), [b](const auto& p) { return p.get() == b; });
        if (it == retired_.end()) {
            return;
        }
        if (spare_.size() < 2) {
            spare_.push_back(std::move(*it));
        }
        retired_.erase(it);
    }

    // Every payload of the batch into the batch's own buffer, before any is
    // produced (it must not move once librdkafka refers to it). A record
    // whose payload cannot be formatted is rejected here; the topic's reason
    // takes precedence (produce_one checks it first, as it always did).
    void format_payloads(std::span<const Record> batch, InFlight& b) {
        b.payload_end.reserve(batch.size());
        std::string error;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (!payload::append_payload(format_, raw_field_, batch[i], b.payloads, &error)) {
                reject(b, i, error);
            }
            b.payload_end.push_back(b.payloads.size());
        }
    }

    void produce_one(const Record& r, InFlight& b, std::size_t i, Clock::time_point deadline,
                     std::string& stop_reason) {
        if (!topic_constant_ && !topic_.render(r, topic_buf_)) {
            reject(b, i, fmt::format("topic template \"{}\": the record has no '{}'", topic_.text(),
                                     topic_.missing_name(r)));
            return;
        }
        if (topic_buf_.empty()) {
            reject(b, i, "topic template rendered an empty topic name");
            return;
        }
        if (b.slots[i].status == Status::Rejected) {
            return;  // its payload could not be formatted (format_payloads)
        }
        const std::size_t payload_begin = i == 0 ? 0 : b.payload_end[i - 1];
        char* const payload = b.payloads.data() + payload_begin;
        const std::size_t payload_size = b.payload_end[i] - payload_begin;
        if (!key_.render(r, key_buf_)) {
            key_buf_.clear();  // a record that lacks a key name is sent without a key
        }
        void* const opaque = &b.slots[i];
        const std::int64_t ts_ms = r.time_ns / 1'000'000;
        rd_kafka_topic_t* rkt = topic_handle(topic_buf_);
        if (rkt == nullptr) {
            reject(b, i, fmt::format("topic \"{}\": {}", topic_buf_, rd_kafka_err2str(rd_kafka_last_error())));
            return;
        }
        for (;;) {
            rd_kafka_resp_err_t err;
            if (gateway_id_.empty()) {
                err = rd_kafka_producev(
                    rk_, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(0),
                    RD_KAFKA_V_VALUE(payload, payload_size),
                    RD_KAFKA_V_KEY(key_buf_.empty() ? nullptr : key_buf_.data(), key_buf_.size()),
                    RD_KAFKA_V_TIMESTAMP(ts_ms > 0 ? ts_ms : 0),
                    RD_KAFKA_V_HEADER("origin", r.origin.data(), static_cast<ssize_t>(r.origin.size())),
                    RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
            } else {
                err = rd_kafka_producev(
                    rk_, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(0),
                    RD_KAFKA_V_VALUE(payload, payload_size),
                    RD_KAFKA_V_KEY(key_buf_.empty() ? nullptr : key_buf_.data(), key_buf_.size()),
                    RD_KAFKA_V_TIMESTAMP(ts_ms > 0 ? ts_ms : 0),
                    RD_KAFKA_V_HEADER("origin", r.origin.data(), static_cast<ssize_t>(r.origin.size())),
                    RD_KAFKA_V_HEADER("gateway", gateway_id_.data(), static_cast<ssize_t>(gateway_id_.size())),
                    RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
            }
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                b.slots[i].status = Status::Pending;
                ++b.outstanding;
                return;
            }
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && Clock::now() < deadline) {
                rd_kafka_poll(rk_, 10);  // serve reports to make room
                continue;
            }
            if (permanent_data_error(err)) {
                reject(b, i, rd_kafka_err2str(err));
                return;
            }
            stop_reason = fmt::format("producing to {} failed: {}", topic_buf_, rd_kafka_err2str(err));
            return;
        }
    }

    // rd_kafka_topic_new takes the client's write lock on every call (what
    // RD_KAFKA_V_TOPIC does per message); a handle per topic name avoids it.
    rd_kafka_topic_t* topic_handle(const std::string& name) {
        if (last_rkt_ != nullptr && name == last_topic_) {
            return last_rkt_;  // most batches go to one topic: no hashing
        }
        if (auto it = topics_.find(name); it != topics_.end()) {
            last_topic_ = name;
            last_rkt_ = it->second;
            return it->second;
        }
        if (topics_.size() >= 4096) {
            drop_topics();  // a template gone wild: do not grow without bound
        }
        rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, name.c_str(), nullptr);
        if (rkt != nullptr) {
            topics_.emplace(name, rkt);
            last_topic_ = name;
            last_rkt_ = rkt;
        }
        return rkt;
    }

    void drop_topics() {
        for (auto& [name, rkt] : topics_) {
            rd_kafka_topic_destroy(rkt);
        }
        topics_.clear();
        last_rkt_ = nullptr;
    }

    static void reject(InFlight& b, std::size_t i, std::string reason) {
        b.slots[i].status = Status::Rejected;
        b.set_reason(i, std::move(reason));
    }

    // Delivery reports are served by rd_kafka_poll/flush on the sink's own
    // thread. librdkafka reports every produced message exactly once (purged
    // ones included), or never once the producer is destroyed.
    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* self_ptr) {
        auto* self = static_cast<KafkaSink*>(self_ptr);
        auto* slot = static_cast<Slot*>(m->_private);
        if (slot == nullptr) {
            return;
        }
        InFlight* b = slot->batch;
        if (b->outstanding > 0) {
            --b->outstanding;
        }
        if (!b->current) {
            // A report for a batch that already gave up on it.
            if (b->outstanding == 0) {
                self->release(b);
            }
            return;
        }
        if (slot->status != Status::Pending) {
            return;
        }
        const std::size_t index = b->index_of(slot);
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            slot->status = Status::Delivered;
        } else if (permanent_data_error(m->err)) {
            slot->status = Status::Rejected;
            b->set_reason(index, rd_kafka_err2str(m->err));
        } else {
            slot->status = Status::Failed;
            b->set_reason(index, rd_kafka_err2str(m->err));
        }
    }

    static void on_error(rd_kafka_t* rk, int err, const char* reason, void* self_ptr) {
        auto* self = static_cast<KafkaSink*>(self_ptr);
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            char buf[512];
            const auto orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
            self->fatal_ = true;
            log::error("{}: fatal producer error ({}): {}; starting a new producer", self->name_,
                       rd_kafka_err2name(orig), buf);
            return;
        }
        if (self->metrics_ != nullptr && err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
            self->metrics_->reconnects->inc();
        }
        self->down_log_.warn("{}: kafka: {} ({})", self->name_, reason,
                             rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
    }

    // Forwarded to the main queue (log.queue), so this also runs on the sink's thread.
    static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
        auto* self = static_cast<KafkaSink*>(rd_kafka_opaque(rk));
        if (self != nullptr) {
            forward_log(self->name_, self->log_log_, level, fac, buf);
        }
    }

    void create_locked() {
        destroy_locked();
        ConfPtr conf = make_conf(props_);
        rd_kafka_conf_set_opaque(conf.get(), this);
        rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaSink::on_delivery);
        rd_kafka_conf_set_error_cb(conf.get(), &KafkaSink::on_error);
        rd_kafka_conf_set_log_cb(conf.get(), &KafkaSink::on_log);
        char errstr[512];
        if (rd_kafka_conf_set(conf.get(), "log.queue", "true", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            throw std::runtime_error(fmt::format("kafka: {}", errstr));
        }
        rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
        if (rk == nullptr) {
            throw std::runtime_error(fmt::format("kafka: cannot create producer: {}", errstr));
        }
        conf.release();  // rd_kafka_new took it
        rd_kafka_set_log_queue(rk, nullptr);
        rk_ = rk;
        fatal_ = false;
    }

    void destroy_locked() {
        if (rk_ == nullptr) {
            return;
        }
        // Whatever is still queued was not confirmed and stays in the buffer.
        rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        while (!started_.empty()) {
            end_batch();  // the purge reports below belong to no batch
        }
        rd_kafka_flush(rk_, 1000);
        drop_topics();
        rd_kafka_destroy(rk_);
        rk_ = nullptr;
        // No report can come any more: every retired batch is free.
        retired_.clear();
    }

    std::vector<Property> props_;
    sluice::Template topic_;
    bool topic_constant_ = false;  // no names in it: topic_buf_ holds its text for good
    sluice::Template key_;
    payload::Format format_;
    std::string raw_field_;
    std::string gateway_id_;
    std::chrono::nanoseconds batch_timeout_;
    std::chrono::nanoseconds health_timeout_;
    std::string name_ = "kafka";
    ComponentMetrics* metrics_ = nullptr;

    std::mutex mu_;  // guards rk_ creation/destruction against healthy()
    rd_kafka_t* rk_ = nullptr;
    std::unordered_map<std::string, rd_kafka_topic_t*> topics_;
    std::string last_topic_;                // the name topic_handle() found last, and its handle
    rd_kafka_topic_t* last_rkt_ = nullptr;
    bool fatal_ = false;
    std::deque<std::unique_ptr<InFlight>> started_;    // started, not finished: oldest first
    std::vector<std::unique_ptr<InFlight>> retired_;   // gave up, reports still to come
    std::vector<std::unique_ptr<InFlight>> spare_;     // for reuse
    std::string topic_buf_;
    std::string key_buf_;
    log::OnceLog down_log_;
    log::OnceLog log_log_;
};

}  // namespace

std::vector<Property> producer_properties(const Options& o) {
    std::vector<Property> own;
    auto add = [&](std::string key, std::string value) { own.push_back({std::move(key), std::move(value)}); };
    const bool idempotent = o.boolean("idempotence");
    const std::string& acks = o.str("acks");
    if (idempotent && acks != "all") {
        throw ConfigError(fmt::format("kafka: idempotence = true needs acks = \"all\" (got \"{}\")", acks));
    }
    add("enable.idempotence", idempotent ? "true" : "false");
    add("acks", acks == "all" ? "all" : acks);
    add("compression.codec", o.str("compression"));
    add("partitioner", o.str("partitioner"));
    add("message.timeout.ms", ms(o.duration("message_timeout")));
    add("linger.ms", ms(o.duration("linger")));
    return client_properties(o, std::move(own), {"enable.idempotence", "acks"});
}

}  // namespace sluice::kafka

namespace sluice::components {

const Descriptor& sink_kafka() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "kafka",
        .summary = "Produces records to Kafka (idempotent producer, confirmed by delivery reports)",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "With `acks = \"all\"` (the default, idempotent producer) a record is confirmed only after "
                       "its delivery report: a crash or a retry may produce it twice, never lose it. `acks = \"1\"` "
                       "is best effort (a leader that fails before replicating loses acknowledged records), and so "
                       "is `acks = \"0\"` (no acknowledgement at all).",
        .options = concat_specs({
            kafka::broker_option_specs(),
            {
                {.name = "topic", .type = OptionType::String, .default_value = "readings",
                 .doc = "Topic template: literal text and {tag or field name}, {measurement}, {origin}; a record that lacks a name is a dead letter", .min = 1,
                 .max = 512},
                {.name = "key", .type = OptionType::String,
                 .doc = "Message key template, e.g. \"{gateway}/{node}\" (unset, or the record lacks a name: no key)",
                 .min = 0, .max = 512},
            },
            payload::option_specs(),
            {
                {.name = "compression", .type = OptionType::Enum, .default_value = "lz4",
                 .doc = "Compression codec", .choices = "none|lz4|zstd|gzip|snappy"},
                {.name = "acks", .type = OptionType::Enum, .default_value = "all",
                 .doc = "Acknowledgements a delivery report waits for (idempotence needs all)", .choices = "all|1|0"},
                {.name = "idempotence", .type = OptionType::Bool, .default_value = "true",
                 .doc = "Idempotent producer: no duplicates or reordering from librdkafka's own retries"},
                {.name = "partitioner", .type = OptionType::Enum, .default_value = "murmur2_random",
                 .doc = "How keys map to partitions (murmur2_random matches the Java client; no key: random)",
                 .choices = "murmur2_random|murmur2|consistent_random|consistent|random|fnv1a_random|fnv1a"},
                {.name = "gateway_id", .type = OptionType::String,
                 .doc = "Sent as the 'gateway' header on every message (unset: the gateway's id)", .min = 0, .max = 256},
                {.name = "batch_timeout", .type = OptionType::Duration, .default_value = "30s",
                 .doc = "How long send() waits for the batch's delivery reports before the rest is retried",
                 .min = 0.1, .max = 3600},
                {.name = "message_timeout", .type = OptionType::Duration, .default_value = "25s",
                 .doc = "librdkafka message.timeout.ms: a message not acknowledged by then fails and is retried",
                 .min = 0.1, .max = 3600},
                {.name = "linger", .type = OptionType::Duration, .default_value = "1ms",
                 .doc = "librdkafka linger.ms: how long to gather messages into a produce request", .min = 0,
                 .max = 900},
                {.name = "health_timeout", .type = OptionType::Duration, .default_value = "2s",
                 .doc = "Timeout of the metadata request behind the health check", .min = 0.01, .max = 60},
            },
            kafka::connection_option_specs("sluice"),
        }),
        .url_schemes = {"kafka"},
        .from_url = [](const Url& url, RawTable& out) { kafka::url_options(url, out, "topic"); },
        .url_example = "kafka://broker:9092/readings?key={gateway}/{node}&compression=zstd",
        .make_sink =
            [](const Options& o) -> std::unique_ptr<Sink> {
                std::string error;
                if (!Template::parse(o.str("topic"), &error)) {
                    throw ConfigError(fmt::format("kafka: topic: {}", error));
                }
                if (!Template::parse(o.str_or("key", ""), &error)) {
                    throw ConfigError(fmt::format("kafka: key: {}", error));
                }
                return std::make_unique<kafka::KafkaSink>(o, kafka::producer_properties(o));
            },
    };
    return d;
}

}  // namespace sluice::components
