// The `exec` decoder: a long-running command that is sent each frame as a
// JSON line and answers one JSON line with its records, an error or "not
// mine" (core/child_exchange.hpp runs it). The way to write a decoder in
// Python or JavaScript.

#include <memory>
#include <optional>

#include <fmt/format.h>

#include "core/child_exchange.hpp"
#include "core/component.hpp"
#include "core/record_json.hpp"
#include "decoders/json_record.hpp"
#include "text/base64.hpp"

namespace sluice::components {
namespace {

class ExecDecoder final : public Decoder {
public:
    explicit ExecDecoder(const Options& o) : cfg_(exchange_config(o, "exec")) {}

    void open(const DecoderContext& ctx) override {
        cfg_.name = fmt::format("{}/{}", ctx.component, ctx.id);
        exchange_.emplace(cfg_);
        exchange_->set_hooks(ctx.wait.stopping, ctx.wait.waiting);
        exchange_->start();
    }

    // First in its chain, it sends a batch's frames at once: a round trip
    // per batch, not per frame.
    bool wants_prefetch() const override { return true; }

    void prefetch(std::span<const Frame* const> frames) override {
        started();
        batch_.clear();
        next_ = 0;
        requests_.resize(frames.size());
        for (std::size_t i = 0; i < frames.size(); ++i) {
            request_for(*frames[i], requests_[i]);
        }
        // Cut short by a stop: the frames without an answer are asked about
        // alone (and fail at once while stopping).
        (void)exchange_->exchange(requests_, batch_answers_);
        batch_.assign(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(batch_answers_.size()));
    }

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        while (next_ < batch_.size() && batch_[next_] != &frame) {
            ++next_;
        }
        if (next_ < batch_.size()) {
            return verdict(batch_answers_[next_++], frame, out, error);
        }
        started();
        requests_.resize(1);
        request_for(frame, requests_[0]);
        if (!exchange_->exchange(std::span(requests_).first(1), answers_)) {
            error = fmt::format("exec: the pipeline stopped before '{}' answered", cfg_.command.argv[0]);
            return DecodeStatus::Broken;
        }
        return verdict(answers_[0], frame, out, error);
    }

private:
    void started() {
        if (!exchange_) {
            exchange_.emplace(cfg_);  // outside a pipeline (sluice decode): started on first use
        }
    }

    static void request_for(const Frame& frame, std::string& req) {
        req.assign("{\"origin\":");
        append_json_string(req, frame.origin);
        req += ",\"time\":\"";
        append_rfc3339(req, frame.arrival_ns);
        req += "\",\"payload\":\"";
        append_base64(req, frame.payload);
        req += "\"}";
    }

    static DecodeStatus verdict(const ChildExchange::Answer& a, const Frame& frame, std::vector<Record>& out,
                                std::string& error) {
        if (!a.ok) {
            error = "exec: " + a.text;
            return DecodeStatus::Broken;
        }
        Record base;
        base.origin = frame.origin;
        const DecodeStatus st = decoders::read_decoder_answer(a.text, base, out, error);
        if (st == DecodeStatus::Broken) {
            error.insert(0, "exec: ");
        }
        return st;
    }

    ChildExchangeConfig cfg_;
    std::optional<ChildExchange> exchange_;
    std::vector<std::string> requests_;
    std::vector<ChildExchange::Answer> answers_;
    // The batch asked about in prefetch(): frames and their answers.
    std::vector<const Frame*> batch_;
    std::vector<ChildExchange::Answer> batch_answers_;
    std::size_t next_ = 0;
};

}  // namespace

const Descriptor& decoder_exec() {
    static const Descriptor d{
        .kind = Kind::Decoder,
        .name = "exec",
        .summary = "A long-running command decodes: each frame goes to its standard input as a JSON line, it "
                   "answers a JSON line of records (a decoder in Python, JavaScript, ...)",
        .options = concat_specs({exec_command_options({.restart_initial = "100ms", .restart_max = "5s"}),
                                 exec_exchange_options()}),
        .make_decoder = [](const Options& o) { return std::make_unique<ExecDecoder>(o); },
    };
    return d;
}

}  // namespace sluice::components
