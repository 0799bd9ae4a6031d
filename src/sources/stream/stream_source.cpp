// Reads the records other pipelines hand to a named in-process stream (for
// example a window stage's late records) and feeds them into this
// pipeline. The bus calls us on the publishing pipeline's worker thread, so
// we never wait there: frames that do not fit in the ingest queue are
// dropped and counted.

#include <mutex>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/streams.hpp"
#include "decoders/record/record_decoder.hpp"
#include "core/guard.hpp"

namespace sluice::components {
namespace {

class StreamSource final : public Source {
public:
    explicit StreamSource(const Options& o) : stream_(o.str("stream")) {}
    ~StreamSource() override { stop(); }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        handle_ = stream_bus().subscribe(stream_, [this](std::span<const Record> records) {
            guarded(ctx_->name, ctx_->metrics->errors, receive_log_, [&] { receive(records); });
        });
    }

    void stop() override {
        if (handle_ != 0) {
            stream_bus().unsubscribe(handle_);  // no call is running or will run after this
            handle_ = 0;
        }
    }

private:
    void receive(std::span<const Record> records) {
        frames_.clear();
        const TimeNs now = wall_now_ns();
        std::uint64_t bytes = 0;
        for (const auto& r : records) {
            Frame f;
            decoders::encode_record_frame(r, f.payload);
            f.origin = r.origin.empty() ? "stream:" + stream_ : r.origin;
            f.arrival_ns = now;
            f.source = ctx_->index;
            bytes += f.payload.size();
            frames_.push_back(std::move(f));
        }
        const std::size_t total = frames_.size();
        const std::size_t taken = ctx_->ingest->try_push(frames_);
        ctx_->metrics->received->inc(taken);
        ctx_->metrics->received_bytes->inc(bytes);
        ctx_->metrics->last_seen->set(static_cast<double>(now) / 1e9);
        if (taken < total) {
            ctx_->metrics->dropped->inc(total - taken);
            full_.warn("{}: ingest queue full; {} records from stream '{}' dropped (see "
                       "sluice_component_dropped_records_total)",
                       ctx_->name, total - taken, stream_);
        } else {
            full_.clear();
        }
    }

    std::string stream_;
    SourceContext* ctx_ = nullptr;
    std::uint64_t handle_ = 0;
    std::vector<Frame> frames_;  // only touched under the bus's lock
    log::OnceLog full_;
    log::OnceLog receive_log_;  // what escapes receive() (core/guard.hpp)
};

}  // namespace

const Descriptor& source_stream() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "stream",
        .summary = "Reads records another pipeline's stage sends to a named in-process stream (e.g. a window's late "
                   "records)",
        .delivery = Delivery::BestEffort,
        .loss_window = "Records published by the other pipeline but not yet committed by this one when the process "
                       "dies are lost (the stream is in memory); records that find this pipeline's ingest queue full "
                       "are dropped and counted.",
        .options =
            {
                {.name = "stream", .type = OptionType::String, .doc = "The stream's name (a stage's late_stream)",
                 .required = true, .min = 1, .link = OptionLink::ConsumesStream},
                {.name = "decode", .type = OptionType::List, .default_value = "record",
                 .doc = "Decoders for the frames; the stream carries sluice's binary record form (`record`)"},
            },
        .make_source = [](const Options& o) { return std::make_unique<StreamSource>(o); },
    };
    return d;
}

}  // namespace sluice::components
