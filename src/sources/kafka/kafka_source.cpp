// Consumes Kafka topics with librdkafka's consumer, in a consumer group.
// Offsets move only behind the buffer: librdkafka's automatic offset store
// is off, and a message's offset is stored (rd_kafka_offsets_store) only
// once the worker reports the buffer commit that held it (committed()); the
// automatic commit then sends stored offsets to Kafka every
// commit_interval, and before partitions are revoked and at shutdown. So a
// kill -9 loses nothing.
//
// The buffer also keeps each partition's position itself, in the same
// transaction as the records (Frame::position, one per partition:
// SourceContext::position_per_epoch). When a partition is assigned, the
// consumer starts at the later of that position and the offset Kafka has
// committed for the group: what the buffer stored after Kafka's last commit
// is not read again after a crash, and what another gateway of the group
// read meanwhile is not either.
//
// One thread polls the consumer, hands the messages to the ingest queue
// and stops reading while max_unsaved_messages are handed on and not yet
// stored. Rebalance, error, log and commit callbacks run on that thread too
// (log.queue and the consumer queue are served by rd_kafka_consumer_poll).

#include "sources/kafka/kafka_source.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/guard.hpp"
#include "core/identity.hpp"
#include "core/log.hpp"
#include "core/hash.hpp"
#include "core/metrics.hpp"
#include "core/source_health.hpp"
#include "core/url.hpp"
#include "net/kafka/kafka_client.hpp"
#include "text/template.hpp"

namespace sluice::kafka {
namespace {

using namespace std::chrono_literals;

constexpr auto kPollWait = 100ms;         // one rd_kafka_consumer_poll at most
constexpr auto kRevokeDrain = 5s;         // longest wait for the buffer before partitions are given up
constexpr auto kHealthRecheck = 2s;       // while down: how often the brokers are asked again

struct Settings {
    std::vector<Property> props;  // without group.id, which needs the pipeline's name
    std::string group_id;         // empty: sluice.<gateway>.<pipeline>.<component>
    std::vector<std::string> topics;
    Template origin;
    bool origin_is_topic = true;  // "{topic}": no record to render it from
    std::size_t max_unsaved = 10000;
    std::size_t batch_size = 1000;
};

// One message handed on and not yet stored in the buffer.
struct Taken {
    std::uint64_t epoch;  // partition_epoch(): the partition's position key
    std::uint32_t topic;  // index into KafkaSource::topic_names_
    std::int32_t partition;
    std::int64_t offset;
    bool positioned;      // false: the topic's key collides with another topic's, no position kept
};

// A partition's name in the buffer's positions: 32 bits of FNV-1a of the
// topic above the partition number.
std::uint64_t partition_epoch(std::string_view topic, std::int32_t partition) {
    return (static_cast<std::uint64_t>(fnv1a32(topic)) << 32) | static_cast<std::uint32_t>(partition);
}

class KafkaSource final : public Source {
public:
    explicit KafkaSource(Settings s) : s_(std::move(s)) {}
    // The pipeline's SourceContext (and what it points to) may already be
    // gone here: closing the consumer runs callbacks that touch none of it.
    ~KafkaSource() override {
        stop();
        closing_ = true;
        close_consumer();
    }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        name_ = ctx.name;
        load_checkpoint_ = ctx.load_checkpoint;
        if (s_.group_id.empty()) {
            std::string name = ctx.name;
            std::replace(name.begin(), name.end(), '/', '.');
            s_.group_id = fmt::format("sluice.{}.{}", gateway_id(), name);
        }
        const Labels labels{{"component", ctx.name}};
        commits_ok_ = &metrics().counter("sluice_kafka_source_offset_commits_total",
                                         "Offset commits to Kafka of a kafka source, by result", {
                                             {"component", ctx.name}, {"result", "ok"}});
        commits_failed_ = &metrics().counter("sluice_kafka_source_offset_commits_total",
                                             "Offset commits to Kafka of a kafka source, by result", {
                                                 {"component", ctx.name}, {"result", "failed"}});
        rebalances_ = &metrics().counter("sluice_kafka_source_rebalances_total",
                                         "Partition assignments and revocations a kafka source went through",
                                         labels);
        unsaved_gauge_ = metrics().gauge_fn(
            "sluice_kafka_source_unsaved_messages",
            "Messages a kafka source handed on that the buffer has not stored yet (their offsets are not stored)",
            labels, [this] { return static_cast<double>(unsaved()); });
        ctx.checkpoint_key = "kafka:" + s_.group_id;
        checkpoint_key_ = ctx.checkpoint_key;
        ctx.position_per_epoch = true;
        health_down(fmt::format("connecting to {}", brokers()));
        ctx.committed = [this](std::size_t n) { committed(n); };
        thread_ = std::thread([this] {
            run_restarting(ctx_->name, ctx_->metrics->errors,
                           [this](auto d) { return wait_unless(stopping_, d); }, [this] { session(); });
        });
    }

