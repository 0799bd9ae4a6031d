#pragma once
// Option resolution: raw values (TOML, -e strings, URLs) checked against a
// component's OptionSpec table into typed Options, with ${ENV} expansion and
// secret files. The config front ends call it; components only read the
// resulting Options (core/options.hpp).

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/options.hpp"

namespace sluice {

// Checks `table` against `specs`: unknown keys (with a "did you mean"),
// wrong types, out-of-range values and missing required options all end up in
// `diag`, prefixed with `context` (e.g. "source 'file'"). Keys listed in
// `passthrough` are not options of this component and are skipped.
Options resolve_options(std::span<const OptionSpec> specs, const RawTable& table,
                        std::string_view context, const SourcePos& owner_pos, Diagnostics& diag,
                        std::span<const std::string_view> passthrough = {});

// Logs diag's warnings from the `from`-th on (each config load logs the
// ones it added, so a deprecated name is warned about once per load).
void log_warnings(const Diagnostics& diag, std::size_t from = 0);

// One value checked against its spec (type, range, choices, ${ENV},
// secrets); problems go to `diag` and give nullopt. A bad default
// (`is_default`) is reported as a bug in the component's table.
std::optional<OptionValue> convert_option_value(const OptionSpec& spec, const RawValue& raw, bool is_default,
                                                std::string_view context, Diagnostics& diag);

// ${ENV} expansion in any string, and for secrets "@/path" (file contents,
// trailing newline removed) or "@credential:NAME" (systemd's
// $CREDENTIALS_DIRECTORY/NAME). Errors go to `error`.
std::optional<std::string> expand_env(std::string_view text, std::string* error);
std::optional<std::string> resolve_secret(std::string_view text, std::string* error);

}  // namespace sluice
