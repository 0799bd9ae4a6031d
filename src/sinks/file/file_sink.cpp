// Appends records to a file as NDJSON, rotating by size (out.ndjson →
// out.ndjson.1 → ...). A batch counts as delivered once it is written and,
// with fsync on (the default), on stable storage. A failed write is cut back
// to the batch's start so a retry never leaves half a line behind.
//
// Exactly once across crashes: each confirmed batch stores "<dev> <inode>
// <size>" of the file with the sink's cursor, in the same transaction.
// Bytes found past that point were either written for a batch whose cursor
// move was lost, or added by someone else. The sink only removes bytes it
// can tell are its own: exactly the start of the batch it sends next (the
// rows after the cursor, written the same way). Anything else stays where it
// is and new lines follow it. The file is locked (flock) so that a second
// sluice cannot write it at the same time.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

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
                                  .doc = "Rotate when the file reaches this size: a file ends with the first record that reaches it (0: never)", .min = 0})
            .field(&S::max_files, {.name = "max_files", .type = OptionType::Int, .default_value = "5",
                                   .doc = "Rotated files kept (path.1 ... path.N)", .min = 1, .max = 1000})
            .field(&S::fsync, {.name = "fsync", .type = OptionType::Bool, .default_value = "true",
                               .doc = "fdatasync each batch before it counts as delivered (survives power loss)"});
    return b;
}

// Where a file stands: its identity and how far sluice's confirmed output
// reaches in it.
struct FileMark {
    std::uint64_t dev = 0;  // 0: not known (a state written before the device was stored)
    std::uint64_t ino = 0;
    std::uint64_t size = 0;
};

// "<dev> <ino> <size>", or the older "<ino> <size>".
std::optional<FileMark> parse_mark(const std::string& state) {
    std::uint64_t n[3] = {0, 0, 0};
    int count = 0;
    const char* p = state.data();
    const char* end = p + state.size();
    while (p < end && count < 3) {
        auto r = std::from_chars(p, end, n[count]);
        if (r.ec != std::errc()) {
            return std::nullopt;
        }
        ++count;
        p = r.ptr;
        if (p < end) {
            if (*p != ' ') {
                return std::nullopt;
            }
            ++p;
        }
    }
    if (p != end || count < 2) {
        return std::nullopt;
    }
    return count == 3 ? FileMark{n[0], n[1], n[2]} : FileMark{0, n[0], n[1]};
}

class FileSink final : public Sink {
public:
    explicit FileSink(FileSinkSettings s)
        : path_(std::move(s.path)), max_size_(s.max_size), max_files_(s.max_files), fsync_(s.fsync) {}
    ~FileSink() override { close(); }

    void open(SinkContext& ctx) override {
        name_ = ctx.name;
        last_ = parse_mark(ctx.committed_state);
        reopen();
        take_over();
    }

    SendResult send(std::span<const Record> batch) override {
        SendResult result;
        try {
            if (fd_ < 0) {
                reopen();
                take_over();
            }
            follow_path();
        } catch (const std::exception& e) {
            result.error = e.what();
            return result;
        }
        buf_.clear();
        ends_.clear();
        for (const auto& r : batch) {
            append_record_json(buf_, r);
            buf_ += '\n';
            ends_.push_back(buf_.size());
        }
        if (check_) {
            settle_tail(*check_);
            check_.reset();
        }
        if (max_size_ > 0 && size_ > 0 && size_ >= max_size_) {
            try {
                rotate();
            } catch (const std::exception& e) {
                result.error = e.what();
                return result;
            }
        }
        // With max_size, this file takes the records up to the first that
        // reaches it; the rest go to the next file (confirmed in part, the
        // runner sends them again at once). A file ends at most one record
        // past max_size, however large the batch.
        std::size_t take = batch.size();
        if (max_size_ > 0) {
            for (std::size_t k = 0; k < ends_.size(); ++k) {
                if (size_ + ends_[k] >= max_size_) {
                    take = k + 1;
                    break;
                }
            }
            buf_.resize(take > 0 ? ends_[take - 1] : 0);
        }
        if (end_line_ && size_ > 0 && last_byte() != '\n') {
            log::warn("{}: {} does not end with a line break (a line added by someone else?): sluice's lines start "
                      "on a new line after it",
                      name_, path_);
            buf_.insert(buf_.begin(), '\n');
        }
        end_line_ = false;
        const off_t start = static_cast<off_t>(size_);
        std::size_t off = 0;
        while (off < buf_.size()) {
            ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                result.error = fmt::format("writing {} failed: {}", path_, std::strerror(errno));
                undo(start);
                return result;
            }
            off += static_cast<std::size_t>(n);
        }
        if (fsync_ && ::fdatasync(fd_) != 0) {
            result.error = fmt::format("fdatasync {} failed: {}", path_, std::strerror(errno));
            undo(start);
            return result;
        }
        size_ += buf_.size();
        last_ = FileMark{dev_, ino_, size_};
        result.confirmed = take;
        result.state = fmt::format("{} {} {}", dev_, ino_, size_);
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
    // Bytes past sluice's confirmed output, judged at the first send (when
    // the batch that follows the cursor is known): they are sluice's only if
    // they are exactly the start of that batch.
    struct TailCheck {
        bool search = false;   // no confirmed mark in this file: try each line start
        std::uint64_t from = 0;
    };

