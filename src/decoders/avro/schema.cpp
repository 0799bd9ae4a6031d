#include "decoders/avro/schema.hpp"

#include <array>
#include <unordered_map>

#include <fmt/format.h>

#include "core/options.hpp"
#include "text/json.hpp"

namespace sluice::decoders::avro {
namespace {

// A schema nests records in records: bounded like data.
constexpr std::size_t kMaxNesting = 64;
// Enough for any real schema; a bound for a broken one.
constexpr std::size_t kMaxNodes = 100'000;

constexpr std::string_view kind_name(Kind k) {
    constexpr std::string_view kNames[] = {"null",   "boolean", "int",   "long",  "float", "double", "bytes",
                                           "string", "record",  "enum",  "array", "map",   "union",  "fixed"};
    return kNames[static_cast<int>(k)];
}

std::optional<Kind> primitive(std::string_view name) {
    static constexpr std::array<std::pair<std::string_view, Kind>, 8> kPrimitives{{
        {"null", Kind::Null},
        {"boolean", Kind::Boolean},
        {"int", Kind::Int},
        {"long", Kind::Long},
        {"float", Kind::Float},
        {"double", Kind::Double},
        {"bytes", Kind::Bytes},
        {"string", Kind::String},
    }};
    for (const auto& [n, k] : kPrimitives) {
        if (n == name) {
            return k;
        }
    }
    return std::nullopt;
}

class Parser {
public:
    Schema run(std::string_view text) {
        std::string error;
        // Each schema level takes a few JSON levels: the schema's own limit
        // (kMaxNesting) is the one that speaks.
        const auto doc = parse_json(text, &error, kMaxNesting * 4);
        if (!doc) {
            throw ConfigError(fmt::format("not JSON: {}", error));
        }
        schema_.root = node(*doc, "", 0);
        if (schema_.nodes[static_cast<std::size_t>(schema_.root)].kind != Kind::Record) {
            throw ConfigError("the schema is not a record (each frame must be one record)");
        }
        return std::move(schema_);
    }

private:
    [[noreturn]] static void fail(std::string_view what) { throw ConfigError(std::string(what)); }

    int add(Node n) {
        if (schema_.nodes.size() >= kMaxNodes) {
            fail(fmt::format("more than {} types", kMaxNodes));
        }
        schema_.nodes.push_back(std::move(n));
        return static_cast<int>(schema_.nodes.size() - 1);
    }

    static const std::string* member_string(const JsonValue& v, std::string_view key) {
        const JsonValue* m = v.get(key);
        return m == nullptr ? nullptr : m->string();
    }

    // The full name of a named type: "ns.name" (a dotted name is full already).
    static std::string full_name(const std::string& name, const std::string* ns, const std::string& enclosing) {
        if (name.find('.') != std::string::npos) {
            return name;
        }
        const std::string& space = ns != nullptr ? *ns : enclosing;
        return space.empty() ? name : space + "." + name;
    }

    int reference(const std::string& name, const std::string& ns) {
        if (const auto k = primitive(name)) {
            Node n;
            n.kind = *k;
            return add(std::move(n));
        }
        for (const std::string& candidate : {full_name(name, nullptr, ns), name}) {
            if (const auto it = named_.find(candidate); it != named_.end()) {
                return it->second;
            }
        }
        fail(fmt::format("unknown type '{}' (a named type must be defined before it is used)", name));
    }

    int node(const JsonValue& v, const std::string& ns, std::size_t depth) {
        if (depth > kMaxNesting) {
            fail(fmt::format("types nested deeper than {} levels", kMaxNesting));
        }
        if (const std::string* s = v.string()) {
            return reference(*s, ns);
        }
        if (const auto* branches = v.array()) {
            Node u;
            u.kind = Kind::Union;
            for (const JsonValue& b : *branches) {
                const int i = node(b, ns, depth + 1);
                const Node& n = schema_.nodes[static_cast<std::size_t>(i)];
                if (n.kind == Kind::Union) {
                    fail("a union directly inside a union");
                }
                for (const int j : u.branches) {
                    const Node& o = schema_.nodes[static_cast<std::size_t>(j)];
                    if (o.kind == n.kind && o.name == n.name) {
                        fail(fmt::format("a union with two branches of type {}",
                                         n.name.empty() ? kind_name(n.kind) : n.name));
                    }
                }
                u.branches.push_back(i);
            }
            if (u.branches.empty()) {
                fail("an empty union");
            }
            return add(std::move(u));
        }
        if (v.object() == nullptr) {
            fail("a type that is neither a name, an object nor a union");
        }
        const std::string* type = member_string(v, "type");
        if (type == nullptr) {
            // {"type": {...}} wraps a type.
            if (const JsonValue* inner = v.get("type")) {
                return node(*inner, ns, depth + 1);
            }
            fail("a type object without \"type\"");
        }
        if (*type == "record" || *type == "error") {
            return record(v, ns, depth);
        }
        if (*type == "enum" || *type == "fixed") {
            return named_leaf(v, *type, ns);
        }
        if (*type == "array" || *type == "map") {
            const JsonValue* items = v.get(*type == "array" ? "items" : "values");
            if (items == nullptr) {
                fail(fmt::format("{} without \"{}\"", *type == "array" ? "an array" : "a map",
                                 *type == "array" ? "items" : "values"));
            }
            Node n;
            n.kind = *type == "array" ? Kind::Array : Kind::Map;
            n.items = node(*items, ns, depth + 1);
            return add(std::move(n));
        }
        const int i = reference(*type, ns);
        // A logical type on a primitive; a named type keeps its own.
        return primitive(*type) ? logical(v, i) : i;
    }

