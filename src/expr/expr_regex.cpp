// The expression language's regular expressions (`=~`, `!~`) through RE2:
// linear-time matching, bounded compile memory, the same syntax as
// topology_regex. Builds without RE2 refuse them.

#include "expr/expr_internal.hpp"

#if SLUICE_WITH_RE2
#include <re2/re2.h>
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

// glibc's POSIX matcher is no substitute: its compiler takes exponential
// time on nested or stacked quantifiers ('((a+)+)+', 'a++'), so a build
// without RE2 refuses `=~` at configuration time, as it refuses
// topology = "regex".
struct Regex::Impl {};

std::shared_ptr<Regex> Regex::compile(const std::string&, std::string* error) {
    *error = "regular expressions ('=~', '!~') are not in this build (SLUICE_WITH_RE2=OFF)";
    return nullptr;
}

bool Regex::search(std::string_view) const { return false; }

#endif

Regex::~Regex() = default;

}  // namespace sluice::expr
