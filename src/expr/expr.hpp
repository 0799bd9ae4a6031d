#pragma once
// A small, safe expression language over records. One parser serves the
// filter stage's predicates, the join stage's stream selectors and the map
// stage's computed fields ("{node}/{sensor}" key templates are
// text/template.hpp). Everything here parses configuration text, so bad input is
// an error value, never a crash (see tests/fuzz/expr).
//
//   expr    := or
//   or      := and { ("or" | "||") and }
//   and     := not { ("and" | "&&") not }
//   not     := ("not" | "!") not | cmp
//   cmp     := sum [ ("==" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "!~") sum ]
//   sum     := product { ("+" | "-") product }
//   product := unary { ("*" | "/" | "%") unary }
//   unary   := "-" unary | primary
//   primary := number | 'string' | "string" | true | false | name | `any name`
//            | function "(" [ expr { "," expr } ] ")" | "(" expr ")"
//
// A name is a field of the record, else a tag, else missing; `measurement`,
// `origin` and `time` (seconds since the epoch) are the record's own, and
// field('x') / tag('x') pick one kind explicitly. Functions: exists(name),
// abs, min, max, round(x[, digits]), floor, ceil, sqrt, pow, exp, ln, log10,
// convert(x, 'from', 'to') (units: see convert_unit), field, tag.
//
// Missing values: arithmetic on them is missing, and every comparison with
// one is false (`!=` too); test with exists(). A result that is not a finite
// number (division by zero) is missing. Numbers compare with strings that
// read as numbers (tags are text). `=~` matches a POSIX extended regular
// expression, which must be a string literal.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"
#include "expr/units.hpp"
#include "text/field_text.hpp"

namespace sluice::expr {

struct Value {
    enum class Type { Missing, Number, Bool, String };
    Type type = Type::Missing;
    double num = 0;
    bool boolean = false;
    std::string str;

    static Value number(double v) {
        Value out;
        out.type = Type::Number;
        out.num = v;
        return out;
    }
    static Value of_bool(bool v) {
        Value out;
        out.type = Type::Bool;
        out.boolean = v;
        return out;
    }
    static Value text(std::string v) {
        Value out;
        out.type = Type::String;
        out.str = std::move(v);
        return out;
    }
    bool missing() const { return type == Type::Missing; }
    // true, a non-zero number or a non-empty string.
    bool truthy() const;
};

struct Node;

class Expression {
public:
    // Errors read "column 7: expected ')'" (1-based, in characters).
    static std::optional<Expression> parse(std::string_view text, std::string* error);

    Value eval(const Record& r) const;
    bool test(const Record& r) const { return eval(r).truthy(); }
    const std::string& text() const { return text_; }

private:
    std::shared_ptr<const Node> root_;
    std::string text_;
};

}  // namespace sluice::expr
