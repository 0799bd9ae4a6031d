// The source behind the `http` and `callback` components: frames pushed
// through a PushEndpoints table (the HTTP API's POST /api/send, or an
// embedding program's Gateway::push), each push answered only once all of
// its frames are committed to the buffer, so a client that got its answer
// may forget what it sent.
//
// Frames enter the ingest queue in push order and the worker commits them
// in that order, reporting per commit how many frames of this source it
// stored (SourceContext::committed); the waiting pushes are answered from
// the front of a FIFO by those counts.

#include "core/push_source.hpp"

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/line_splitter.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace sluice {
namespace {

class PushSource final : public Source {
public:
    PushSource(const Options& o, PushEndpoints& endpoints)
        : endpoints_(endpoints),
          origin_(o.str("origin")),
          max_waiting_(static_cast<std::size_t>(o.integer("max_waiting"))) {}
    ~PushSource() override { stop(); }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        const auto slash = ctx.name.find('/');
        const std::string pipeline = ctx.name.substr(0, slash);
        const std::string id = slash == std::string::npos ? ctx.name : ctx.name.substr(slash + 1);
        ctx.committed = [this](std::size_t n) { on_committed(n); };
        handle_ = endpoints_.add(pipeline, id, [this](PushRequest&& req, PushReply reply) {
            on_request(std::move(req), std::move(reply));
        });
    }

    void stop() override {
        if (handle_ != 0) {
            endpoints_.remove(handle_);  // no request is handed to us after this
            handle_ = 0;
        }
        std::deque<Waiting> left;
        {
            std::lock_guard lk(mu_);
            stopped_ = true;
            left.swap(waiting_);
        }
        backlog_.clear();
        for (auto& w : left) {
            if (w.reply) {
                w.reply(PushAnswer{.status = 503,
                                   .message = "the gateway is stopping: not all frames were committed; send again",
                                   .retry_after = 1,
                                   .stopping = true});
            }
        }
    }

private:
    struct Waiting {
        std::size_t remaining = 0;  // frames not yet committed
        std::size_t total = 0;
        PushReply reply;
    };

    // On the I/O loop thread.
    void on_request(PushRequest&& req, PushReply reply) {
        const TimeNs now = wall_now_ns();
        const std::string& origin = req.key.empty() ? origin_ : req.key;
        std::size_t before = backlog_.size();
        auto add = [&](std::string_view payload) {
            Frame f;
            f.payload.assign(payload);
            f.origin = origin;
            f.arrival_ns = now;
            f.source = ctx_->index;
            backlog_.push_back(std::move(f));
        };
        if (!req.frames.empty()) {
            for (const auto& payload : req.frames) {
                add(payload);
            }
        } else if (req.ndjson) {
            LineSplitter lines(req.body.size() + 1);
            auto on_line = [&](std::string_view line, std::uint64_t) { add(line); };
            lines.feed(req.body, on_line, [](std::uint64_t) {});
            lines.finish(on_line);
        } else if (!req.body.empty()) {
            add(req.body);
        }
        const std::size_t n = backlog_.size() - before;
        if (n == 0) {
            reply(PushAnswer{.status = 400, .message = "empty body: nothing to send"});
            return;
        }
        {
            std::lock_guard lk(mu_);
            if (stopped_) {
                backlog_.resize(before);
                reply(PushAnswer{.status = 503,
                                 .message = "the gateway is stopping; send again",
                                 .retry_after = 1,
                                 .stopping = true});
                return;
            }
            if (waiting_.size() >= max_waiting_) {
                backlog_.resize(before);
                busy_log_.warn("{}: {} requests already wait for their commit (max_waiting); answering 503",
                               ctx_->name, waiting_.size());
                reply(PushAnswer{.status = 503,
                                 .message = "too many requests wait for their commit; retry shortly",
                                 .retry_after = 1});
                return;
            }
            busy_log_.clear();
            waiting_.push_back(Waiting{.remaining = n, .total = n, .reply = std::move(reply)});
        }
        ctx_->metrics->received->inc(n);
        std::size_t bytes = req.body.size();
        for (const auto& payload : req.frames) {
            bytes += payload.size();
        }
        ctx_->metrics->received_bytes->inc(bytes);
        ctx_->metrics->last_seen->set(static_cast<double>(now) / 1e9);
        pump();
    }

    // On the I/O loop thread: moves the backlog into the ingest queue as
    // room allows, and asks the worker not to wait for a fuller batch.
    void pump() {
        if (handle_ == 0) {
            return;  // stopped: a late when_space call
        }
        if (!backlog_.empty()) {
            ctx_->ingest->try_push(backlog_);
        }
        if (!backlog_.empty()) {
            ctx_->ingest->when_space(ctx_->index, [this] { pump(); });
        }
        if (ctx_->commit_soon) {
            ctx_->commit_soon();
        }
    }

    // On the worker thread, after a commit that held `n` of our frames.
    void on_committed(std::size_t n) {
        std::vector<std::pair<PushReply, std::size_t>> done;
        {
            std::lock_guard lk(mu_);
            while (n > 0 && !waiting_.empty()) {
                auto& w = waiting_.front();
                const std::size_t take = std::min(n, w.remaining);
                w.remaining -= take;
                n -= take;
                if (w.remaining == 0) {
                    done.emplace_back(std::move(w.reply), w.total);
                    waiting_.pop_front();
                }
            }
        }
        for (auto& [reply, total] : done) {
            if (reply) {
                reply(PushAnswer{.status = 200, .message = "committed", .frames = total});
            }
        }
    }

    PushEndpoints& endpoints_;
    std::string origin_;
    std::size_t max_waiting_;
    SourceContext* ctx_ = nullptr;
    std::uint64_t handle_ = 0;
    std::vector<Frame> backlog_;  // loop thread only: taken, not yet in the ingest queue
    std::mutex mu_;               // waiting_, stopped_
    std::deque<Waiting> waiting_;
    bool stopped_ = false;
    log::OnceLog busy_log_;
};

}  // namespace

std::unique_ptr<Source> make_push_source(const Options& options, PushEndpoints& endpoints) {
    return std::make_unique<PushSource>(options, endpoints);
}

std::vector<OptionSpec> push_source_options(std::string_view default_origin) {
    return {
        {.name = "origin", .type = OptionType::String, .default_value = default_origin,
         .doc = "The frames' origin (topic) when the push names no key", .min = 1},
        {.name = "max_waiting", .type = OptionType::Int, .default_value = "64",
         .doc = "Most pushes waiting for their commit at once; more are refused as busy (HTTP: 503 with "
                "Retry-After: 1)",
         .min = 1, .max = 100000},
    };
}

}  // namespace sluice
