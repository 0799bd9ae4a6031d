#pragma once
// The gateway's named tables as stages see them: look a batch of keys up,
// write a batch of values. The tables service (tables/tables.hpp) implements
// this; stages and pipelines depend only on this header.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/record.hpp"

namespace sluice {

// A table's value: a flat object whose members are in the order they were
// written, with unique names.
using TableValue = std::vector<Field>;

// A member of a value, or null.
inline const Field* table_member(const TableValue& v, std::string_view name) {
    for (const auto& f : v) {
        if (f.name == name) {
            return &f;
        }
    }
    return nullptr;
}

// One named table.
class TableAccess {
public:
    // find(key): the value, or null; the pointer is valid only inside the
    // function given to read().
    using Find = std::function<const TableValue*(std::string_view key)>;

    virtual ~TableAccess() = default;
    // 0: no limit.
    virtual std::size_t max_keys() const = 0;
    // Calls fn(find) under one read lock, for a whole batch of look-ups.
    virtual void read(const std::function<void(const Find& find)>& fn) const = 0;
    // Writes many values at once (the last one per key wins). Returns how
    // many new keys were refused because the table is full; throws
    // std::runtime_error if they could not be stored (then nothing changed).
    virtual std::size_t put_many(std::vector<std::pair<std::string, TableValue>> items) = 0;
    // A number that changes whenever a value is written or removed (any
    // key): a stage that watches the table looks again only when it moved.
    virtual std::uint64_t version() const { return 0; }
};

// The declared tables, by name.
class TableDirectory {
public:
    virtual ~TableDirectory() = default;
    // A declared table, or null. The pointer outlives every pipeline.
    virtual TableAccess* find(std::string_view name) const = 0;
};

}  // namespace sluice
