// The built-in configuration and the default data directory.

#include <unistd.h>

#include <cstdlib>

#include "config/config.hpp"

namespace sluice {

namespace {

// Kept byte for byte equal to config/examples/default.toml (a test checks it).
constexpr std::string_view kDefaultConfig = R"toml(# sluice's built-in configuration, used by `sluice run` when neither -c nor
# /etc/sluice/sluice.toml is there. It simulates a few sensors and prints
# their records, so a fresh install shows something at once. Copy it to
# /etc/sluice/sluice.toml and edit; `sluice components` lists what else exists.

[gateway]
log_level = "info"

[http]
# /health, /ready and /metrics; "off" disables the API.
listen = "127.0.0.1:6666"

[pipelines.demo]
batch_max_records = 1000
batch_max_delay = "100ms"

[pipelines.demo.buffer]
max_bytes = "64MiB"
overflow = "drop_oldest"

[[pipelines.demo.sources]]
type = "simulate"
rate = 1                      # records per second
sensors = ["temperature", "humidity", "pressure"]
decode = ["json"]

[[pipelines.demo.sinks]]
type = "stdout"
)toml";

const char* non_empty_env(const char* name) {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : nullptr;
}

}  // namespace

std::string_view embedded_default_config() { return kDefaultConfig; }

std::filesystem::path default_data_dir() {
    if (const char* state = non_empty_env("STATE_DIRECTORY")) {
        // systemd passes a colon-separated list when StateDirectory= names several.
        const std::string_view s(state);
        return std::filesystem::path(std::string(s.substr(0, s.find(':'))));
    }
    if (::geteuid() == 0) {
        return "/var/lib/sluice";
    }
    if (const char* xdg = non_empty_env("XDG_STATE_HOME"); xdg != nullptr && xdg[0] == '/') {
        return std::filesystem::path(xdg) / "sluice";
    }
    if (const char* home = non_empty_env("HOME")) {
        return std::filesystem::path(home) / ".local" / "state" / "sluice";
    }
    // No $HOME either (a bare service manager). getpwuid() is not an option:
    // it needs NSS modules that a static binary cannot load.
    std::error_code ec;
    auto cwd = std::filesystem::current_path(ec);
    return (ec ? std::filesystem::path("/tmp") : cwd) / "sluice-state";
}

}  // namespace sluice