    void stop() override {
        stopping_ = true;
        cv_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    std::string brokers() const {
        for (const auto& p : s_.props) {
            if (p.key == "bootstrap.servers") {
                return p.value;
            }
        }
        return "kafka";
    }

    void health_down(std::string why) {
        if (closing_.load()) {
            return;
        }
        up_ = false;
        if (ctx_->health != nullptr) {
            ctx_->health->down(std::move(why));
        }
    }
    void health_up() {
        if (closing_.load()) {
            return;
        }
        up_ = true;
        if (ctx_->health != nullptr) {
            ctx_->health->up();
        }
    }
    bool is_up() const { return up_.load(); }

    std::size_t unsaved() const {
        std::lock_guard lk(mu_);
        return taken_.size();
    }

    // The consumer, created on the polling thread; kept across restarts of
    // session() so stored offsets and the assignment survive a hiccup.
    void create_consumer() {
        std::vector<Property> props = s_.props;
        props.push_back({"group.id", s_.group_id});
        ConfPtr conf = make_conf(props);
        char errstr[512];
        if (rd_kafka_conf_set(conf.get(), "log.queue", "true", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            throw std::runtime_error(fmt::format("kafka: {}", errstr));
        }
        rd_kafka_conf_set_opaque(conf.get(), this);
        rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaSource::on_rebalance);
        rd_kafka_conf_set_error_cb(conf.get(), &KafkaSource::on_error);
        rd_kafka_conf_set_log_cb(conf.get(), &KafkaSource::on_log);
        rd_kafka_conf_set_offset_commit_cb(conf.get(), &KafkaSource::on_commit);
        rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
        if (rk == nullptr) {
            throw std::runtime_error(fmt::format("kafka: cannot create the consumer: {}", errstr));
        }
        conf.release();  // rd_kafka_new took it
        rd_kafka_set_log_queue(rk, nullptr);  // logs to the main queue...
        rd_kafka_poll_set_consumer(rk);       // ...which is now the consumer's: served by consumer_poll
        rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(static_cast<int>(s_.topics.size()));
        for (const auto& t : s_.topics) {
            rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
        }
        const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_destroy(rk);
            throw std::runtime_error(fmt::format("kafka: cannot subscribe: {}", rd_kafka_err2str(err)));
        }
        fatal_ = false;
        std::lock_guard lk(rk_mu_);
        rk_ = rk;
    }

    // The polling thread's, or the destructor's once that thread is gone.
    // committed() may still store offsets meanwhile (librdkafka allows it
    // during the close; rk_mu_ keeps it from a destroyed handle).
    void close_consumer() {
        rd_kafka_t* rk = rk_;
        if (rk == nullptr) {
            return;
        }
        const bool close = is_up() && !fatal_.load();
        if (close) {
            // Commits the stored offsets (automatic commit), leaves the group.
            rd_kafka_consumer_close(rk);
        }
        {
            std::lock_guard lk(rk_mu_);
            rk_ = nullptr;
        }
        if (close) {
            rd_kafka_destroy(rk);
        } else {
            // No broker to tell, or a consumer that cannot go on: no waiting.
            rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        }
    }

