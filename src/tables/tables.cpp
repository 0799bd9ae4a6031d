#include "tables/tables.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <rapidjson/reader.h>
#include <rapidjson/error/en.h>

#include "core/log.hpp"
#include "core/record_json.hpp"
#include "text/csv.hpp"
#include "text/json.hpp"
#include "text/text.hpp"
#include "text/text_value.hpp"

namespace sluice {

// ------------------------------------------------------------------ values

// Keep a double a double when it is read back: 3.0, not 3.
void append_table_value_json(std::string& out, const TableValue& v) {
    append_fields_json(out, v, JsonDouble::KeepFraction);
}

std::string table_value_json(const TableValue& v) {
    std::string out;
    append_table_value_json(out, v);
    return out;
}

namespace {

// SAX handler for a flat object: anything nested stops the parse at once,
// so the recursion depth stays at two whatever the input.
struct FlatObject : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, FlatObject> {
    TableValue out;
    int depth = 0;
    std::string key;
    std::string error;

    bool set(FieldValue v) {
        if (depth != 1) {
            error = "the value must be a JSON object, e.g. {\"scale\": 1.02}";
            return false;
        }
        auto at = std::find_if(out.begin(), out.end(), [&](const Field& f) { return f.name == key; });
        if (at != out.end()) {
            at->value = std::move(v);  // a repeated member: the last one wins, as in most JSON readers
        } else {
            out.push_back(Field{key, std::move(v)});
        }
        return true;
    }
    bool Null() {
        if (depth != 1) {
            return set(false);  // reports the error
        }
        std::erase_if(out, [&](const Field& f) { return f.name == key; });
        return true;
    }
    bool Bool(bool b) { return set(b); }
    // Numbers by the one rule of every JSON reader (text/json.hpp).
    bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
        auto v = json_number(std::string_view(s, n), &error);
        return v && set(std::move(*v));
    }
    bool String(const char* s, rapidjson::SizeType n, bool) { return set(std::string(s, n)); }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        key.assign(s, n);
        return true;
    }
    bool StartObject() {
        if (depth != 0) {
            error = fmt::format("member '{}' is an object: values are flat objects of strings, numbers and booleans",
                                key);
            return false;
        }
        ++depth;
        return true;
    }
    bool EndObject(rapidjson::SizeType) {
        --depth;
        return true;
    }
    bool StartArray() {
        error = depth == 0 ? "the value must be a JSON object, e.g. {\"scale\": 1.02}"
                           : fmt::format("member '{}' is an array: values are flat objects of strings, numbers and "
                                         "booleans",
                                         key);
        return false;
    }
};

}  // namespace

std::optional<TableValue> parse_table_value(std::string_view json, std::string* error) {
    std::string local;
    std::string& err = error != nullptr ? *error : local;
    // Parsed in place on a copy (no parser stack for strings), numbers as
    // text converted by json_number(), like the json decoder.
    std::string buf(json);
    rapidjson::InsituStringStream in(buf.data());
    rapidjson::Reader reader;
    FlatObject h;
    constexpr unsigned kFlags =
        rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseStopWhenDoneFlag;
    const auto res = reader.Parse<kFlags>(in, h);
    if (!h.error.empty()) {
        err = std::move(h.error);
        return std::nullopt;
    }
    if (res.IsError()) {
        err = fmt::format("invalid JSON at byte {}: {}", res.Offset(), rapidjson::GetParseError_En(res.Code()));
        return std::nullopt;
    }
    for (std::size_t i = in.Tell(); i < json.size(); ++i) {
        const char c = json[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            err = fmt::format("invalid JSON at byte {}: text after the object", i);
            return std::nullopt;
        }
    }
    return std::move(h.out);
}

FieldValue typed_text(std::string_view text) {
    FieldValue v = typed_value(trim(text, " \t"));
    if (std::holds_alternative<std::string>(v)) {
        return std::string(text);  // text stays as written, blanks and all
    }
    return v;
}

// ------------------------------------------------------------------ CSV

namespace {

std::string trim_cell(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.pop_back();
    }
    std::size_t i = 0;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) {
        ++i;
    }
    return s.substr(i);
}

}  // namespace

