// Produces records to Kafka with librdkafka's idempotent producer. Only
// delivery reports move the cursor: send() produces the whole batch, serves
// delivery reports until each one arrived or batch_timeout passed, and
// confirms the longest prefix that was acknowledged (acks=all by default).
// Anything else is retried by the runtime, so a broker outage never loses a
// row; it may duplicate the ones whose acknowledgement was lost.
//
// With a transactional_id each send() is one Kafka transaction that holds
// the records and the sink's cursor (an offset commit to a consumer group of
// its own), so a read_committed consumer sees each record once across
// crashes: the commit makes both visible, a crash before it leaves neither,
// and a crash after it is recognised on restart from the cursor in Kafka.

#include "sinks/kafka/kafka_sink.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "core/hash.hpp"
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

// The metadata of the cursor's offset commit: which buffer its row ids
// belong to. A cursor with another buffer's mark (the buffer was replaced,
// or another gateway uses the same transactional_id) is not trusted.
constexpr std::string_view kCursorMark = "sluice-cursor 1 ";
// The sink's state stored with its cursor in the buffer: the same mark.
constexpr std::string_view kStateMark = "kafka-txn ";

std::string new_buffer_mark() {
    std::random_device rd;
    const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    return fmt::format("{:016x}", v);
}

class KafkaSink final : public Sink {
public:
    KafkaSink(const Options& o, std::vector<Property> props, std::optional<Transactions> txn)
        : props_(std::move(props)),
          txn_(std::move(txn)),
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
        ctx_ = &ctx;
        if (ctx.replayed_from != 0) {
            rewound(ctx.replayed_from);
        }
        if (txn_) {
            open_transactions(ctx);
            // Tests only: die right after this many commits, before the
            // buffer's cursor moves (the window the cursor in Kafka covers).
            if (const char* v = std::getenv("SLUICE_TEST_KAFKA_KILL_AFTER_COMMITS"); v != nullptr) {
                kill_after_commits_ = std::strtoull(v, nullptr, 10);
            }
        }
        std::lock_guard lk(mu_);
        create_locked();
    }

    // One batch: produced, then waited for. With a backlog the runner
    // overlaps batches instead (start, start, finish, ...), so librdkafka
    // always has the next batch queued while the last one's reports come in.
    // Transactional: one transaction (see send_in_transaction).
    SendResult send(std::span<const Record> batch) override {
        if (txn_) {
            return send_in_transaction(batch);
        }
        start(batch);
        return finish();
    }

    // Not with transactions: a batch's records and cursor commit together.
    bool overlaps() const override { return !txn_; }

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
    // ------------------------------------------------------------ transactions

    void open_transactions(SinkContext& ctx) {
        const std::string_view state = ctx.committed_state;
        if (state.starts_with(kStateMark) && state.size() > kStateMark.size()) {
            buffer_mark_ = std::string(state.substr(kStateMark.size()));
            mark_stored_ = true;
        } else if (buffer_mark_.empty()) {
            buffer_mark_ = new_buffer_mark();
            mark_stored_ = false;
        }
        const Labels labels{{"component", ctx.name}};
        txn_committed_ = &metrics().counter("sluice_kafka_sink_transactions_total",
                                            "Transactions of a transactional kafka sink, by result",
                                            {{"component", ctx.name}, {"result", "committed"}});
        txn_aborted_ = &metrics().counter("sluice_kafka_sink_transactions_total",
                                          "Transactions of a transactional kafka sink, by result",
                                          {{"component", ctx.name}, {"result", "aborted"}});
        txn_recovered_ = &metrics().counter(
            "sluice_kafka_sink_recovered_records_total",
            "Records a transactional kafka sink found committed in Kafka after a restart (the cursor in Kafka was "
            "ahead of the buffer's) and confirmed without producing them again",
            labels);
        txn_limit_gauge_ = &metrics().gauge(
            "sluice_kafka_sink_transaction_max_records",
            "The most records a transactional kafka sink puts in one transaction, sized from the measured commit "
            "time to stay within a tenth of transaction_timeout (0: not limited yet, a whole batch)",
            labels);
        txn_seconds_gauge_ = &metrics().gauge(
            "sluice_kafka_sink_transaction_seconds",
            "How long the last committed transaction of a transactional kafka sink took, begin to commit", labels);
    }

    // A transactional_id producer ready to begin: initialised (which fences
    // an earlier producer of the same id and ends its open transaction) and
    // the cursor in Kafka read. "" when ready, else why not.
    std::string prepare_transactions() {
        {
            std::lock_guard lk(mu_);
            if (fatal_ || rk_ == nullptr) {
                create_locked();
            }
        }
        if (txn_open_) {
            abort_open("an earlier send left it open");
            if (fatal_) {
                return "the producer could not abort its transaction";
            }
        }
        if (!txn_initialised_) {
            if (std::string e = txn_error(rd_kafka_init_transactions(rk_, timeout_ms())); !e.empty()) {
                return fmt::format("initialising transactions failed: {}", e);
            }
            txn_initialised_ = true;
        }
        if (!cursor_read_) {
            if (std::string e = read_kafka_cursor(); !e.empty()) {
                return fmt::format("reading the cursor from consumer group {} failed: {}", txn_->group, e);
            }
            cursor_read_ = true;
            forget_replayed();
        }
        return {};
    }

    void rewound(std::uint64_t from_id) override {
        replayed_from_ = from_id;
        if (cursor_read_) {
            forget_replayed();
        }
    }

    // A replay sends records again that Kafka's cursor may be past: those
    // are produced again, not taken for a crash's leftovers.
    void forget_replayed() {
        if (replayed_from_ != 0 && kafka_cursor_.id >= replayed_from_) {
            log::info("{}: records from {} on are replayed: produced again, though the cursor in Kafka is at record "
                      "{}",
                      name_, replayed_from_, kafka_cursor_.id);
            kafka_cursor_ = {};
        }
        replayed_from_ = 0;
    }

    // The cursor the last committed transaction stored. After a crash
    // between Kafka's commit and the buffer's, the records up to it are in
    // Kafka already; read after init_transactions, so no transaction of an
    // earlier producer is still pending.
    std::string read_kafka_cursor() {
        ConfPtr conf = make_conf(txn_->reader_props);
        rd_kafka_conf_set_log_cb(conf.get(), [](const rd_kafka_t*, int, const char* fac, const char* buf) {
            log::debug("kafka cursor reader [{}]: {}", fac, buf);  // CONFWARN for producer properties, mostly
        });
        char errstr[512];
        rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
        if (c == nullptr) {
            return errstr;
        }
        conf.release();
        rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, txn_->cursor_topic.c_str(), 0);
        rd_kafka_resp_err_t err = rd_kafka_committed(c, list, timeout_ms());
        std::string error;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            err = list->elems[0].err;
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            error = rd_kafka_err2str(err);
        } else {
            const auto& tp = list->elems[0];
            const std::string_view meta(static_cast<const char*>(tp.metadata),
                                        tp.metadata != nullptr ? tp.metadata_size : 0);
            kafka_cursor_ = {};
            if (tp.offset > 0) {
                if (auto fp = parse_cursor_metadata(meta)) {
                    kafka_cursor_ = {static_cast<std::uint64_t>(tp.offset), *fp};
                } else {
                    log::warn("{}: the cursor in consumer group {} (record {}, \"{}\") is not this buffer's: "
                              "ignored. Is transactional_id \"{}\" used by another gateway or sink?",
                              name_, txn_->group, tp.offset, meta, txn_->id);
                }
            }
        }
        rd_kafka_topic_partition_list_destroy(list);
        rd_kafka_destroy_flags(c, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return error;
    }

    // "sluice-cursor 1 <buffer mark> <fingerprint of the last record>": the
    // fingerprint, when the mark is this buffer's.
    std::optional<std::uint64_t> parse_cursor_metadata(std::string_view meta) const {
        const std::string prefix = fmt::format("{}{} ", kCursorMark, buffer_mark_);
        if (!meta.starts_with(prefix)) {
            return std::nullopt;
        }
        const std::string_view hex = meta.substr(prefix.size());
        std::uint64_t fp = 0;
        const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), fp, 16);
        if (ec != std::errc() || end != hex.data() + hex.size()) {
            return std::nullopt;
        }
        return fp;
    }

    // What identifies a record in the cursor: its payload, hashed. A buffer
    // that lost its last commits in a power cut (synchronous = normal) may
    // give the same id to another record, which this tells apart.
    std::uint64_t fingerprint(const Record& r) {
        fingerprint_buf_.clear();
        std::string error;
        payload::append_payload(format_, raw_field_, r, fingerprint_buf_, &error);
        return fnv1a(fingerprint_buf_);
    }

    // One transaction: begin, produce the records (at most txn_limit_ of
    // them), store the cursor (the last record's buffer id) with them, commit.
    // The runner moves the buffer's cursor only after the commit returned.
    // A transaction never holds a rejected record: it ends before the first
    // one, and a batch that starts with one confirms it alone, as rejected,
    // without Kafka (what the cursor in Kafka covers is all delivered).
    SendResult send_in_transaction(std::span<const Record> batch) {
        SendResult result;
        if (!mark_stored_) {
            // The buffer's mark goes into the buffer first, with the cursor
            // where it is: a crash after the first commit then still knows
            // the cursor in Kafka as its own.
            result.state = fmt::format("{}{}", kStateMark, buffer_mark_);
            mark_stored_ = true;
            return result;
        }
        const std::span<const std::uint64_t> ids = ctx_->batch_ids;
        if (ids.size() != batch.size()) {
            result.error = "the batch came without its buffer ids";
            return result;
        }
        result.error = prepare_transactions();
        if (!result.error.empty()) {
            return result;
        }
        if (std::size_t n = in_kafka_already(batch, ids); n > 0) {
            result.confirmed = n;
            return result;
        }
        std::size_t n = txn_limit_ > 0 ? std::min(batch.size(), txn_limit_) : batch.size();
        // Each round either commits or ends with fewer records (before the
        // first one refused): two rounds in practice.
        for (int round = 0; round < 4; ++round) {
            const auto began = Clock::now();
            std::size_t cut = n;  // the records before the first rejected one
            std::string reason;
            bool committed = false;
            std::string error = run_transaction(batch.first(n), ids.first(n), cut, reason, committed);
            if (!error.empty()) {
                if (error_timed_out_) {
                    // Too much for the time a transaction has: a quarter next time.
                    txn_limit_ = std::max<std::size_t>(1, n / 4);
                    txn_limit_gauge_->set(static_cast<double>(txn_limit_));
                }
                result.error = std::move(error);
                return result;
            }
            if (cut == 0) {
                // The first record is refused, locally or by the broker, and
                // was in no committed transaction: a dead letter on its own.
                result.confirmed = 1;
                result.rejected.emplace_back(0, std::move(reason));
                return result;
            }
            if (!committed) {
                n = cut;  // aborted: again without the refused record and what follows
                continue;
            }
            n = cut;
            const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
            size_transactions(n, seconds);
            kafka_cursor_ = {ids[n - 1], fingerprint(batch[n - 1])};
            if (kill_after_commits_ > 0 && ++commits_ >= kill_after_commits_) {
                log::warn("{}: SLUICE_TEST_KAFKA_KILL_AFTER_COMMITS: killed after commit {}", name_, commits_);
                std::raise(SIGKILL);
            }
            result.confirmed = n;
            return result;
        }
        result.error = "the broker kept refusing records of the batch";
        return result;
    }

    // The records at the head of the batch that a committed transaction
    // holds already: after a restart (Kafka's commit landed, the buffer's
    // did not), or when the runner sends a batch again whose commit went
    // through (its cursor move or a dead letter failed). Trusted only when
    // the batch holds the cursor's record and its fingerprint matches.
    std::size_t in_kafka_already(std::span<const Record> batch, std::span<const std::uint64_t> ids) {
        if (kafka_cursor_.id == 0) {
            return 0;
        }
        std::size_t n = 0;
        while (n < ids.size() && ids[n] <= kafka_cursor_.id) {
            ++n;
        }
        if (n == 0) {
            kafka_cursor_ = {};  // the buffer's cursor is past it
            return 0;
        }
        if (ids[n - 1] != kafka_cursor_.id || fingerprint(batch[n - 1]) != kafka_cursor_.fingerprint) {
            log::warn("{}: the cursor in Kafka (record {}) does not match the buffer's record {}: the records "
                      "from {} on are produced again (a power cut may have undone the buffer's last commits)",
                      name_, kafka_cursor_.id, ids[n - 1], ids[0]);
            kafka_cursor_ = {};
            return 0;
        }
        log::info("{}: records {} to {} are in Kafka already (committed before the buffer's cursor could move): "
                  "confirmed without producing them again",
                  name_, ids[0], ids[n - 1]);
        txn_recovered_->inc(static_cast<double>(n));
        kafka_cursor_ = {};
        return n;
    }

    // After a committed transaction of `n` records that took `seconds`: the
    // most records one may hold to take a tenth of transaction_timeout at
    // the rate measured (at least 1,000 while commits stay that fast).
    void size_transactions(std::size_t n, double seconds) {
        txn_seconds_gauge_->set(seconds);
        const double target = std::chrono::duration<double>(txn_->timeout).count() / 10;
        const double fit = static_cast<double>(n) * target / std::max(seconds, 1e-6);
        const double limit = seconds > target ? std::max(1.0, fit) : std::max(fit, 1000.0);
        txn_limit_ = static_cast<std::size_t>(std::min(limit, 1e9));
        txn_limit_gauge_->set(static_cast<double>(txn_limit_));
    }

    // Begins, produces `recs` up to the first one refused locally (topic,
    // payload), waits for their delivery reports, stores the cursor and
    // commits. Returns "" and sets `committed` when the first `cut` records
    // are committed (all of them, or those before the first refused locally);
    // returns "" with `committed` false when the broker refused the record at
    // `cut` (the transaction was aborted: it can go again with those before)
    // or the first record was refused (`cut` 0). `reason`: why the record at
    // `cut` was refused. Else the error (aborted, or the producer replaced).
    std::string run_transaction(std::span<const Record> recs, std::span<const std::uint64_t> ids, std::size_t& cut,
                                std::string& reason, bool& committed) {
        committed = false;
        error_timed_out_ = false;
        const auto deadline = Clock::now() + std::min(batch_timeout_, txn_->timeout);
        if (std::string e = txn_error(rd_kafka_begin_transaction(rk_)); !e.empty()) {
            fatal_ = true;  // a state begin_transaction refuses: start over with a new producer
            return fmt::format("beginning a transaction failed: {}", e);
        }
        txn_open_ = true;
        InFlight& b = begin_batch(recs.size());
        b.deadline = deadline;
        cut = recs.size();
        try {
            format_payloads(recs, b);
            for (std::size_t i = 0; i < recs.size() && b.stop_reason.empty(); ++i) {
                produce_one(recs[i], b, i, deadline, b.stop_reason);
                if (b.slots[i].status == Status::Rejected) {
                    cut = i;
                    break;
                }
            }
        } catch (const std::exception& e) {
            b.stop_reason = fmt::format("producing failed: {}", e.what());
        }
        while (b.outstanding > 0 && Clock::now() < deadline) {
            rd_kafka_flush(rk_, wait_ms(deadline));
        }
        const std::size_t produced = cut;
        std::string failure;
        for (std::size_t i = 0; i < produced && failure.empty() && cut == produced; ++i) {
            switch (b.slots[i].status) {
            case Status::Delivered:
                break;
            case Status::Rejected:  // by the broker
                cut = i;
                break;
            case Status::Pending:
                error_timed_out_ = true;
                failure = fmt::format("no delivery report within {} for record {} of {}",
                                      format_duration(std::min(batch_timeout_, txn_->timeout)), i + 1, b.slots.size());
                break;
            case Status::Failed:
                failure = fmt::format("delivery of record {} of {} failed: {}", i + 1, b.slots.size(), b.reason(i));
                break;
            case Status::NotProduced:
                failure = b.stop_reason.empty() ? "record was not produced" : b.stop_reason;
                break;
            }
        }
        if (failure.empty() && cut < recs.size()) {
            reason = b.reason(cut);
        }
        end_batch();
        if (!failure.empty() || cut < produced || cut == 0) {
            abort_open(failure.empty() ? "a record was refused" : failure);
            return failure;
        }
        if (std::string e = store_cursor(ids[cut - 1], fingerprint(recs[cut - 1])); !e.empty()) {
            abort_open(e);
            return fmt::format("storing the cursor in the transaction failed: {}", e);
        }
        // Not -1: in librdkafka 2.0 that is no limit at all for commit and
        // abort, which would hold the sink (and a stop) for as long as the
        // coordinator is away. A retriable error (a timeout) may be resumed
        // by calling commit again: once.
        rd_kafka_error_t* err = rd_kafka_commit_transaction(rk_, timeout_ms());
        if (err != nullptr && rd_kafka_error_is_retriable(err) && !rd_kafka_error_txn_requires_abort(err)) {
            rd_kafka_error_destroy(err);
            err = rd_kafka_commit_transaction(rk_, timeout_ms());
        }
        if (err != nullptr) {
            const bool abortable = rd_kafka_error_txn_requires_abort(err);
            error_timed_out_ = rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR__TIMED_OUT;
            std::string e = fmt::format("committing the transaction failed: {}", rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
            if (abortable) {
                abort_open(e);
            } else {
                // Committed or not, nobody can tell here: a new producer
                // ends it either way, and the cursor read after that says.
                fatal_ = true;
                txn_open_ = false;
            }
            return e;
        }
        txn_open_ = false;
        txn_committed_->inc();
        committed = true;
        return {};
    }

    // The cursor into the open transaction: an offset commit of consumer
    // group txn_->group for partition 0 of cursor_topic, its offset the
    // buffer id of the transaction's last record, its metadata this
    // buffer's mark and the record's fingerprint. Kafka makes it visible
    // with the records, or not at all.
    std::string store_cursor(std::uint64_t last_id, std::uint64_t fp) {
        rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t* tp = rd_kafka_topic_partition_list_add(offsets, txn_->cursor_topic.c_str(), 0);
        tp->offset = static_cast<std::int64_t>(last_id);
        const std::string meta = fmt::format("{}{} {:016x}", kCursorMark, buffer_mark_, fp);
        tp->metadata = std::malloc(meta.size());  // freed by the list (rd_free)
        if (tp->metadata != nullptr) {
            std::memcpy(tp->metadata, meta.data(), meta.size());
            tp->metadata_size = meta.size();
        }
        rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata_new(txn_->group.c_str());
        // -1: the transaction's remaining time (librdkafka caps it there).
        std::string e = txn_error(rd_kafka_send_offsets_to_transaction(rk_, offsets, group, -1));
        rd_kafka_consumer_group_metadata_destroy(group);
        rd_kafka_topic_partition_list_destroy(offsets);
        return e;
    }

    // Ends the open transaction without committing it. A producer that
    // cannot is replaced: the next one's init_transactions ends it.
    void abort_open(std::string_view why) {
        if (!txn_open_) {
            return;
        }
        log::debug("{}: aborting the transaction: {}", name_, why);
        rd_kafka_error_t* err = rd_kafka_abort_transaction(rk_, timeout_ms());  // -1 would be no limit
        txn_open_ = false;
        if (err != nullptr) {
            log::debug("{}: abort failed: {}", name_, rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
            fatal_ = true;
            return;
        }
        txn_aborted_->inc();
    }

    // "" for no error; else its text, and a fatal one marks the producer
    // for replacement.
    std::string txn_error(rd_kafka_error_t* err) {
        if (err == nullptr) {
            return {};
        }
        std::string text = rd_kafka_error_string(err);
        if (rd_kafka_error_is_fatal(err)) {
            fatal_ = true;
        }
        if (rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
            error_timed_out_ = true;
        }
        rd_kafka_error_destroy(err);
        return text;
    }

    int timeout_ms() const {
        return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(batch_timeout_).count());
    }

    static int wait_ms(Clock::time_point deadline, std::int64_t most = 100) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        return static_cast<int>(std::clamp<std::int64_t>(left.count(), 1, most));
    }

    // ------------------------------------------------------------ batches

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
        txn_initialised_ = false;
        cursor_read_ = false;
        txn_open_ = false;
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
    std::optional<Transactions> txn_;  // set: transactional (transactional_id)
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

    // Transactional only, all on the sink's thread.
    SinkContext* ctx_ = nullptr;
    std::string buffer_mark_;       // this buffer's mark in the cursor's metadata
    bool mark_stored_ = false;      // the mark is in the buffer with the cursor
    bool txn_initialised_ = false;  // init_transactions done on rk_
    bool cursor_read_ = false;      // and the cursor in Kafka read after it
    bool txn_open_ = false;         // begun, neither committed nor aborted
    bool error_timed_out_ = false;  // the last transaction's error was a timeout
    struct KafkaCursor {
        std::uint64_t id = 0;  // 0: none known
        std::uint64_t fingerprint = 0;
    };
    // The last cursor committed to Kafka: read at start-up, then each commit's.
    KafkaCursor kafka_cursor_;
    std::uint64_t replayed_from_ = 0;  // rewound(): forget the cursor in Kafka past it
    std::string fingerprint_buf_;
    std::size_t txn_limit_ = 0;       // most records a transaction (0: the whole batch)
    std::uint64_t kill_after_commits_ = 0;  // SLUICE_TEST_KAFKA_KILL_AFTER_COMMITS
    std::uint64_t commits_ = 0;
    Counter* txn_committed_ = nullptr;
    Counter* txn_aborted_ = nullptr;
    Counter* txn_recovered_ = nullptr;
    Gauge* txn_limit_gauge_ = nullptr;
    Gauge* txn_seconds_gauge_ = nullptr;
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
    if (const std::string id = o.str_or("transactional_id", ""); !id.empty()) {
        add("transactional.id", id);
        add("transaction.timeout.ms", ms(o.duration("transaction_timeout")));
    }
    return client_properties(o, std::move(own),
                             {"enable.idempotence", "acks", "transactional.id", "transaction.timeout.ms"});
}

