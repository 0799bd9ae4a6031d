#include "decoders/csv/csv.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "decoders/decoder_options.hpp"
#include "text/text_value.hpp"
#include "decoders/timestamp.hpp"

namespace sluice::decoders {

namespace {

enum class RowVerdict { Ok, NotMine, Broken };

struct OriginState {
    std::vector<std::string> header;  // learnt header (no `columns` configured)
    bool first_line_done = false;     // header learnt, or skipped (`header` = true)
    std::uint64_t last_used = 0;
};

std::string join_columns(const std::vector<std::string>& cols) {
    std::string s;
    for (const auto& c : cols) {
        if (!s.empty()) {
            s += ',';
        }
        s += c;
        if (s.size() > 200) {
            s.resize(200);
            s += "...";
            break;
        }
    }
    return s;
}

class CsvDecoder final : public Decoder {
public:
    explicit CsvDecoder(CsvConfig c) : cfg_(std::move(c)) {
        // Blanks around unquoted cells are noise, unless they separate cells.
        for (char ch : std::string_view(" \t")) {
            if (cfg_.separator.find(ch) == std::string::npos) {
                blanks_ += ch;
            }
        }
    }

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        const std::string_view p = frame.payload;
        const std::size_t first = out.size();

        // Per-origin state is only read here; changes are committed once the
        // whole frame decoded, so a rejected frame leaves no trace.
        OriginState* state = nullptr;
        const bool needs_state = cfg_.columns.empty() || cfg_.header;
        if (needs_state) {
            auto it = origins_.find(std::string_view(frame.origin));
            if (it != origins_.end()) {
                state = &it->second;
            }
        }
        bool first_line_done = state != nullptr && state->first_line_done;
        std::vector<std::string> learnt;  // header found in this frame
        const std::vector<std::string>* cols =
            !cfg_.columns.empty() ? &cfg_.columns : (state != nullptr ? &state->header : nullptr);

        std::size_t pos = 0;
        std::size_t line_no = 1;
        std::size_t mine = 0;  // rows (header included) that were CSV
        std::size_t foreign_line = 0;
        std::string foreign_reason;
        while (pos < p.size()) {
            const std::size_t row_line = line_no;
            std::string message;
            const RowVerdict split = split_row(p, pos, line_no, message);
            if (split == RowVerdict::Broken) {
                out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                error = fmt::format("csv: line {}: {}", row_line, message);
                return DecodeStatus::Broken;
            }
            if (split == RowVerdict::NotMine) {
                if (foreign_line == 0) {
                    foreign_line = row_line;
                    foreign_reason = std::move(message);
                }
                continue;
            }
            if (ncells_ == 0) {
                continue;  // blank line
            }
            if (!first_line_done && cfg_.columns.empty()) {
                if (!had_separator_) {
                    if (foreign_line == 0) {
                        foreign_line = row_line;
                        foreign_reason = "no separator, so not a header";
                    }
                    continue;
                }
                if (const auto why = not_a_header()) {
                    if (foreign_line == 0) {
                        foreign_line = row_line;
                        foreign_reason = *why;
                    }
                    continue;
                }
                learnt.clear();
                for (std::size_t k = 0; k < ncells_; ++k) {
                    if (cells_[k].empty()) {
                        out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                        error = fmt::format("csv: line {}: header column {} is empty", row_line, k + 1);
                        return DecodeStatus::Broken;
                    }
                    learnt.push_back(cells_[k]);
                }
                cols = &learnt;
                first_line_done = true;
                ++mine;
                continue;
            }
            if (!first_line_done && cfg_.header) {
                first_line_done = true;
                ++mine;
                continue;
            }
            if (ncells_ != cols->size()) {
                if (!had_separator_) {
                    if (foreign_line == 0) {
                        foreign_line = row_line;
                        foreign_reason = fmt::format("no separator, expected {} fields", cols->size());
                    }
                    continue;
                }
                out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                error = fmt::format("csv: line {}: {} field{}, expected {} ({})", row_line, ncells_,
                                    ncells_ == 1 ? "" : "s", cols->size(), join_columns(*cols));
                return DecodeStatus::Broken;
            }
            ++mine;
            Record& r = out.emplace_back();
            r.origin = frame.origin;
            r.fields.reserve(ncells_);
            for (std::size_t k = 0; k < ncells_; ++k) {
                if (cells_[k].empty()) {
                    continue;
                }
                r.fields.push_back(Field{(*cols)[k], typed_value(cells_[k], cfg_.decimal_comma)});
            }
            if (auto err = take_time_field(r)) {
                out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                error = fmt::format("csv: line {}: {}", row_line, *err);
                return DecodeStatus::Broken;
            }
        }
        if (foreign_line != 0) {
            if (mine == 0) {
                return DecodeStatus::NotMine;
            }
            out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
            error = fmt::format("csv: line {}: {}", foreign_line, foreign_reason);
            return DecodeStatus::Broken;
        }
        if (mine == 0) {
            return DecodeStatus::NotMine;  // nothing but blank lines
        }
        if (needs_state) {
            commit(frame.origin, first_line_done, learnt);
        }
        return DecodeStatus::Ok;
    }

private:
    void commit(const std::string& origin, bool first_line_done, std::vector<std::string>& learnt) {
        auto it = origins_.find(std::string_view(origin));
        if (it == origins_.end()) {
            if (origins_.size() >= cfg_.max_origins) {
                auto oldest = origins_.begin();
                for (auto o = origins_.begin(); o != origins_.end(); ++o) {
                    if (o->second.last_used < oldest->second.last_used) {
                        oldest = o;
                    }
                }
                origins_.erase(oldest);
            }
            it = origins_.emplace(origin, OriginState{}).first;
        }
        it->second.last_used = ++tick_;
        it->second.first_line_done = first_line_done;
        if (!learnt.empty()) {
            it->second.header = std::move(learnt);
        }
    }

