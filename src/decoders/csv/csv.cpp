#include "decoders/csv/csv.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "decoders/decoder_options.hpp"
#include "text/csv.hpp"
#include "text/text_value.hpp"
#include "decoders/timestamp.hpp"

namespace sluice::decoders {

namespace {

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
    explicit CsvDecoder(CsvConfig c) : cfg_(std::move(c)) { dialect_.delimiter = cfg_.separator; }

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

        csv::Reader reader(p, dialect_);
        csv::Problem problem;
        std::size_t mine = 0;  // rows (header included) that were CSV
        std::size_t foreign_line = 0;
        std::string foreign_reason;
        while (!reader.done()) {
            if (!reader.next(row_, problem)) {
                // A stray quote in text without separators is not CSV.
                if (problem.delimiter_on_line) {
                    out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                    error = fmt::format("csv: line {}: {}", problem.line, problem.message);
                    return DecodeStatus::Broken;
                }
                if (foreign_line == 0) {
                    foreign_line = problem.line;
                    foreign_reason = std::move(problem.message);
                }
                continue;
            }
            const std::size_t row_line = row_.line;
            const std::size_t ncells = row_.size;
            const std::vector<std::string>& cells = row_.fields;
            if (ncells == 0) {
                continue;  // blank line
            }
            if (!first_line_done && cfg_.columns.empty()) {
                if (!row_.had_delimiter) {
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
                for (std::size_t k = 0; k < ncells; ++k) {
                    if (cells[k].empty()) {
                        out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                        error = fmt::format("csv: line {}: header column {} is empty", row_line, k + 1);
                        return DecodeStatus::Broken;
                    }
                    learnt.push_back(cells[k]);
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
            if (ncells != cols->size()) {
                if (!row_.had_delimiter) {
                    if (foreign_line == 0) {
                        foreign_line = row_line;
                        foreign_reason = fmt::format("no separator, expected {} fields", cols->size());
                    }
                    continue;
                }
                out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                error = fmt::format("csv: line {}: {} field{}, expected {} ({})", row_line, ncells,
                                    ncells == 1 ? "" : "s", cols->size(), join_columns(*cols));
                return DecodeStatus::Broken;
            }
            ++mine;
            Record& r = out.emplace_back();
            r.origin = frame.origin;
            r.fields.reserve(ncells);
            for (std::size_t k = 0; k < ncells; ++k) {
                if (cells[k].empty()) {
                    continue;
                }
                r.fields.push_back(Field{(*cols)[k], typed_value(cells[k], cfg_.decimal_comma)});
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
        for (std::size_t k = 0; k < row_.size; ++k) {
            const std::string& c = row_.fields[k];
            if (parse_number(c)) {
                return fmt::format("cell {} ('{}') is a number, so the line is not a header", k + 1, excerpt(c));
            }
            if (c.find('=') != std::string::npos) {
                return fmt::format("cell {} ('{}') holds '=', so the line is not a header", k + 1, excerpt(c));
            }
        }
        return std::nullopt;
    }

    CsvConfig cfg_;
    csv::Dialect dialect_;
    std::map<std::string, OriginState, std::less<>> origins_;
    std::uint64_t tick_ = 0;
    csv::Row row_;  // reused between rows
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
