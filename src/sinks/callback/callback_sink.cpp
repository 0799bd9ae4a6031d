// The `callback` sink: hands each batch to the handler an embedding program
// registered through libsluice (sluice::embed::Gateway::on_batch, src/embed)
// under "<pipeline>/<sink id>", on this sink's own thread. Only what the
// handler confirms leaves the buffer; the rest is retried after a back-off,
// as for any sink. With no handler registered, batches wait in the buffer.

#include <exception>
#include <string>

#include "core/callback_sinks.hpp"
#include "core/component.hpp"

namespace sluice::components {
namespace {

class CallbackSink final : public Sink {
public:
    void open(SinkContext& ctx) override { name_ = ctx.name; }

    SendResult send(std::span<const Record> batch) override {
        const auto handler = callback_sinks().find(name_);
        if (!handler) {
            return SendResult{.error = "no handler is registered for callback sink '" + name_ +
                                       "': the program registers it with Gateway::on_batch(\"" + name_ +
                                       "\", ...); the records wait in the buffer"};
        }
        // The program's code: whatever it throws is a failed batch, retried.
        try {
            SendResult r = (*handler)(batch);
            if (r.confirmed > batch.size()) {
                r.confirmed = batch.size();
            }
            if (r.confirmed < batch.size() && r.error.empty()) {
                r.error = "the handler confirmed " + std::to_string(r.confirmed) + " of " +
                          std::to_string(batch.size()) + " records";
            }
            return r;
        } catch (const std::exception& e) {
            return SendResult{.error = std::string("the handler failed: ") + e.what()};
        } catch (...) {
            return SendResult{.error = "the handler failed with an exception that is not a std::exception"};
        }
    }

    bool healthy(std::string& reason) override {
        if (callback_sinks().find(name_)) {
            return true;
        }
        reason = "no handler registered";
        return false;
    }

private:
    std::string name_;
};

}  // namespace

const Descriptor& sink_callback() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "callback",
        .summary = "Hands batches to a function of a program embedding sluice (libsluice); only the records it "
                   "confirms leave the buffer",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "None: a record leaves the buffer only once the program's handler confirmed it. A crash "
                       "after the handler returned but before the cursor moved hands those records to it again.",
        .make_sink = [](const Options&) { return std::make_unique<CallbackSink>(); },
    };
    return d;
}

}  // namespace sluice::components