    // A header names columns. A first line holding a number or a key=value
    // pair is data of some format, and learning it as the header would
    // garble every later line from that origin.
    std::optional<std::string> not_a_header() const {
        for (std::size_t k = 0; k < ncells_; ++k) {
            const std::string& c = cells_[k];
            if (parse_number(c)) {
                return fmt::format("cell {} ('{}') is a number, so the line is not a header", k + 1, excerpt(c));
            }
            if (c.find('=') != std::string::npos) {
                return fmt::format("cell {} ('{}') holds '=', so the line is not a header", k + 1, excerpt(c));
            }
        }
        return std::nullopt;
    }

    bool at_separator(std::string_view p, std::size_t i) const {
        const std::string& sep = cfg_.separator;
        if (sep.size() == 1) {
            return p[i] == sep[0];
        }
        return p.compare(i, sep.size(), sep) == 0;
    }

    std::string_view trim_blanks(std::string_view s) const {
        while (!s.empty() && blanks_.find(s.front()) != std::string::npos) {
            s.remove_prefix(1);
        }
        while (!s.empty() && (s.back() == '\r' || blanks_.find(s.back()) != std::string::npos)) {
            s.remove_suffix(1);
        }
        return s;
    }

    std::string& next_cell() {
        if (ncells_ == cells_.size()) {
            cells_.emplace_back();
        }
        std::string& c = cells_[ncells_++];
        c.clear();
        return c;
    }

    // Splits the row starting at `pos` into cells_ (quoted cells may span
    // lines) and moves `pos` past its line end. An empty row has no cells.
    RowVerdict split_row(std::string_view p, std::size_t& pos, std::size_t& line_no, std::string& message) {
        ncells_ = 0;
        had_separator_ = false;
        const std::size_t row_start = pos;
        std::size_t i = pos;
        const std::size_t n = p.size();
        {
            // Blank rows are skipped before they become one empty cell.
            std::size_t j = i;
            while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r')) {
                ++j;
            }
            if (j == n || p[j] == '\n') {
                pos = j == n ? n : j + 1;
                ++line_no;
                return RowVerdict::Ok;
            }
        }
        while (true) {
            std::size_t j = i;
            while (j < n && blanks_.find(p[j]) != std::string::npos) {
                ++j;
            }
            std::string& cell = next_cell();
            if (j < n && p[j] == '"') {
                const std::size_t quote_col = j - row_start + 1;
                std::size_t k = j + 1;
                while (true) {
                    const std::size_t q = p.find('"', k);
                    if (q == std::string_view::npos) {
                        message = fmt::format("unterminated quoted field starting at column {}", quote_col);
                        // A stray quote in text without separators is not CSV.
                        const bool sep_seen = had_separator_ || row_has_separator(p, i);
                        pos = n;
                        return sep_seen ? RowVerdict::Broken : RowVerdict::NotMine;
                    }
                    for (std::size_t x = k; x < q; ++x) {
                        if (p[x] == '\n') {
                            ++line_no;
                        }
                    }
                    cell.append(p.substr(k, q - k));
                    if (q + 1 < n && p[q + 1] == '"') {
                        cell += '"';
                        k = q + 2;
                        continue;
                    }
                    i = q + 1;
                    break;
                }
                while (i < n && (blanks_.find(p[i]) != std::string::npos || p[i] == '\r')) {
                    ++i;
                }
                if (i < n && p[i] != '\n' && !at_separator(p, i)) {
                    message = fmt::format("unexpected '{}' after a quoted field at column {}",
                                          excerpt(p.substr(i, 1)), i - row_start + 1);
                    pos = skip_line(p, i, line_no);
                    return had_separator_ || row_has_separator(p, i) ? RowVerdict::Broken : RowVerdict::NotMine;
                }
            } else {
                std::size_t k = i;
                while (k < n && p[k] != '\n' && !at_separator(p, k)) {
                    ++k;
                }
                cell.assign(trim_blanks(p.substr(i, k - i)));
                i = k;
            }
            if (i < n && p[i] != '\n') {
                // At a separator.
                had_separator_ = true;
                i += cfg_.separator.size();
                continue;
            }
            pos = i < n ? i + 1 : n;
            ++line_no;
            return RowVerdict::Ok;
        }
    }

