#pragma once
// The per-line loop the line-oriented decoders (influx, logfmt) share: one
// frame may carry many lines, and the frame's verdict follows from theirs.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/record.hpp"

namespace sluice::decoders {

enum class LineVerdict {
    Record,   // the record was filled
    Blank,    // nothing on the line: ignored
    Comment,  // this format's comment: no record, but the frame is this format
    NotMine,  // another format's line (`message` says why)
    Broken,   // this format, malformed (`message` says why)
};

// Calls `parse(line, record, message)` for every line of the frame (split on
// '\n'; the line excludes it). Records are appended to `out` and keep the
// frame's origin. The frame is:
//  - Broken if a line is, or if some lines are records and others are not
//    this format (`error` names the first such line, "<name>: line N: ...");
//  - NotMine if no line is a record or a comment, or if no line is a record
//    and some are not this format;
//  - Ok otherwise. On Broken and NotMine nothing is left appended.
template <typename Parse>
DecodeStatus decode_lines(std::string_view name, const Frame& frame, std::vector<Record>& out, std::string& error,
                          Parse&& parse) {
    const std::string_view p = frame.payload;
    const std::size_t first = out.size();
    std::size_t line_no = 0;
    std::size_t records = 0;
    std::size_t comments = 0;
    // The first line that was not this format, reported only if some other
    // line was.
    std::size_t foreign_line = 0;
    std::string foreign_reason;
    std::size_t pos = 0;
    while (pos < p.size()) {
        std::size_t eol = p.find('\n', pos);
        if (eol == std::string_view::npos) {
            eol = p.size();
        }
        const std::string_view line = p.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        Record& r = out.emplace_back();
        std::string message;
        const LineVerdict v = parse(line, r, message);
        if (v == LineVerdict::Record) {
            r.origin = frame.origin;
            ++records;
            continue;
        }
        out.pop_back();
        if (v == LineVerdict::Broken) {
            out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
            error = fmt::format("{}: line {}: {}", name, line_no, message);
            return DecodeStatus::Broken;
        }
        if (v == LineVerdict::Comment) {
            ++comments;
        } else if (v == LineVerdict::NotMine && foreign_line == 0) {
            foreign_line = line_no;
            foreign_reason = std::move(message);
        }
    }
    if (foreign_line != 0) {
        if (records == 0) {
            return DecodeStatus::NotMine;
        }
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
        error = fmt::format("{}: line {}: {}", name, foreign_line, foreign_reason);
        return DecodeStatus::Broken;
    }
    if (records == 0 && comments == 0) {
        return DecodeStatus::NotMine;
    }
    return DecodeStatus::Ok;
}

}  // namespace sluice::decoders