    // Opens (creating) the file at path_ and locks it against a second
    // writer; the previous descriptor is closed only once the new one is
    // held.
    void reopen() {
        std::error_code ec;
        const auto parent = std::filesystem::path(path_).parent_path();
        if (!parent.empty()) {
            std::filesystem::create_directories(parent, ec);
        }
        const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            throw std::runtime_error(fmt::format("cannot open {}: {}", path_, std::strerror(errno)));
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const int err = errno;
            ::close(fd);
            throw std::runtime_error(fmt::format("cannot stat {}: {}", path_, std::strerror(err)));
        }
        const bool regular = S_ISREG(st.st_mode) && path_.rfind("/dev/", 0) != 0 && path_.rfind("/proc/", 0) != 0;
        // A device or pipe, or what /dev/stdout stands for, is not the
        // sink's to own: no lock, nothing is ever cut from it.
        if (regular && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            ::close(fd);
            if (err == EWOULDBLOCK) {
                throw std::runtime_error(fmt::format(
                    "{} is in use by another sluice (another process or sink holds its lock); waiting for it", path_));
            }
            throw std::runtime_error(fmt::format("cannot lock {}: {}", path_, std::strerror(err)));
        }
        close();
        fd_ = fd;
        regular_ = regular;
        size_ = regular ? static_cast<std::uint64_t>(st.st_size) : 0;
        dev_ = static_cast<std::uint64_t>(st.st_dev);
        ino_ = static_cast<std::uint64_t>(st.st_ino);
        check_.reset();
        end_line_ = false;
    }

    // Decides what to make of the file just opened, given the mark of the
    // last confirmed batch. Nothing is removed here: bytes past the mark are
    // judged at the first send.
    void take_over(bool quiet = false) {
        if (!regular_) {
            return;
        }
        if (!last_) {
            if (size_ > 0) {
                check_ = TailCheck{true, 0};
                end_line_ = true;
            }
            return;
        }
        const FileMark& m = *last_;
        if (same_file(m, dev_, ino_)) {
            if (size_ > m.size) {
                check_ = TailCheck{false, m.size};
            } else if (size_ < m.size) {
                log::warn("{}: {} is shorter ({} bytes) than sluice's confirmed output in it ({} bytes): it was "
                          "truncated by someone else; new lines are appended",
                          name_, path_, size_, m.size);
            }
            return;
        }
        // Rotated by this sink after the last confirmed batch: that file is
        // path.1 and the one at path was begun for an unconfirmed batch.
        const std::string rotated = path_ + ".1";
        struct stat st {};
        if (::stat(rotated.c_str(), &st) == 0 && same_file(m, st.st_dev, st.st_ino)) {
            if (static_cast<std::uint64_t>(st.st_size) > m.size) {
                log::warn("{}: {} has {} bytes after sluice's last confirmed output that sluice did not write there; "
                          "they are left in place",
                          name_, rotated, static_cast<std::uint64_t>(st.st_size) - m.size);
            }
            if (size_ > 0) {
                check_ = TailCheck{false, 0};
            }
            return;
        }
        if (!quiet) {
            log::info("{}: {} is not the file sluice wrote last (it was replaced or rotated away): appending to "
                      "it, nothing in it is removed",
                      name_, path_);
        }
        if (size_ > 0) {
            check_ = TailCheck{true, 0};
            end_line_ = true;
        }
    }

    static bool same_file(const FileMark& m, std::uint64_t dev, std::uint64_t ino) {
        return m.ino == ino && (m.dev == 0 || m.dev == dev);
    }

    // While running: the file at path moved away (rotated by logrotate,
    // deleted) or was replaced: write to what is at path now. Bytes someone
    // else appended are left where they are.
    void follow_path() {
        if (!regular_) {
            return;
        }
        struct stat at {};
        if (::stat(path_.c_str(), &at) != 0 || static_cast<std::uint64_t>(at.st_ino) != ino_ ||
            static_cast<std::uint64_t>(at.st_dev) != dev_) {
            log::info("{}: {} was moved away or replaced: writing to the file now at that path", name_, path_);
            reopen();
            take_over(true);
            return;
        }
        struct stat st {};
        if (::fstat(fd_, &st) != 0) {
            return;
        }
        const auto now = static_cast<std::uint64_t>(st.st_size);
        if (now > size_ && !check_) {
            log::warn("{}: {} bytes were added to {} by another writer; they are left in place", name_, now - size_,
                      path_);
            end_line_ = true;
        } else if (now < size_) {
            log::warn("{}: {} was truncated by someone else ({} bytes now, sluice had written {}); new lines are "
                      "appended",
                      name_, path_, now, size_);
        }
        size_ = now;
    }

    // Bytes past the confirmed mark are sluice's own only when they are the
    // beginning of the batch about to be sent (written before a crash or a
    // failed commit lost their confirmation): those are cut and written
    // again. Anything else is someone else's and stays.
    void settle_tail(const TailCheck& check) {
        if (size_ <= check.from) {
            return;
        }
        const std::uint64_t window = std::min<std::uint64_t>(size_ - check.from, buf_.size());
        const std::uint64_t lo = size_ - window;
        std::string tail(static_cast<std::size_t>(size_ - lo + 1), '\0');
        // One byte more, to see whether a candidate starts a line.
        const std::uint64_t read_from = lo > 0 ? lo - 1 : 0;
        const ssize_t n = ::pread(fd_, tail.data(), static_cast<std::size_t>(size_ - read_from),
                                  static_cast<off_t>(read_from));
        if (n != static_cast<ssize_t>(size_ - read_from)) {
            return;
        }
        tail.resize(static_cast<std::size_t>(n));
        const std::size_t shift = static_cast<std::size_t>(lo - read_from);
        std::optional<std::uint64_t> cut_at;
        if (!check.search) {
            if (size_ - check.from <= buf_.size() &&
                buf_.compare(0, static_cast<std::size_t>(size_ - check.from), tail, shift, std::string::npos) == 0) {
                cut_at = check.from;
            }
        } else {
            for (std::uint64_t p = lo; p < size_ && !cut_at; ++p) {
                const std::size_t i = static_cast<std::size_t>(p - read_from);
                const bool line_start = p == 0 || tail[i - 1] == '\n';
                if (line_start && buf_.compare(0, static_cast<std::size_t>(size_ - p), tail, i, std::string::npos) == 0) {
                    cut_at = p;
                }
            }
        }
        if (cut_at && ::ftruncate(fd_, static_cast<off_t>(*cut_at)) == 0) {
            log::info("{}: removed {} bytes from {} written after the last confirmed batch (they are sent again)",
                      name_, size_ - *cut_at, path_);
            size_ = *cut_at;
            end_line_ = false;
            return;
        }
        if (!check.search) {
            log::warn("{}: {} has {} bytes after sluice's last confirmed output that are not what sluice wrote "
                      "(added by someone else?): they are left in place and new lines follow them",
                      name_, path_, size_ - check.from);
            end_line_ = true;
        }
    }

    char last_byte() const {
        char c = '\n';
        if (::pread(fd_, &c, 1, static_cast<off_t>(size_ - 1)) != 1) {
            return '\n';
        }
        return c;
    }

    // A failed write is cut back to where the batch began, so a retry never
    // leaves half a line behind.
    void undo(off_t start) {
        if (regular_) {
            [[maybe_unused]] int rc = ::ftruncate(fd_, start);
        }
    }

    void rotate() {
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
    bool regular_ = true;
    std::uint64_t size_ = 0;
    std::uint64_t dev_ = 0;
    std::uint64_t ino_ = 0;
    std::optional<FileMark> last_;     // the last confirmed batch's end
    std::optional<TailCheck> check_;   // bytes past it, judged at the next send
    bool end_line_ = false;            // someone else's bytes may end mid-line
    std::string buf_;
    std::vector<std::size_t> ends_;  // where each record of buf_ ends
};

}  // namespace

const Descriptor& sink_file() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "file",
        .summary = "Appends records to a file as NDJSON, rotating by size",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "None with `fsync = true`: output written after the last confirmed batch (a crash before the "
                       "cursor moved) is cut when that batch is written again, so nothing appears twice. Bytes in "
                       "the file that sluice did not write are never cut. With `fsync = false` a power cut can lose "
                       "lines confirmed but not yet written back by the kernel.",
        .options = file_sink_options().specs(),
        .url_schemes = {"file"},
        .url_path_option = "path",
        .url_example = "file:///var/lib/sluice/out.ndjson?max_size=10MiB",
        .make_sink = [](const Options& o) { return std::make_unique<FileSink>(file_sink_options().bind(o)); },
    };
    return d;
}

}  // namespace sluice::components