std::optional<CsvRows> parse_table_csv(std::string_view text, std::string_view key_column, std::string* error) {
    std::string local;
    std::string& err = error != nullptr ? *error : local;
    if (text.starts_with("\xEF\xBB\xBF")) {
        text.remove_prefix(3);
    }
    // The one CSV tokenizer (text/csv.hpp); blank rows are left out.
    std::vector<std::pair<std::size_t, std::vector<std::string>>> rows;
    const csv::Dialect dialect;
    csv::Reader reader(text, dialect);
    csv::Row row;
    csv::Problem problem;
    while (!reader.done()) {
        if (!reader.next(row, problem)) {
            err = problem.error == csv::Error::UnterminatedQuote
                      ? fmt::format("line {}: a quoted cell is not closed", problem.line)
                      : fmt::format("line {}: {}", problem.line, problem.message);
            return std::nullopt;
        }
        if (row.size != 0) {
            rows.emplace_back(row.line, std::vector<std::string>(row.fields.begin(), row.fields.begin() +
                                                                                       static_cast<std::ptrdiff_t>(row.size)));
        }
    }
    if (rows.empty()) {
        err = "no header row";
        return std::nullopt;
    }
    std::vector<std::string> header;
    for (auto& h : rows.front().second) {
        header.push_back(trim_cell(h));
    }
    for (std::size_t i = 0; i < header.size(); ++i) {
        if (header[i].empty()) {
            err = fmt::format("line {}: column {} of the header has no name", rows.front().first, i + 1);
            return std::nullopt;
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (header[j] == header[i]) {
                err = fmt::format("line {}: column '{}' appears twice in the header", rows.front().first, header[i]);
                return std::nullopt;
            }
        }
    }
    std::size_t key_index = 0;
    if (!key_column.empty()) {
        auto it = std::find(header.begin(), header.end(), key_column);
        if (it == header.end()) {
            err = fmt::format("no column '{}' in the header ({})", key_column, fmt::join(header, ", "));
            return std::nullopt;
        }
        key_index = static_cast<std::size_t>(it - header.begin());
    }
    CsvRows out;
    std::map<std::string, std::size_t, std::less<>> seen;
    for (std::size_t r = 1; r < rows.size(); ++r) {
        auto& [line, cells] = rows[r];
        if (cells.size() == 1 && trim_cell(cells[0]).empty()) {
            continue;  // a blank line
        }
        if (cells.size() != header.size()) {
            err = fmt::format("line {}: {} cells, but the header has {} columns", line, cells.size(), header.size());
            return std::nullopt;
        }
        std::string key = trim_cell(cells[key_index]);
        if (key.empty()) {
            err = fmt::format("line {}: the key column '{}' is empty", line, header[key_index]);
            return std::nullopt;
        }
        TableValue value;
        for (std::size_t c = 0; c < cells.size(); ++c) {
            if (c == key_index) {
                continue;
            }
            std::string cell = trim_cell(std::move(cells[c]));
            if (cell.empty()) {
                continue;
            }
            value.push_back(Field{header[c], typed_text(cell)});
        }
        if (auto it = seen.find(key); it != seen.end()) {
            out.rows[it->second].second = std::move(value);  // a repeated key: the last row wins
        } else {
            seen.emplace(key, out.rows.size());
            out.rows.emplace_back(std::move(key), std::move(value));
        }
    }
    return out;
}

// ------------------------------------------------------------------ Table

bool Table::is_public() const {
    std::shared_lock lk(mu_);
    return settings_.is_public;
}

std::size_t Table::max_keys() const {
    std::shared_lock lk(mu_);
    return settings_.max_keys;
}

std::size_t Table::size() const {
    std::shared_lock lk(mu_);
    return rows_.size();
}

std::uint64_t Table::stored_bytes() const {
    std::shared_lock lk(mu_);
    std::uint64_t n = 0;
    std::string json;
    for (const auto& [k, v] : rows_) {
        json.clear();
        append_table_value_json(json, v);
        n += k.size() + json.size();
    }
    return n;
}

std::optional<TableValue> Table::get(std::string_view key) const {
    std::shared_lock lk(mu_);
    auto it = rows_.find(key);
    if (it == rows_.end()) {
        return std::nullopt;
    }
    return it->second;
}

Table::Page Table::page(std::size_t page, std::size_t page_size) const {
    Page out;
    std::shared_lock lk(mu_);
    out.total = rows_.size();
    if (page == 0 || page_size == 0) {
        return out;
    }
    const std::size_t skip = (page - 1) * page_size;
    if (page - 1 > out.total / page_size || skip >= out.total) {
        return out;
    }
    auto it = rows_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(skip));
    for (std::size_t n = 0; n < page_size && it != rows_.end(); ++n, ++it) {
        out.items.emplace_back(it->first, it->second);
    }
    return out;
}

