// The one CSV tokenizer (text/csv.hpp) on arbitrary bytes, in several
// dialects with small bounds. The first byte picks the dialect. Checks that
// every call makes progress, the bounds hold, and that a row read, written
// back with every field quoted, reads back as the same fields.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "text/csv.hpp"

namespace {

std::string quoted_row(const sluice::csv::Row& row, const std::string& delimiter) {
    std::string out;
    for (std::size_t k = 0; k < row.size; ++k) {
        if (k != 0) {
            out += delimiter;
        }
        out += '"';
        for (const char c : row.fields[k]) {
            out += c;
            if (c == '"') {
                out += '"';
            }
        }
        out += '"';
    }
    out += "\r\n";
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    static const char* const kDelimiters[] = {",", ";", "\t", "||", " ", ", "};
    sluice::csv::Dialect d;
    d.delimiter = kDelimiters[data[0] % 6];
    d.max_fields = (data[0] & 0x80) != 0 ? 5 : 10000;
    d.max_field_bytes = (data[0] & 0x40) != 0 ? 8 : 1 << 20;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

    sluice::csv::Reader reader(text, d);
    sluice::csv::Row row;
    sluice::csv::Row again;
    sluice::csv::Problem problem;
    std::size_t calls = 0;
    std::size_t last_line = 0;
    while (!reader.done()) {
        if (++calls > text.size() + 1) {
            std::abort();  // a call that read nothing
        }
        const bool ok = reader.next(row, problem);
        if (!ok) {
            if (problem.error == sluice::csv::Error::None || problem.message.empty() || problem.line < last_line) {
                std::abort();
            }
            last_line = problem.line;
            continue;
        }
        if (row.line < last_line || row.size > d.max_fields || row.size > row.fields.size()) {
            std::abort();
        }
        last_line = row.line;
        for (std::size_t k = 0; k < row.size; ++k) {
            if (row.fields[k].size() > d.max_field_bytes) {
                std::abort();
            }
        }
        if (row.size == 0) {
            continue;
        }
        const std::string written = quoted_row(row, d.delimiter);
        sluice::csv::Reader back(written, d);
        if (!back.next(again, problem) || again.size != row.size || !back.done()) {
            std::abort();
        }
        for (std::size_t k = 0; k < row.size; ++k) {
            if (again.fields[k] != row.fields[k]) {
                std::abort();
            }
        }
    }
    return 0;
}
