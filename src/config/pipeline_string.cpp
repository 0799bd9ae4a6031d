// The one-line pipeline syntax of `sluice run -e`, gst-launch style:
//
//   file path=/var/log/app.log ! decode chain=json,csv csv.separator=";" ! filter ... ! stdout
//
// Elements are separated by '!'; each is a name followed by key=value pairs.
// Double quotes make spaces and '!' literal; inside them a backslash escapes
// the next character.

#include <fmt/format.h>

#include "config/config_build.hpp"

namespace sluice {

namespace {

using config_detail::column_of;

constexpr std::string_view kOrigin = "-e";
constexpr std::string_view kKeywords[] = {"decode", "buffer", "pipeline"};

constexpr OptionSpec kDecodeElementOptions[] = {
    {.name = "chain",
     .type = OptionType::List,
     .doc = "Decoders tried in order, e.g. chain=json,csv; options of one decoder as <decoder>.<key>=value."},
};

struct Token {
    std::string text;
    std::size_t offset = 0;               // of the token in the input
    std::size_t eq = std::string::npos;   // index in `text` of the first unquoted '='
    std::size_t value_offset = 0;         // in the input, just after that '='
};

struct Element {
    std::vector<Token> tokens;  // tokens[0] is the name
    std::size_t offset = 0;
};

class PipelineStringParser {
public:
    PipelineStringParser(std::string_view text, const Registry& registry, Diagnostics& diag)
        : text_(text), registry_(registry), diag_(diag) {}

    std::optional<GatewayConfig> parse() {
        const std::size_t errors_before = diag_.size();
        std::vector<Element> elements;
        if (!split(elements)) {
            return std::nullopt;
        }
        GatewayConfig config;
        config.origin = std::string(kOrigin);
        config_detail::default_sections(config, pos(0), diag_);
        PipelineSpec p;
        p.name = "main";
        p.pos = pos(0);
        build(elements, p);
        config_detail::finish_pipeline(p, diag_, false);  // build() reports a missing source or sink itself
        config.pipelines.push_back(std::move(p));
        config_detail::check_sink_paths(config, diag_);
        if (diag_.size() != errors_before) {
            return std::nullopt;
        }
        return config;
    }

private:
    SourcePos pos(std::size_t offset) const {
        return SourcePos{std::string(kOrigin), 1, column_of(text_, offset)};
    }

    // ------------------------------------------------ lexing

    bool split(std::vector<Element>& out) {
        Element cur;
        Token tok;
        bool in_token = false;
        bool in_quote = false;
        std::size_t quote_offset = 0;
        bool element_started = false;
        std::size_t element_offset = 0;

        auto end_token = [&]() {
            if (in_token) {
                cur.tokens.push_back(std::move(tok));
                tok = Token{};
                in_token = false;
            }
        };
        auto end_element = [&](std::size_t at) -> bool {
            end_token();
            if (cur.tokens.empty()) {
                diag_.error(pos(element_started ? element_offset : at),
                            "empty element: expected a name between the '!'s");
                return false;
            }
            out.push_back(std::move(cur));
            cur = Element{};
            element_started = false;
            return true;
        };

        for (std::size_t i = 0; i < text_.size(); ++i) {
            const char c = text_[i];
            if (in_quote) {
                if (c == '"') {
                    in_quote = false;
                } else if (c == '\\' && i + 1 < text_.size()) {
                    const char n = text_[++i];
                    tok.text += n == 'n' ? '\n' : n == 't' ? '\t' : n;
                } else {
                    tok.text += c;
                }
                continue;
            }
            if (c == '!') {
                if (!end_element(i)) {
                    return false;
                }
                continue;
            }
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                end_token();
                continue;
            }
            if (!in_token) {
                in_token = true;
                tok.offset = i;
                if (!element_started) {
                    element_started = true;
                    element_offset = i;
                    cur.offset = i;
                }
            }
            if (c == '"') {
                in_quote = true;
                quote_offset = i;
            } else {
                if (c == '=' && tok.eq == std::string::npos) {
                    tok.eq = tok.text.size();
                    tok.value_offset = i + 1;
                }
                tok.text += c;
            }
        }
        if (in_quote) {
            diag_.error(pos(quote_offset), "unterminated quote");
            return false;
        }
        if (text_.find_first_not_of(" \t\r\n") == std::string_view::npos) {
            diag_.error(pos(0), "empty pipeline: expected e.g. 'stdin ! stdout'");
            return false;
        }
        return end_element(text_.size());
    }