    void session() {
        if (rk_ == nullptr) {
            create_consumer();
        }
        try {
            poll_loop();
        } catch (...) {
            // Messages read but not handed on are read again: by a new
            // consumer, which starts where the buffer and Kafka are.
            {
                std::lock_guard lk(mu_);
                for (; unpushed_ > 0 && !taken_.empty(); --unpushed_) {
                    taken_.pop_back();
                }
                unpushed_ = 0;
            }
            close_consumer();
            throw;
        }
    }

    void poll_loop() {
        std::vector<Frame> frames;
        auto last_check = std::chrono::steady_clock::now();
        while (!stopping_.load()) {
            if (fatal_.load()) {
                throw std::runtime_error("kafka: the consumer failed (fatal error); starting a new one");
            }
            if ((!is_up() || suspect_.load()) && std::chrono::steady_clock::now() - last_check > kHealthRecheck) {
                last_check = std::chrono::steady_clock::now();
                suspect_ = false;
                check_brokers();
            }
            std::size_t room = 0;
            {
                std::unique_lock lk(mu_);
                if (taken_.size() >= s_.max_unsaved) {
                    lk.unlock();
                    ctx_->commit_soon();
                    lk.lock();
                    cv_.wait_for(lk, kPollWait,
                                 [this] { return taken_.size() < s_.max_unsaved || stopping_.load(); });
                    continue;
                }
                room = std::min(s_.batch_size, s_.max_unsaved - taken_.size());
            }
            read(room, frames);
            if (frames.empty()) {
                continue;
            }
            {
                // Handed on from here: the worker may commit them (and call
                // committed()) before push_all_wait even returns.
                std::lock_guard lk(mu_);
                unpushed_ = 0;
            }
            if (!ctx_->ingest->push_all_wait(frames)) {
                return;  // stopping: what was not taken is read again next time
            }
            bool half = false;
            {
                std::lock_guard lk(mu_);
                half = taken_.size() * 2 >= s_.max_unsaved;
            }
            if (half) {
                // Half the window handed on: committed now rather than after
                // batch_max_delay, so the other half can follow at once.
                ctx_->commit_soon();
            }
        }
    }