    bool row_has_separator(std::string_view p, std::size_t from) const {
        for (std::size_t i = from; i < p.size() && p[i] != '\n'; ++i) {
            if (at_separator(p, i)) {
                return true;
            }
        }
        return false;
    }

    static std::size_t skip_line(std::string_view p, std::size_t i, std::size_t& line_no) {
        const std::size_t eol = p.find('\n', i);
        ++line_no;
        return eol == std::string_view::npos ? p.size() : eol + 1;
    }

    CsvConfig cfg_;
    std::string blanks_;
    std::map<std::string, OriginState, std::less<>> origins_;
    std::uint64_t tick_ = 0;
    std::vector<std::string> cells_;  // reused between rows; ncells_ in use
    std::size_t ncells_ = 0;
    bool had_separator_ = false;
};

}  // namespace

std::unique_ptr<Decoder> make_csv_decoder(CsvConfig config) {
    if (config.separator == "\\t" || config.separator == "tab") {
        config.separator = "\t";
    }
    if (config.separator.empty()) {
        throw ConfigError("separator must not be empty");
    }
    if (config.separator.find_first_of("\"\r\n") != std::string::npos) {
        throw ConfigError("separator must not contain quotes or line breaks");
    }
    if (config.decimal_comma && config.separator.find(',') != std::string::npos) {
        throw ConfigError("decimal_comma = true needs a separator other than ',' (for example \";\")");
    }
    for (std::size_t i = 0; i < config.columns.size(); ++i) {
        if (config.columns[i].empty()) {
            throw ConfigError(fmt::format("columns: name {} is empty", i + 1));
        }
    }
    if (config.max_origins == 0) {
        config.max_origins = 1;
    }
    return std::make_unique<CsvDecoder>(std::move(config));
}

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_csv() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "csv";
        d.summary = "Delimited text rows with a header line or configured columns; cells typed as numbers, booleans or text";
        d.options = {
            OptionSpec{.name = "columns",
                       .type = OptionType::List,
                       .default_value = "",
                       .doc = "Column names, in order. Empty: the first line from each origin is read as the header."},
            OptionSpec{.name = "separator",
                       .type = OptionType::String,
                       .default_value = ",",
                       .doc = "Cell separator, one or more characters; \"tab\" or \"\\t\" means a tab.",
                       .min = 1,
                       .max = 8},
            OptionSpec{.name = "decimal_comma",
                       .type = OptionType::Bool,
                       .default_value = "false",
                       .doc = "Read \"21,5\" as 21.5. Needs a separator other than \",\"."},
            OptionSpec{.name = "header",
                       .type = OptionType::Bool,
                       .default_value = "false",
                       .doc = "With columns: the first line from each origin is a header and is skipped. "
                              "Without columns the first line is always the header."},
        };
        d.make_decoder = [](const Options& o) -> std::unique_ptr<Decoder> {
            decoders::CsvConfig c;
            c.columns = decoders::option_list(o, "columns");
            c.separator = decoders::option_string(o, "separator", ",");
            c.decimal_comma = decoders::option_bool(o, "decimal_comma", false);
            c.header = decoders::option_bool(o, "header", false);
            return decoders::make_csv_decoder(std::move(c));
        };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