void Table::read(const std::function<void(const Find&)>& fn) const {
    std::shared_lock lk(mu_);
    const Find find = [this](std::string_view key) -> const TableValue* {
        auto it = rows_.find(key);
        return it == rows_.end() ? nullptr : &it->second;
    };
    fn(find);
}

bool Table::refuses_writes(std::string* error) const {
    std::shared_lock lk(mu_);
    if (!settings_.join) {
        return false;
    }
    if (error != nullptr) {
        *error = fmt::format("table '{}' is a join of '{}' and '{}': write those", name_, settings_.join->left,
                             settings_.join->right);
    }
    return true;
}

Table::Put Table::put(std::string key, TableValue value, std::string* error) {
    std::lock_guard wl(owner_.write_mu_);
    if (refuses_writes(error)) {
        return Put::Failed;
    }
    std::unique_lock lk(mu_);
    auto it = rows_.find(key);
    if (it == rows_.end() && settings_.max_keys != 0 && rows_.size() >= settings_.max_keys) {
        refused_->inc();
        if (error != nullptr) {
            *error = fmt::format("table '{}' is full ({} keys, max_keys)", name_, settings_.max_keys);
        }
        return Put::Full;
    }
    TableStore::Change c{TableStore::Change::Op::Put, name_, key, table_value_json(value)};
    try {
        owner_.store_write({&c, 1});
    } catch (const std::exception& e) {
        if (error != nullptr) {
            *error = e.what();
        }
        return Put::Failed;
    }
    writes_->inc();
    Put done = Put::Created;
    if (it != rows_.end()) {
        it->second = std::move(value);
        done = Put::Replaced;
    } else {
        it = rows_.emplace(std::move(key), std::move(value)).first;
    }
    std::vector<std::string> changed{it->first};
    version_.fetch_add(1, std::memory_order_release);
    lk.unlock();
    owner_.update_joins(*this, changed, false);
    return done;
}

bool Table::erase(std::string_view key) {
    std::lock_guard wl(owner_.write_mu_);
    std::string why;
    if (refuses_writes(&why)) {
        throw std::runtime_error(why);
    }
    std::unique_lock lk(mu_);
    auto it = rows_.find(key);
    if (it == rows_.end()) {
        return false;
    }
    TableStore::Change c{TableStore::Change::Op::Erase, name_, std::string(key), {}};
    owner_.store_write({&c, 1});
    rows_.erase(it);
    writes_->inc();
    version_.fetch_add(1, std::memory_order_release);
    lk.unlock();
    owner_.update_joins(*this, {std::string(key)}, false);
    return true;
}

void Table::apply_joined(std::vector<std::pair<std::string, std::optional<TableValue>>> rows) {
    std::unique_lock lk(mu_);
    std::vector<TableStore::Change> changes;
    std::vector<std::size_t> keep;
    std::string json;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& [k, v] = rows[i];
        const auto it = rows_.find(k);
        if (!v) {
            if (it != rows_.end()) {
                changes.push_back({TableStore::Change::Op::Erase, name_, k, {}});
                keep.push_back(i);
            }
            continue;
        }
        json = table_value_json(*v);
        if (it != rows_.end() && table_value_json(it->second) == json) {
            continue;  // unchanged: not written again
        }
        changes.push_back({TableStore::Change::Op::Put, name_, k, json});
        keep.push_back(i);
    }
    if (changes.empty()) {
        return;
    }
    owner_.store_write(changes);
    for (const std::size_t i : keep) {
        auto& [k, v] = rows[i];
        if (v) {
            rows_.insert_or_assign(std::move(k), std::move(*v));
        } else {
            rows_.erase(k);
        }
    }
    writes_->inc(keep.size());
    version_.fetch_add(1, std::memory_order_release);
}

