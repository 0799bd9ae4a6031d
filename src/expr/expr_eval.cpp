// Evaluating an expression on a record: names, comparisons (missing values
// compare false), arithmetic (a non-finite result is missing), regular
// expression matches and the functions.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "expr/expr.hpp"
#include "expr/expr_internal.hpp"

namespace sluice::expr {

namespace {

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

}  // namespace

Value Expression::eval(const Record& r) const { return root_ ? eval_node(*root_, r) : Value{}; }

}  // namespace sluice::expr