    // Up to `room` messages into `frames` (the first poll waits, the rest
    // take what is there).
    void read(std::size_t room, std::vector<Frame>& frames) {
        frames.clear();
        auto wait = kPollWait;
        while (frames.size() < room) {
            rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, static_cast<int>(wait.count()));
            wait = 0ms;
            if (m == nullptr) {
                break;
            }
            if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                message_error(m);
            } else {
                take(m, frames);
            }
            rd_kafka_message_destroy(m);
        }
    }

    void take(const rd_kafka_message_t* m, std::vector<Frame>& frames) {
        const char* topic = rd_kafka_topic_name(m->rkt);
        Frame& f = frames.emplace_back();
        f.payload.assign(static_cast<const char*>(m->payload), m->payload == nullptr ? 0 : m->len);
        if (s_.origin_is_topic) {
            f.origin = topic;
        } else {
            render_origin(m, topic, f.origin);
        }
        f.arrival_ns = wall_now_ns();
        f.source = ctx_->index;
        f.has_position = own_hash(topic);
        f.position_epoch = partition_epoch(topic, m->partition);
        f.position = static_cast<std::uint64_t>(m->offset + 1);
        ctx_->metrics->frame_in(f.payload.size(), static_cast<double>(f.arrival_ns) / 1e9);
        if (!is_up()) {
            health_up();
        }
        const std::uint32_t index = topic_index(topic);
        std::lock_guard lk(mu_);
        taken_.push_back(Taken{f.position_epoch, index, m->partition, m->offset, f.has_position});
        ++unpushed_;
    }

    // The origin template over the message's topic, partition, offset, key
    // and headers (each by its own name).
    void render_origin(const rd_kafka_message_t* m, const char* topic, std::string& out) {
        Record& r = origin_record_;
        r.tags.clear();
        r.tags.push_back({"topic", topic});
        r.tags.push_back({"partition", std::to_string(m->partition)});
        r.tags.push_back({"offset", std::to_string(m->offset)});
        if (m->key != nullptr) {
            r.tags.push_back({"key", std::string(static_cast<const char*>(m->key), m->key_len)});
        }
        rd_kafka_headers_t* headers = nullptr;
        if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers != nullptr) {
            const char* name = nullptr;
            const void* value = nullptr;
            std::size_t size = 0;
            for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                                    RD_KAFKA_RESP_ERR_NO_ERROR;
                 ++i) {
                r.tags.push_back({name, value == nullptr ? std::string() : std::string(static_cast<const char*>(value), size)});
            }
        }
        if (!s_.origin.render(r, out)) {
            out = topic;  // a name the message lacks (no key, no such header): the topic
        }
    }

    std::uint32_t topic_index(const char* topic) {
        std::lock_guard lk(mu_);  // committed() reads topic_names_
        for (std::size_t i = 0; i < topic_names_.size(); ++i) {
            if (topic_names_[i] == topic) {
                return static_cast<std::uint32_t>(i);
            }
        }
        topic_names_.emplace_back(topic);
        return static_cast<std::uint32_t>(topic_names_.size() - 1);
    }

    // Whether `topic` owns its 32-bit key among the topics seen (polling
    // thread). A topic whose key another topic took first keeps no position
    // in the buffer (its partitions start at Kafka's committed offsets),
    // rather than sharing one and skipping messages.
    bool own_hash(std::string_view topic) {
        const auto [it, added] = hash_owner_.try_emplace(fnv1a32(topic), topic);
        if (!added && it->second != topic) {
            collision_log_.warn("{}: topics \"{}\" and \"{}\" have the same position key; \"{}\" resumes at "
                                "Kafka's committed offsets only",
                                name_, it->second, topic, topic);
            return false;
        }
        return true;
    }

    void message_error(const rd_kafka_message_t* m) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            return;
        }
        ctx_->metrics->errors->inc();
        const char* topic = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "";
        error_log_.warn("{}: kafka: {}{}{}", ctx_->name, rd_kafka_message_errstr(m), *topic != 0 ? " on " : "",
                        topic);
    }

    // After a connection failed, and while down: does a broker answer?
    void check_brokers() {
        const rd_kafka_metadata_t* md = nullptr;
        const auto err = rd_kafka_metadata(rk_, 0, nullptr, &md, 1000);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            health_down(fmt::format("no broker answers ({}): {}", brokers(), rd_kafka_err2str(err)));
            return;
        }
        if (md->broker_cnt > 0) {
            health_up();
        }
        rd_kafka_metadata_destroy(md);
    }

    // Worker thread: the first `n` messages handed on are stored in the
    // buffer; their offsets (the next one to read, per partition) are
    // stored for the automatic commit.
    void committed(std::size_t n) {
        std::map<std::pair<std::uint32_t, std::int32_t>, std::int64_t> next;
        rd_kafka_topic_partition_list_t* list = nullptr;
        {
            std::lock_guard lk(mu_);
            n = std::min(n, taken_.size() - std::min(unpushed_, taken_.size()));
            for (std::size_t i = 0; i < n; ++i) {
                const Taken& t = taken_.front();
                auto& o = next[{t.topic, t.partition}];
                o = std::max(o, t.offset + 1);
                if (t.positioned) {
                    auto& kept = stored_[t.epoch];
                    kept = std::max(kept, t.offset + 1);
                }
                taken_.pop_front();
            }
            if (!next.empty()) {
                list = rd_kafka_topic_partition_list_new(static_cast<int>(next.size()));
                for (const auto& [tp, offset] : next) {
                    rd_kafka_topic_partition_list_add(list, topic_names_[tp.first].c_str(), tp.second)->offset = offset;
                }
            }
        }
        cv_.notify_all();
        if (list != nullptr) {
            {
                std::lock_guard rl(rk_mu_);
                if (rk_ != nullptr) {
                    // A partition revoked meanwhile is refused: its new
                    // owner reads those messages again (duplicates).
                    rd_kafka_offsets_store(rk_, list);
                }
            }
            rd_kafka_topic_partition_list_destroy(list);
        }
    }

    // Before partitions go to another consumer: what was handed on is
    // stored first (briefly waited for), so its offsets go with the commit.
    // (Messages read in the same poll but not handed on yet cannot be
    // stored first: they go on after the revoke, and their offsets are
    // refused; the partitions' new owner reads them again.)
    void drain_before_revoke() {
        if (stopping_.load()) {
            return;
        }
        ctx_->commit_soon();
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, kRevokeDrain, [this] { return taken_.size() <= unpushed_ || stopping_.load(); });
    }

    // The buffer's position of a partition (next offset to read); -1: none.
    std::int64_t buffer_position(std::uint64_t epoch) {
        {
            std::lock_guard lk(mu_);
            if (const auto it = stored_.find(epoch); it != stored_.end()) {
                return it->second;
            }
        }
        const auto cp = load_checkpoint_ ? load_checkpoint_(fmt::format("{}:{}", checkpoint_key_, epoch))
                                         : std::optional<std::string>();
        if (!cp) {
            return -1;
        }
        const auto colon = cp->find(':');
        try {
            return colon == std::string::npos ? -1 : std::stoll(cp->substr(colon + 1));
        } catch (const std::exception&) {
            return -1;
        }
    }

    // Each newly assigned partition starts at the later of the buffer's
    // position and the group's committed offset (asked for here; if Kafka
    // does not answer, at the committed offset as librdkafka would).
    void resume_from_buffer(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
        std::vector<std::int64_t> ours(static_cast<std::size_t>(parts->cnt), -1);
        bool any = false;
        for (int i = 0; i < parts->cnt; ++i) {
            const auto& p = parts->elems[i];
            if (!own_hash(p.topic)) {
                continue;
            }
            ours[static_cast<std::size_t>(i)] = buffer_position(partition_epoch(p.topic, p.partition));
            any = any || ours[static_cast<std::size_t>(i)] >= 0;
        }
        if (!any) {
            return;
        }
        rd_kafka_topic_partition_list_t* committed = rd_kafka_topic_partition_list_copy(parts);
        const auto err = rd_kafka_committed(rk, committed, 5000);
        for (int i = 0; i < parts->cnt && err == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
            auto& p = parts->elems[i];
            const std::int64_t mine = ours[static_cast<std::size_t>(i)];
            const std::int64_t kafka = committed->elems[i].offset;
            if (mine >= 0 && mine > kafka) {
                p.offset = mine;
                log::info("{}: {}[{}] resumes at offset {}, where the buffer is (the group's committed offset: "
                          "{})",
                          name_, p.topic, p.partition, mine, kafka < 0 ? std::string("none") : std::to_string(kafka));
            }
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            error_log_.warn("{}: kafka: cannot read the group's committed offsets ({}); starting from them",
                            name_, rd_kafka_err2str(err));
        }
        rd_kafka_topic_partition_list_destroy(committed);
    }

    static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                             void* opaque) {
        auto* self = static_cast<KafkaSource*>(opaque);
        const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
        self->rebalances_->inc();
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
            if (!self->closing_.load()) {
                log::info("{}: assigned {} partition(s) in group {}", self->name_, parts->cnt, self->s_.group_id);
                self->resume_from_buffer(rk, parts);
            }
            if (cooperative) {
                rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts);
                if (e != nullptr) {
                    self->error_log_.warn("{}: kafka: assign: {}", self->name_, rd_kafka_error_string(e));
                    rd_kafka_error_destroy(e);
                }
            } else {
                rd_kafka_assign(rk, parts);
            }
            self->health_up();
            return;
        }
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
            log::info("{}: {} partition(s) revoked", self->name_, parts->cnt);
            self->drain_before_revoke();
            // Synchronous: the stored offsets are in Kafka before another
            // consumer starts from them.
            rd_kafka_commit(rk, nullptr, 0);
        } else {
            self->error_log_.warn("{}: kafka: rebalance failed: {}", self->name_, rd_kafka_err2str(err));
        }
        if (cooperative) {
            rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts);
            if (e != nullptr) {
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, nullptr);
        }
    }

    static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
        auto* self = static_cast<KafkaSource*>(opaque);
        const auto code = static_cast<rd_kafka_resp_err_t>(err);
        if (code == RD_KAFKA_RESP_ERR__FATAL) {
            char buf[512];
            const auto orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
            log::error("{}: fatal consumer error ({}): {}", self->name_, rd_kafka_err2name(orig), buf);
            self->health_down(fmt::format("fatal consumer error: {}", buf));
            self->fatal_ = true;  // the polling thread starts a new consumer
            return;
        }
        if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !self->closing_.load()) {
            self->ctx_->metrics->reconnects->inc();
            self->health_down(fmt::format("all brokers are down ({})", self->brokers()));
        } else if (code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__RESOLVE ||
                   code == RD_KAFKA_RESP_ERR__TIMED_OUT) {
            self->suspect_ = true;  // the polling thread asks the brokers
        }
        self->error_log_.warn("{}: kafka: {} ({})", self->name_, reason, rd_kafka_err2name(code));
    }

    static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
        auto* self = static_cast<KafkaSource*>(rd_kafka_opaque(rk));
        if (self != nullptr) {
            forward_log(self->name_, self->log_log_, level, fac, buf);
        }
    }

    static void on_commit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*, void* opaque) {
        auto* self = static_cast<KafkaSource*>(opaque);
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
            return;  // nothing new was stored
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            self->commits_ok_->inc();
            self->commit_log_.clear();
            return;
        }
        self->commits_failed_->inc();
        self->commit_log_.warn("{}: kafka: committing offsets failed: {} (retried with the next commit)",
                               self->name_, rd_kafka_err2str(err));
    }

    Settings s_;
    SourceContext* ctx_ = nullptr;
    std::string name_ = "kafka";  // ctx_->name, for callbacks that may run after ctx_ is gone
    std::atomic<bool> up_{false};
    std::atomic<bool> closing_{false};  // in the destructor: ctx_ may be gone
    std::atomic<bool> suspect_{false};  // a connection failed: are the brokers still there?
    std::atomic<bool> fatal_{false};    // the consumer cannot go on: a new one is made
    std::string checkpoint_key_;        // ctx_->checkpoint_key and load_checkpoint, kept for the callbacks
    std::function<std::optional<std::string>(std::string_view)> load_checkpoint_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};

    std::mutex rk_mu_;  // rk_ against committed() on the worker thread
    rd_kafka_t* rk_ = nullptr;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Taken> taken_;               // read, oldest first, until committed()
    std::size_t unpushed_ = 0;              // the newest of taken_ not handed on yet
    std::vector<std::string> topic_names_;  // Taken::topic indexes it (guarded by mu_ for committed())
    std::unordered_map<std::uint64_t, std::int64_t> stored_;  // per partition epoch: next offset, as stored
    std::unordered_map<std::uint32_t, std::string> hash_owner_;  // polling thread: topic key -> topic
    Record origin_record_;

    Counter* commits_ok_ = nullptr;
    Counter* commits_failed_ = nullptr;
    Counter* rebalances_ = nullptr;
    GaugeFnHandle unsaved_gauge_;
    log::OnceLog error_log_;
    log::OnceLog log_log_;
    log::OnceLog commit_log_;
    log::OnceLog collision_log_;
};

}  // namespace

