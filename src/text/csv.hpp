#pragma once
// The one CSV tokenizer (RFC 4180), used by the csv decoder and by the CSV
// files of tables: splits text into rows of fields.
//
// - A row ends at LF or CR LF (a lone CR is data; a CR right before the line
//   end is dropped).
// - A field is quoted if its first character, blanks aside, is '"'; it may
//   then hold delimiters and line breaks, and "" stands for one quote. After
//   the closing quote only blanks may come before the delimiter or the line
//   end.
// - Blanks (space and tab unless the delimiter holds them) around unquoted
//   fields and around the quotes of quoted ones are dropped.
// - A row holding nothing but spaces, tabs and CRs is blank: it has no
//   fields.
// - The delimiter is one or more characters (no quote, CR or LF).
// - Rows hold at most `max_fields` fields of at most `max_field_bytes` bytes.
// Each byte is looked at a bounded number of times: linear time.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::csv {

struct Dialect {
    std::string delimiter = ",";
    std::size_t max_fields = 10000;
    std::size_t max_field_bytes = std::size_t{1} << 20;
};

struct Row {
    // The first `size` strings are the fields; the storage is reused from
    // row to row, so a reused Row allocates only for longer fields.
    std::vector<std::string> fields;
    std::size_t size = 0;
    std::size_t line = 0;        // 1-based line the row starts on
    bool had_delimiter = false;  // the row held a delimiter (outside quotes)
};

enum class Error {
    None,
    UnterminatedQuote,  // a quoted field runs to the end of the text
    TextAfterQuote,     // something other than blanks after a closing quote
    TooManyFields,      // more than max_fields fields
    FieldTooLarge,      // a field of more than max_field_bytes bytes
};

struct Problem {
    Error error = Error::None;
    std::size_t line = 0;    // the row's first line
    std::size_t column = 0;  // 1-based byte column from the start of the row
    // A delimiter on the row's line (before or after the problem): text
    // without one is likely not CSV at all.
    bool delimiter_on_line = false;
    std::string message;  // e.g. "unterminated quoted field starting at column 3"
};

class Reader {
public:
    // `text` and `dialect` must outlive the reader. Throws
    // std::invalid_argument for an empty delimiter or one holding a quote,
    // CR or LF.
    Reader(std::string_view text, const Dialect& dialect);

    bool done() const { return pos_ >= text_.size(); }
    // Reads the next row into `row` (a blank row has size 0). Returns false
    // with `problem` set if the row is not valid CSV; reading then goes on
    // at the next line (at the end of the text for an unterminated quote).
    // Only call while !done().
    bool next(Row& row, Problem& problem);

private:
    bool at_delimiter(std::size_t i) const;
    bool is_blank(char c) const;
    bool delimiter_in_line(std::size_t from) const;
    void skip_line(std::size_t from);
    bool fail(Problem& p, Error e, std::size_t line, std::size_t column, std::size_t at, bool had_delimiter,
              std::string message);

    std::string_view text_;
    const Dialect& d_;
    bool space_blank_ = true;
    bool tab_blank_ = true;
    std::size_t pos_ = 0;
    std::size_t line_ = 1;
};

}  // namespace sluice::csv
