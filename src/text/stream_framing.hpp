#pragma once
// Splits a byte stream into frames: newline-terminated lines or 4-byte
// big-endian length-prefixed blobs, never buffering more than `max_frame`
// bytes. The one framer of streams: the unix source's sockets and the exec
// source's child output. Pure (no I/O) so unit tests and the fuzz target drive it
// directly.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::framing {

enum class Framing {
    Line,    // "...\n"; a trailing "\r" is removed, empty lines are skipped
    Length,  // uint32 big-endian length, then that many bytes; length 0 is skipped
};

struct FeedResult {
    std::vector<std::string> frames;  // complete frames, in order
    // Non-empty: the stream broke the framing rules (a frame over the limit,
    // or data cut off at end of stream). The stream cannot be resynchronised,
    // so the caller closes it; frames before the fault are still valid.
    std::string error;
};

class Framer {
public:
    Framer(Framing framing, std::size_t max_frame) : framing_(framing), max_frame_(max_frame) {}

    // Consumes one chunk. After an error every later call returns the same
    // error and no frames.
    FeedResult feed(std::string_view chunk);
    // At end of stream: a last line without a newline is a frame; a
    // length-prefixed frame cut short is an error.
    FeedResult finish();

    bool failed() const { return !error_.empty(); }
    // Bytes held for an incomplete frame.
    std::size_t pending_bytes() const { return carry_.size(); }

private:
    void feed_lines(std::string_view chunk, FeedResult& out);
    void feed_length(std::string_view chunk, FeedResult& out);

    Framing framing_;
    std::size_t max_frame_;
    std::string carry_;        // Line: partial line; Length: partial header, then partial body
    std::size_t expected_ = 0;  // Length: body size once the header is complete
    bool have_header_ = false;
    std::string error_;
};

}  // namespace sluice::framing
