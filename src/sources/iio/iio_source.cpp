// Linux Industrial I/O devices, read straight from sysfs and the device node
// (no libiio, so the static build has it). Two modes:
//   poll:   every `interval`, (raw + offset) * scale of each channel
//   buffer: whole scan records from /dev/iio:deviceN, decoded per scan_elements
// Each sample becomes one Influx line protocol frame (one line per unit).
//
// One thread per source: sysfs reads can block for a bus transfer (I2C
// conversions take milliseconds), which must not stall the I/O loop. When
// the ingest queue is full, samples are dropped and counted instead of
// waiting, so the kernel's buffer never overflows behind our back and the
// newest data keeps flowing once there is room.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <poll.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/log.hpp"
#include "core/wake_fd.hpp"
#include "core/source_health.hpp"
#include "core/metrics.hpp"
#include "core/url.hpp"
#include "sources/iio/remote.hpp"
#include "sources/iio/scan.hpp"
#include "sources/iio/sysfs.hpp"
#include "core/guard.hpp"

namespace sluice::components {
namespace {

using namespace sluice::iio;
using Clock = std::chrono::steady_clock;

// A kernel timestamp below this (1973) is not wall-clock time: the device's
// current_timestamp_clock is monotonic or boottime.
constexpr TimeNs kPlausibleWallNs = 100'000'000'000'000'000;

// A condition that repeats on every attempt is logged once per change.
class Episode {
public:
    // True when this message differs from the one reported last (log it).
    bool report(const std::string& message) {
        if (active_ && message == last_) {
            return false;
        }
        active_ = true;
        last_ = message;
        return true;
    }
    // True when the condition was active (log the recovery).
    bool clear() {
        const bool was = active_;
        active_ = false;
        last_.clear();
        return was;
    }

private:
    bool active_ = false;
    std::string last_;
};

enum class Mode { Poll, Buffer };

struct OutValue {
    std::string name;
    std::string unit;
    bool emit = true;  // enabled but not asked for: decoded (it is in the record) but not sent
};

class IioSource final : public Source {
public:
    explicit IioSource(const Options& o)
        : device_spec_(o.str("device")),
          mode_(o.str("mode") == "buffer" ? Mode::Buffer : Mode::Poll),
          interval_(o.duration("interval")),
          sysfs_root_(o.str("sysfs_root")),
          dev_root_(o.str("dev_root")),
          device_node_(o.str_or("device_node", "")),
          enable_channels_(o.boolean("enable_channels")),
          read_size_(o.memory_size("read_size")),
          measurement_(o.str_or("measurement", "")) {
        if (o.has("uri")) {
            uri_ = o.str("uri");
            if (!have_libiio()) {
                throw ConfigError("this build has no libiio; remote contexts need -DSLUICE_WITH_LIBIIO=ON");
            }
            if (mode_ == Mode::Buffer) {
                throw ConfigError("buffered capture over libiio ('uri') is not implemented; use mode = \"poll\"");
            }
            if (!o.has("channels")) {
                throw ConfigError("with 'uri', list the channels to poll");
            }
        }
        if (measurement_.empty()) {
            measurement_ = "iio";
        }
        if (o.has("channels")) {
            channels_ = o.list("channels");
        }
        for (const auto& c : channels_) {
            if (auto parsed = parse_channel_name(c); !parsed) {
                throw ConfigError(parsed.error);
            }
            if (c.find('/') != std::string::npos) {
                throw ConfigError(fmt::format("invalid channel name '{}'", c));
            }
        }
        if (o.has("buffer_length")) {
            buffer_length_ = o.integer("buffer_length");
        }
        if (o.has("watermark")) {
            watermark_ = o.integer("watermark");
        }
        if (o.has("trigger")) {
            trigger_ = o.str("trigger");
        }
        if (mode_ == Mode::Poll) {
            for (const char* name : {"buffer_length", "watermark", "trigger", "device_node", "enable_channels"}) {
                if (o.is_explicit(name)) {
                    throw ConfigError(fmt::format("'{}' only applies to mode = \"buffer\"", name));
                }
            }
        }
        if (buffer_length_ && watermark_ && *watermark_ > *buffer_length_) {
            throw ConfigError(fmt::format("watermark ({}) must not exceed buffer_length ({})", *watermark_,
                                          *buffer_length_));
        }
    }

