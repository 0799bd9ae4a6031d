#pragma once
// The one "{name}" template dialect: stage keys ("{node}/{sensor}"), Kafka
// topics and keys ("plant.{gateway}"), CrateDB schema and table names, and
// every later option that builds text from a record.
//
// The rule, documented in docs/expressions.md:
// - `{name}` is the record's tag `name`, else its field `name` (numbers in
//   their shortest exact form, booleans as true/false), else the record's
//   measurement or origin for those two names;
// - `{{` and `}}` are literal braces; a lone `}`, an unclosed `{`, an empty
//   or nested name are errors when the configuration is checked;
// - a name the record does not have, or whose value is empty text, is
//   missing: render() returns false, and each component says what it does
//   with such a record (a stage's policy, a Kafka dead letter, CrateDB's
//   fallback names).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"

namespace sluice {

class Template {
public:
    static constexpr std::size_t kMaxText = 4096;

    // Nullopt with `error` (which names the column) for a malformed template.
    // An empty text is a valid template that renders empty.
    static std::optional<Template> parse(std::string_view text, std::string* error);

    // Writes the text for `r` into `out` (cleared first). False when a name
    // is missing; `out` then holds the text with that name left empty, and
    // missing_name() says which name it was.
    bool render(const Record& r, std::string& out) const;
    // The same with each name's value passed through `escape` (literal text
    // as written): percent_encode for a URL path, say.
    using Escape = std::string (*)(std::string_view value);
    bool render(const Record& r, std::string& out, Escape escape) const;
    // The first name `r` lacks; empty if none.
    std::string_view missing_name(const Record& r) const;

    const std::string& text() const { return text_; }
    bool empty() const { return parts_.empty(); }
    // True when the template has no placeholder (a fixed topic, say).
    bool constant() const;

private:
    struct Part {
        bool name = false;
        std::string text;  // literal text, or the name
    };
    std::vector<Part> parts_;
    std::string text_;
};

}  // namespace sluice
