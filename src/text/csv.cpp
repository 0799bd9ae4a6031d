#include "text/csv.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "text/text_value.hpp"

namespace sluice::csv {

Reader::Reader(std::string_view text, const Dialect& dialect) : text_(text), d_(dialect) {
    if (d_.delimiter.empty()) {
        throw std::invalid_argument("the CSV delimiter must not be empty");
    }
    if (d_.delimiter.find_first_of("\"\r\n") != std::string::npos) {
        throw std::invalid_argument("the CSV delimiter must not contain quotes or line breaks");
    }
    // Blanks around fields are noise, unless they separate fields.
    space_blank_ = d_.delimiter.find(' ') == std::string::npos;
    tab_blank_ = d_.delimiter.find('\t') == std::string::npos;
}

bool Reader::is_blank(char c) const { return (c == ' ' && space_blank_) || (c == '\t' && tab_blank_); }

bool Reader::at_delimiter(std::size_t i) const {
    const std::string& delim = d_.delimiter;
    if (delim.size() == 1) {
        return text_[i] == delim[0];
    }
    return text_.compare(i, delim.size(), delim) == 0;
}

bool Reader::delimiter_in_line(std::size_t from) const {
    for (std::size_t i = from; i < text_.size() && text_[i] != '\n'; ++i) {
        if (at_delimiter(i)) {
            return true;
        }
    }
    return false;
}

void Reader::skip_line(std::size_t from) {
    const std::size_t eol = text_.find('\n', from);
    ++line_;
    pos_ = eol == std::string_view::npos ? text_.size() : eol + 1;
}

bool Reader::fail(Problem& p, Error e, std::size_t line, std::size_t column, std::size_t at, bool had_delimiter,
                  std::string message) {
    p.error = e;
    p.line = line;
    p.column = column;
    p.delimiter_on_line = had_delimiter || delimiter_in_line(at);
    p.message = std::move(message);
    if (e == Error::UnterminatedQuote) {
        pos_ = text_.size();
    } else {
        skip_line(at);
    }
    return false;
}

bool Reader::next(Row& row, Problem& problem) {
    const std::string_view p = text_;
    const std::size_t n = p.size();
    const std::size_t row_start = pos_;
    row.size = 0;
    row.line = line_;
    row.had_delimiter = false;
    problem = Problem{};
    {
        // Blank rows are skipped before they become one empty field.
        std::size_t j = pos_;
        while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r')) {
            ++j;
        }
        if (j == n || p[j] == '\n') {
            pos_ = j == n ? n : j + 1;
            ++line_;
            return true;
        }
    }
    std::size_t i = pos_;
    while (true) {
        if (row.size == d_.max_fields) {
            return fail(problem, Error::TooManyFields, row.line, i - row_start + 1, i, true,
                        fmt::format("more than {} fields", d_.max_fields));
        }
        if (row.size == row.fields.size()) {
            row.fields.emplace_back();
        }
        std::string& field = row.fields[row.size++];
        field.clear();
        std::size_t j = i;
        while (j < n && is_blank(p[j])) {
            ++j;
        }
        if (j < n && p[j] == '"') {
            const std::size_t quote_col = j - row_start + 1;
            std::size_t k = j + 1;
            while (true) {
                const std::size_t q = p.find('"', k);
                if (q == std::string_view::npos) {
                    return fail(problem, Error::UnterminatedQuote, row.line, quote_col, i, row.had_delimiter,
                                fmt::format("unterminated quoted field starting at column {}", quote_col));
                }
                for (std::size_t x = k; x < q; ++x) {
                    if (p[x] == '\n') {
                        ++line_;
                    }
                }
                if (field.size() + (q - k) > d_.max_field_bytes) {
                    return fail(problem, Error::FieldTooLarge, row.line, quote_col, q, row.had_delimiter,
                                fmt::format("field {} is longer than {} bytes", row.size, d_.max_field_bytes));
                }
                field.append(p.substr(k, q - k));
                if (q + 1 < n && p[q + 1] == '"') {
                    field += '"';
                    k = q + 2;
                    continue;
                }
                i = q + 1;
                break;
            }
            while (i < n && (is_blank(p[i]) || p[i] == '\r')) {
                ++i;
            }
            if (i < n && p[i] != '\n' && !at_delimiter(i)) {
                return fail(problem, Error::TextAfterQuote, row.line, i - row_start + 1, i, row.had_delimiter,
                            fmt::format("unexpected '{}' after a quoted field at column {}", excerpt(p.substr(i, 1)),
                                        i - row_start + 1));
            }
        } else {
            std::size_t k = i;
            while (k < n && p[k] != '\n' && !at_delimiter(k)) {
                ++k;
            }
            std::size_t first = j;
            std::size_t last = k;
            while (last > first && (p[last - 1] == '\r' || is_blank(p[last - 1]))) {
                --last;
            }
            if (last - first > d_.max_field_bytes) {
                return fail(problem, Error::FieldTooLarge, row.line, first - row_start + 1, k, row.had_delimiter,
                            fmt::format("field {} is longer than {} bytes", row.size, d_.max_field_bytes));
            }
            field.assign(p.substr(first, last - first));
            i = k;
        }
        if (i < n && p[i] != '\n') {
            // At a delimiter.
            row.had_delimiter = true;
            i += d_.delimiter.size();
            continue;
        }
        pos_ = i < n ? i + 1 : n;
        ++line_;
        return true;
    }
}

}  // namespace sluice::csv