    // A logicalType on a primitive: the ones sluice maps; others (and ones
    // on the wrong type) leave the primitive as it is, as the spec says.
    int logical(const JsonValue& v, int i) {
        const std::string* l = member_string(v, "logicalType");
        Node& n = schema_.nodes[static_cast<std::size_t>(i)];
        if (l == nullptr) {
            return i;
        }
        if (n.kind == Kind::Long) {
            if (*l == "timestamp-millis" || *l == "local-timestamp-millis") {
                n.logical = Logical::TimestampMillis;
            } else if (*l == "timestamp-micros" || *l == "local-timestamp-micros") {
                n.logical = Logical::TimestampMicros;
            } else if (*l == "timestamp-nanos" || *l == "local-timestamp-nanos") {
                n.logical = Logical::TimestampNanos;
            }
        } else if (n.kind == Kind::Int && *l == "date") {
            n.logical = Logical::Date;
        } else if ((n.kind == Kind::Bytes || n.kind == Kind::Fixed) && *l == "decimal") {
            decimal(v, n);
        }
        return i;
    }

    static void decimal(const JsonValue& v, Node& n) {
        // Without a precision the logical type is ignored (the spec's rule).
        const JsonValue* precision = v.get("precision");
        if (precision == nullptr || !precision->number() || *precision->number() < 1) {
            return;
        }
        const JsonValue* scale = v.get("scale");
        const auto s = scale != nullptr ? scale->number() : std::optional<double>(0);
        if (!s || *s < 0 || *s > 300 || *s != static_cast<double>(static_cast<int>(*s))) {
            return;  // an invalid decimal is its underlying type
        }
        n.logical = Logical::Decimal;
        n.scale = static_cast<int>(*s);
    }

    std::string define(const JsonValue& v, const std::string& ns, std::string_view what) {
        const std::string* name = member_string(v, "name");
        if (name == nullptr || name->empty()) {
            fail(fmt::format("a {} without a name", what));
        }
        std::string full = full_name(*name, member_string(v, "namespace"), ns);
        const auto dot = full.rfind('.');
        if (primitive(dot == std::string::npos ? full : std::string_view(full).substr(dot + 1))) {
            fail(fmt::format("a {} named '{}': primitive type names cannot be defined", what, full));
        }
        return full;
    }

    void name(const std::string& full, int i) {
        if (!named_.emplace(full, i).second) {
            fail(fmt::format("type '{}' is defined twice", full));
        }
    }

    int record(const JsonValue& v, const std::string& ns, std::size_t depth) {
        const std::string full = define(v, ns, "record");
        Node r;
        r.kind = Kind::Record;
        r.name = full;
        const int i = add(std::move(r));
        name(full, i);  // before its fields: a field may refer to the record itself
        const JsonValue* fields = v.get("fields");
        if (fields == nullptr || fields->array() == nullptr) {
            fail(fmt::format("record '{}' has no \"fields\" array", full));
        }
        const auto dot = full.rfind('.');
        const std::string inner = dot == std::string::npos ? "" : full.substr(0, dot);
        for (const JsonValue& f : *fields->array()) {
            const std::string* fname = member_string(f, "name");
            const JsonValue* ftype = f.get("type");
            if (fname == nullptr || fname->empty() || ftype == nullptr) {
                fail(fmt::format("a field of record '{}' without a name or type", full));
            }
            const int t = node(*ftype, inner, depth + 1);
            auto& own = schema_.nodes[static_cast<std::size_t>(i)].fields;
            for (const auto& [other, type] : own) {
                if (other == *fname) {
                    fail(fmt::format("record '{}' has two fields named '{}'", full, other));
                }
            }
            own.emplace_back(*fname, t);
        }
        return i;
    }

    int named_leaf(const JsonValue& v, const std::string& type, const std::string& ns) {
        const std::string full = define(v, ns, type);
        Node n;
        n.name = full;
        if (type == "enum") {
            n.kind = Kind::Enum;
            const JsonValue* symbols = v.get("symbols");
            if (symbols == nullptr || symbols->array() == nullptr) {
                fail(fmt::format("enum '{}' has no \"symbols\" array", full));
            }
            for (const JsonValue& s : *symbols->array()) {
                if (s.string() == nullptr) {
                    fail(fmt::format("enum '{}' has a symbol that is not a string", full));
                }
                n.symbols.push_back(*s.string());
            }
        } else {
            n.kind = Kind::Fixed;
            const JsonValue* size = v.get("size");
            const auto s = size != nullptr ? size->number() : std::nullopt;
            if (!s || *s < 0 || *s > 1 << 20 || *s != static_cast<double>(static_cast<std::size_t>(*s))) {
                fail(fmt::format("fixed '{}' has no valid \"size\"", full));
            }
            n.size = static_cast<std::size_t>(*s);
        }
        const int i = add(std::move(n));
        name(full, i);
        return logical(v, i);
    }

    Schema schema_;
    std::unordered_map<std::string, int> named_;
};

}  // namespace

Schema Schema::parse(std::string_view json) { return Parser().run(json); }

}  // namespace sluice::decoders::avro
