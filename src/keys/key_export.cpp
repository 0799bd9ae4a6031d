#include "keys/key_export.hpp"

#include <fmt/format.h>

#include "core/hex.hpp"
#include "core/record_json.hpp"
#include "text/base64.hpp"
#include "text/json.hpp"
#include "text/text_value.hpp"

namespace sluice::keys {

namespace {

constexpr std::size_t kMaxPseudonymBytes = 64;
constexpr std::size_t kMaxByBytes = 1024;

bool is_key_id(std::string_view id) {
    if (id.size() != 16) {
        return false;
    }
    for (const char c : id) {
        if (hex_digit(c) < 0) {
            return false;
        }
    }
    return true;
}

struct Reader {
    std::string* error;
    bool failed = false;

    void fail(std::string why) {
        if (!failed && error != nullptr) {
            *error = std::move(why);
        }
        failed = true;
    }
    // A string member; UTF-8 (a lone surrogate escape is not text).
    const std::string* text(const JsonValue& obj, std::string_view name, std::string_view where) {
        const JsonValue* v = obj.get(name);
        const std::string* s = v != nullptr ? v->string() : nullptr;
        if (s == nullptr) {
            fail(fmt::format("{}: '{}' must be a string", where, name));
        } else if (!valid_utf8(*s)) {
            fail(fmt::format("{}: '{}' is not UTF-8 text", where, name));
            return nullptr;
        }
        return s;
    }
    // A check or a mac: lowercase hex, as written.
    std::string hex(const JsonValue& obj, std::string_view name, std::string_view where) {
        const std::string* s = text(obj, name, where);
        if (s == nullptr) {
            return {};
        }
        for (const char c : *s) {
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                fail(fmt::format("{}: '{}' must be lowercase hex", where, name));
                return {};
            }
        }
        return *s;
    }
    std::int64_t integer(const JsonValue& obj, std::string_view name, std::string_view where) {
        const JsonValue* v = obj.get(name);
        const auto* i = v != nullptr ? std::get_if<std::int64_t>(&v->v) : nullptr;
        if (i == nullptr || *i < 0) {
            fail(fmt::format("{}: '{}' must be a whole number of nanoseconds", where, name));
            return 0;
        }
        return *i;
    }
    std::string bytes(const JsonValue& obj, std::string_view name, std::string_view where) {
        const std::string* s = text(obj, name, where);
        if (s == nullptr) {
            return {};
        }
        auto b = decode_base64(*s, Base64::Url);
        if (!b) {
            fail(fmt::format("{}: '{}' is not base64url", where, name));
            return {};
        }
        return std::move(*b);
    }
    std::string id(const JsonValue& obj, std::string_view where) {
        const std::string* s = text(obj, "id", where);
        if (s != nullptr && !is_key_id(*s)) {
            fail(fmt::format("{}: 'id' must be 16 hex digits", where));
        }
        return s != nullptr ? *s : std::string();
    }
    std::string pseudonym(const JsonValue& obj, std::string_view where) {
        const std::string* s = text(obj, "pseudonym", where);
        if (s != nullptr && (s->empty() || s->size() > kMaxPseudonymBytes || !decode_base64(*s, Base64::Url))) {
            fail(fmt::format("{}: 'pseudonym' must be base64url of at most {} characters", where, kMaxPseudonymBytes));
        }
        return s != nullptr ? *s : std::string();
    }
};

}  // namespace

std::string export_key_aad(std::string_view id, std::string_view pseudonym) {
    return fmt::format("sluice key export v1:{}:{}", id, pseudonym);
}

std::string transport_check(const Key& transport) {
    return to_hex(hmac_sha256(transport, "sluice key export v1: transport key check"));
}

std::string pseudonym_check(const Key& pseudonym_key) {
    return to_hex(hmac_sha256(pseudonym_key, "sluice key export v1: pseudonym key check"));
}

std::string export_mac(const KeyExport& e, const Key& transport) {
    const auto mac_key = hmac_sha256(transport, "sluice key export v1: document mac key");
    KeyExport body = e;
    body.mac.clear();
    const std::string text = write_key_export(body);
    return to_hex(hmac_sha256(mac_key, text));
}