std::optional<Transactions> transactions(const Options& o) {
    const std::string id = o.str_or("transactional_id", "");
    if (id.empty()) {
        return std::nullopt;
    }
    if (!o.boolean("idempotence") || o.str("acks") != "all") {
        throw ConfigError("kafka: transactional_id needs idempotence = true and acks = \"all\"");
    }
    Transactions t;
    t.id = id;
    t.group = "sluice-cursor." + id;
    t.timeout = o.duration("transaction_timeout");
    if (o.duration("message_timeout") > t.timeout) {
        throw ConfigError(fmt::format("kafka: message_timeout ({}) may not be longer than transaction_timeout ({})",
                                      format_duration(o.duration("message_timeout")), format_duration(t.timeout)));
    }
    t.cursor_topic = o.str_or("cursor_topic", "");
    if (t.cursor_topic.empty()) {
        const auto topic = Template::parse(o.str("topic"), nullptr);
        if (!topic || !topic->constant()) {
            throw ConfigError("kafka: transactional_id with a topic template needs cursor_topic: an existing topic "
                              "whose partition 0 holds the sink's cursor");
        }
        t.cursor_topic = o.str("topic");
    }
    t.reader_props = client_properties(o,
                                       {{"group.id", t.group},
                                        {"enable.auto.commit", "false"},
                                        {"isolation.level", "read_committed"}},
                                       {"enable.idempotence", "acks", "transactional.id", "transaction.timeout.ms"});
    return t;
}

}  // namespace sluice::kafka

