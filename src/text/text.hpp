#pragma once
// Small text utilities shared by every part that reads or writes text.

#include <cstddef>
#include <string_view>

namespace sluice {

// The 1-based column of byte `offset` in `text`, counting UTF-8 characters
// (what an editor shows), for error messages.
inline int utf8_column(std::string_view text, std::size_t offset) {
    int col = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            ++col;
        }
    }
    return col;
}

}  // namespace sluice
