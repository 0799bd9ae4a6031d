#include "expr/expr.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <regex.h>

#include <fmt/format.h>

#include "text/text.hpp"

namespace sluice::expr {

namespace {

constexpr std::size_t kMaxText = 4096;
constexpr int kMaxDepth = 64;

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

bool parse_number(std::string_view s, double& out) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    if (s.empty()) {
        return false;
    }
    if (s.front() == '+') {
        s.remove_prefix(1);
    }
    const auto res = std::from_chars(s.data(), s.data() + s.size(), out);
    return res.ec == std::errc() && res.ptr == s.data() + s.size() && std::isfinite(out);
}

Value from_field(const FieldValue& v) {
    if (const auto* d = std::get_if<double>(&v)) {
        return Value::number(*d);
    }
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return Value::number(static_cast<double>(*i));
    }
    if (const auto* b = std::get_if<bool>(&v)) {
        return Value::of_bool(*b);
    }
    return Value::text(std::get<std::string>(v));
}

// A number, or a string that reads as one.
bool as_number(const Value& v, double& out) {
    if (v.type == Value::Type::Number) {
        out = v.num;
        return true;
    }
    if (v.type == Value::Type::String) {
        return parse_number(v.str, out);
    }
    return false;
}

std::string as_text(const Value& v) {
    switch (v.type) {
        case Value::Type::Number:
            return field_text(FieldValue(v.num));
        case Value::Type::Bool:
            return v.boolean ? "true" : "false";
        case Value::Type::String:
            return v.str;
        default:
            return {};
    }
}

}  // namespace

bool Value::truthy() const {
    switch (type) {
        case Type::Bool:
            return boolean;
        case Type::Number:
            return num != 0;
        case Type::String:
            return !str.empty();
        default:
            return false;
    }
}

// ------------------------------------------------------------------ nodes

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

