// The expression language's regular expressions (`=~`, `!~`): RE2 when the
// build has it (linear-time matching, bounded compile memory; the same syntax
// as topology_regex), else glibc's POSIX extended matcher on patterns that
// cannot make its compiler blow up.

#include "expr/expr_internal.hpp"

#if SLUICE_WITH_RE2
#include <re2/re2.h>
#else
#include <regex.h>
#endif

namespace sluice::expr {

#if SLUICE_WITH_RE2

struct Regex::Impl {
    explicit Impl(const std::string& pattern, const RE2::Options& o) : re(pattern, o) {}
    RE2 re;
};

std::shared_ptr<Regex> Regex::compile(const std::string& pattern, std::string* error) {
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_max_mem(1 << 20);      // bounds the compiled program and the DFA cache
    auto r = std::shared_ptr<Regex>(new Regex());
    r->impl_ = std::make_unique<Impl>(pattern, opts);
    if (!r->impl_->re.ok()) {
        *error = fmt::format("invalid regular expression '{}': {}", pattern, r->impl_->re.error());
        return nullptr;
    }
    return r;
}

bool Regex::search(std::string_view s) const {
    return RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), impl_->re);
}

#else

namespace {
constexpr std::size_t kMaxPattern = 256;

bool is_quantifier(char c) { return c == '*' || c == '+' || c == '?' || c == '{'; }

// A quantifier directly after a quantifier ('a++', 'a*{3}', 'a{2}+'): glibc
// duplicates the repeated node's closure per level, exponentially.
bool stacked_quantifier(const std::string& p) {
    bool after_quantifier = false;
    bool in_bracket = false;
    for (std::size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (in_bracket) {
            if (c == ']') {
                in_bracket = false;
            }
            continue;
        }
        if (c == '\\' && i + 1 < p.size()) {
            ++i;
            after_quantifier = false;
            continue;
        }
        if (c == '[') {
            in_bracket = true;
            if (i + 1 < p.size() && p[i + 1] == '^') {
                ++i;
            }
            if (i + 1 < p.size() && p[i + 1] == ']') {
                ++i;  // a ']' first in a bracket is a literal
            }
            after_quantifier = false;
            continue;
        }
        if (is_quantifier(c)) {
            if (after_quantifier) {
                return true;
            }
            if (c == '{') {
                const auto close = p.find('}', i);
                if (close != std::string::npos) {
                    i = close;
                }
            }
            after_quantifier = true;
            continue;
        }
        after_quantifier = false;
    }
    return false;
}
}  // namespace

struct Regex::Impl {
    regex_t re{};
    bool ok = false;
    ~Impl() {
        if (ok) {
            regfree(&re);
        }
    }
};

std::shared_ptr<Regex> Regex::compile(const std::string& pattern, std::string* error) {
    if (pattern.size() > kMaxPattern) {
        *error = fmt::format("regular expression longer than {} characters (this build has no RE2)", kMaxPattern);
        return nullptr;
    }
    if (stacked_quantifier(pattern)) {
        *error = fmt::format("invalid regular expression '{}': a quantifier follows a quantifier "
                             "(this build has no RE2; group it: '(a+)+')", pattern);
        return nullptr;
    }
    auto r = std::shared_ptr<Regex>(new Regex());
    r->impl_ = std::make_unique<Impl>();
    const int rc = regcomp(&r->impl_->re, pattern.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char buf[256];
        regerror(rc, &r->impl_->re, buf, sizeof buf);
        *error = fmt::format("invalid regular expression '{}': {}", pattern, buf);
        return nullptr;
    }
    r->impl_->ok = true;
    return r;
}

bool Regex::search(std::string_view s) const {
    if (s.find('\0') != std::string_view::npos) {
        return false;  // regexec stops at NUL: never match on a truncated value
    }
    const std::string z(s);
    return regexec(&impl_->re, z.c_str(), 0, nullptr, 0) == 0;
}

#endif

Regex::~Regex() = default;

}  // namespace sluice::expr
