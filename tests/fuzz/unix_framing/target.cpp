// The unix source's framer on arbitrary input. The first byte picks the
// framing and the frame limit, the next ones where the stream is cut into
// chunks; the rest is the stream. Checks what must always hold: no frame over
// the limit, and the same frames whichever way the stream is chunked.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "text/stream_framing.hpp"

namespace {

using sluice::framing::Framer;
using sluice::framing::Framing;

struct Outcome {
    std::vector<std::string> frames;
    bool failed = false;
};

Outcome run(Framing framing, std::size_t max, std::string_view data, std::size_t chunk) {
    Framer f(framing, max);
    Outcome o;
    for (std::size_t at = 0; at < data.size() && !o.failed; at += chunk) {
        auto r = f.feed(data.substr(at, chunk));
        o.frames.insert(o.frames.end(), r.frames.begin(), r.frames.end());
        o.failed = !r.error.empty();
    }
    if (!o.failed) {
        auto r = f.finish();
        o.frames.insert(o.frames.end(), r.frames.begin(), r.frames.end());
        o.failed = !r.error.empty();
    }
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2 || size > 64 * 1024) {
        return 0;
    }
    const Framing framing = (data[0] & 1) != 0 ? Framing::Length : Framing::Line;
    const std::size_t max = 1 + (data[0] >> 1);  // 1..128: small, so the limit is reached often
    const std::size_t chunk = 1 + data[1] % 17;
    const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

    const Outcome whole = run(framing, max, stream, stream.size() + 1);
    const Outcome pieces = run(framing, max, stream, chunk);
    for (const auto& f : pieces.frames) {
        if (f.size() > max || f.empty()) {
            std::abort();
        }
    }
    // Chunking must not change the outcome (frames before a fault included).
    if (whole.failed != pieces.failed || whole.frames != pieces.frames) {
        std::abort();
    }
    return 0;
}