std::size_t Table::put_many(std::vector<std::pair<std::string, TableValue>> items) {
    if (items.empty()) {
        return 0;
    }
    std::lock_guard wl(owner_.write_mu_);
    std::string why;
    if (refuses_writes(&why)) {
        throw std::runtime_error(why);
    }
    std::unique_lock lk(mu_);
    // The last value per key wins; new keys beyond max_keys are refused.
    std::map<std::string_view, std::size_t> last;
    for (std::size_t i = 0; i < items.size(); ++i) {
        last[items[i].first] = i;
    }
    std::vector<std::size_t> keep;
    std::size_t refused = 0;
    std::size_t size = rows_.size();
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (last[items[i].first] != i) {
            continue;
        }
        if (!rows_.contains(items[i].first)) {
            if (settings_.max_keys != 0 && size >= settings_.max_keys) {
                ++refused;
                continue;
            }
            ++size;
        }
        keep.push_back(i);
    }
    std::vector<TableStore::Change> changes;
    changes.reserve(keep.size());
    for (std::size_t i : keep) {
        changes.push_back({TableStore::Change::Op::Put, name_, items[i].first, table_value_json(items[i].second)});
    }
    owner_.store_write(changes);
    std::vector<std::string> changed;
    changed.reserve(keep.size());
    for (std::size_t i : keep) {
        changed.push_back(items[i].first);
        rows_.insert_or_assign(std::move(items[i].first), std::move(items[i].second));
    }
    writes_->inc(keep.size());
    refused_->inc(refused);
    version_.fetch_add(1, std::memory_order_release);
    lk.unlock();
    owner_.update_joins(*this, changed, false);
    return refused;
}

void Table::replace_all(std::vector<std::pair<std::string, TableValue>> rows) {
    std::lock_guard wl(owner_.write_mu_);
    replace_all_locked(std::move(rows));
}

void Table::replace_all_locked(std::vector<std::pair<std::string, TableValue>> rows) {
    std::string why;
    if (refuses_writes(&why)) {
        throw std::runtime_error(why);
    }
    std::unique_lock lk(mu_);
    if (settings_.max_keys != 0 && rows.size() > settings_.max_keys) {
        throw std::runtime_error(fmt::format("{} rows, more than max_keys ({})", rows.size(), settings_.max_keys));
    }
    std::vector<TableStore::Change> changes;
    changes.reserve(rows.size() + 1);
    changes.push_back({TableStore::Change::Op::Clear, name_, {}, {}});
    for (const auto& [k, v] : rows) {
        changes.push_back({TableStore::Change::Op::Put, name_, k, table_value_json(v)});
    }
    owner_.store_write(changes);
    rows_.clear();
    for (auto& [k, v] : rows) {
        rows_.insert_or_assign(std::move(k), std::move(v));
    }
    writes_->inc(rows.size());
    version_.fetch_add(1, std::memory_order_release);
    lk.unlock();
    owner_.update_joins(*this, {}, true);
}

// ------------------------------------------------------------------ Tables

namespace {

std::optional<std::string> read_file(const std::string& path, std::string* error) {
    constexpr std::size_t kMaxCsvBytes = 64u << 20;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        *error = fmt::format("cannot read '{}': {}", path, std::strerror(errno));
        return std::nullopt;
    }
    std::string text;
    char buf[65536];
    for (;;) {
        const std::size_t n = std::fread(buf, 1, sizeof buf, f);
        text.append(buf, n);
        if (text.size() > kMaxCsvBytes) {
            std::fclose(f);
            *error = fmt::format("'{}' is larger than 64MiB", path);
            return std::nullopt;
        }
        if (n < sizeof buf) {
            const bool failed = std::ferror(f) != 0;
            const int saved = errno;
            std::fclose(f);
            if (failed) {
                *error = fmt::format("cannot read '{}': {}", path, std::strerror(saved));
                return std::nullopt;
            }
            return text;
        }
    }
}

}  // namespace

Tables::Tables(std::unique_ptr<TableStore> store) : store_(std::move(store)) {}

Tables::~Tables() = default;

void Tables::set_store_factory(std::function<std::unique_ptr<TableStore>()> open) {
    std::lock_guard lk(store_mu_);
    open_store_ = std::move(open);
}

TableStore* Tables::store() {
    std::lock_guard lk(store_mu_);
    if (!store_ && open_store_) {
        store_ = open_store_();
    }
    return store_.get();
}

void Tables::store_write(std::span<const TableStore::Change> changes) {
    std::lock_guard lk(store_mu_);
    if (store_) {
        store_->write(changes);
    }
}

