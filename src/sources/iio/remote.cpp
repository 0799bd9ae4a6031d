#include "sources/iio/remote.hpp"

#include <cstring>

#include <fmt/format.h>

#ifdef SLUICE_HAVE_LIBIIO
#include <iio.h>
#endif

namespace sluice::iio {

#ifndef SLUICE_HAVE_LIBIIO

bool have_libiio() { return false; }

Result<std::unique_ptr<RemoteDevice>> open_remote(const std::string&, const std::string&,
                                                  const std::vector<std::string>&) {
    return Result<std::unique_ptr<RemoteDevice>>::fail(
        "this build has no libiio; remote contexts need -DSLUICE_WITH_LIBIIO=ON");
}

#else

namespace {

struct ContextDeleter {
    void operator()(iio_context* c) const { iio_context_destroy(c); }
};

std::string errno_text(int err) {
    char buf[256];
    iio_strerror(err, buf, sizeof buf);
    return buf;
}

class LibiioDevice final : public RemoteDevice {
public:
    const std::string& id() const override { return id_; }
    const std::string& name() const override { return name_; }
    const std::vector<std::string>& units() const override { return units_; }

    std::vector<Result<double>> read() override {
        std::vector<Result<double>> out;
        for (std::size_t i = 0; i < channels_.size(); ++i) {
            out.push_back(read_one(i));
        }
        return out;
    }

    std::unique_ptr<iio_context, ContextDeleter> ctx;
    iio_device* dev = nullptr;
    std::string id_, name_;
    std::vector<std::string> names_, units_;
    std::vector<iio_channel*> channels_;

private:
    Result<double> attr(std::size_t i, const char* attr) {
        char buf[128];
        const ssize_t n = iio_channel_attr_read(channels_[i], attr, buf, sizeof buf);
        if (n < 0) {
            return Result<double>::fail(
                fmt::format("{}: reading {}_{} failed: {}", id_, names_[i], attr, errno_text(static_cast<int>(-n))));
        }
        if (auto v = parse_sysfs_number(std::string_view(buf, strnlen(buf, sizeof buf)))) {
            return Result<double>::ok(*v);
        }
        return Result<double>::fail(fmt::format("{}: {}_{} is not a number", id_, names_[i], attr));
    }

    Result<double> read_one(std::size_t i) {
        if (iio_channel_find_attr(channels_[i], "raw") == nullptr) {
            return attr(i, "input");
        }
        auto raw = attr(i, "raw");
        if (!raw) {
            return raw;
        }
        double offset = 0;
        double scale = 1;
        if (iio_channel_find_attr(channels_[i], "offset") != nullptr) {
            auto o = attr(i, "offset");
            if (!o) {
                return o;
            }
            offset = *o.value;
        }
        if (iio_channel_find_attr(channels_[i], "scale") != nullptr) {
            auto s = attr(i, "scale");
            if (!s) {
                return s;
            }
            scale = *s.value;
        }
        return Result<double>::ok(scaled(*raw.value, offset, scale));
    }
};

}  // namespace

bool have_libiio() { return true; }

Result<std::unique_ptr<RemoteDevice>> open_remote(const std::string& uri, const std::string& device,
                                                  const std::vector<std::string>& channels) {
    using R = Result<std::unique_ptr<RemoteDevice>>;
    auto d = std::make_unique<LibiioDevice>();
    d->ctx.reset(iio_create_context_from_uri(uri.c_str()));
    if (!d->ctx) {
        return R::fail(fmt::format("cannot open libiio context '{}': {}", uri, errno_text(errno)));
    }
    (void)iio_context_set_timeout(d->ctx.get(), 5000);
    d->dev = iio_context_find_device(d->ctx.get(), device.c_str());
    if (d->dev == nullptr) {
        return R::fail(fmt::format("no IIO device '{}' in libiio context '{}'", device, uri));
    }
    d->id_ = iio_device_get_id(d->dev);
    const char* name = iio_device_get_name(d->dev);
    d->name_ = name != nullptr && *name != '\0' ? name : d->id_;
    for (const auto& c : channels) {
        auto parsed = parse_channel_name(c);
        if (!parsed) {
            return R::fail(parsed.error);
        }
        const bool output = parsed.value->direction == "out";
        const std::string chan_id = c.substr(parsed.value->direction.size() + 1);
        iio_channel* ch = iio_device_find_channel(d->dev, chan_id.c_str(), output);
        if (ch == nullptr) {
            return R::fail(fmt::format("{} ({}) in '{}' has no channel '{}'", d->id_, d->name_, uri, c));
        }
        d->channels_.push_back(ch);
        d->names_.push_back(c);
        d->units_.emplace_back(unit_for_type(parsed.value->type));
    }
    return R::ok(std::move(d));
}

#endif

}  // namespace sluice::iio
