#pragma once
// Private to the expression language's source files: the syntax tree (Node)
// that the parser builds and the evaluator walks, and what it holds.
//
//   expr_parse.cpp  lexer and parser: text -> Node tree, errors with columns
//   expr_eval.cpp   Value rules (truthiness, comparison, arithmetic on
//                   missing values) and the evaluation of a tree on a record

#include <memory>
#include <regex.h>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "expr/expr.hpp"

namespace sluice::expr {

// A compiled POSIX regular expression (glibc's matcher does not recurse per
// input character, so long values cannot exhaust the stack).
class Regex {
public:
    static std::shared_ptr<Regex> compile(const std::string& pattern, std::string* error) {
        auto r = std::shared_ptr<Regex>(new Regex());
        const int rc = regcomp(&r->re_, pattern.c_str(), REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char buf[256];
            regerror(rc, &r->re_, buf, sizeof buf);
            *error = fmt::format("invalid regular expression '{}': {}", pattern, buf);
            return nullptr;
        }
        r->ok_ = true;
        return r;
    }
    ~Regex() {
        if (ok_) {
            regfree(&re_);
        }
    }
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;
    bool search(const std::string& s) const {
        if (s.find('\0') != std::string::npos) {
            return false;  // regexec stops at NUL: never match on a truncated value
        }
        return regexec(&re_, s.c_str(), 0, nullptr, 0) == 0;
    }

private:
    Regex() = default;
    regex_t re_{};
    bool ok_ = false;
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
