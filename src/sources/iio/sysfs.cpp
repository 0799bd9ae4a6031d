#include "sources/iio/sysfs.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace sluice::iio {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kDevicePrefix = "iio:device";

// "iio:device3", "device3" or "3" → 3.
std::optional<int> device_number(std::string_view spec) {
    if (spec.starts_with(kDevicePrefix)) {
        spec.remove_prefix(kDevicePrefix.size());
    } else if (spec.starts_with("device")) {
        spec.remove_prefix(6);
    }
    if (spec.empty() || spec.size() > 6 || !std::all_of(spec.begin(), spec.end(), [](char c) {
            return c >= '0' && c <= '9';
        })) {
        return std::nullopt;
    }
    return std::stoi(std::string(spec));
}

// Names become path components; keep them to one.
bool safe_component(std::string_view s) {
    return !s.empty() && s.find('/') == std::string_view::npos && s != "." && s != "..";
}

std::string first_existing(const std::string& dir, std::string_view channel, const ChannelName& parsed,
                           std::string_view suffix) {
    std::string own = fmt::format("{}/{}_{}", dir, channel, suffix);
    if (path_exists(own)) {
        return own;
    }
    for (const auto& prefix : parsed.shared_prefixes) {
        std::string shared = fmt::format("{}/{}_{}", dir, prefix, suffix);
        if (path_exists(shared)) {
            return shared;
        }
    }
    return {};
}

Result<double> read_number(const std::string& path) {
    auto text = read_attr(path);
    if (!text) {
        return Result<double>::fail(std::move(text.error));
    }
    if (auto v = parse_sysfs_number(*text.value)) {
        return Result<double>::ok(*v);
    }
    return Result<double>::fail(fmt::format("{}: '{}' is not a number", path, text.value->substr(0, 40)));
}

}  // namespace

Result<std::string> read_attr(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return Result<std::string>::fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    }
    std::string out;
    char buf[4096];
    while (out.size() < 64 * 1024) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            const int err = errno;
            ::close(fd);
            return Result<std::string>::fail(fmt::format("cannot read {}: {}", path, std::strerror(err)));
        }
        if (n == 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) {
        out.pop_back();
    }
    return Result<std::string>::ok(std::move(out));
}

std::optional<WriteError> write_attr(const std::string& path, std::string_view value) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        return WriteError{fmt::format("cannot write '{}' to {}: {}", value, path, std::strerror(err)), err == ENOENT};
    }
    const std::string text = std::string(value) + "\n";
    ssize_t n = -1;
    do {
        n = ::write(fd, text.data(), text.size());
    } while (n < 0 && errno == EINTR);
    const int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size())) {
        return WriteError{fmt::format("cannot write '{}' to {}: {}", value, path,
                                      n < 0 ? std::strerror(err) : "short write"),
                          false};
    }
    return std::nullopt;
}

bool path_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

Result<DeviceDir> resolve_device(const std::string& sysfs_root, std::string_view spec) {
    const std::string devices = sysfs_root + "/bus/iio/devices";
    auto finish = [&](int n) {
        DeviceDir d;
        d.number = n;
        d.id = fmt::format("{}{}", kDevicePrefix, n);
        d.path = devices + "/" + d.id;
        auto name = read_attr(d.path + "/name");
        d.name = name && !name.value->empty() ? *name.value : d.id;
        return d;
    };
    if (const auto n = device_number(spec)) {
        DeviceDir d = finish(*n);
        if (!path_exists(d.path)) {
            return Result<DeviceDir>::fail(fmt::format("no IIO device {} ({} does not exist)", d.id, d.path));
        }
        return Result<DeviceDir>::ok(std::move(d));
    }
    std::error_code ec;
    fs::directory_iterator it(devices, ec);
    if (ec) {
        return Result<DeviceDir>::fail(fmt::format("cannot list IIO devices in {}: {}", devices, ec.message()));
    }
    std::vector<int> numbers;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) {
            break;
        }
        if (const auto n = device_number(it->path().filename().string());
            n && it->path().filename().string().starts_with(kDevicePrefix)) {
            numbers.push_back(*n);
        }
    }
    std::sort(numbers.begin(), numbers.end());
    std::string seen;
    for (const int n : numbers) {
        DeviceDir d = finish(n);
        auto label = read_attr(d.path + "/label");
        if (d.name == spec || (label && *label.value == spec)) {
            return Result<DeviceDir>::ok(std::move(d));
        }
        seen += fmt::format("{}{} ({})", seen.empty() ? "" : ", ", d.id, d.name);
    }
    return Result<DeviceDir>::fail(fmt::format("no IIO device named '{}' in {} (found: {})", spec, devices,
                                               seen.empty() ? "none" : seen));
}

