// Writes records to standard output, one JSON object per line. When the
// reader of a pipe goes away (EPIPE: `sluice relay ... | head`), the run
// ends quietly with status 0, as `head` expects; nothing is retried and the
// batch stays buffered.

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "core/component.hpp"
#include "core/record_json.hpp"
#include "core/stop_request.hpp"

namespace sluice::components {
namespace {

class StdoutSink final : public Sink {
public:
    SendResult send(std::span<const Record> batch) override {
        buf_.clear();
        for (const auto& r : batch) {
            append_record_json(buf_, r);
            buf_ += '\n';
        }
        std::size_t off = 0;
        while (off < buf_.size()) {
            ssize_t n = ::write(1, buf_.data() + off, buf_.size() - off);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                SendResult r;
                if (errno == EPIPE) {
                    request_stop();
                    r.error = "standard output was closed by its reader";
                    return r;
                }
                r.error = std::string("writing to standard output failed: ") + std::strerror(errno);
                return r;
            }
            off += static_cast<std::size_t>(n);
        }
        return SendResult{.confirmed = batch.size()};
    }

private:
    std::string buf_;
};

}  // namespace

const Descriptor& sink_stdout() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "stdout",
        .summary = "Writes records to standard output as NDJSON (one JSON object per line)",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "A batch counts as delivered once write(2) took all of it; a crash before the cursor moved "
                       "writes it again (duplicates, not loss). What the reader does with it is out of sluice's "
                       "hands.",
        .options = {},
        .url_schemes = {"stdout"},
        .url_example = "stdout: (or -)",
        .make_sink = [](const Options&) { return std::make_unique<StdoutSink>(); },
    };
    return d;
}

}  // namespace sluice::components
