// Reads newline-separated frames from standard input on a thread of its own
// (stdin may be a regular file, which epoll refuses). When the ingest queue
// is full the thread waits, so the writer on the other end of the pipe is
// slowed down rather than anything being dropped.

#include <atomic>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <thread>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/line_splitter.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/guard.hpp"
#include "core/source_thread.hpp"

namespace sluice::components {
namespace {

class StdinSource final : public Source {
public:
    explicit StdinSource(const Options& o)
        : max_line_(o.memory_size("max_line_bytes")), read_size_(o.memory_size("read_size")) {}
    ~StdinSource() override { stop(); }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        thread_.start(ctx, [this] { run(); });
    }

    void stop() override { thread_.stop(); }

private:
    void run() {
        LineSplitter lines(max_line_);
        std::string buf(read_size_, '\0');
        std::vector<Frame> frames;
        auto on_line = [&](std::string_view line, std::uint64_t) {
            Frame f;
            f.payload.assign(line);
            f.origin = "stdin";
            f.source = ctx_->index;
            frames.push_back(std::move(f));
        };
        auto on_too_long = [&](std::uint64_t) {
            ctx_->metrics->errors->inc();
            log::warn("{}: skipped a line longer than max_line_bytes ({} bytes)", ctx_->name, max_line_);
        };
        while (!thread_.stopping()) {
            // Sleeps until input comes or stop() wakes it (a timeout only if
            // the eventfd could not be made).
            pollfd p[2] = {{0, POLLIN, 0}, {thread_.wake().fd(), POLLIN, 0}};
            int pr = poll(p, 2, thread_.wake().valid() ? -1 : 200);
            if (pr == 0 || thread_.stopping()) {
                continue;
            }
            if (pr < 0 && errno == EINTR) {
                continue;
            }
            ssize_t n = read(0, buf.data(), buf.size());
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                ctx_->metrics->errors->inc();
                log::error("{}: reading standard input failed: {}", ctx_->name, std::strerror(errno));
                break;
            }
            if (n == 0) {
                lines.finish(on_line);
                if (!deliver(frames)) {
                    return;
                }
                break;
            }
            ctx_->metrics->received_bytes->inc(static_cast<std::uint64_t>(n));
            lines.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), on_line, on_too_long);
            if (!deliver(frames)) {
                return;
            }
        }
        if (!thread_.stopping()) {
            log::info("{}: end of input", ctx_->name);
            ctx_->finished();
        }
    }

    bool deliver(std::vector<Frame>& frames) { return deliver_frames(*ctx_, frames); }

    std::size_t max_line_;
    std::size_t read_size_;
    SourceContext* ctx_ = nullptr;
    SourceThread thread_;
};

}  // namespace

const Descriptor& source_stdin() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "stdin",
        .summary = "Reads newline-separated frames from standard input; the gateway may exit at end of input",
        .delivery = Delivery::BestEffort,
        .loss_window = "Lines read but not yet committed to the buffer when the process dies are lost: standard "
                       "input cannot be asked again (the file source can).",
        .options =
            {
                {.name = "max_line_bytes", .type = OptionType::Size, .default_value = "1MiB",
                 .doc = "Longest line accepted; longer lines are skipped and counted as errors", .min = 16},
                {.name = "read_size", .type = OptionType::Size, .default_value = "64KiB",
                 .doc = "Bytes read per read() call", .min = 512, .max = 16 << 20},
            },
        .url_schemes = {"stdin"},
        .url_example = "stdin: (or -)",
        .make_source = [](const Options& o) { return std::make_unique<StdinSource>(o); },
    };
    return d;
}

}  // namespace sluice::components
