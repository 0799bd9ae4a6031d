// Appends records to a file as NDJSON, rotating by size (out.ndjson →
// out.ndjson.1 → ...). A batch counts as delivered once it is written and,
// with fsync on (the default), on stable storage. A failed write is cut back
// to the batch's start so a retry never leaves half a line behind.
//
// Exactly once across crashes: each confirmed batch stores "<inode> <size>"
// of the file with the sink's cursor, in the same transaction. At start, any
// bytes past that point were written for a batch whose cursor move was lost;
// they are cut, and the batch is written again.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/log.hpp"
#include "core/option_binding.hpp"
#include "core/record_json.hpp"

namespace sluice::components {
namespace {

// Offsets past 2 GiB (a long-lived log on a 32-bit board) need a 64-bit
// off_t; CMakeLists.txt sets _FILE_OFFSET_BITS=64 for the whole tree.
static_assert(sizeof(off_t) == 8, "build with -D_FILE_OFFSET_BITS=64");

// The options, each bound to the field it fills (core/option_binding.hpp).
struct FileSinkSettings {
    std::string path;
    std::uint64_t max_size = 0;
    int max_files = 5;
    bool fsync = true;
};

const OptionBinding<FileSinkSettings>& file_sink_options() {
    using S = FileSinkSettings;
    static const auto b =
        OptionBinding<S>()
            .field(&S::path, {.name = "path", .type = OptionType::String, .doc = "The output file", .required = true,
                              .min = 1})
            .field(&S::max_size, {.name = "max_size", .type = OptionType::Size, .default_value = "100MiB",
                                  .doc = "Rotate when the file reaches this size (0: never)", .min = 0})
            .field(&S::max_files, {.name = "max_files", .type = OptionType::Int, .default_value = "5",
                                   .doc = "Rotated files kept (path.1 ... path.N)", .min = 1, .max = 1000})
            .field(&S::fsync, {.name = "fsync", .type = OptionType::Bool, .default_value = "true",
                               .doc = "fdatasync each batch before it counts as delivered (survives power loss)"});
    return b;
}

class FileSink final : public Sink {
public:
    explicit FileSink(FileSinkSettings s)
        : path_(std::move(s.path)), max_size_(s.max_size), max_files_(s.max_files), fsync_(s.fsync) {}
    ~FileSink() override { close(); }

    void open(SinkContext& ctx) override {
        name_ = ctx.name;
        reopen();
        cut_unconfirmed(ctx.committed_state);
    }

    SendResult send(std::span<const Record> batch) override {
        SendResult result;
        if (fd_ < 0) {
            try {
                reopen();
            } catch (const std::exception& e) {
                result.error = e.what();
                return result;
            }
        }
        if (max_size_ > 0 && size_ > 0 && size_ >= max_size_) {
            rotate();
        }
        buf_.clear();
        for (const auto& r : batch) {
            append_record_json(buf_, r);
            buf_ += '\n';
        }
        const off_t start = static_cast<off_t>(size_);
        std::size_t off = 0;
        while (off < buf_.size()) {
            ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                result.error = fmt::format("writing {} failed: {}", path_, std::strerror(errno));
                [[maybe_unused]] int rc = ::ftruncate(fd_, start);
                return result;
            }
            off += static_cast<std::size_t>(n);
        }
        if (fsync_ && ::fdatasync(fd_) != 0) {
            result.error = fmt::format("fdatasync {} failed: {}", path_, std::strerror(errno));
            [[maybe_unused]] int rc = ::ftruncate(fd_, start);
            return result;
        }
        size_ += buf_.size();
        result.confirmed = batch.size();
        result.state = fmt::format("{} {}", inode_, size_);
        return result;
    }

    bool healthy(std::string& reason) override {
        if (fd_ < 0) {
            reason = fmt::format("{} is not open", path_);
            return false;
        }
        return true;
    }

    void close() override {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

private:
    void reopen() {
        close();
        std::error_code ec;
        const auto parent = std::filesystem::path(path_).parent_path();
        if (!parent.empty()) {
            std::filesystem::create_directories(parent, ec);
        }
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            throw std::runtime_error(fmt::format("cannot open {}: {}", path_, std::strerror(errno)));
        }
        struct stat st {};
        fstat(fd_, &st);
        size_ = static_cast<std::uint64_t>(st.st_size);
        inode_ = static_cast<std::uint64_t>(st.st_ino);
        cut_partial_line();
    }

