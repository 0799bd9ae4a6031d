#pragma once
// Shared by the three config front ends (TOML, -e pipeline strings, relay
// URLs): each turns its syntax into RawTables with positions, and these
// helpers turn those into checked ComponentSpecs. Internal to sluice_config.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/resolve.hpp"

namespace sluice::config_detail {

inline constexpr std::string_view kComponentPassthrough[] = {"type", "id"};

// "source 'file'", "decoder 'csv'": the context used in messages.
std::string component_context(Kind kind, std::string_view type);

// The registry entry for `type`, or nullptr after reporting
// "unknown source type 'fiel' (did you mean 'file'?)" at `pos`.
const Descriptor* find_component(const Registry& registry, Kind kind, std::string_view type, const SourcePos& pos,
                                 Diagnostics& diag);

// Names allowed for ids and pipelines: they end up in metric labels and file names.
bool valid_name(std::string_view name);

// A decoder option given outside the decoder's own table: `csv.separator=;`
// in a -e string or `?csv.columns=a,b` in a relay URL.
struct DecoderOption {
    std::string decoder;  // decoder type
    RawEntry entry;       // key without the "<decoder>." prefix
    SourcePos pos;        // of the full dotted key, for messages
};

// Builds a non-source component from its table (keys "type" and "id" are
// not options). The id is taken from the table (checked) or left empty for
// finish_pipeline to assign.
ComponentSpec build_component(const Descriptor& d, const RawTable& table, const SourcePos& pos, Diagnostics& diag);

// Builds a source, including its decode chain from the "decode" entry (names
// or inline tables) or from the default chain.
SourceSpec build_source(const Descriptor& d, const RawTable& table, const SourcePos& pos, const Registry& registry,
                        Diagnostics& diag, const std::vector<DecoderOption>& decoder_options = {});

// Assigns ids to components without one and reports duplicate ids and,
// with `check_shape`, pipelines without sources or sinks.
void finish_pipeline(PipelineSpec& p, Diagnostics& diag, bool check_shape = true);

// Two file sinks (in any pipelines) writing the same file, after making
// the paths absolute and normal and following symbolic links: an error at
// the second naming the first. Devices (/dev/stdout) may be shared.
void check_sink_paths(const GatewayConfig& config, Diagnostics& diag);

// Gateway and HTTP sections at their defaults (for -e and relay).
void default_sections(GatewayConfig& config, const SourcePos& pos, Diagnostics& diag);

// Column of byte `offset` in `text`, 1-based, counting UTF-8 characters.
int column_of(std::string_view text, std::size_t offset);

}  // namespace sluice::config_detail