std::vector<Property> consumer_properties(const Options& o) {
    std::vector<Property> own{
        {"enable.auto.commit", "true"},
        {"enable.auto.offset.store", "false"},
        {"auto.commit.interval.ms", ms(o.duration("commit_interval"))},
        {"auto.offset.reset", o.str("auto_offset_reset")},
        {"enable.partition.eof", "false"},
    };
    return client_properties(o, std::move(own),
                             {"group.id", "enable.auto.commit", "enable.auto.offset.store",
                              "auto.commit.interval.ms", "auto.offset.reset", "enable.partition.eof"});
}

namespace {

Settings settings_from(const Options& o) {
    Settings s;
    s.topics = o.list("topics");
    for (const auto& t : s.topics) {
        if (t.empty()) {
            throw ConfigError("kafka: topics: an empty topic name");
        }
    }
    s.group_id = o.str_or("group_id", "");
    std::string error;
    auto origin = Template::parse(o.str("origin"), &error);
    if (!origin) {
        throw ConfigError(fmt::format("kafka: origin: {}", error));
    }
    s.origin = std::move(*origin);
    s.origin_is_topic = s.origin.text() == "{topic}";
    s.max_unsaved = static_cast<std::size_t>(o.integer("max_unsaved_messages"));
    s.batch_size = static_cast<std::size_t>(o.integer("batch_size"));
    s.props = consumer_properties(o);
    auto check = s.props;
    check.push_back({"group.id", s.group_id.empty() ? "sluice" : s.group_id});
    make_conf(check);  // librdkafka's own word on every property, now rather than at start
    return s;
}

}  // namespace
}  // namespace sluice::kafka