    ~IioSource() override { stop(); }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        wake_.drain();  // a stop() before this start
        thread_ = std::thread([this] { run_guarded(); });
    }

    void stop() override {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        wake_.wake();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    // ------------------------------------------------------------ thread

    void run_guarded() {
        log::OnceLog once;
        if (!guarded(ctx_->name, ctx_->metrics->errors, once, [this] { run(); })) {
            log::error("{}: reader stopped", ctx_->name);
        }
        teardown();
    }

    void run() {
        auto next = Clock::now();
        while (!stopping_) {
            if (!ready_) {
                if (auto problem = mode_ == Mode::Poll ? setup_poll() : setup_buffer()) {
                    device_lost(*problem);
                    if (!wait_until(Clock::now() + interval_)) {
                        return;
                    }
                    continue;
                }
                ready_ = true;
                if (ctx_->health != nullptr) {
                    ctx_->health->up();
                }
                if (lost_.clear()) {
                    ctx_->metrics->reconnects->inc();
                    log::info("{}: {} ({}) is back", ctx_->name, dev_.id, dev_.name);
                } else {
                    log::info("{}: reading {} ({}) in {} mode", ctx_->name, dev_.id, dev_.name,
                              mode_ == Mode::Poll ? "poll" : "buffer");
                }
                next = Clock::now();
                last_check_ = next;
            }
            if (mode_ == Mode::Poll) {
                poll_once();
                next += interval_;
                const auto now = Clock::now();
                if (next < now) {
                    next = now;  // fell behind (slow bus): skip the missed ticks rather than burst
                }
                if (!wait_until(next)) {
                    return;
                }
            } else {
                read_once();
            }
        }
    }

    // False once stopping.
    bool wait_until(Clock::time_point t) {
        std::unique_lock lk(mu_);
        cv_.wait_until(lk, t, [this] { return stopping_.load(); });
        return !stopping_;
    }

    void device_lost(const std::string& why) {
        ready_ = false;
        if (ctx_->health != nullptr) {
            ctx_->health->down(why);
        }
        close_node();
        ctx_->metrics->errors->inc();
        // One line per loss: the reason may change from attempt to attempt
        // (read error, then "no such device"), which is not news.
        if (lost_.report("lost")) {
            log::error("{}: {}; retrying every {}", ctx_->name, why, format_duration(interval_));
        } else {
            log::debug("{}: still unavailable: {}", ctx_->name, why);
        }
    }

    void teardown() {
        close_node();
        if (buffer_enabled_) {
            if (auto err = write_attr(dev_.path + "/buffer/enable", "0")) {
                log::debug("{}: {}", ctx_->name, err->message);
            }
            buffer_enabled_ = false;
        }
    }

    // ------------------------------------------------------------ poll mode

    std::optional<std::string> setup_poll() {
        if (!uri_.empty()) {
            return setup_remote();
        }
        auto dev = resolve_device(sysfs_root_, device_spec_);
        if (!dev) {
            return dev.error;
        }
        dev_ = std::move(*dev.value);
        std::vector<std::string> names = channels_;
        if (names.empty()) {
            names = discover_channels(dev_);
            if (names.empty()) {
                return fmt::format("{} ({}) has no readable channels (no in_*_raw or in_*_input files in {})",
                                   dev_.id, dev_.name, dev_.path);
            }
        }
        polled_.clear();
        for (const auto& n : names) {
            auto files = find_channel_files(dev_, n);
            if (!files) {
                return files.error;
            }
            polled_.push_back(std::move(*files.value));
        }
        channel_errors_.assign(polled_.size(), Episode{});
        return std::nullopt;
    }

    std::optional<std::string> setup_remote() {
        remote_.reset();
        auto r = open_remote(uri_, device_spec_, channels_);
        if (!r) {
            return r.error;
        }
        remote_ = std::move(*r.value);
        dev_ = DeviceDir{};
        dev_.id = remote_->id();
        dev_.name = remote_->name();
        polled_.clear();
        for (std::size_t i = 0; i < channels_.size(); ++i) {
            ChannelFiles f;
            f.name = channels_[i];
            f.unit = remote_->units()[i];
            polled_.push_back(std::move(f));
        }
        channel_errors_.assign(polled_.size(), Episode{});
        return std::nullopt;
    }

    std::vector<Result<double>> read_all() {
        if (remote_) {
            return remote_->read();
        }
        std::vector<Result<double>> out;
        for (const auto& ch : polled_) {
            out.push_back(read_channel(ch));
        }
        return out;
    }

    // Local: the sysfs directory is gone. Remote: nothing answers at all.
    bool device_gone(std::size_t failures) const {
        if (remote_) {
            return failures == polled_.size();
        }
        return !path_exists(dev_.path);
    }

    void poll_once() {
        const TimeNs now = wall_now_ns();
        std::vector<Sample> samples;
        std::vector<std::pair<std::size_t, std::string>> failed;
        auto values = read_all();
        for (std::size_t i = 0; i < polled_.size() && i < values.size(); ++i) {
            if (values[i]) {
                samples.push_back({polled_[i].name, polled_[i].unit, *values[i].value});
            } else {
                failed.emplace_back(i, std::move(values[i].error));
            }
        }
        if (!failed.empty() && device_gone(failed.size())) {
            remote_.reset();
            device_lost(fmt::format("{} ({}) disappeared: {}", dev_.id, dev_.name, failed.front().second));
            return;
        }
        std::size_t f = 0;
        for (std::size_t i = 0; i < polled_.size(); ++i) {
            if (f < failed.size() && failed[f].first == i) {
                ctx_->metrics->errors->inc();
                if (channel_errors_[i].report(failed[f].second)) {
                    log::warn("{}: channel {} skipped: {}", ctx_->name, polled_[i].name, failed[f].second);
                }
                ++f;
            } else if (channel_errors_[i].clear()) {
                log::info("{}: channel {} reads again", ctx_->name, polled_[i].name);
            }
        }
        if (samples.empty()) {
            return;
        }
        std::vector<Frame> frames;
        frames.push_back(make_frame(format_lines(measurement_, dev_.name, samples, now), now));
        emit(frames, now);
    }

    // ------------------------------------------------------------ buffer mode

    std::optional<std::string> setup_buffer() {
        auto dev = resolve_device(sysfs_root_, device_spec_);
        if (!dev) {
            return dev.error;
        }
        dev_ = std::move(*dev.value);
        auto scan = read_scan_elements(dev_);
        if (!scan) {
            return scan.error;
        }
        auto has = [](const std::vector<std::string>& v, const std::string& s) {
            return std::find(v.begin(), v.end(), s) != v.end();
        };
        std::string available;
        for (const auto& e : *scan.value) {
            available += (available.empty() ? "" : ", ") + e.name;
        }
        for (const auto& c : channels_) {
            if (std::none_of(scan.value->begin(), scan.value->end(), [&](const auto& e) { return e.name == c; })) {
                return fmt::format("{} ({}) has no scan element '{}' (scan elements: {})", dev_.id, dev_.name, c,
                                   available.empty() ? "none" : available);
            }
        }
        if (enable_channels_) {
            const std::string enable = dev_.path + "/buffer/enable";
            // Scan elements can only change while the buffer is off.
            if (auto err = write_attr(enable, "0"); err && !err->missing) {
                return err->message;
            }
            for (const auto& e : *scan.value) {
                const bool want = channels_.empty() || has(channels_, e.name) || e.name == "in_timestamp";
                if (want != e.enabled) {
                    if (auto err = write_attr(fmt::format("{}/scan_elements/{}_en", dev_.path, e.name),
                                              want ? "1" : "0")) {
                        return err->message;
                    }
                }
            }
            scan = read_scan_elements(dev_);
            if (!scan) {
                return scan.error;
            }
        }
        std::vector<ScanElement> elements;
        for (const auto& e : *scan.value) {
            if (!e.enabled) {
                if (has(channels_, e.name)) {
                    return fmt::format("scan element '{}' of {} ({}) is not enabled (write 1 to its _en file or set "
                                       "enable_channels = true)",
                                       e.name, dev_.id, dev_.name);
                }
                continue;
            }
            ScanElement se;
            se.name = e.name;
            se.index = e.index;
            se.type = e.type;
            if (e.name != "in_timestamp") {
                auto cal = read_calibration(dev_, e.name);
                if (!cal) {
                    return cal.error;
                }
                se.offset = cal.value->offset;
                se.scale = cal.value->scale;
            }
            elements.push_back(std::move(se));
        }
        if (elements.empty()) {
            return fmt::format("{} ({}) has no enabled scan elements (set enable_channels = true, or enable them "
                               "in {}/scan_elements)",
                               dev_.id, dev_.name, dev_.path);
        }
        auto layout = compute_layout(elements);
        if (!layout) {
            return fmt::format("{} ({}): {}", dev_.id, dev_.name, layout.error);
        }
        elements_ = std::move(elements);
        layout_ = std::move(*layout.value);
        out_.clear();
        const auto names = value_names(layout_, elements_);
        std::size_t k = 0;
        for (std::size_t s = 0; s < layout_.slots.size(); ++s) {
            if (layout_.timestamp_slot == s) {
                continue;
            }
            const ScanElement& e = elements_[layout_.slots[s].element];
            auto parsed = parse_channel_name(e.name);
            const std::string unit = parsed ? std::string(unit_for_type(parsed.value->type)) : std::string();
            const bool emit = channels_.empty() || has(channels_, e.name);
            for (unsigned r = 0; r < e.type.repeat; ++r) {
                out_.push_back({names[k++], unit, emit});
            }
        }

        configure_buffer();

        node_path_ = device_node_.empty() ? fmt::format("{}/{}", dev_root_, dev_.id) : device_node_;
        if (auto problem = open_node()) {
            return problem;
        }
        if (auto err = write_attr(dev_.path + "/buffer/enable", "1")) {
            if (err->missing) {
                log::debug("{}: {} (no buffer/enable; reading the node as it is)", ctx_->name, err->message);
            } else {
                ctx_->metrics->errors->inc();
                if (config_errors_.report(err->message)) {
                    log::error("{}: {}", ctx_->name, err->message);
                }
            }
        } else {
            buffer_enabled_ = true;
        }
        carry_.clear();
        return std::nullopt;
    }

    // Writes what the user asked for; only those writes can fail loudly.
    void configure_buffer() {
        auto set = [&](const std::string& path, const std::string& value) {
            if (auto err = write_attr(path, value)) {
                ctx_->metrics->errors->inc();
                if (config_errors_.report(err->message)) {
                    log::error("{}: {}", ctx_->name, err->message);
                }
            }
        };
        if (buffer_length_) {
            set(dev_.path + "/buffer/length", std::to_string(*buffer_length_));
        }
        if (watermark_) {
            set(dev_.path + "/buffer/watermark", std::to_string(*watermark_));
        }
        if (trigger_) {
            set(dev_.path + "/trigger/current_trigger", *trigger_);
        }
    }

    std::optional<std::string> open_node() {
        close_node();
        fd_ = ::open(node_path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd_ < 0) {
            return fmt::format("cannot open {}: {}", node_path_, std::strerror(errno));
        }
        return std::nullopt;
    }

    void close_node() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    void read_once() {
        const auto now_steady = Clock::now();
        if (now_steady - last_check_ >= interval_) {
            last_check_ = now_steady;
            if (!path_exists(dev_.path)) {
                device_lost(fmt::format("{} ({}) disappeared: {} is gone", dev_.id, dev_.name, dev_.path));
                return;
            }
        }
        pollfd p[2] = {{fd_, POLLIN, 0}, {wake_.fd(), POLLIN, 0}};
        const auto timeout_ms = std::clamp<std::int64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(interval_).count(), 1, 1000);
        const int pr = ::poll(p, 2, static_cast<int>(timeout_ms));
        if (pr < 0) {
            if (errno != EINTR) {
                device_lost(fmt::format("poll on {} failed: {}", node_path_, std::strerror(errno)));
            }
            return;
        }
        if (pr == 0 || stopping_) {
            return;
        }
        if ((p[0].revents & (POLLERR | POLLNVAL)) != 0 && (p[0].revents & POLLIN) == 0) {
            device_lost(fmt::format("{} reports an error (device removed?)", node_path_));
            return;
        }
        if ((p[0].revents & (POLLIN | POLLHUP)) == 0) {
            return;
        }
        // The kernel refuses reads shorter than one scan record (EINVAL) and
        // rounds longer ones down to whole records.
        const std::size_t rb = layout_.record_bytes;
        const std::size_t want = std::max(rb, read_size_ / rb * rb);
        const std::size_t old = carry_.size();
        carry_.resize(old + want);
        const ssize_t n = ::read(fd_, carry_.data() + old, want);
        if (n < 0) {
            carry_.resize(old);
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }
            device_lost(fmt::format("reading {} failed: {}", node_path_, std::strerror(errno)));
            return;
        }
        carry_.resize(old + static_cast<std::size_t>(n));
        if (n == 0) {
            end_of_stream();
            return;
        }
        decode_records();
    }

