// Keeps or drops records by a predicate over their tags and fields.

#include <optional>

#include "core/metrics.hpp"
#include "stages/stage_util.hpp"

namespace sluice::components {
namespace {

class FilterStage final : public Stage {
public:
    explicit FilterStage(const Options& o) {
        const bool has_keep = !o.str_or("keep", "").empty();
        const bool has_drop = !o.str_or("drop", "").empty();
        if (has_keep == has_drop) {
            throw ConfigError("set exactly one of 'keep' (records to let through) and 'drop' (records to remove)");
        }
        keep_ = has_keep;
        predicate_ = stages::expression_option(o, has_keep ? "keep" : "drop");
        dead_letter_ = o.str_or("rejected", "") == "dead_letter";
    }

    void open(StageContext& ctx) override { metrics_ = ctx.metrics; }

    void process(StageBatch& b) override {
        std::size_t out = 0;
        for (std::size_t i = 0; i < b.records.size(); ++i) {
            if (predicate_->test(b.records[i]) == keep_) {
                if (out != i) {
                    b.records[out] = std::move(b.records[i]);
                }
                ++out;
                continue;
            }
            if (dead_letter_) {
                b.dead.push_back(stages::dead_record(
                    b.records[i], b.wall_ns,
                    fmt::format("filter: {} '{}'", keep_ ? "not kept by" : "dropped by", predicate_->text())));
            }
            if (metrics_ != nullptr) {
                metrics_->dropped->inc();
            }
        }
        b.records.resize(out);
    }

private:
    std::optional<expr::Expression> predicate_;
    bool keep_ = true;
    bool dead_letter_ = false;
    ComponentMetrics* metrics_ = nullptr;
};

}  // namespace

const Descriptor& stage_filter() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "filter",
        .summary = "Keeps or drops records by a predicate over tags and fields (==, <, =~, exists(), and/or/not)",
        .options =
            {
                {.name = "keep", .type = OptionType::String, .default_value = "",
                 .doc = "Let through only the records for which this predicate holds, e.g. "
                        "\"measurement == 'temperature' and value > -40\". Set this or drop."},
                {.name = "drop", .type = OptionType::String, .default_value = "",
                 .doc = "Remove the records for which this predicate holds, e.g. \"exists(error) or node =~ '^test-'\"."},
                {.name = "rejected", .type = OptionType::Enum, .default_value = "drop",
                 .doc = "What happens to a removed record: drop (counted in sluice_component_dropped_records_total) "
                        "or dead_letter (also kept in the dead-letter table with the predicate).",
                 .choices = "drop|dead_letter"},
            },
        .make_stage = [](const Options& o) { return std::make_unique<FilterStage>(o); },
    };
    return d;
}

}  // namespace sluice::components
