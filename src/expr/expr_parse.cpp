// Parsing an expression: the lexer (Parser::next) and a recursive-descent
// parser for the grammar in expr.hpp, with a length and a nesting limit.
// Regular expressions and units are checked here, so evaluation cannot fail.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "expr/expr.hpp"
#include "expr/expr_internal.hpp"
#include "text/text.hpp"

namespace sluice::expr {

namespace {

constexpr std::size_t kMaxText = 4096;
constexpr int kMaxDepth = 64;

struct FnInfo {
    std::string_view name;
    Fn fn;
    int min_args;
    int max_args;
};

constexpr FnInfo kFunctions[] = {
    {"abs", Fn::Abs, 1, 1},     {"min", Fn::Min, 1, 16},   {"max", Fn::Max, 1, 16},    {"round", Fn::Round, 1, 2},
    {"floor", Fn::Floor, 1, 1}, {"ceil", Fn::Ceil, 1, 1},  {"sqrt", Fn::Sqrt, 1, 1},   {"pow", Fn::Pow, 2, 2},
    {"exp", Fn::Exp, 1, 1},     {"ln", Fn::Ln, 1, 1},      {"log10", Fn::Log10, 1, 1}, {"convert", Fn::Convert, 3, 3},
};

// ------------------------------------------------------------------ lexer

enum class Tok { End, Number, String, Ident, Op, LParen, RParen, Comma };

struct Token {
    Tok type = Tok::End;
    std::string text;
    double number = 0;
    std::size_t offset = 0;
};

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '.'; }


class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    std::unique_ptr<Node> parse_all(std::string* error) {
        if (text_.size() > kMaxText) {
            *error = fmt::format("expression longer than {} characters", kMaxText);
            return nullptr;
        }
        if (!next()) {
            *error = error_;
            return nullptr;
        }
        auto root = parse_or(0);
        if (root && tok_.type != Tok::End) {
            fail(tok_.offset, fmt::format("unexpected '{}'", tok_.text));
            root.reset();
        }
        if (!root) {
            *error = error_;
        }
        return root;
    }

private:
    bool fail(std::size_t offset, std::string message) {
        if (error_.empty()) {
            error_ = fmt::format("column {}: {}", utf8_column(text_, offset), message);
        }
        return false;
    }