namespace sluice::components {

const Descriptor& source_kafka() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "kafka",
        .summary = "Consumes Kafka topics in a consumer group; offsets are committed only after the buffer stored "
                   "the messages",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "A message's offset is stored only after the buffer committed it, and Kafka gets the stored "
                       "offsets every `commit_interval`, before partitions are revoked and at shutdown: a crash or "
                       "kill -9 loses nothing, and Kafka hands out again what was read but not committed to it "
                       "(duplicates: the messages not yet stored, at most `max_unsaved_messages`, and those stored "
                       "in the last `commit_interval`).",
        .options = concat_specs({
            kafka::broker_option_specs(),
            {
                {.name = "topics", .type = OptionType::List,
                 .doc = "Topics to subscribe to; a name starting with ^ is a regular expression (\"^plant\\\\..*\")",
                 .required = true, .min = 1, .max = 256},
                {.name = "group_id", .type = OptionType::String,
                 .doc = "Consumer group (default sluice.<gateway id>.<pipeline>.<component id>: every gateway "
                        "reads everything); gateways with one shared group_id split the partitions between them",
                 .min = 1, .max = 256},
                {.name = "auto_offset_reset", .type = OptionType::Enum, .default_value = "earliest",
                 .doc = "Where a group without a committed offset starts: earliest (everything kept) or latest "
                        "(only what comes next)",
                 .choices = "earliest|latest"},
                {.name = "origin", .type = OptionType::String, .default_value = "{topic}",
                 .doc = "The frames' origin, a template over {topic}, {partition}, {offset}, {key} and the "
                        "message's headers by name (a name the message lacks: the topic); topology can turn its "
                        "levels into tags",
                 .min = 1, .max = 512},
                {.name = "max_unsaved_messages", .type = OptionType::Int, .default_value = "10000",
                 .doc = "Most messages handed on but not yet stored in the buffer; the source reads no more until "
                        "the buffer stored them (what a crash makes Kafka hand out again)",
                 .min = 1, .max = 1000000},
                {.name = "batch_size", .type = OptionType::Int, .default_value = "1000",
                 .doc = "Most messages handed to the ingest queue at once", .min = 1, .max = 65536},
                {.name = "commit_interval", .type = OptionType::Duration, .default_value = "1s",
                 .doc = "How often stored offsets are committed to Kafka (auto.commit.interval.ms)", .min = 0.01,
                 .max = 60},
            },
            kafka::connection_option_specs("sluice"),
        }),
        .url_schemes = {"kafka"},
        .from_url = [](const Url& url, RawTable& out) { kafka::url_options(url, out, "topics"); },
        .url_example = "kafka://broker:9092/readings,alarms?group_id=plant-7&decode=json",
        .make_source = [](const Options& o) -> std::unique_ptr<Source> {
            return std::make_unique<kafka::KafkaSource>(kafka::settings_from(o));
        },
        .watched = true,
    };
    return d;
}

}  // namespace sluice::components
