// Follows a file like `tail -F`: reads appended lines, notices rotation
// (a new inode at the path) and truncation. The read offset travels with the
// frames as a checkpoint, so it is committed in the same transaction as the
// records read before it: a restart resumes exactly after the last committed
// line, neither skipping nor repeating.

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/line_splitter.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/guard.hpp"

namespace sluice::components {
namespace {

// Offsets past 2 GiB (a long-lived log on a 32-bit board) need a 64-bit
// off_t; CMakeLists.txt sets _FILE_OFFSET_BITS=64 for the whole tree.
static_assert(sizeof(off_t) == 8, "build with -D_FILE_OFFSET_BITS=64");

class FileSource final : public Source {
public:
    explicit FileSource(const Options& o)
        : path_(o.str("path")),
          poll_(o.duration("poll_interval")),
          from_end_(o.str("start_at") == "end"),
          max_line_(o.memory_size("max_line_bytes")),
          read_size_(o.memory_size("read_size")) {}
    ~FileSource() override {
        stop();
        close_fd();
    }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        ctx.checkpoint_key = "file:" + path_;
        if (auto cp = ctx.load_checkpoint(ctx.checkpoint_key)) {
            unsigned long long ino = 0, off = 0;
            if (std::sscanf(cp->c_str(), "%llu:%llu", &ino, &off) == 2) {
                resume_ino_ = ino;
                resume_offset_ = off;
            }
        }
        thread_ = std::thread([this] {
            run_restarting(ctx_->name, ctx_->metrics->errors, [this](auto d) { return !wait_stop(d); },
                           [this] { run(); });
        });
    }

    void stop() override {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    void close_fd() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    // Opens the file at `path_`, positioned where reading should go on.
    bool open_file(bool first_open) {
        int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (!missing_logged_) {
                log::warn("{}: cannot open {}: {} (retrying every {})", ctx_->name, path_, std::strerror(errno),
                          format_duration(poll_));
                missing_logged_ = true;
            }
            return false;
        }
        missing_logged_ = false;
        struct stat st {};
        fstat(fd, &st);
        std::uint64_t offset = 0;
        if (first_open && resume_ino_ == st.st_ino && resume_offset_ <= static_cast<std::uint64_t>(st.st_size)) {
            offset = resume_offset_;
            log::info("{}: resuming {} at byte {}", ctx_->name, path_, offset);
        } else if (first_open && resume_ino_ != 0) {
            log::warn("{}: {} was replaced or truncated while sluice was stopped; reading it from the start",
                      ctx_->name, path_);
        } else if (first_open && from_end_) {
            offset = static_cast<std::uint64_t>(st.st_size);
        }
        lseek(fd, static_cast<off_t>(offset), SEEK_SET);
        fd_ = fd;
        ino_ = st.st_ino;
        lines_.reset(offset);
        return true;
    }

    void run() {
        bool first_open = true;
        std::string buf(read_size_, '\0');
        while (!wait_stop(first_open ? std::chrono::nanoseconds(0) : poll_)) {
            if (fd_ < 0) {
                if (!open_file(first_open)) {
                    first_open = false;
                    continue;
                }
                first_open = false;
            }
            if (!drain(buf)) {
                return;
            }
            // Rotation: the path now names another file (or none). The old
            // one was read to its end above, so switch over.
            struct stat st {};
            if (::stat(path_.c_str(), &st) == 0) {
                if (st.st_ino != ino_) {
                    log::info("{}: {} was rotated; following the new file", ctx_->name, path_);
                    close_fd();
                    if (open_file(false)) {
                        lines_.reset(0);
                        lseek(fd_, 0, SEEK_SET);
                        if (!drain(buf)) {
                            return;
                        }
                    }
                } else if (static_cast<std::uint64_t>(st.st_size) < lines_.offset()) {
                    log::warn("{}: {} was truncated; reading it from the start", ctx_->name, path_);
                    lseek(fd_, 0, SEEK_SET);
                    lines_.reset(0);
                }
            }
        }
    }

