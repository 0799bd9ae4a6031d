#pragma once
// The gateway's named tables: the latest value per string key, shared by the
// pipelines (the `table` stage writes, `enrich` reads), the HTTP API
// (/api/table) and CSV files. A value is a flat JSON object whose members are
// strings, numbers or booleans (the same types a record's fields have).
//
// Tables live for the whole process, across config reloads. Each one keeps
// its rows in memory (ordered by key, for paging) behind its own
// shared_mutex, and every write goes to the TableStore (SQLite, see
// src/buffer/table_store.hpp) before it is visible, in one transaction per
// call, so what a reader saw is on disk. A joined table (TableJoin) is
// written by the same call, right after, in a transaction of its own; if
// that fails it is rebuilt at the next change. Writes to all tables are
// taken one at a time (Tables::write_mu_; the lock order is write_mu_,
// Tables::mu_, a Table's mu_, the store's).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metrics.hpp"
#include "core/record.hpp"
#include "core/table_access.hpp"
#include "text/template.hpp"

namespace sluice {

// {"scale":1.02,"site":"lab"}: numbers in their shortest exact form.
std::string table_value_json(const TableValue& v);
void append_table_value_json(std::string& out, const TableValue& v);
// A JSON object with string, number, boolean or null members (null members
// are left out). Integers without a fraction or exponent stay integers.
// Anything else (an array, a nested object, bad JSON) is an error.
std::optional<TableValue> parse_table_value(std::string_view json, std::string* error);
// CSV cells and form fields, typed by the one rule of the decoders
// (text/text_value.hpp: typed_value), blanks around a number or boolean
// ignored; text that is neither stays as written.
FieldValue typed_text(std::string_view text);

// The rows of a CSV file with a header row: `key_column` (empty: the first
// column) gives each row's key, the other columns its members (typed with
// typed_text; empty cells are left out). The one CSV dialect (text/csv.hpp:
// RFC 4180, blank rows skipped, blanks around cells dropped); a leading UTF-8
// BOM is skipped. Errors name the line.
struct CsvRows {
    std::vector<std::pair<std::string, TableValue>> rows;
};
std::optional<CsvRows> parse_table_csv(std::string_view text, std::string_view key_column, std::string* error);

// Where tables keep their rows. Implemented over SQLite for the gateway;
// tests may use none (memory only).
class TableStore {
public:
    struct Change {
        enum class Op { Put, Erase, Clear };  // Clear: every row of the table
        Op op = Op::Put;
        std::string table;
        std::string key;
        std::string json;  // Put: the value
    };
    virtual ~TableStore() = default;
    // Every stored row of `table`.
    virtual void load(std::string_view table,
                      const std::function<void(std::string_view key, std::string_view json)>& fn) = 0;
    // All changes in one transaction. Throws std::runtime_error.
    virtual void write(std::span<const Change> changes) = 0;
};

// A joined table: kept from two other tables, never written directly. Its
// keys are the left table's; a row's value is the left value, then the
// members of the right row its name does not have (the left wins a clash).
// The right row is the one under the left key, or under `right_key`
// rendered over the left value's members ("{driver_id}"). `inner`: a left
// row without a right row has no joined row; otherwise (a left join) it is
// the left value alone.
struct TableJoin {
    std::string left;
    std::string right;
    bool inner = true;
    std::string right_key;  // a template; empty: the left key
};

struct TableSettings {
    bool is_public = false;
    std::string csv;         // loaded at start and on reload; empty: none
    std::string key_column;  // CSV column with the key; empty: the first
    std::size_t max_keys = 0;  // 0: no limit
    std::optional<TableJoin> join;
};

// The joined row of a left and a right value (TableJoin), or nullopt.
std::optional<TableValue> joined_value(const TableValue* left, const TableValue* right, bool inner);

class Tables;

// One table (TableAccess is what stages see).
class Table final : public TableAccess {
public:
    enum class Put { Created, Replaced, Full, Failed };

    const std::string& name() const { return name_; }
    bool is_public() const;
    std::size_t max_keys() const override;
    std::size_t size() const;

    std::optional<TableValue> get(std::string_view key) const;

    struct Page {
        std::vector<std::pair<std::string, TableValue>> items;
        std::size_t total = 0;  // keys in the table
    };
    // Keys in byte order; `page` counts from 1.
    Page page(std::size_t page, std::size_t page_size) const;

    // Calls fn(find) under the read lock, where find(key) returns the value
    // or null: one lock for a whole batch of look-ups. The pointers are only
    // valid inside fn.
    void read(const std::function<void(const Find& find)>& fn) const override;

    // A joined table (TableSettings::join) is written only by its join:
    // true, with the reason in `error`, and writes from outside fail.
    bool refuses_writes(std::string* error) const;

