#include "core/options.hpp"

#include <fmt/format.h>

namespace sluice {

std::string SourcePos::str() const {
    if (file.empty()) {
        return {};
    }
    if (line <= 0) {
        return file;
    }
    if (column <= 0) {
        return fmt::format("{}:{}", file, line);
    }
    return fmt::format("{}:{}:{}", file, line, column);
}

std::string Diagnostics::str() const {
    std::string out;
    for (const auto& d : items_) {
        out += d.str();
        out += '\n';
    }
    return out;
}

void Diagnostics::warn(const SourcePos& pos, std::string message) {
    for (const auto& w : warnings_) {
        if (w.message == message && w.pos.str() == pos.str()) {
            return;
        }
    }
    warnings_.push_back({pos, std::move(message)});
}

void Diagnostics::append(const Diagnostics& other) {
    items_.insert(items_.end(), other.items_.begin(), other.items_.end());
    for (const auto& w : other.warnings_) {
        warn(w.pos, w.message);
    }
}

const Options::Entry& Options::get(std::string_view name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
        // A component asked for an option its own table does not declare or
        // that has no default: a programming error, not a user error.
        throw std::logic_error(fmt::format("option '{}' has no value", name));
    }
    return it->second;
}

bool Options::has(std::string_view name) const { return entries_.find(name) != entries_.end(); }

bool Options::is_explicit(std::string_view name) const {
    auto it = entries_.find(name);
    return it != entries_.end() && it->second.explicit_;
}

SourcePos Options::pos(std::string_view name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? SourcePos{} : it->second.pos;
}

const std::string& Options::str(std::string_view name) const { return std::get<std::string>(get(name).value); }

std::int64_t Options::integer(std::string_view name) const { return std::get<std::int64_t>(get(name).value); }

double Options::number(std::string_view name) const {
    const auto& v = get(name).value;
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return static_cast<double>(*i);
    }
    return std::get<double>(v);
}

bool Options::boolean(std::string_view name) const { return std::get<bool>(get(name).value); }

std::chrono::nanoseconds Options::duration(std::string_view name) const {
    return std::chrono::nanoseconds(std::get<std::int64_t>(get(name).value));
}

std::uint64_t Options::size(std::string_view name) const {
    return static_cast<std::uint64_t>(std::get<std::int64_t>(get(name).value));
}

std::size_t Options::memory_size(std::string_view name) const {
    const std::uint64_t v = size(name);
    return v > std::numeric_limits<std::size_t>::max() ? std::numeric_limits<std::size_t>::max()
                                                        : static_cast<std::size_t>(v);
}

const std::vector<std::string>& Options::list(std::string_view name) const {
    return std::get<std::vector<std::string>>(get(name).value);
}

std::string Options::str_or(std::string_view name, std::string fallback) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
        return fallback;
    }
    const auto* s = std::get_if<std::string>(&it->second.value);
    return s ? *s : fallback;
}

const RawValue* Options::raw(std::string_view name) const {
    auto it = raws_.find(name);
    return it == raws_.end() ? nullptr : &it->second;
}

std::string_view option_link_name(OptionLink l) {
    switch (l) {
        case OptionLink::None:
            return "";
        case OptionLink::ReadsTable:
            return "reads a table";
        case OptionLink::WritesTable:
            return "writes a table";
        case OptionLink::EmitsStream:
            return "emits to a stream";
        case OptionLink::ConsumesStream:
            return "consumes a stream";
    }
    return "";
}

std::vector<OptionLinkUse> option_links(std::span<const OptionSpec> specs, const Options& values) {
    std::vector<OptionLinkUse> out;
    for (const auto& spec : specs) {
        if (spec.link == OptionLink::None) {
            continue;
        }
        const auto it = values.entries().find(spec.name);
        if (it == values.entries().end()) {
            continue;
        }
        auto use = [&](const std::string& name) {
            if (!name.empty()) {
                out.push_back(OptionLinkUse{spec.link, spec.name, name, it->second.pos});
            }
        };
        if (const auto* one = std::get_if<std::string>(&it->second.value)) {
            use(*one);
        } else if (const auto* many = std::get_if<std::vector<std::string>>(&it->second.value)) {
            for (const auto& name : *many) {
                use(name);
            }
        }
    }
    return out;
}

std::string_view option_type_name(OptionType t) {
    switch (t) {
        case OptionType::String:
            return "string";
        case OptionType::Int:
            return "integer";
        case OptionType::Float:
            return "number";
        case OptionType::Bool:
            return "bool";
        case OptionType::Duration:
            return "duration";
        case OptionType::Size:
            return "size";
        case OptionType::Secret:
            return "secret";
        case OptionType::List:
            return "list";
        case OptionType::Enum:
            return "enum";
    }
    return "?";
}

std::string RawValue::describe() const {
    switch (v.index()) {
        case 0:
            return "a string";
        case 1:
            return "an integer";
        case 2:
            return "a float";
        case 3:
            return "a boolean";
        case 4:
            return "an array";
        case 5:
            return "a table";
        default:
            return "a value";
    }
}

const RawEntry* find_entry(const RawTable& table, std::string_view key) {
    for (const auto& e : table) {
        if (e.key == key) {
            return &e;
        }
    }
    return nullptr;
}

}  // namespace sluice