namespace {

Value eval_node(const Node& n, const Record& r);

Value compare(Node::Kind k, const Value& a, const Value& b) {
    if (a.missing() || b.missing()) {
        return Value::of_bool(false);
    }
    int cmp = 0;
    bool ordered = true;
    double x = 0, y = 0;
    if (a.type == Value::Type::Bool || b.type == Value::Type::Bool) {
        if (a.type == b.type) {
            cmp = static_cast<int>(a.boolean) - static_cast<int>(b.boolean);
        } else {
            // A bool and a string: "true"/"false" compare as text.
            const std::string sa = as_text(a), sb = as_text(b);
            cmp = sa == sb ? 0 : 1;
        }
        ordered = false;
    } else if (a.type == Value::Type::String && b.type == Value::Type::String) {
        cmp = a.str.compare(b.str);
        cmp = cmp < 0 ? -1 : (cmp > 0 ? 1 : 0);
    } else if (as_number(a, x) && as_number(b, y)) {
        cmp = x < y ? -1 : (x > y ? 1 : 0);
    } else {
        // A number and a string that is no number: only "not equal" holds.
        return Value::of_bool(k == Node::Kind::Ne);
    }
    switch (k) {
        case Node::Kind::Eq:
            return Value::of_bool(cmp == 0);
        case Node::Kind::Ne:
            return Value::of_bool(cmp != 0);
        case Node::Kind::Lt:
            return Value::of_bool(ordered && cmp < 0);
        case Node::Kind::Le:
            return Value::of_bool(ordered && cmp <= 0);
        case Node::Kind::Gt:
            return Value::of_bool(ordered && cmp > 0);
        case Node::Kind::Ge:
            return Value::of_bool(ordered && cmp >= 0);
        default:
            return Value::of_bool(false);
    }
}

Value finite(double v) { return std::isfinite(v) ? Value::number(v) : Value{}; }

Value arith(Node::Kind k, const Value& a, const Value& b) {
    if (k == Node::Kind::Add && a.type == Value::Type::String && b.type == Value::Type::String) {
        double x, y;
        if (!(parse_number(a.str, x) && parse_number(b.str, y))) {
            return Value::text(a.str + b.str);
        }
    }
    double x, y;
    if (!as_number(a, x) || !as_number(b, y)) {
        return {};
    }
    switch (k) {
        case Node::Kind::Add:
            return finite(x + y);
        case Node::Kind::Sub:
            return finite(x - y);
        case Node::Kind::Mul:
            return finite(x * y);
        case Node::Kind::Div:
            return finite(x / y);
        case Node::Kind::Mod:
            return finite(std::fmod(x, y));
        default:
            return {};
    }
}

Value call(const Node& n, const Record& r) {
    std::vector<double> args;
    args.reserve(n.kids.size());
    for (const auto& k : n.kids) {
        if (n.fn == Fn::Convert && args.size() == 1) {
            break;  // the units were checked at parse time
        }
        double v;
        if (!as_number(eval_node(*k, r), v)) {
            return {};
        }
        args.push_back(v);
    }
    switch (n.fn) {
        case Fn::Abs:
            return finite(std::fabs(args[0]));
        case Fn::Min:
            return finite(*std::min_element(args.begin(), args.end()));
        case Fn::Max:
            return finite(*std::max_element(args.begin(), args.end()));
        case Fn::Round: {
            const double digits = args.size() > 1 ? std::clamp(std::round(args[1]), -15.0, 15.0) : 0.0;
            const double scale = std::pow(10.0, digits);
            return finite(std::round(args[0] * scale) / scale);
        }
        case Fn::Floor:
            return finite(std::floor(args[0]));
        case Fn::Ceil:
            return finite(std::ceil(args[0]));
        case Fn::Sqrt:
            return finite(std::sqrt(args[0]));
        case Fn::Pow:
            return finite(std::pow(args[0], args[1]));
        case Fn::Exp:
            return finite(std::exp(args[0]));
        case Fn::Ln:
            return finite(std::log(args[0]));
        case Fn::Log10:
            return finite(std::log10(args[0]));
        case Fn::Convert: {
            const auto v = convert_unit(args[0], n.unit_from, n.unit_to);
            return v ? finite(*v) : Value{};
        }
    }
    return {};
}

Value eval_node(const Node& n, const Record& r) {
    using K = Node::Kind;
    switch (n.kind) {
        case K::Literal:
            return n.literal;
        case K::Name:
            if (const Field* f = r.field(n.name)) {
                return from_field(f->value);
            }
            if (const std::string* t = r.tag(n.name)) {
                return Value::text(*t);
            }
            return {};
        case K::FieldRef:
            if (const Field* f = r.field(n.name)) {
                return from_field(f->value);
            }
            return {};
        case K::TagRef:
            if (const std::string* t = r.tag(n.name)) {
                return Value::text(*t);
            }
            return {};
        case K::Measurement:
            return Value::text(r.measurement);
        case K::Origin:
            return Value::text(r.origin);
        case K::Time:
            return Value::number(static_cast<double>(r.time_ns) / 1e9);
        case K::Exists:
            return Value::of_bool(r.field(n.name) != nullptr || r.tag(n.name) != nullptr);
        case K::Neg: {
            double v;
            if (!as_number(eval_node(*n.kids[0], r), v)) {
                return {};
            }
            return Value::number(-v);
        }
        case K::Not:
            return Value::of_bool(!eval_node(*n.kids[0], r).truthy());
        case K::And:
            return Value::of_bool(eval_node(*n.kids[0], r).truthy() && eval_node(*n.kids[1], r).truthy());
        case K::Or:
            return Value::of_bool(eval_node(*n.kids[0], r).truthy() || eval_node(*n.kids[1], r).truthy());
        case K::Eq:
        case K::Ne:
        case K::Lt:
        case K::Le:
        case K::Gt:
        case K::Ge:
            return compare(n.kind, eval_node(*n.kids[0], r), eval_node(*n.kids[1], r));
        case K::Match:
        case K::NoMatch: {
            const Value v = eval_node(*n.kids[0], r);
            if (v.missing()) {
                return Value::of_bool(false);
            }
            const bool m = n.regex->search(as_text(v));
            return Value::of_bool(n.kind == K::Match ? m : !m);
        }
        case K::Add:
        case K::Sub:
        case K::Mul:
        case K::Div:
        case K::Mod:
            return arith(n.kind, eval_node(*n.kids[0], r), eval_node(*n.kids[1], r));
        case K::Call:
            return call(n, r);
    }
    return {};
}

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

Value Expression::eval(const Record& r) const { return root_ ? eval_node(*root_, r) : Value{}; }

}  // namespace sluice::expr