    // Reads to the current end of file. False when the pipeline is stopping.
    bool drain(std::string& buf) {
        std::vector<Frame> frames;
        auto on_line = [&](std::string_view line, std::uint64_t end_offset) {
            Frame f;
            f.payload.assign(line);
            f.origin = path_;
            f.source = ctx_->index;
            // Every line carries the offset just past it, so whichever line
            // ends a batch, a restart resumes exactly after it.
            f.has_position = true;
            f.position_epoch = ino_;
            f.position = end_offset;
            frames.push_back(std::move(f));
        };
        auto on_too_long = [&](std::uint64_t) {
            ctx_->metrics->errors->inc();
            log::warn("{}: skipped a line longer than max_line_bytes in {}", ctx_->name, path_);
        };
        for (;;) {
            // Stop reading at once when asked (what is unread stays for the
            // next start: the committed offset is before it), rather than
            // reading a large file to its end during the shutdown.
            if (wait_stop(std::chrono::nanoseconds(0))) {
                return false;
            }
            ssize_t n = ::read(fd_, buf.data(), buf.size());
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                ctx_->metrics->errors->inc();
                log::error("{}: reading {} failed: {}", ctx_->name, path_, std::strerror(errno));
                close_fd();
                return true;
            }
            if (n == 0) {
                return true;
            }
            ctx_->metrics->received_bytes->inc(static_cast<std::uint64_t>(n));
            lines_.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), on_line, on_too_long);
            if (frames.empty()) {
                continue;
            }
            const TimeNs now = wall_now_ns();
            for (auto& f : frames) {
                f.arrival_ns = now;
            }
            // Past a skipped over-long line, too, so it is not met again.
            frames.back().position = lines_.committed_offset();
            ctx_->metrics->received->inc(frames.size());
            ctx_->metrics->last_seen->set(static_cast<double>(now) / 1e9);
            if (!ctx_->ingest->push_all_wait(frames)) {
                return false;
            }
        }
    }

    // Waits up to `d`; true if stopping.
    bool wait_stop(std::chrono::nanoseconds d) {
        std::unique_lock lk(mu_);
        if (d.count() > 0) {
            cv_.wait_for(lk, d, [&] { return stopping_; });
        }
        return stopping_;
    }

    std::string path_;
    std::chrono::nanoseconds poll_;
    bool from_end_;
    std::size_t max_line_;
    std::size_t read_size_;
    SourceContext* ctx_ = nullptr;
    std::uint64_t resume_ino_ = 0;
    std::uint64_t resume_offset_ = 0;
    int fd_ = -1;
    std::uint64_t ino_ = 0;
    LineSplitter lines_{max_line_};
    bool missing_logged_ = false;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace

const Descriptor& source_file() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "file",
        .summary = "Follows a file's appended lines (like tail -F), through rotation; resumes at its committed offset",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "None: the read offset is committed in the same transaction as the records, so a restart "
                       "resumes exactly after the last committed line (a file replaced or truncated while sluice was "
                       "stopped is read from its start).",
        .options =
            {
                {.name = "path", .type = OptionType::String, .doc = "The file to follow", .required = true,
                 .min = 1},
                {.name = "poll_interval", .type = OptionType::Duration, .default_value = "250ms",
                 .doc = "How often to look for new lines and rotation", .min = 0.001, .max = 3600},
                {.name = "start_at", .type = OptionType::Enum, .default_value = "beginning",
                 .doc = "Where to start in a file with no saved offset", .choices = "beginning|end"},
                {.name = "max_line_bytes", .type = OptionType::Size, .default_value = "1MiB",
                 .doc = "Longest line accepted; longer lines are skipped and counted as errors", .min = 16},
                {.name = "read_size", .type = OptionType::Size, .default_value = "64KiB",
                 .doc = "Bytes read per read() call", .min = 512, .max = 16 << 20},
            },
        .url_schemes = {"file"},
        .url_path_option = "path",
        .url_example = "file:///var/log/sensors.log?decode=json,influx",
        .make_source = [](const Options& o) { return std::make_unique<FileSource>(o); },
    };
    return d;
}

}  // namespace sluice::components
