#pragma once
// Salvage of a buffer whose b-tree is lost (a truncated file whose interior
// pages were at its end): the records are still on their table-leaf pages.
// This reads SQLite's file format directly (https://sqlite.org/fileformat.html),
// so it takes whatever bytes a damaged file holds: every length and offset is
// checked against the page it is on, overflow chains are bounded by the
// record's length, and a cell that does not have the records table's shape
// (id, integer ts, integer size, a blob, and since schema v3 an integer n)
// is skipped.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

namespace sluice::buffer_detail {

// A big-endian 32-bit field of SQLite's file format (header, page links).
inline std::uint32_t be32(const unsigned char* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// Reads `n` bytes at `offset` into `into`; false if the file is shorter.
using PageReader = std::function<bool(std::uint64_t offset, unsigned char* into, std::size_t n)>;
// One record cell found: its row id (its last record's id), ts, body and
// n (the records it holds; 1 for rows written before schema v3).
using RecordCellFn =
    std::function<void(std::uint64_t rowid, std::int64_t ts, std::string_view body, std::uint64_t n)>;

// Every table-leaf page after the first, in file order. Rows of freed pages
// may come back too (the caller trims ids every sink has confirmed).
void scan_record_pages(const PageReader& read, const RecordCellFn& fn);
// The same over a file; nothing if it cannot be opened.
void scan_record_pages(const std::filesystem::path& path, const RecordCellFn& fn);
// The same over bytes in memory (the fuzz target).
void scan_record_pages(std::string_view file, const RecordCellFn& fn);

}  // namespace sluice::buffer_detail