    // A FIFO's writer went away (a real device node never ends): start over
    // with a fresh open so the next writer is read.
    void end_of_stream() {
        if (!carry_.empty()) {
            ctx_->metrics->errors->inc();
            log::warn("{}: {} ended inside a scan record; {} bytes discarded", ctx_->name, node_path_, carry_.size());
            carry_.clear();
        }
        log::debug("{}: end of {}; reopening", ctx_->name, node_path_);
        if (auto problem = open_node()) {
            device_lost(*problem);
        }
    }

    void decode_records() {
        const std::size_t rb = layout_.record_bytes;
        const TimeNs now = wall_now_ns();
        std::vector<Frame> frames;
        std::size_t off = 0;
        std::vector<Sample> samples;
        for (; carry_.size() - off >= rb; off += rb) {
            const std::span<const std::uint8_t> record(carry_.data() + off, rb);
            const auto values = decode_record(layout_, elements_, record);
            TimeNs t = now;
            if (auto ts = record_timestamp(layout_, elements_, record)) {
                t = kernel_time(*ts, now);
            }
            samples.clear();
            for (std::size_t i = 0; i < values.size() && i < out_.size(); ++i) {
                if (out_[i].emit) {
                    samples.push_back({out_[i].name, out_[i].unit, values[i]});
                }
            }
            std::string payload = format_lines(measurement_, dev_.name, samples, t);
            if (!payload.empty()) {
                frames.push_back(make_frame(std::move(payload), now));
            }
        }
        carry_.erase(carry_.begin(), carry_.begin() + static_cast<std::ptrdiff_t>(off));
        if (!frames.empty()) {
            emit(frames, now);
        }
    }

