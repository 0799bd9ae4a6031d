#pragma once
// Private to the expression language's source files: the syntax tree (Node)
// that the parser builds and the evaluator walks, and what it holds.
//
//   expr_parse.cpp  lexer and parser: text -> Node tree, errors with columns
//   expr_eval.cpp   Value rules (truthiness, comparison, arithmetic on
//                   missing values) and the evaluation of a tree on a record

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "expr/expr.hpp"

namespace sluice::expr {

// A compiled regular expression for `=~` and `!~`, through RE2: matching is
// linear in the value's length and compiling is bounded in memory, so a
// pattern such as '(a+)+$' cannot stall a pipeline. Builds without RE2 (the
// minimal presets) refuse them at configuration time. expr_regex.cpp.
class Regex {
public:
    static std::shared_ptr<Regex> compile(const std::string& pattern, std::string* error);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;
    // True when the pattern matches anywhere in s (unanchored, like regexec).
    bool search(std::string_view s) const;

private:
    Regex() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

enum class Fn { Abs, Min, Max, Round, Floor, Ceil, Sqrt, Pow, Exp, Ln, Log10, Convert };

struct Node {
    enum class Kind {
        Literal, Name, FieldRef, TagRef, Measurement, Origin, Time, Exists, Neg, Not, And, Or,
        Eq, Ne, Lt, Le, Gt, Ge, Match, NoMatch, Add, Sub, Mul, Div, Mod, Call
    };
    Kind kind = Kind::Literal;
    Value literal;
    std::string name;
    Fn fn = Fn::Abs;
    std::vector<std::unique_ptr<Node>> kids;
    std::shared_ptr<Regex> regex;
    std::string unit_from, unit_to;
};

}  // namespace sluice::expr
