#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

// scheme://[user[:password]@]host[:port]/path?key=value&...
// Components are percent-decoded; `path` keeps its leading '/'.
struct Url {
    std::string scheme;
    std::string user;
    std::string password;
    std::string host;
    int port = 0;  // 0: not given
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;

    const std::string* param(std::string_view key) const;
};

std::optional<Url> parse_url(std::string_view text, std::string* error);
// %XX escapes decoded (and '+' as a space when `plus_is_space`: query
// strings from HTML forms). Nullopt when a '%' is not followed by two hex
// digits: the one decoder for URLs, request targets and query strings.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space = false);
// Every byte but the unreserved ones (A-Z a-z 0-9 - _ . ~) as %XX: safe in a
// path segment and in a query value.
std::string percent_encode(std::string_view s);

}  // namespace sluice