    // Kernel timestamps follow the device's current_timestamp_clock; a
    // monotonic one is moved onto the wall clock.
    static TimeNs kernel_time(std::int64_t ts, TimeNs now) {
        if (ts <= 0) {
            return now;
        }
        if (ts >= kPlausibleWallNs) {
            return ts;
        }
        timespec mono{};
        ::clock_gettime(CLOCK_MONOTONIC, &mono);
        const TimeNs mono_ns = static_cast<TimeNs>(mono.tv_sec) * 1'000'000'000 + mono.tv_nsec;
        return ts + (now - mono_ns);
    }

    // ------------------------------------------------------------ output

    Frame make_frame(std::string payload, TimeNs now) const {
        Frame f;
        f.payload = std::move(payload);
        f.origin = dev_.id;
        f.arrival_ns = now;
        f.source = ctx_->index;
        return f;
    }

    // Never waits: what the queue does not take is dropped and counted.
    void emit(std::vector<Frame>& frames, TimeNs now) {
        const std::size_t total = frames.size();
        std::uint64_t bytes = 0;
        for (const auto& f : frames) {
            bytes += f.payload.size();
        }
        const std::size_t taken = ctx_->ingest->try_push(frames);
        std::uint64_t left_bytes = 0;
        for (const auto& f : frames) {
            left_bytes += f.payload.size();
        }
        if (taken > 0) {
            ctx_->metrics->received->inc(taken);
            ctx_->metrics->received_bytes->inc(bytes - left_bytes);
            ctx_->metrics->last_seen->set(static_cast<double>(now) / 1e9);
        }
        if (taken < total) {
            ctx_->metrics->dropped->inc(total - taken);
            dropped_in_episode_ += total - taken;
            if (full_.report("full")) {
                log::warn("{}: ingest queue full; dropping samples (counted in "
                          "sluice_component_dropped_records_total)",
                          ctx_->name);
            }
        } else if (full_.clear()) {
            log::info("{}: ingest queue has room again; {} samples were dropped", ctx_->name, dropped_in_episode_);
            dropped_in_episode_ = 0;
        }
    }

