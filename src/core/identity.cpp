#include "core/identity.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <fmt/format.h>

namespace sluice {
namespace {

std::mutex mu;
std::string configured;
std::string data_dir;

// The hex digits of a machine-id file, "" if missing or not one.
std::string read_machine_id(const char* path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) {
        return {};
    }
    std::string hex;
    for (char c : line) {
        if (std::isxdigit(static_cast<unsigned char>(c)) != 0) {
            hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    return hex.size() >= 12 ? hex : std::string();
}

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

std::string short_hash(std::string_view text, int digits) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    // FNV-1a leaves the high bits nearly untouched by the last bytes ("dir-a"
    // and "dir-b" would share a prefix): MurmurHash3's finaliser mixes them.
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    std::string hex = fmt::format("{:016x}", h);
    return hex.substr(0, static_cast<std::size_t>(std::clamp(digits, 1, 16)));
}

std::string machine_tag() {
    for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
        if (std::string id = read_machine_id(path); !id.empty()) {
            return id.substr(0, 12);
        }
    }
    return short_hash(host_name(), 12);
}

void set_data_dir(std::string path) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(path, ec).lexically_normal();
    if (!abs.has_filename() && abs.has_parent_path()) {
        abs = abs.parent_path();  // "dir/" and "dir" are the same directory
    }
    std::lock_guard lk(mu);
    data_dir = ec ? std::move(path) : abs.string();
}

std::string data_dir_tag() {
    std::lock_guard lk(mu);
    return data_dir.empty() ? std::string() : short_hash(data_dir, 4);
}

}  // namespace sluice