    bool next() {
        std::size_t i = pos_;
        while (i < text_.size() && (text_[i] == ' ' || text_[i] == '\t' || text_[i] == '\n' || text_[i] == '\r')) {
            ++i;
        }
        tok_ = Token{};
        tok_.offset = i;
        if (i >= text_.size()) {
            pos_ = i;
            tok_.type = Tok::End;
            tok_.text = "end of expression";
            return true;
        }
        const char c = text_[i];
        if ((c >= '0' && c <= '9') || (c == '.' && i + 1 < text_.size() && text_[i + 1] >= '0' && text_[i + 1] <= '9')) {
            std::size_t j = i;
            while (j < text_.size() && ((text_[j] >= '0' && text_[j] <= '9') || text_[j] == '.')) {
                ++j;
            }
            if (j < text_.size() && (text_[j] == 'e' || text_[j] == 'E')) {
                std::size_t k = j + 1;
                if (k < text_.size() && (text_[k] == '+' || text_[k] == '-')) {
                    ++k;
                }
                if (k < text_.size() && text_[k] >= '0' && text_[k] <= '9') {
                    j = k;
                    while (j < text_.size() && text_[j] >= '0' && text_[j] <= '9') {
                        ++j;
                    }
                }
            }
            tok_.text = std::string(text_.substr(i, j - i));
            const auto res = std::from_chars(text_.data() + i, text_.data() + j, tok_.number);
            if (res.ec != std::errc() || res.ptr != text_.data() + j || !std::isfinite(tok_.number)) {
                return fail(i, fmt::format("invalid number '{}'", tok_.text));
            }
            if (j < text_.size() && ident_start(text_[j])) {
                return fail(j, fmt::format("unexpected '{}' after the number {}", text_[j], tok_.text));
            }
            tok_.type = Tok::Number;
            pos_ = j;
            return true;
        }
        if (c == '\'' || c == '"' || c == '`') {
            std::string s;
            std::size_t j = i + 1;
            for (;;) {
                if (j >= text_.size()) {
                    return fail(i, c == '`' ? "unterminated `name`" : "unterminated string");
                }
                const char d = text_[j];
                if (d == c) {
                    ++j;
                    break;
                }
                if (d == '\\' && c != '`') {
                    if (j + 1 >= text_.size()) {
                        return fail(i, "unterminated string");
                    }
                    const char e = text_[j + 1];
                    switch (e) {
                        case 'n':
                            s += '\n';
                            break;
                        case 't':
                            s += '\t';
                            break;
                        case '\\':
                        case '\'':
                        case '"':
                            s += e;
                            break;
                        default:
                            // Kept as written, so regular expressions read naturally ('\d', '\.').
                            s += '\\';
                            s += e;
                            break;
                    }
                    j += 2;
                    continue;
                }
                s += d;
                ++j;
            }
            if (c == '`' && s.empty()) {
                return fail(i, "empty `name`");
            }
            tok_.type = c == '`' ? Tok::Ident : Tok::String;
            tok_.text = std::move(s);
            quoted_ident_ = c == '`';
            pos_ = j;
            return true;
        }
        quoted_ident_ = false;
        if (ident_start(c)) {
            std::size_t j = i;
            while (j < text_.size() && ident_char(text_[j])) {
                ++j;
            }
            tok_.type = Tok::Ident;
            tok_.text = std::string(text_.substr(i, j - i));
            pos_ = j;
            return true;
        }
        auto two = [&](std::string_view op) { return text_.substr(i, 2) == op; };
        for (std::string_view op : {"==", "!=", "<=", ">=", "=~", "!~", "&&", "||"}) {
            if (two(op)) {
                tok_.type = Tok::Op;
                tok_.text = std::string(op);
                pos_ = i + 2;
                return true;
            }
        }
        switch (c) {
            case '<':
            case '>':
            case '+':
            case '-':
            case '*':
            case '/':
            case '%':
            case '!':
                tok_.type = Tok::Op;
                tok_.text = std::string(1, c);
                pos_ = i + 1;
                return true;
            case '(':
                tok_.type = Tok::LParen;
                tok_.text = "(";
                pos_ = i + 1;
                return true;
            case ')':
                tok_.type = Tok::RParen;
                tok_.text = ")";
                pos_ = i + 1;
                return true;
            case ',':
                tok_.type = Tok::Comma;
                tok_.text = ",";
                pos_ = i + 1;
                return true;
            case '=':
                return fail(i, "'=' is not an operator here: compare with '=='");
            default:
                break;
        }
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
            return fail(i, "unexpected character");
        }
        return fail(i, fmt::format("unexpected character '{}'", c));
    }

    bool is_op(std::string_view op) const { return tok_.type == Tok::Op && tok_.text == op; }
    bool is_word(std::string_view w) const { return tok_.type == Tok::Ident && !quoted_ident_ && tok_.text == w; }

    std::unique_ptr<Node> binary(Node::Kind k, std::unique_ptr<Node> a, std::unique_ptr<Node> b) {
        auto n = std::make_unique<Node>();
        n->kind = k;
        n->kids.push_back(std::move(a));
        n->kids.push_back(std::move(b));
        return n;
    }

    bool deeper(int depth) {
        if (depth > kMaxDepth) {
            return fail(tok_.offset, fmt::format("expression nested deeper than {} levels", kMaxDepth));
        }
        return true;
    }

    std::unique_ptr<Node> parse_or(int depth) {
        if (!deeper(depth)) {
            return nullptr;
        }
        auto left = parse_and(depth + 1);
        while (left && (is_word("or") || is_op("||"))) {
            if (!next()) {
                return nullptr;
            }
            auto right = parse_and(depth + 1);
            if (!right) {
                return nullptr;
            }
            left = binary(Node::Kind::Or, std::move(left), std::move(right));
        }
        return left;
    }

    std::unique_ptr<Node> parse_and(int depth) {
        auto left = parse_not(depth + 1);
        while (left && (is_word("and") || is_op("&&"))) {
            if (!next()) {
                return nullptr;
            }
            auto right = parse_not(depth + 1);
            if (!right) {
                return nullptr;
            }
            left = binary(Node::Kind::And, std::move(left), std::move(right));
        }
        return left;
    }

    std::unique_ptr<Node> parse_not(int depth) {
        if (!deeper(depth)) {
            return nullptr;
        }
        if (is_word("not") || is_op("!")) {
            if (!next()) {
                return nullptr;
            }
            auto inner = parse_not(depth + 1);
            if (!inner) {
                return nullptr;
            }
            auto n = std::make_unique<Node>();
            n->kind = Node::Kind::Not;
            n->kids.push_back(std::move(inner));
            return n;
        }
        return parse_cmp(depth + 1);
    }

    std::unique_ptr<Node> parse_cmp(int depth) {
        auto left = parse_sum(depth + 1);
        if (!left || tok_.type != Tok::Op) {
            return left;
        }
        static constexpr std::pair<std::string_view, Node::Kind> ops[] = {
            {"==", Node::Kind::Eq}, {"!=", Node::Kind::Ne}, {"<", Node::Kind::Lt},
            {"<=", Node::Kind::Le}, {">", Node::Kind::Gt},  {">=", Node::Kind::Ge},
            {"=~", Node::Kind::Match}, {"!~", Node::Kind::NoMatch},
        };
        for (const auto& [op, kind] : ops) {
            if (tok_.text != op) {
                continue;
            }
            const std::size_t at = tok_.offset;
            if (!next()) {
                return nullptr;
            }
            if (kind == Node::Kind::Match || kind == Node::Kind::NoMatch) {
                if (tok_.type != Tok::String) {
                    fail(tok_.offset, fmt::format("'{}' needs a string literal with a regular expression", op));
                    return nullptr;
                }
                std::string err;
                auto re = Regex::compile(tok_.text, &err);
                if (!re) {
                    fail(tok_.offset, err);
                    return nullptr;
                }
                if (!next()) {
                    return nullptr;
                }
                auto n = std::make_unique<Node>();
                n->kind = kind;
                n->regex = std::move(re);
                n->kids.push_back(std::move(left));
                return n;
            }
            auto right = parse_sum(depth + 1);
            if (!right) {
                return nullptr;
            }
            if (tok_.type == Tok::Op && (tok_.text == "==" || tok_.text == "!=" || tok_.text == "<" ||
                                         tok_.text == "<=" || tok_.text == ">" || tok_.text == ">=")) {
                fail(tok_.offset, "comparisons do not chain: use 'and'");
                return nullptr;
            }
            (void)at;
            return binary(kind, std::move(left), std::move(right));
        }
        return left;
    }

    std::unique_ptr<Node> parse_sum(int depth) {
        if (!deeper(depth)) {
            return nullptr;
        }
        auto left = parse_product(depth + 1);
        while (left && (is_op("+") || is_op("-"))) {
            const auto kind = tok_.text == "+" ? Node::Kind::Add : Node::Kind::Sub;
            if (!next()) {
                return nullptr;
            }
            auto right = parse_product(depth + 1);
            if (!right) {
                return nullptr;
            }
            left = binary(kind, std::move(left), std::move(right));
        }
        return left;
    }

    std::unique_ptr<Node> parse_product(int depth) {
        auto left = parse_unary(depth + 1);
        while (left && (is_op("*") || is_op("/") || is_op("%"))) {
            const auto kind = tok_.text == "*" ? Node::Kind::Mul : (tok_.text == "/" ? Node::Kind::Div : Node::Kind::Mod);
            if (!next()) {
                return nullptr;
            }
            auto right = parse_unary(depth + 1);
            if (!right) {
                return nullptr;
            }
            left = binary(kind, std::move(left), std::move(right));
        }
        return left;
    }

    std::unique_ptr<Node> parse_unary(int depth) {
        if (!deeper(depth)) {
            return nullptr;
        }
        if (is_op("-")) {
            if (!next()) {
                return nullptr;
            }
            auto inner = parse_unary(depth + 1);
            if (!inner) {
                return nullptr;
            }
            if (inner->kind == Node::Kind::Literal && inner->literal.type == Value::Type::Number) {
                inner->literal.num = -inner->literal.num;
                return inner;
            }
            auto n = std::make_unique<Node>();
            n->kind = Node::Kind::Neg;
            n->kids.push_back(std::move(inner));
            return n;
        }
        return parse_primary(depth + 1);
    }

    // A string literal argument (a name or a unit).
    std::optional<std::string> string_arg(std::string_view fn, std::string_view what) {
        if (tok_.type != Tok::String && tok_.type != Tok::Ident) {
            fail(tok_.offset, fmt::format("{}() needs {} (a name or a string literal)", fn, what));
            return std::nullopt;
        }
        std::string s = tok_.text;
        if (!next()) {
            return std::nullopt;
        }
        return s;
    }

    bool expect(Tok t, std::string_view what) {
        if (tok_.type != t) {
            return fail(tok_.offset, fmt::format("expected {} but found '{}'", what, tok_.text));
        }
        return next();
    }

    std::unique_ptr<Node> parse_primary(int depth) {
        auto n = std::make_unique<Node>();
        switch (tok_.type) {
            case Tok::Number:
                n->literal = Value::number(tok_.number);
                return next() ? std::move(n) : nullptr;
            case Tok::String:
                n->literal = Value::text(tok_.text);
                return next() ? std::move(n) : nullptr;
            case Tok::LParen: {
                if (!next()) {
                    return nullptr;
                }
                auto inner = parse_or(depth + 1);
                if (!inner || !expect(Tok::RParen, "')'")) {
                    return nullptr;
                }
                return inner;
            }
            case Tok::Ident:
                break;
            default:
                fail(tok_.offset, fmt::format("expected a value but found '{}'", tok_.text));
                return nullptr;
        }
        const std::string word = tok_.text;
        const std::size_t word_at = tok_.offset;
        const bool quoted = quoted_ident_;
        if (!next()) {
            return nullptr;
        }
        if (quoted || tok_.type != Tok::LParen) {
            if (!quoted) {
                if (word == "true" || word == "false") {
                    n->literal = Value::of_bool(word == "true");
                    return n;
                }
                if (word == "and" || word == "or" || word == "not") {
                    fail(word_at, fmt::format("expected a value but found '{}'", word));
                    return nullptr;
                }
                if (word == "measurement") {
                    n->kind = Node::Kind::Measurement;
                    return n;
                }
                if (word == "origin") {
                    n->kind = Node::Kind::Origin;
                    return n;
                }
                if (word == "time") {
                    n->kind = Node::Kind::Time;
                    return n;
                }
            }
            n->kind = Node::Kind::Name;
            n->name = word;
            return n;
        }
        // A function call.
        if (!next()) {
            return nullptr;
        }
        if (word == "exists" || word == "field" || word == "tag") {
            auto name = string_arg(word, "a name");
            if (!name || !expect(Tok::RParen, "')'")) {
                return nullptr;
            }
            n->kind = word == "exists" ? Node::Kind::Exists : (word == "field" ? Node::Kind::FieldRef : Node::Kind::TagRef);
            n->name = std::move(*name);
            return n;
        }
        const FnInfo* info = nullptr;
        for (const auto& f : kFunctions) {
            if (f.name == word) {
                info = &f;
            }
        }
        if (info == nullptr) {
            std::string names = "exists, field, tag";
            for (const auto& f : kFunctions) {
                names += fmt::format(", {}", f.name);
            }
            fail(word_at, fmt::format("unknown function '{}' (functions: {})", word, names));
            return nullptr;
        }
        n->kind = Node::Kind::Call;
        n->fn = info->fn;
        if (info->fn == Fn::Convert) {
            auto value = parse_or(depth + 1);
            if (!value || !expect(Tok::Comma, "','")) {
                return nullptr;
            }
            const std::size_t units_at = tok_.offset;
            auto from = string_arg("convert", "the unit converted from");
            if (!from || !expect(Tok::Comma, "','")) {
                return nullptr;
            }
            auto to = string_arg("convert", "the unit converted to");
            if (!to || !expect(Tok::RParen, "')'")) {
                return nullptr;
            }
            if (auto why = check_units(*from, *to); !why.empty()) {
                fail(units_at, why);
                return nullptr;
            }
            n->kids.push_back(std::move(value));
            n->unit_from = std::move(*from);
            n->unit_to = std::move(*to);
            return n;
        }
        if (tok_.type != Tok::RParen) {
            for (;;) {
                auto arg = parse_or(depth + 1);
                if (!arg) {
                    return nullptr;
                }
                n->kids.push_back(std::move(arg));
                if (tok_.type == Tok::Comma) {
                    if (!next()) {
                        return nullptr;
                    }
                    continue;
                }
                break;
            }
        }
        if (!expect(Tok::RParen, "')' or ','")) {
            return nullptr;
        }
        const int argc = static_cast<int>(n->kids.size());
        if (argc < info->min_args || argc > info->max_args) {
            fail(word_at, info->min_args == info->max_args
                              ? fmt::format("{}() takes {} argument{}", word, info->min_args,
                                            info->min_args == 1 ? "" : "s")
                              : fmt::format("{}() takes {} to {} arguments", word, info->min_args, info->max_args));
            return nullptr;
        }
        return n;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    Token tok_;
    bool quoted_ident_ = false;
    std::string error_;
};

}  // namespace

std::optional<Expression> Expression::parse(std::string_view text, std::string* error) {
    std::string local;
    Parser p(text);
    auto root = p.parse_all(error != nullptr ? error : &local);
    if (!root) {
        return std::nullopt;
    }
    Expression e;
    e.root_ = std::shared_ptr<const Node>(std::move(root));
    e.text_ = std::string(text);
    return e;
}

}  // namespace sluice::expr