namespace sluice::components {

const Descriptor& sink_kafka() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "kafka",
        .summary = "Produces records to Kafka (idempotent producer confirmed by delivery reports, or transactions "
                   "with the cursor in them: exactly once)",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "With `acks = \"all\"` (the default, idempotent producer) a record is confirmed only after "
                       "its delivery report: a crash or a retry may produce it twice, never lose it. `acks = \"1\"` "
                       "is best effort (a leader that fails before replicating loses acknowledged records), and so "
                       "is `acks = \"0\"` (no acknowledgement at all). With `transactional_id` a read_committed "
                       "consumer sees each record once: a crash aborts the open transaction, or leaves its cursor "
                       "in Kafka for the restart to read back.",
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
                {.name = "transactional_id", .type = OptionType::String,
                 .doc = "Exactly once for read_committed consumers: each batch is one transaction that also "
                        "stores the sink's cursor (consumer group sluice-cursor.<id>). Unique per gateway and sink",
                 .min = 0, .max = 249},
                {.name = "transaction_timeout", .type = OptionType::Duration, .default_value = "60s",
                 .doc = "transactional_id: librdkafka transaction.timeout.ms; transactions are sized to take a "
                        "tenth of it (may not exceed the brokers' transaction.max.timeout.ms)",
                 .min = 1, .max = 900},
                {.name = "cursor_topic", .type = OptionType::String,
                 .doc = "transactional_id: an existing topic whose partition 0 the cursor is committed for "
                        "(default: topic, when it has no {names})",
                 .min = 0, .max = 249},
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
                return std::make_unique<kafka::KafkaSink>(o, kafka::producer_properties(o), kafka::transactions(o));
            },
    };
    return d;
}

}  // namespace sluice::components
