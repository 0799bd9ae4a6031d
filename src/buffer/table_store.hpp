#pragma once
// The SQLite store behind the gateway's tables (tables/tables.hpp):
// <data_dir>/tables.db, one row per table and key, its own connection, WAL,
// one transaction per write call. Not named *.sqlite, so `sluice buffer`
// never takes it for a pipeline's buffer.

#include <filesystem>
#include <memory>

#include "tables/tables.hpp"

namespace sluice {

// Opens (creating) the database and locks it against a second sluice
// process. Throws std::runtime_error.
std::unique_ptr<TableStore> open_table_store(const std::filesystem::path& path);

}  // namespace sluice
