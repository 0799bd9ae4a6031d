#pragma once
// Splits a byte stream into newline-terminated lines across read() chunks.
// Lines longer than the limit are skipped (and reported), never buffered
// without bound.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

class LineSplitter {
public:
    // `keep_empty`: empty lines are lines too (where each line answers
    // something); otherwise they are skipped.
    explicit LineSplitter(std::size_t max_line, bool keep_empty = false)
        : max_line_(max_line), keep_empty_(keep_empty) {}

    // Calls on_line(std::string_view line, std::uint64_t end_offset) for each
    // complete line (without "\n" or "\r\n"; empty lines skipped unless
    // keep_empty) and
    // on_too_long(std::uint64_t end_offset) for each over-long one.
    // end_offset is the stream offset just past the line's newline.
    template <class OnLine, class OnTooLong>
    void feed(std::string_view chunk, OnLine&& on_line, OnTooLong&& on_too_long) {
        std::size_t start = 0;
        while (start < chunk.size()) {
            const auto nl = chunk.find('\n', start);
            if (nl == std::string_view::npos) {
                const auto rest = chunk.substr(start);
                if (skipping_ || carry_.size() + rest.size() > max_line_) {
                    skipping_ = true;
                    carry_.clear();
                } else {
                    carry_.append(rest);
                }
                offset_ += rest.size();
                return;
            }
            std::string_view piece = chunk.substr(start, nl - start);
            offset_ += piece.size() + 1;
            if (skipping_ || carry_.size() + piece.size() > max_line_) {
                skipping_ = false;
                carry_.clear();
                on_too_long(offset_);
            } else if (carry_.empty()) {
                emit(piece, on_line);
            } else {
                carry_.append(piece);
                emit(carry_, on_line);
                carry_.clear();
            }
            start = nl + 1;
        }
    }

    // At end of stream: the unterminated last line, if any.
    template <class OnLine>
    void finish(OnLine&& on_line) {
        if (!skipping_ && !carry_.empty()) {
            emit(carry_, on_line);
        }
        carry_.clear();
        skipping_ = false;
    }

    void reset(std::uint64_t offset) {
        carry_.clear();
        skipping_ = false;
        offset_ = offset;
    }
    std::uint64_t offset() const { return offset_; }
    // Part of a line (or of an over-long one) has come in, its end not yet.
    bool mid_line() const { return !carry_.empty() || skipping_; }
    // Offset of the first byte not yet part of an emitted/skipped line.
    std::uint64_t committed_offset() const { return offset_ - carry_.size(); }

private:
    template <class OnLine>
    void emit(std::string_view line, OnLine& on_line) {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (!line.empty() || keep_empty_) {
            on_line(line, offset_);
        }
    }

    std::size_t max_line_;
    bool keep_empty_ = false;
    std::string carry_;
    bool skipping_ = false;
    std::uint64_t offset_ = 0;
};

}  // namespace sluice
