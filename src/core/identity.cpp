#include "core/identity.hpp"

#include <unistd.h>

#include <mutex>

namespace sluice {
namespace {

std::mutex mu;
std::string configured;

}  // namespace

std::string host_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
        return "sluice";
    }
    return host;
}

void set_gateway_id(std::string id) {
    std::lock_guard lk(mu);
    configured = std::move(id);
}

std::string gateway_id() {
    {
        std::lock_guard lk(mu);
        if (!configured.empty()) {
            return configured;
        }
    }
    return host_name();
}

}  // namespace sluice