    // Writes one value (persisted first). Full: a new key beyond max_keys.
    // Failed: the store refused (`error` says why).
    Put put(std::string key, TableValue value, std::string* error = nullptr);
    // True if the key was there. Throws std::runtime_error if the store fails.
    bool erase(std::string_view key);
    // Writes many values in one transaction (the last one per key wins).
    // Returns how many were refused because the table is full; throws
    // std::runtime_error if the store fails (then nothing changed).
    std::size_t put_many(std::vector<std::pair<std::string, TableValue>> items) override;
    std::uint64_t version() const override { return version_.load(std::memory_order_acquire); }
    // Replaces every row (a CSV load), in one transaction.
    void replace_all(std::vector<std::pair<std::string, TableValue>> rows);

    // For /stats/table: values written or removed since start (all tables of
    // this name, across reloads), and the bytes of the keys and values as
    // stored (JSON), counted under the read lock from memory.
    std::uint64_t writes_total() const { return writes_ != nullptr ? writes_->value() : 0; }
    std::uint64_t stored_bytes() const;

private:
    friend class Tables;
    Table(Tables& owner, std::string name) : owner_(owner), name_(std::move(name)) {}
    // replace_all with Tables::write_mu_ held (configure).
    void replace_all_locked(std::vector<std::pair<std::string, TableValue>> rows);
    // A joined table's rows as the join computed them: nullopt erases.
    void apply_joined(std::vector<std::pair<std::string, std::optional<TableValue>>> rows);

    Tables& owner_;
    std::string name_;
    mutable std::shared_mutex mu_;
    std::map<std::string, TableValue, std::less<>> rows_;
    TableSettings settings_;
    bool declared_ = false;
    // The joined tables computed from this one (Tables::write_mu_).
    std::vector<Table*> feeds_;
    // A joined table with a right_key template: the parsed template and,
    // for each left key, the right key its row joined (write_mu_).
    std::optional<Template> right_key_;
    std::map<std::string, std::string, std::less<>> right_of_;
    std::multimap<std::string, std::string, std::less<>> left_of_;
    bool join_stale_ = false;  // writing its rows failed: rebuilt at the next change (write_mu_)
    Counter* writes_ = nullptr;
    Counter* refused_ = nullptr;
    std::atomic<std::uint64_t> version_{0};  // bumped by every change (version())
};

// The tables service (TableDirectory is what stages see).
class Tables final : public TableDirectory {
public:
    // `store` null: memory only (tests, or a gateway without tables).
    explicit Tables(std::unique_ptr<TableStore> store = nullptr);
    // For a gateway that opens its store only once a table is declared.
    void set_store_factory(std::function<std::unique_ptr<TableStore>()> open);
    ~Tables();
    Tables(const Tables&) = delete;
    Tables& operator=(const Tables&) = delete;

    struct Spec {
        std::string name;
        TableSettings settings;
    };
    // Declares exactly these tables (at start and on every reload): new ones
    // load their stored rows, every table with a csv file loads it, tables
    // no longer listed stop being served (their rows stay stored). Problems
    // (a CSV that cannot be read) are returned, one line each; such a table
    // keeps what it had.
    std::vector<std::string> configure(const std::vector<Spec>& specs);

    // A declared table, or null. The pointer stays valid for the life of
    // this object.
    Table* find(std::string_view name) const override;
    // Declared table names in order; only the public ones if asked.
    std::vector<std::string> names(bool public_only) const;

private:
    friend class Table;
    void store_write(std::span<const TableStore::Change> changes);
    TableStore* store();
    // With write_mu_ held, after `src` changed `keys` (all: every key, a
    // CSV load): the joined tables it feeds catch up.
    void update_joins(Table& src, const std::vector<std::string>& keys, bool all);
    // One joined table: `keys` are keys of `src` (its left or right table).
    void update_join(Table& joined, const Table* src, const std::vector<std::string>& keys);
    void rebuild_join(Table& joined);
    // After configure declared every table: who feeds which joined table,
    // and each joined table rebuilt from its two.
    void configure_joins(std::vector<std::string>& problems);
    Table* any(std::string_view name) const;  // a declared table (find)

    // Every write to a table, and the joined tables' updates that follow
    // it, one at a time: a joined table reads both its tables, never while
    // one is half written.
    std::mutex write_mu_;

    mutable std::shared_mutex mu_;  // tables_ and the declared flags
    std::map<std::string, std::unique_ptr<Table>, std::less<>> tables_;
    std::mutex store_mu_;  // the store's one connection
    std::unique_ptr<TableStore> store_;
    std::function<std::unique_ptr<TableStore>()> open_store_;
};

}  // namespace sluice