std::vector<std::string> Tables::configure(const std::vector<Spec>& specs) {
    std::vector<std::string> problems;
    TableStore* st = specs.empty() ? nullptr : store();  // opened with the first table; may throw
    // No table is written while the tables change (the lock order is
    // write_mu_, mu_, a Table's mu_, store_mu_): a writer never sees half
    // a reload, nor a join whose settings and indexes disagree.
    std::lock_guard wl(write_mu_);
    std::unique_lock lk(mu_);
    for (auto& [name, t] : tables_) {
        std::unique_lock tl(t->mu_);
        t->declared_ = false;
        t->feeds_.clear();  // set again below, once every table is loaded
        t->right_key_.reset();
        t->right_of_.clear();
        t->left_of_.clear();
        t->join_stale_ = false;
    }
    for (const auto& spec : specs) {
        auto it = tables_.find(spec.name);
        if (it == tables_.end()) {
            auto t = std::unique_ptr<Table>(new Table(*this, spec.name));
            const Labels labels{{"table", spec.name}};
            t->writes_ = &metrics().counter("sluice_table_writes_total", "Values written to or removed from a table",
                                            labels);
            t->refused_ = &metrics().counter("sluice_table_refused_writes_total",
                                             "New keys refused because the table had max_keys keys", labels);
            if (st != nullptr) {
                std::size_t bad = 0;
                std::lock_guard sl(store_mu_);
                st->load(spec.name, [&](std::string_view key, std::string_view json) {
                    auto v = parse_table_value(json, nullptr);
                    if (v) {
                        t->rows_.insert_or_assign(std::string(key), std::move(*v));
                    } else {
                        ++bad;
                    }
                });
                if (bad != 0) {
                    problems.push_back(fmt::format("table '{}': {} stored rows could not be read and were skipped",
                                                   spec.name, bad));
                }
            }
            it = tables_.emplace(spec.name, std::move(t)).first;
        }
        Table& t = *it->second;
        {
            std::unique_lock tl(t.mu_);
            t.settings_ = spec.settings;
            t.declared_ = true;
        }
        if (!spec.settings.csv.empty()) {
            std::string error;
            auto text = read_file(spec.settings.csv, &error);
            std::optional<CsvRows> rows;
            if (text) {
                rows = parse_table_csv(*text, spec.settings.key_column, &error);
            }
            if (!rows) {
                problems.push_back(fmt::format("table '{}': {}{}", spec.name,
                                               text ? fmt::format("{}: ", spec.settings.csv) : std::string(), error));
                continue;
            }
            try {
                const std::size_t n = rows->rows.size();
                t.replace_all_locked(std::move(rows->rows));
                log::info("table '{}': loaded {} rows from {}", spec.name, n, spec.settings.csv);
            } catch (const std::exception& e) {
                problems.push_back(fmt::format("table '{}': {}: {}", spec.name, spec.settings.csv, e.what()));
            }
        }
    }
    lk.unlock();
    configure_joins(problems);
    return problems;
}

void Tables::configure_joins(std::vector<std::string>& problems) {
    std::vector<Table*> joins;
    {
        std::shared_lock lk(mu_);
        for (auto& [name, t] : tables_) {
            std::unique_lock tl(t->mu_);
            if (t->declared_ && t->settings_.join) {
                joins.push_back(t.get());
            }
        }
    }
    for (Table* j : joins) {
        const TableJoin spec = *j->settings_.join;
        Table* left = any(spec.left);
        Table* right = any(spec.right);
        std::string why;
        if (left == nullptr || right == nullptr || left == j || right == j || left == right) {
            why = "its left and right tables must be two other declared tables";
        } else if (left->refuses_writes(nullptr) || right->refuses_writes(nullptr)) {
            why = "a joined table cannot be joined again";
        }
        j->right_key_.reset();
        if (why.empty() && !spec.right_key.empty()) {
            j->right_key_ = Template::parse(spec.right_key, &why);
            if (j->right_key_) {
                why.clear();
            }
        }
        if (!why.empty()) {
            problems.push_back(fmt::format("table '{}': {}", j->name(), why));
            continue;
        }
        {
            std::unique_lock tl(left->mu_);
            left->feeds_.push_back(j);
        }
        {
            std::unique_lock tl(right->mu_);
            right->feeds_.push_back(j);
        }
        rebuild_join(*j);
        log::info("table '{}': {} join of '{}' and '{}', {} rows", j->name(), spec.inner ? "inner" : "left",
                  spec.left, spec.right, j->size());
    }
}

Table* Tables::any(std::string_view name) const {
    return find(name);
}

std::optional<TableValue> joined_value(const TableValue* left, const TableValue* right, bool inner) {
    if (left == nullptr || (right == nullptr && inner)) {
        return std::nullopt;
    }
    TableValue out = *left;
    if (right != nullptr) {
        for (const auto& m : *right) {
            if (table_member(out, m.name) == nullptr) {
                out.push_back(m);
            }
        }
    }
    return out;
}