    // Options.
    std::string device_spec_;
    Mode mode_;
    std::chrono::nanoseconds interval_;
    std::string sysfs_root_;
    std::string dev_root_;
    std::string device_node_;
    bool enable_channels_;
    std::size_t read_size_;
    std::string measurement_;
    std::vector<std::string> channels_;
    std::string uri_;
    std::optional<std::int64_t> buffer_length_;
    std::optional<std::int64_t> watermark_;
    std::optional<std::string> trigger_;

    // Reader thread state.
    SourceContext* ctx_ = nullptr;
    DeviceDir dev_;
    bool ready_ = false;
    Episode lost_;
    Episode full_;
    Episode config_errors_;
    std::uint64_t dropped_in_episode_ = 0;
    std::vector<ChannelFiles> polled_;
    std::unique_ptr<RemoteDevice> remote_;
    std::vector<Episode> channel_errors_;
    std::vector<ScanElement> elements_;
    ScanLayout layout_;
    std::vector<OutValue> out_;
    std::string node_path_;
    int fd_ = -1;
    bool buffer_enabled_ = false;
    std::vector<std::uint8_t> carry_;
    Clock::time_point last_check_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<bool> stopping_{false};
    WakeFd wake_;  // stop() wakes the poll in read_once
    std::thread thread_;
};

