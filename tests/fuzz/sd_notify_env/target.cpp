// What the service manager puts in the environment: NOTIFY_SOCKET,
// WATCHDOG_USEC and WATCHDOG_PID, one per line of the input. The notifier is
// built from them (its socket address checked and laid out) but sends nothing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/sd_notify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 4096) {
        return 0;
    }
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string fields[3];
    std::size_t start = 0;
    for (int i = 0; i < 3 && start <= text.size(); ++i) {
        const auto nl = text.find('\n', start);
        fields[i] = std::string(text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
        start = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    }
    (void)sluice::sd::parse_usec(fields[1]);
    const auto env = sluice::sd::notify_env_from(fields[0].c_str(), fields[1].c_str(),
                                                 fields[2].empty() ? nullptr : fields[2].c_str(), 4242);
    sluice::sd::Notifier notifier(env);
    (void)notifier.enabled();
    (void)notifier.watchdog_interval();
    return 0;
}
