#pragma once
// Options are declared once per component (OptionSpec) and that one table
// drives parsing, validation, `sluice components NAME` and the generated
// config reference. Values come from TOML, from a -e pipeline string or from
// a URL; all three arrive here as RawValue with a source position.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/suggest.hpp"  // did_you_mean
#include "core/units.hpp"    // parse_duration, format_duration, parse_size, format_size

namespace sluice {

// Where a value came from: "file.toml:12:5", or "-e:1:17" for a pipeline string.
struct SourcePos {
    std::string file;
    int line = 0;
    int column = 0;
    std::string str() const;  // "file:line:col" (parts that are unknown are left out)
};

enum class OptionType { String, Int, Float, Bool, Duration, Size, Secret, List, Enum };

std::string_view option_type_name(OptionType t);

constexpr double kNoMin = -std::numeric_limits<double>::infinity();
constexpr double kNoMax = std::numeric_limits<double>::infinity();

// What an option's value names outside its component. The gateway opens the
// tables, config validation checks that they are declared, and `describe`
// draws tables and streams, all from these links (never from option names).
// The runtime hands tables and streams to stages only (StageContext::tables,
// StageBatch::streams); a source may consume a stream (core/streams.hpp).
enum class OptionLink : std::uint8_t {
    None,
    ReadsTable,      // a [tables.NAME] the component reads (enrich)
    WritesTable,     // a [tables.NAME] the component writes (the table stage)
    EmitsStream,     // a named in-process stream it publishes to (a window's late_stream)
    ConsumesStream,  // a named in-process stream it reads (the stream source)
};

std::string_view option_link_name(OptionLink l);  // "reads a table", ...
constexpr bool links_table(OptionLink l) { return l == OptionLink::ReadsTable || l == OptionLink::WritesTable; }
constexpr bool links_stream(OptionLink l) { return l == OptionLink::EmitsStream || l == OptionLink::ConsumesStream; }

struct OptionSpec {
    std::string_view name;
    OptionType type = OptionType::String;
    // Textual default in the same syntax a user would write ("10s", "64MiB",
    // "json,influx"). Empty and !required: the option is simply unset.
    std::string_view default_value;
    std::string_view doc;
    bool required = false;
    // Inclusive range. Int/Float: the number; Duration: seconds; Size: bytes;
    // String/Secret/List: length / element count.
    double min = kNoMin;
    double max = kNoMax;
    // Enum: the allowed values separated by '|', e.g. "normal|full|off".
    std::string_view choices;
    // String or List: the table(s) or stream(s) the value names.
    OptionLink link = OptionLink::None;
    // An older name of this option that is still accepted: the value is
    // stored under `name`, each use is warned about (file:line and both
    // names), and giving both names is an error. The reference lists it as
    // deprecated.
    std::string_view deprecated_alias;
};

// Option lists put together from shared groups (TLS, payload, connection)
// and a component's own, in the order given.
inline std::vector<OptionSpec> concat_specs(std::initializer_list<std::vector<OptionSpec>> parts) {
    std::vector<OptionSpec> out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

// A value as written by the user, before it is checked against a spec.
struct RawValue;
struct RawEntry;
using RawArray = std::vector<RawValue>;
using RawTable = std::vector<RawEntry>;

struct RawValue {
    std::variant<std::string, std::int64_t, double, bool, RawArray, RawTable> v;
    SourcePos pos;
    // True for values typed as text (-e strings, URL query parameters): they
    // may still be read as numbers, booleans or comma-separated lists.
    bool from_text = false;

    const std::string* as_string() const { return std::get_if<std::string>(&v); }
    const RawTable* as_table() const { return std::get_if<RawTable>(&v); }
    const RawArray* as_array() const { return std::get_if<RawArray>(&v); }
    std::string describe() const;  // "a string", "an integer", "a table", ...
};

struct RawEntry {
    std::string key;
    SourcePos key_pos;
    RawValue value;
};

const RawEntry* find_entry(const RawTable& table, std::string_view key);

// An option entry written as text, as a component's from_url() makes them
// from a URL's parts: it is checked like a value from a -e string.
inline RawEntry text_entry(std::string key, std::string value) {
    RawEntry e;
    e.key = std::move(key);
    e.value.v = std::move(value);
    e.value.from_text = true;
    return e;
}

// One problem found in a configuration, with its position.
struct Diagnostic {
    SourcePos pos;
    std::string message;
    std::string str() const { return pos.str().empty() ? message : pos.str() + ": " + message; }
};

class Diagnostics {
public:
    void error(const SourcePos& pos, std::string message) { items_.push_back({pos, std::move(message)}); }
    // Something that works but should change (a deprecated option name).
    // Not an error; the config loaders log each once per load. The same
    // warning at the same position is kept once.
    void warn(const SourcePos& pos, std::string message);
    const std::vector<Diagnostic>& warnings() const { return warnings_; }
    bool empty() const { return items_.empty(); }
    std::size_t size() const { return items_.size(); }
    const std::vector<Diagnostic>& items() const { return items_; }
    std::string str() const;  // one line per diagnostic
    void append(const Diagnostics& other);

private:
    std::vector<Diagnostic> items_;
    std::vector<Diagnostic> warnings_;
};

// Thrown by factories for problems that involve several options at once.
// The config layer attaches the component's position.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A checked, typed option value.
using OptionValue = std::variant<std::string, std::int64_t, double, bool, std::vector<std::string>>;

class Options {
public:
    struct Entry {
        OptionType type;
        OptionValue value;
        SourcePos pos;
        bool explicit_ = false;  // set by the user rather than defaulted
    };

    // Whether the option has a value (set by the user or defaulted).
    bool has(std::string_view name) const;
    bool is_explicit(std::string_view name) const;
    SourcePos pos(std::string_view name) const;

    const std::string& str(std::string_view name) const;        // String, Secret, Enum
    std::int64_t integer(std::string_view name) const;          // Int
    double number(std::string_view name) const;                 // Float (or Int)
    bool boolean(std::string_view name) const;                  // Bool
    std::chrono::nanoseconds duration(std::string_view name) const;  // Duration
    std::uint64_t size(std::string_view name) const;            // Size in bytes
    // A Size that is held in memory (a line limit, a queue capacity): on a
    // 32-bit target a value past what size_t holds becomes SIZE_MAX rather
    // than wrapping around ("4GiB" would otherwise be 0).
    std::size_t memory_size(std::string_view name) const;
    const std::vector<std::string>& list(std::string_view name) const;  // List
    // A List whose default is empty (an unset option has no value).
    std::vector<std::string> list_or_empty(std::string_view name) const {
        return has(name) ? list(name) : std::vector<std::string>{};
    }

    std::string str_or(std::string_view name, std::string fallback) const;

    // Raw tables and arrays of tables the component handles itself (for
    // example the decode chain's inline decoder tables).
    const RawValue* raw(std::string_view name) const;

    void set(std::string name, Entry e) { entries_[std::move(name)] = std::move(e); }
    void set_raw(std::string name, RawValue v) { raws_[std::move(name)] = std::move(v); }
    const std::map<std::string, Entry, std::less<>>& entries() const { return entries_; }

private:
    const Entry& get(std::string_view name) const;
    std::map<std::string, Entry, std::less<>> entries_;
    std::map<std::string, RawValue, std::less<>> raws_;
};

// Resolving a RawTable against specs into Options is the config layer's
// job: resolve_options in config/resolve.hpp.

// One table or stream a configured component names: an option with a link
// and a non-empty value (each element of a List).
struct OptionLinkUse {
    OptionLink link = OptionLink::None;
    std::string_view option;
    std::string name;
    SourcePos pos;  // where the value was written (unknown for a default)
};
std::vector<OptionLinkUse> option_links(std::span<const OptionSpec> specs, const Options& values);

}  // namespace sluice

// Storage conventions for resolved values (Options::Entry::value):
// String/Secret/Enum → std::string; Int → int64; Float → double; Bool → bool;
// Duration → int64 nanoseconds; Size → int64 bytes; List → vector<string>.