    // key=value tokens of an element as a RawTable (values typed as text).
    RawTable args(const Element& e) {
        RawTable t;
        for (std::size_t i = 1; i < e.tokens.size(); ++i) {
            const Token& tok = e.tokens[i];
            if (tok.eq == std::string::npos) {
                diag_.error(pos(tok.offset), fmt::format("expected key=value, got '{}'", tok.text));
                continue;
            }
            if (tok.eq == 0) {
                diag_.error(pos(tok.offset), "missing key before '='");
                continue;
            }
            RawEntry entry;
            entry.key = tok.text.substr(0, tok.eq);
            entry.key_pos = pos(tok.offset);
            entry.value.v = tok.text.substr(tok.eq + 1);
            entry.value.pos = pos(tok.value_offset);
            entry.value.from_text = true;
            t.push_back(std::move(entry));
        }
        return t;
    }

    // ------------------------------------------------ elements → pipeline

    void build(const std::vector<Element>& elements, PipelineSpec& p) {
        const Element& first = elements.front();
        const std::string& first_name = first.tokens[0].text;
        const SourcePos first_pos = pos(first.offset);
        const Descriptor* source = nullptr;
        if (first.tokens[0].eq != std::string::npos) {
            diag_.error(first_pos, fmt::format("an element starts with a name, not '{}'", first_name));
        } else if (source = registry_.find(Kind::Source, first_name); source == nullptr) {
            if (is_keyword(first_name) || registry_.find(Kind::Sink, first_name) != nullptr ||
                registry_.find(Kind::Stage, first_name) != nullptr) {
                diag_.error(first_pos, fmt::format("a pipeline string starts with a source, not '{}'", first_name));
            } else {
                config_detail::find_component(registry_, Kind::Source, first_name, first_pos, diag_);
            }
        }
        std::vector<config_detail::DecoderOption> decoder_options;
        RawTable source_table = split_decoder_options(args(first), decoder_options);
        RawTable pipeline_table;
        RawTable buffer_table;
        SourcePos pipeline_pos = pos(0);
        SourcePos buffer_pos = pos(0);
        bool seen_stage = false;
        bool seen_sink = false;
        bool seen_decode = false;

        for (std::size_t i = 1; i < elements.size(); ++i) {
            const Element& e = elements[i];
            const std::string& name = e.tokens[0].text;
            const SourcePos at = pos(e.offset);
            if (e.tokens[0].eq != std::string::npos) {
                diag_.error(at, fmt::format("an element starts with a name, not '{}'", name));
                continue;
            }
            if (seen_sink && registry_.find(Kind::Sink, name) == nullptr) {
                diag_.error(at, fmt::format("'{}' follows a sink: every element after the first sink must be a sink",
                                            name));
                continue;
            }
            if (name == "decode") {
                if (seen_decode) {
                    diag_.error(at, "only one decode element is allowed");
                } else if (seen_stage) {
                    diag_.error(at, "the decode element must come before the stages");
                } else {
                    seen_decode = true;
                    decode_element(e, source_table, decoder_options);
                }
                continue;
            }
            if (name == "buffer" || name == "pipeline") {
                RawTable t = args(e);
                RawTable& target = name == "buffer" ? buffer_table : pipeline_table;
                (name == "buffer" ? buffer_pos : pipeline_pos) = at;
                target.insert(target.end(), std::make_move_iterator(t.begin()), std::make_move_iterator(t.end()));
                continue;
            }
            const Descriptor* stage = registry_.find(Kind::Stage, name);
            const Descriptor* sink = registry_.find(Kind::Sink, name);
            if (stage != nullptr && sink != nullptr) {
                diag_.error(at, fmt::format("'{}' is both a stage and a sink; this build cannot tell which is meant",
                                            name));
                continue;
            }
            if (stage != nullptr) {
                seen_stage = true;
                p.stages.push_back(config_detail::build_component(*stage, args(e), at, diag_));
                continue;
            }
            if (sink != nullptr) {
                seen_sink = true;
                p.sinks.push_back(config_detail::build_component(*sink, args(e), at, diag_));
                continue;
            }
            unknown_element(name, at);
        }

        if (source != nullptr) {
            p.sources.push_back(
                config_detail::build_source(*source, source_table, first_pos, registry_, diag_, decoder_options));
        }
        p.options = resolve_options(pipeline_option_specs(), pipeline_table, "pipeline", pipeline_pos, diag_);
        p.buffer = resolve_options(buffer_option_specs(), buffer_table, "buffer", buffer_pos, diag_);
        if (p.sinks.empty() && source != nullptr) {
            diag_.error(pos(text_.size()), "the pipeline needs a sink at the end, e.g. '... ! stdout'");
        }
    }