    // `state` is "<inode> <size>" from the last confirmed batch (empty on the
    // first run). The file with that inode is the current one or, if a
    // rotation came after that batch, path.1; everything past `size` in it,
    // and a current file created after it, was never confirmed.
    void cut_unconfirmed(const std::string& state) {
        std::uint64_t ino = 0;
        std::uint64_t size = 0;
        const char* end = state.data() + state.size();
        auto r1 = std::from_chars(state.data(), end, ino);
        if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != ' ' ||
            std::from_chars(r1.ptr + 1, end, size).ec != std::errc()) {
            return;
        }
        auto cut = [&](const std::string& file, int fd, std::uint64_t have, std::uint64_t keep) {
            if (have > keep && ::ftruncate(fd, static_cast<off_t>(keep)) == 0) {
                log::info("{}: removed {} bytes from {} written after the last confirmed batch (they are sent again)",
                          name_, have - keep, file);
                return true;
            }
            return false;
        };
        if (ino == inode_) {
            if (cut(path_, fd_, size_, size)) {
                size_ = size;
            }
            return;
        }
        const std::string rotated = path_ + ".1";
        int fd = ::open(rotated.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            return;  // moved away by someone else: leave everything alone
        }
        struct stat st {};
        if (fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_ino) == ino) {
            cut(rotated, fd, static_cast<std::uint64_t>(st.st_size), size);
            if (cut(path_, fd_, size_, 0)) {
                size_ = 0;
            }
        }
        ::close(fd);
    }

    // A crash in the middle of a write can leave half a line at the end. That
    // batch was never confirmed, so it will be sent again: cut the fragment.
    void cut_partial_line() {
        if (size_ == 0) {
            return;
        }
        char tail[4096];
        const std::uint64_t want = std::min<std::uint64_t>(size_, sizeof tail);
        const ssize_t n = ::pread(fd_, tail, want, static_cast<off_t>(size_ - want));
        if (n <= 0 || tail[n - 1] == '\n') {
            return;
        }
        std::uint64_t keep = 0;
        for (ssize_t i = n - 1; i >= 0; --i) {
            if (tail[i] == '\n') {
                keep = size_ - want + static_cast<std::uint64_t>(i) + 1;
                break;
            }
        }
        if (keep == 0 && size_ > want) {
            return;  // a line longer than we looked at; leave the file alone
        }
        if (::ftruncate(fd_, static_cast<off_t>(keep)) == 0) {
            log::warn("{}: removed {} bytes of an unfinished line at the end of {}", name_, size_ - keep, path_);
            size_ = keep;
        }
    }

    void rotate() {
        close();
        std::error_code ec;
        std::filesystem::remove(fmt::format("{}.{}", path_, max_files_), ec);
        for (int i = max_files_ - 1; i >= 1; --i) {
            std::filesystem::rename(fmt::format("{}.{}", path_, i), fmt::format("{}.{}", path_, i + 1), ec);
        }
        std::filesystem::rename(path_, path_ + ".1", ec);
        if (ec) {
            log::warn("{}: rotating {} failed: {}", name_, path_, ec.message());
        }
        reopen();
    }

    std::string path_;
    std::uint64_t max_size_;
    int max_files_;
    bool fsync_;
    std::string name_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
    std::uint64_t inode_ = 0;
    std::string buf_;
};

}  // namespace

const Descriptor& sink_file() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "file",
        .summary = "Appends records to a file as NDJSON, rotating by size",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "None with `fsync = true`: output written after the last confirmed batch (a crash before the "
                       "cursor moved) is cut at start and written again, so nothing appears twice. With `fsync = "
                       "false` a power cut can lose lines confirmed but not yet written back by the kernel.",
        .options = file_sink_options().specs(),
        .url_schemes = {"file"},
        .url_path_option = "path",
        .url_example = "file:///var/lib/sluice/out.ndjson?max_size=10MiB",
        .make_sink = [](const Options& o) { return std::make_unique<FileSink>(file_sink_options().bind(o)); },
    };
    return d;
}

}  // namespace sluice::components
