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

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        if (!exchange_) {
            exchange_.emplace(cfg_);  // outside a pipeline (sluice decode): started on first use
        }
        std::string& req = request_[0];
        req.assign("{\"origin\":");
        append_json_string(req, frame.origin);
        req += ",\"time\":\"";
        append_rfc3339(req, frame.arrival_ns);
        req += "\",\"payload\":\"";
        append_base64(req, frame.payload);
        req += "\"}";
        if (!exchange_->exchange(request_, answers_)) {
            error = fmt::format("exec: the pipeline stopped before '{}' answered", cfg_.command.argv[0]);
            return DecodeStatus::Broken;
        }
        const auto& a = answers_[0];
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

private:
    ChildExchangeConfig cfg_;
    std::optional<ChildExchange> exchange_;
    std::string request_[1];
    std::vector<ChildExchange::Answer> answers_;
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
