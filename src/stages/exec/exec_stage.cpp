// The `exec` stage: records in and out as NDJSON through a long-running
// command (like Telegraf's execd processor), one answer line per record:
// the record (changed or not), an array of records (none drops it, several
// split it), or {"error": "..."} (a dead letter). core/child_exchange.hpp
// runs the command.

#include <memory>
#include <optional>

#include <fmt/format.h>

#include "core/child_exchange.hpp"
#include "core/component.hpp"
#include "core/metrics.hpp"
#include "core/record_json.hpp"
#include "decoders/json_record.hpp"

namespace sluice::components {
namespace {

class ExecStage final : public Stage {
public:
    explicit ExecStage(const Options& o) : cfg_(exchange_config(o, "exec")) {}

    void open(StageContext& ctx) override {
        cfg_.name = ctx.name;
        metrics_ = ctx.metrics;
        exchange_.emplace(cfg_);
        exchange_->set_hooks(ctx.wait.stopping, ctx.wait.waiting);
        exchange_->start();
    }

    void process(StageBatch& batch) override {
        if (batch.records.empty()) {
            return;
        }
        if (!exchange_) {
            exchange_.emplace(cfg_);
        }
        const std::size_t n = batch.records.size();
        requests_.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            requests_[i].clear();
            // Doubles keep a fraction ("3.0"), so that they come back doubles.
            append_record_json(requests_[i], batch.records[i], JsonDouble::KeepFraction);
        }
        if (!exchange_->exchange(requests_, answers_)) {
            throw std::runtime_error(fmt::format("the pipeline stopped before '{}' answered", cfg_.command.argv[0]));
        }
        out_.clear();
        std::string error;
        for (std::size_t i = 0; i < n; ++i) {
            const Record& in = batch.records[i];
            const auto& a = answers_[i];
            if (!a.ok || !decoders::read_stage_answer(a.text, in, out_, error)) {
                if (!a.ok) {
                    error = a.text;
                }
                if (metrics_ != nullptr) {
                    metrics_->errors->inc();
                }
                DeadLetter d;
                d.time_ns = batch.wall_ns;
                d.origin = in.origin;
                d.reason = "exec: " + error;
                d.payload = std::move(requests_[i]);
                batch.dead.push_back(std::move(d));
            }
        }
        batch.records.swap(out_);
        out_.clear();
    }

private:
    ChildExchangeConfig cfg_;
    ComponentMetrics* metrics_ = nullptr;
    std::optional<ChildExchange> exchange_;
    std::vector<std::string> requests_;
    std::vector<ChildExchange::Answer> answers_;
    std::vector<Record> out_;
};

}  // namespace

const Descriptor& stage_exec() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "exec",
        .summary = "Records in and out as NDJSON through a long-running command (a transformation in any "
                   "language, like Telegraf's execd processor)",
        .options = concat_specs({exec_command_options({.restart_initial = "100ms", .restart_max = "5s"}),
                                 exec_exchange_options()}),
        .make_stage = [](const Options& o) { return std::make_unique<ExecStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
