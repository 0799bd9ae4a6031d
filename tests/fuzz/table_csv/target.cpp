// CSV files loaded into tables (tables/tables.hpp: parse_table_csv), with the
// key in the first column and in a named one; and typed cells.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tables/tables.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (size > 64 * 1024) {
        return 0;
    }
    std::string error;
    if (auto rows = sluice::parse_table_csv(text, "", &error)) {
        for (const auto& [k, v] : rows->rows) {
            (void)sluice::table_value_json(v);
        }
    }
    (void)sluice::parse_table_csv(text, "scale", &error);
    (void)sluice::typed_text(text);
    return 0;
}