void Tables::update_joins(Table& src, const std::vector<std::string>& keys, bool all) {
    std::vector<Table*> feeds;
    {
        std::shared_lock lk(src.mu_);
        feeds = src.feeds_;
    }
    for (Table* j : feeds) {
        if (all || j->join_stale_) {
            rebuild_join(*j);  // also after a failed write of its rows
        } else {
            update_join(*j, &src, keys);
        }
    }
}

void Tables::update_join(Table& j, const Table* src, const std::vector<std::string>& keys) {
    std::optional<TableJoin> spec;
    {
        std::shared_lock lk(j.mu_);
        spec = j.settings_.join;
    }
    Table* left = spec ? any(spec->left) : nullptr;
    Table* right = spec ? any(spec->right) : nullptr;
    if (left == nullptr || right == nullptr) {
        return;
    }
    // The joined keys to compute again: a left change's own keys; a right
    // change's, or with right_key the left keys that joined them.
    std::vector<std::string> affected;
    if (src == left || !j.right_key_) {
        affected = keys;
    } else {
        for (const auto& k : keys) {
            const auto [b, e] = j.left_of_.equal_range(k);
            for (auto it = b; it != e; ++it) {
                affected.push_back(it->second);
            }
        }
    }
    std::vector<std::pair<std::string, std::optional<TableValue>>> rows;
    rows.reserve(affected.size());
    Record scratch;
    std::string rk;
    left->read([&](const TableAccess::Find& find_left) {
        right->read([&](const TableAccess::Find& find_right) {
            for (const auto& k : affected) {
                const TableValue* lv = find_left(k);
                const TableValue* rv = nullptr;
                if (j.right_key_) {
                    // The right key this left row now joins, kept for the
                    // right table's changes.
                    if (const auto was = j.right_of_.find(k); was != j.right_of_.end()) {
                        const auto [b, e] = j.left_of_.equal_range(was->second);
                        for (auto it = b; it != e; ++it) {
                            if (it->second == k) {
                                j.left_of_.erase(it);
                                break;
                            }
                        }
                        j.right_of_.erase(was);
                    }
                    if (lv != nullptr) {
                        scratch.fields = *lv;
                        if (j.right_key_->render(scratch, rk)) {
                            rv = find_right(rk);
                            j.right_of_.emplace(k, rk);
                            j.left_of_.emplace(rk, k);
                        }
                    }
                } else if (lv != nullptr) {
                    rv = find_right(k);
                }
                rows.emplace_back(k, joined_value(lv, rv, spec->inner));
            }
        });
    });
    try {
        j.apply_joined(std::move(rows));
        j.join_stale_ = false;
    } catch (const std::exception& e) {
        // The source's change is committed: the joined rows are rebuilt
        // whole at the next change of either table (or start, or reload).
        if (!j.join_stale_) {
            log::error("table '{}': writing the joined rows failed: {}; rebuilt at the next change", j.name(),
                       e.what());
        }
        j.join_stale_ = true;
    }
}

void Tables::rebuild_join(Table& j) {
    std::optional<TableJoin> spec;
    {
        std::shared_lock lk(j.mu_);
        spec = j.settings_.join;
    }
    Table* left = spec ? any(spec->left) : nullptr;
    if (left == nullptr) {
        return;
    }
    // Every key the join has or should have: the left table's and its own.
    std::vector<std::string> keys;
    {
        std::shared_lock lk(left->mu_);
        for (const auto& [k, v] : left->rows_) {
            keys.push_back(k);
        }
    }
    {
        std::vector<std::string> gone;  // keys only the join still has
        std::shared_lock lk(j.mu_);
        for (const auto& [k, v] : j.rows_) {
            if (!std::binary_search(keys.begin(), keys.end(), k)) {
                gone.push_back(k);
            }
        }
        keys.insert(keys.end(), gone.begin(), gone.end());
    }
    j.right_of_.clear();
    j.left_of_.clear();
    update_join(j, left, keys);
}

Table* Tables::find(std::string_view name) const {
    std::shared_lock lk(mu_);
    auto it = tables_.find(name);
    if (it == tables_.end()) {
        return nullptr;
    }
    std::shared_lock tl(it->second->mu_);
    return it->second->declared_ ? it->second.get() : nullptr;
}

std::vector<std::string> Tables::names(bool public_only) const {
    std::vector<std::string> out;
    std::shared_lock lk(mu_);
    for (const auto& [name, t] : tables_) {
        std::shared_lock tl(t->mu_);
        if (t->declared_ && (!public_only || t->settings_.is_public)) {
            out.push_back(name);
        }
    }
    return out;
}

}  // namespace sluice