Result<ChannelFiles> find_channel_files(const DeviceDir& dev, const std::string& channel) {
    if (!safe_component(channel)) {
        return Result<ChannelFiles>::fail(fmt::format("invalid channel name '{}'", channel));
    }
    auto parsed = parse_channel_name(channel);
    if (!parsed) {
        return Result<ChannelFiles>::fail(std::move(parsed.error));
    }
    ChannelFiles f;
    f.name = channel;
    f.unit = std::string(unit_for_type(parsed.value->type));
    const std::string raw = fmt::format("{}/{}_raw", dev.path, channel);
    const std::string input = fmt::format("{}/{}_input", dev.path, channel);
    if (path_exists(raw)) {
        f.raw = raw;
        f.offset = first_existing(dev.path, channel, *parsed.value, "offset");
        f.scale = first_existing(dev.path, channel, *parsed.value, "scale");
    } else if (path_exists(input)) {
        f.input = input;  // already processed by the driver: no offset or scale
    } else {
        std::string have;
        for (const auto& c : discover_channels(dev)) {
            have += (have.empty() ? "" : ", ") + c;
        }
        return Result<ChannelFiles>::fail(fmt::format("{} ({}) has no channel '{}' (neither {}_raw nor {}_input "
                                                      "exists; channels: {})",
                                                      dev.id, dev.name, channel, channel, channel,
                                                      have.empty() ? "none" : have));
    }
    return Result<ChannelFiles>::ok(std::move(f));
}

std::vector<std::string> discover_channels(const DeviceDir& dev) {
    std::vector<std::string> out;
    std::error_code ec;
    fs::directory_iterator it(dev.path, ec);
    if (ec) {
        return out;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) {
            break;
        }
        const std::string file = it->path().filename().string();
        if (!file.starts_with("in_")) {
            continue;
        }
        std::string channel;
        if (file.ends_with("_raw")) {
            channel = file.substr(0, file.size() - 4);
        } else if (file.ends_with("_input")) {
            channel = file.substr(0, file.size() - 6);
        } else {
            continue;
        }
        if (parse_channel_name(channel)) {
            out.push_back(std::move(channel));
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

Result<double> read_channel(const ChannelFiles& ch) {
    if (ch.raw.empty()) {
        return read_number(ch.input);
    }
    auto raw = read_number(ch.raw);
    if (!raw) {
        return raw;
    }
    double offset = 0;
    double scale = 1;
    if (!ch.offset.empty()) {
        auto o = read_number(ch.offset);
        if (!o) {
            return o;
        }
        offset = *o.value;
    }
    if (!ch.scale.empty()) {
        auto s = read_number(ch.scale);
        if (!s) {
            return s;
        }
        scale = *s.value;
    }
    return Result<double>::ok(scaled(*raw.value, offset, scale));
}

Result<Calibration> read_calibration(const DeviceDir& dev, const std::string& channel) {
    Calibration c;
    auto parsed = parse_channel_name(channel);
    if (!parsed) {
        return Result<Calibration>::ok(c);  // e.g. a vendor-named element: uncalibrated
    }
    if (const auto path = first_existing(dev.path, channel, *parsed.value, "offset"); !path.empty()) {
        auto o = read_number(path);
        if (!o) {
            return Result<Calibration>::fail(std::move(o.error));
        }
        c.offset = *o.value;
    }
    if (const auto path = first_existing(dev.path, channel, *parsed.value, "scale"); !path.empty()) {
        auto s = read_number(path);
        if (!s) {
            return Result<Calibration>::fail(std::move(s.error));
        }
        c.scale = *s.value;
    }
    return Result<Calibration>::ok(c);
}

Result<std::vector<ScanElementFiles>> read_scan_elements(const DeviceDir& dev) {
    using R = Result<std::vector<ScanElementFiles>>;
    const std::string dir = dev.path + "/scan_elements";
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
        return R::fail(fmt::format("{} ({}) has no readable scan_elements directory ({}); buffered capture needs "
                                   "one, or use mode = \"poll\"",
                                   dev.id, dev.name, ec.message()));
    }
    std::vector<std::string> names;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) {
            break;
        }
        const std::string file = it->path().filename().string();
        if (file.size() > 3 && file.ends_with("_en")) {
            names.push_back(file.substr(0, file.size() - 3));
        }
    }
    std::sort(names.begin(), names.end());
    std::vector<ScanElementFiles> out;
    for (const auto& name : names) {
        ScanElementFiles e;
        e.name = name;
        auto en = read_attr(fmt::format("{}/{}_en", dir, name));
        if (!en) {
            return R::fail(std::move(en.error));
        }
        e.enabled = parse_sysfs_integer(*en.value).value_or(0) != 0;
        auto index = read_attr(fmt::format("{}/{}_index", dir, name));
        if (!index) {
            return R::fail(std::move(index.error));
        }
        const auto idx = parse_sysfs_integer(*index.value);
        if (!idx || *idx < 0 || *idx > 1'000'000) {
            return R::fail(fmt::format("{}/{}_index: '{}' is not a scan index", dir, name, index.value->substr(0, 40)));
        }
        e.index = static_cast<unsigned>(*idx);
        auto type = read_attr(fmt::format("{}/{}_type", dir, name));
        if (!type) {
            return R::fail(std::move(type.error));
        }
        auto parsed = parse_scan_type(*type.value);
        if (!parsed) {
            return R::fail(fmt::format("{}/{}_type: {}", dir, name, parsed.error));
        }
        e.type = *parsed.value;
        out.push_back(std::move(e));
    }
    return R::ok(std::move(out));
}

}  // namespace sluice::iio
