// Fuzzes the reader of a WebSocket client's frames (net/websocket.hpp), the
// bytes any client of a websocket sink sends. The input is read once whole
// and once in pieces whose sizes come from its first bytes: both must give
// the same frames and the same verdict. Frames respect the limits (control
// frames final and at most 125 bytes, data at most the reader's maximum).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/websocket.hpp"

namespace {

using sluice::net::WsFrame;
using sluice::net::WsFrameReader;
using sluice::net::WsOpcode;

constexpr std::size_t kMax = 4096;

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

struct Outcome {
    std::vector<WsFrame> frames;
    bool ok = true;
    std::uint16_t code = 0;
};

Outcome run(std::string_view data, std::string_view sizes) {
    WsFrameReader r(kMax);
    Outcome o;
    std::size_t i = 0;
    std::size_t k = 0;
    while (i < data.size() && o.ok) {
        std::size_t n = data.size() - i;
        if (!sizes.empty()) {
            n = 1 + static_cast<unsigned char>(sizes[k++ % sizes.size()]) % 32;
            n = n > data.size() - i ? data.size() - i : n;
        }
        o.ok = r.feed(data.substr(i, n), o.frames);
        i += n;
    }
    o.code = r.close_code();
    check(o.ok == !r.failed());
    check(o.ok || !r.error().empty());
    for (const auto& f : o.frames) {
        check(f.payload.size() <= kMax);
        if (static_cast<std::uint8_t>(f.opcode) >= 0x8) {
            check(f.fin && f.payload.size() <= 125);
        }
    }
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const Outcome whole = run(input, {});
    const Outcome pieces = run(input, input.substr(0, 16));
    check(whole.ok == pieces.ok);
    check(whole.code == pieces.code);
    check(whole.frames.size() == pieces.frames.size());
    for (std::size_t i = 0; i < whole.frames.size(); ++i) {
        check(whole.frames[i].opcode == pieces.frames[i].opcode);
        check(whole.frames[i].payload == pieces.frames[i].payload);
    }
    return 0;
}