    // Moves `<decoder>.<key>=value` entries out of `table` into `decoder_options`.
    RawTable split_decoder_options(RawTable table, std::vector<config_detail::DecoderOption>& decoder_options) {
        RawTable own;
        for (auto& entry : table) {
            const auto dot = entry.key.find('.');
            if (dot == std::string::npos) {
                own.push_back(std::move(entry));
                continue;
            }
            if (dot == 0 || dot + 1 == entry.key.size()) {
                diag_.error(entry.key_pos,
                            fmt::format("'{}': decoder options are written <decoder>.<key>=value", entry.key));
                continue;
            }
            config_detail::DecoderOption opt;
            opt.decoder = entry.key.substr(0, dot);
            opt.pos = entry.key_pos;
            opt.entry = std::move(entry);
            opt.entry.key = opt.entry.key.substr(dot + 1);
            opt.entry.key_pos.column += static_cast<int>(dot + 1);
            decoder_options.push_back(std::move(opt));
        }
        return own;
    }

    void decode_element(const Element& e, RawTable& source_table,
                        std::vector<config_detail::DecoderOption>& decoder_options) {
        RawTable own = split_decoder_options(args(e), decoder_options);
        // Only for its messages (unknown keys, a bad chain); the chain itself
        // is handed to the source as its "decode" option.
        Diagnostics local;
        resolve_options(kDecodeElementOptions, own, "decode", pos(e.offset), local);
        diag_.append(local);
        if (const RawEntry* chain = find_entry(own, "chain")) {
            if (find_entry(source_table, "decode") != nullptr) {
                diag_.error(chain->key_pos, "the decode chain is given twice (decode= on the source and chain=)");
                return;
            }
            RawEntry d = *chain;
            d.key = "decode";
            source_table.push_back(std::move(d));
        }
    }

    void unknown_element(const std::string& name, const SourcePos& at) {
        if (registry_.find(Kind::Decoder, name) != nullptr) {
            diag_.error(at, fmt::format("'{}' is a decoder: write 'decode chain={}' after the source", name, name));
            return;
        }
        if (registry_.find(Kind::Source, name) != nullptr) {
            diag_.error(at, fmt::format("'{}' is a source; only the first element is a source", name));
            return;
        }
        // Every name, so that a misspelt decoder or source gets the hint
        // above once the spelling is fixed.
        std::vector<std::string> names;
        for (Kind k : {Kind::Stage, Kind::Sink, Kind::Decoder, Kind::Source}) {
            for (auto& n : registry_.names(k)) {
                names.push_back(std::move(n));
            }
        }
        for (auto k : kKeywords) {
            names.emplace_back(k);
        }
        std::string msg = fmt::format("unknown element '{}'", name);
        if (auto near = did_you_mean(name, std::span<const std::string>(names))) {
            msg += fmt::format(" (did you mean '{}'?)", *near);
        }
        diag_.error(at, std::move(msg));
    }

    static bool is_keyword(std::string_view name) {
        for (auto k : kKeywords) {
            if (k == name) {
                return true;
            }
        }
        return false;
    }

    std::string_view text_;
    const Registry& registry_;
    Diagnostics& diag_;
};

}  // namespace

std::optional<GatewayConfig> parse_pipeline_string(std::string_view text, const Registry& registry,
                                                   Diagnostics& diag) {
    PipelineStringParser parser(text, registry, diag);
    const std::size_t warned = diag.warnings().size();
    auto config = parser.parse();
    log_warnings(diag, warned);
    return config;
}

}  // namespace sluice