// iio://DEVICE/CHANNEL,CHANNEL?interval=1s&sysfs_root=/tmp/sys
void iio_from_url(const Url& url, RawTable& out) {
    auto add = [&](std::string key, std::string value) {
        RawEntry e;
        e.key = std::move(key);
        e.value.v = std::move(value);
        e.value.from_text = true;
        out.push_back(std::move(e));
    };
    if (url.port != 0) {
        throw ConfigError("write the device as iio://deviceN/..., iio://N/... or iio://NAME/... (the URL's "
                          "host:port syntax cannot hold 'iio:deviceN')");
    }
    if (url.host.empty()) {
        throw ConfigError("the URL needs a device: iio://0/in_voltage0 or iio://NAME/in_voltage0");
    }
    add("device", url.host);
    std::string path = url.path;
    while (!path.empty() && path.front() == '/') {
        path.erase(0, 1);
    }
    if (!path.empty()) {
        add("channels", path);
    }
    for (const auto& [k, v] : url.query) {
        add(k, v);
    }
}

// validate --healthcheck: the device is present in sysfs (a remote
// context is checked when the source connects to it).
bool probe_iio(const Options& o, std::string& detail) {
    if (o.has("uri") && !o.str("uri").empty()) {
        detail = "remote context: checked when the source starts";
        return true;
    }
    auto dev = resolve_device(o.str("sysfs_root"), o.str("device"));
    if (!dev) {
        detail = dev.error;
        return false;
    }
    detail = fmt::format("{} ({}) present", dev.value->id, dev.value->name);
    return true;
}

}  // namespace