std::string write_key_export(const KeyExport& e) {
    std::string out = "{\"format\":";
    append_json_string(out, kExportFormat);
    out += fmt::format(",\"exported_ns\":{},\"transport_check\":", e.exported_ns);
    append_json_string(out, e.transport_check);
    out += ",\"pseudonym_check\":";
    append_json_string(out, e.pseudonym_check);
    out += ",\"pseudonym_key\":";
    append_json_string(out, base64(e.pseudonym_key, Base64::Url, false));
    out += ",\n\"keys\":[";
    for (std::size_t i = 0; i < e.keys.size(); ++i) {
        const auto& k = e.keys[i];
        out += i == 0 ? "\n{\"id\":" : ",\n{\"id\":";
        append_json_string(out, k.id);
        out += ",\"pseudonym\":";
        append_json_string(out, k.pseudonym);
        out += fmt::format(",\"created_ns\":{},\"wrapped\":", k.created_ns);
        append_json_string(out, base64(k.wrapped, Base64::Url, false));
        out += '}';
    }
    out += "],\n\"forgotten\":[";
    for (std::size_t i = 0; i < e.forgotten.size(); ++i) {
        const auto& f = e.forgotten[i];
        out += i == 0 ? "\n{\"id\":" : ",\n{\"id\":";
        append_json_string(out, f.id);
        out += ",\"pseudonym\":";
        append_json_string(out, f.pseudonym);
        out += fmt::format(",\"forgotten_ns\":{},\"by\":", f.forgotten_ns);
        append_json_string(out, f.by);
        out += '}';
    }
    out += ']';
    if (!e.mac.empty()) {
        out += ",\n\"mac\":";
        append_json_string(out, e.mac);
    }
    out += "}\n";
    return out;
}

std::optional<KeyExport> parse_key_export(std::string_view text, std::string* error) {
    if (text.size() > kMaxExportBytes) {
        if (error != nullptr) {
            *error = fmt::format("larger than {} MiB", kMaxExportBytes >> 20);
        }
        return std::nullopt;
    }
    std::string why;
    auto doc = parse_json(text, &why, 4);
    if (!doc) {
        if (error != nullptr) {
            *error = "not JSON: " + why;
        }
        return std::nullopt;
    }
    Reader r{error};
    const JsonValue* format = doc->object() != nullptr ? doc->get("format") : nullptr;
    if (format == nullptr || format->string() == nullptr || *format->string() != kExportFormat) {
        r.fail(fmt::format("not a key export: 'format' must be \"{}\"", kExportFormat));
        return std::nullopt;
    }
    KeyExport e;
    e.exported_ns = r.integer(*doc, "exported_ns", "the export");
    e.transport_check = r.hex(*doc, "transport_check", "the export");
    e.pseudonym_check = r.hex(*doc, "pseudonym_check", "the export");
    e.mac = r.hex(*doc, "mac", "the export");
    if (e.mac.empty()) {
        r.fail("the export: 'mac' must be the document's mac");
    }
    e.pseudonym_key = r.bytes(*doc, "pseudonym_key", "the export");
    const JsonValue* keys = doc->get("keys");
    const JsonValue* forgotten = doc->get("forgotten");
    if (keys == nullptr || keys->array() == nullptr || forgotten == nullptr || forgotten->array() == nullptr) {
        r.fail("the export: 'keys' and 'forgotten' must be arrays");
        return std::nullopt;
    }
    // Each member of an array of objects, named "keys[3]" in messages.
    const auto each = [&](const JsonValue& array, std::string_view name, const auto& fn) {
        for (std::size_t i = 0; i < array.array()->size() && !r.failed; ++i) {
            const JsonValue& item = (*array.array())[i];
            const std::string where = fmt::format("{}[{}]", name, i);
            if (item.object() == nullptr) {
                r.fail(where + ": must be an object");
                return;
            }
            fn(item, where);
        }
    };
    each(*keys, "keys", [&](const JsonValue& k, const std::string& where) {
        KeyExport::WrappedKey w;
        w.id = r.id(k, where);
        w.pseudonym = r.pseudonym(k, where);
        w.created_ns = r.integer(k, "created_ns", where);
        w.wrapped = r.bytes(k, "wrapped", where);
        e.keys.push_back(std::move(w));
    });
    each(*forgotten, "forgotten", [&](const JsonValue& f, const std::string& where) {
        KeyExport::ForgottenKey g;
        g.id = r.id(f, where);
        g.pseudonym = r.pseudonym(f, where);
        g.forgotten_ns = r.integer(f, "forgotten_ns", where);
        if (const std::string* by = r.text(f, "by", where)) {
            if (by->size() > kMaxByBytes) {
                r.fail(fmt::format("{}: 'by' is longer than {} bytes", where, kMaxByBytes));
            }
            g.by = *by;
        }
        e.forgotten.push_back(std::move(g));
    });
    if (r.failed) {
        return std::nullopt;
    }
    return e;
}

}  // namespace sluice::keys
