#include "text/stream_framing.hpp"

#include <fmt/format.h>

namespace sluice::framing {

namespace {

constexpr std::size_t kHeaderBytes = 4;

std::uint32_t read_be32(std::string_view b) {
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(b[0])) << 24) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(b[1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(b[2])) << 8) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b[3]));
}

void add_line(std::string_view line, FeedResult& out) {
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    if (!line.empty()) {
        out.frames.emplace_back(line);
    }
}

}  // namespace

FeedResult Framer::feed(std::string_view chunk) {
    FeedResult out;
    if (failed()) {
        out.error = error_;
        return out;
    }
    if (framing_ == Framing::Line) {
        feed_lines(chunk, out);
    } else {
        feed_length(chunk, out);
    }
    if (!out.error.empty()) {
        error_ = out.error;
        carry_.clear();
        carry_.shrink_to_fit();
    }
    return out;
}

void Framer::feed_lines(std::string_view chunk, FeedResult& out) {
    std::size_t start = 0;
    while (start < chunk.size()) {
        const auto nl = chunk.find('\n', start);
        const std::string_view piece = chunk.substr(start, nl == std::string_view::npos ? nl : nl - start);
        // The limit counts the line without its newline (a "\r" before it counts).
        if (carry_.size() + piece.size() > max_frame_) {
            out.error = fmt::format("line longer than max_frame_bytes ({} bytes)", max_frame_);
            return;
        }
        if (nl == std::string_view::npos) {
            carry_.append(piece);
            return;
        }
        if (carry_.empty()) {
            add_line(piece, out);
        } else {
            carry_.append(piece);
            add_line(carry_, out);
            carry_.clear();
        }
        start = nl + 1;
    }
}

void Framer::feed_length(std::string_view chunk, FeedResult& out) {
    while (!chunk.empty()) {
        if (!have_header_) {
            const std::size_t want = kHeaderBytes - carry_.size();
            const std::size_t take = std::min(want, chunk.size());
            carry_.append(chunk.substr(0, take));
            chunk.remove_prefix(take);
            if (carry_.size() < kHeaderBytes) {
                return;
            }
            const std::uint32_t len = read_be32(carry_);
            carry_.clear();
            if (len > max_frame_) {
                out.error = fmt::format("length prefix {} is over max_frame_bytes ({} bytes)", len, max_frame_);
                return;
            }
            if (len == 0) {
                continue;  // an empty frame carries nothing to decode (keep-alives)
            }
            expected_ = len;
            have_header_ = true;
        }
        const std::size_t take = std::min(expected_ - carry_.size(), chunk.size());
        bool complete = false;
        if (carry_.empty() && take == expected_) {
            out.frames.emplace_back(chunk.substr(0, take));  // whole body in this chunk: no copy into carry_
            complete = true;
        } else {
            carry_.append(chunk.substr(0, take));
            if (carry_.size() == expected_) {
                out.frames.push_back(std::move(carry_));
                carry_ = std::string();
                complete = true;
            }
        }
        chunk.remove_prefix(take);
        if (complete) {
            have_header_ = false;
            expected_ = 0;
        }
    }
}

FeedResult Framer::finish() {
    FeedResult out;
    if (failed()) {
        out.error = error_;
        return out;
    }
    if (framing_ == Framing::Line) {
        add_line(carry_, out);
    } else if (have_header_) {
        out.error = fmt::format("stream ended inside a frame ({} of {} bytes)", carry_.size(), expected_);
    } else if (!carry_.empty()) {
        out.error = fmt::format("stream ended inside a length prefix ({} of 4 bytes)", carry_.size());
    }
    carry_.clear();
    have_header_ = false;
    expected_ = 0;
    if (!out.error.empty()) {
        error_ = out.error;
    }
    return out;
}

}  // namespace sluice::framing
