#pragma once
// Polling a device in a libiio context (ip:HOST, usb:..., local:) for the
// `uri` option. Only built with libiio (SLUICE_HAVE_LIBIIO); otherwise
// open_remote() says so. Buffered capture over libiio is not implemented.

#include <memory>
#include <string>
#include <vector>

#include "sources/iio/scan.hpp"

namespace sluice::iio {

class RemoteDevice {
public:
    virtual ~RemoteDevice() = default;
    virtual const std::string& id() const = 0;    // libiio device id ("iio:device0")
    virtual const std::string& name() const = 0;  // device name, or the id
    virtual const std::vector<std::string>& units() const = 0;  // per channel, as configured
    // (raw + offset) * scale (or input) of every configured channel, in order.
    virtual std::vector<Result<double>> read() = 0;
};

bool have_libiio();

// Connects, finds the device (id, name or label) and each channel
// ("in_voltage0" → input channel "voltage0"). `channels` must not be empty.
Result<std::unique_ptr<RemoteDevice>> open_remote(const std::string& uri, const std::string& device,
                                                  const std::vector<std::string>& channels);

}  // namespace sluice::iio
