// resolve_options: a component's raw option table checked against its
// OptionSpec table (unknown keys, duplicates, required options, defaults).

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "config/resolve.hpp"
#include "core/log.hpp"
#include "core/option_text.hpp"
#include "core/suggest.hpp"

namespace sluice {

using option_text::join;

Options resolve_options(std::span<const OptionSpec> specs, const RawTable& table, std::string_view context,
                        const SourcePos& owner_pos, Diagnostics& diag, std::span<const std::string_view> passthrough) {
    Options out;
    auto find_spec = [&](std::string_view name) -> const OptionSpec* {
        for (const auto& s : specs) {
            if (s.name == name) {
                return &s;
            }
        }
        return nullptr;
    };
    // An option given under its deprecated name (OptionSpec::deprecated_alias).
    auto find_alias = [&](std::string_view name) -> const OptionSpec* {
        for (const auto& s : specs) {
            if (!s.deprecated_alias.empty() && s.deprecated_alias == name) {
                return &s;
            }
        }
        return nullptr;
    };

    std::vector<std::string_view> seen;
    // Where each option was given and under which name, for the message when
    // an option is given both under its name and its deprecated alias.
    struct Given {
        std::string_view name;
        std::string_view key;
        SourcePos pos;
    };
    std::vector<Given> given;
    for (const auto& entry : table) {
        if (std::find(passthrough.begin(), passthrough.end(), entry.key) != passthrough.end()) {
            continue;
        }
        const OptionSpec* spec = find_spec(entry.key);
        const bool via_alias = spec == nullptr && (spec = find_alias(entry.key)) != nullptr;
        if (via_alias) {
            diag.warn(entry.key_pos, fmt::format("option '{}' for {} is deprecated, use '{}'", entry.key, context,
                                                 spec->name));
        }
        if (spec == nullptr) {
            std::vector<std::string_view> names;
            for (const auto& s : specs) {
                names.push_back(s.name);
            }
            std::vector<std::string_view> candidates = names;
            candidates.insert(candidates.end(), passthrough.begin(), passthrough.end());
            std::string msg = fmt::format("unknown option '{}' for {}", entry.key, context);
            if (auto near = did_you_mean(entry.key, std::span<const std::string_view>(candidates))) {
                msg += fmt::format(" (did you mean '{}'?)", *near);
            } else if (!names.empty()) {
                msg += fmt::format(" (valid options: {})", join(names, ", "));
            } else {
                msg += " (it takes no options)";
            }
            diag.error(entry.key_pos, std::move(msg));
            continue;
        }
        if (std::find(seen.begin(), seen.end(), spec->name) != seen.end()) {
            const auto first =
                std::find_if(given.begin(), given.end(), [&](const Given& g) { return g.name == spec->name; });
            if (first != given.end() && first->key != entry.key) {
                const std::string_view old_name = spec->deprecated_alias;
                diag.error(entry.key_pos,
                           fmt::format("option '{}' for {} is given twice: as '{}' ({}) and as '{}' ({}); '{}' is "
                                       "the deprecated name of '{}', keep only '{}'",
                                       spec->name, context, first->key, first->pos.str(), entry.key,
                                       entry.key_pos.str(), old_name, spec->name, spec->name));
                continue;
            }
            diag.error(entry.key_pos, fmt::format("option '{}' for {} is given twice", entry.key, context));
            continue;
        }
        seen.push_back(spec->name);
        given.push_back(Given{spec->name, entry.key, entry.key_pos});
        auto value = convert_option_value(*spec, entry.value, false, context, diag);
        if (!value) {
            continue;
        }
        const SourcePos& pos = entry.value.pos.line != 0 || !entry.value.pos.file.empty() ? entry.value.pos
                                                                                          : entry.key_pos;
        out.set(std::string(spec->name), Options::Entry{spec->type, std::move(*value), pos, true});
    }

    for (const auto& spec : specs) {
        if (std::find(seen.begin(), seen.end(), spec.name) != seen.end()) {
            continue;
        }
        seen.push_back(spec.name);
        if (spec.required) {
            diag.error(owner_pos, fmt::format("{} needs option '{}'", context, spec.name));
            continue;
        }
        if (spec.default_value.empty()) {
            continue;
        }
        RawValue raw;
        raw.v = std::string(spec.default_value);
        raw.pos = owner_pos;
        raw.from_text = true;
        auto value = convert_option_value(spec, raw, true, context, diag);
        if (value) {
            out.set(std::string(spec.name), Options::Entry{spec.type, std::move(*value), owner_pos, false});
        }
    }
    return out;
}

void log_warnings(const Diagnostics& diag, std::size_t from) {
    const auto& warnings = diag.warnings();
    for (std::size_t i = from; i < warnings.size(); ++i) {
        log::warn("{}", warnings[i].str());
    }
}

}  // namespace sluice