const Descriptor& source_iio() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "iio",
        .summary = "Linux Industrial I/O sensors via sysfs: polled channels or buffered scans from /dev/iio:deviceN, "
                   "as Influx line protocol frames",
        .delivery = Delivery::BestEffort,
        .loss_window = "Samples read but not yet committed when the process dies are lost, and so is what the kernel "
                       "buffered while sluice was down: sensors cannot be asked for the past.",
        .options =
            {
                {.name = "device", .type = OptionType::String,
                 .doc = "The IIO device: its name or label (matched against bus/iio/devices/*/name), "
                        "\"iio:device0\", \"device0\" or \"0\"",
                 .required = true, .min = 1, .max = 256},
                {.name = "channels", .type = OptionType::List,
                 .doc = "Channels to read (in_voltage0, in_temp, in_accel_x, ...). Empty: poll every channel "
                        "with a _raw or _input file; buffer mode: every enabled scan element",
                 .max = 256},
                {.name = "mode", .type = OptionType::Enum, .default_value = "poll",
                 .doc = "poll: read sysfs every interval; buffer: read scan records from the device node",
                 .choices = "poll|buffer"},
                {.name = "interval", .type = OptionType::Duration, .default_value = "1s",
                 .doc = "Poll period; in both modes also the retry period while the device is missing",
                 .min = 0.001, .max = 86400},
                {.name = "sysfs_root", .type = OptionType::String, .default_value = "/sys",
                 .doc = "Where sysfs is mounted (a fixture tree in tests)", .min = 1},
                {.name = "dev_root", .type = OptionType::String, .default_value = "/dev",
                 .doc = "Directory of the iio:deviceN nodes", .min = 1},
                {.name = "device_node", .type = OptionType::String,
                 .doc = "Buffer mode: the node to read (default <dev_root>/iio:deviceN of the resolved device)"},
                {.name = "enable_channels", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Buffer mode: write the scan_elements *_en files (the listed channels and in_timestamp "
                        "on, the rest off). false: use what is enabled"},
                {.name = "buffer_length", .type = OptionType::Int,
                 .doc = "Buffer mode: samples the kernel buffer holds (buffer/length); unset: left as it is",
                 .min = 1, .max = 1 << 24},
                {.name = "watermark", .type = OptionType::Int,
                 .doc = "Buffer mode: samples before a read wakes up (buffer/watermark); unset: left as it is",
                 .min = 1, .max = 1 << 24},
                {.name = "trigger", .type = OptionType::String,
                 .doc = "Buffer mode: trigger name written to trigger/current_trigger; unset: left as it is",
                 .max = 256},
                {.name = "read_size", .type = OptionType::Size, .default_value = "64KiB",
                 .doc = "Buffer mode: bytes per read() of the device node", .min = 64, .max = 16 << 20},
                {.name = "uri", .type = OptionType::String,
                 .doc = "libiio context (ip:HOST, usb:..., local:) whose device is polled instead of sysfs; "
                        "poll mode only, channels required; needs a build with -DSLUICE_WITH_LIBIIO=ON",
                 .max = 1024},
            },
        .url_schemes = {"iio"},
        .from_url = iio_from_url,
        .url_example = "iio://0/in_voltage0,in_temp?interval=1s",
        .make_source = [](const Options& o) { return std::make_unique<IioSource>(o); },
        .watched = true,
        .probe = probe_iio,
    };
    return d;
}

}  // namespace sluice::components
