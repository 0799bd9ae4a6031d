#include "buffer/page_scan.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace sluice::buffer_detail {

namespace {

// Reads a SQLite varint at p (at most 9 bytes before end); 0 bytes used if
// it runs past the end.
std::size_t varint(const unsigned char* p, const unsigned char* end, std::uint64_t& v) {
    v = 0;
    for (std::size_t i = 0; i < 9; ++i) {
        if (p + i >= end) {
            return 0;
        }
        if (i == 8) {
            v = (v << 8) | p[i];
            return 9;
        }
        v = (v << 7) | (p[i] & 0x7f);
        if ((p[i] & 0x80) == 0) {
            return i + 1;
        }
    }
    return 0;
}

std::int64_t int_value(const unsigned char* p, std::uint64_t type) {
    static constexpr int kBytes[] = {0, 1, 2, 3, 4, 6, 8};
    if (type == 8) {
        return 0;
    }
    if (type == 9) {
        return 1;
    }
    const int n = kBytes[type];
    if (n == 0) {
        return 0;
    }
    std::uint64_t v = (p[0] & 0x80) ? ~std::uint64_t{0} : 0;
    for (int i = 0; i < n; ++i) {
        v = (v << 8) | p[i];
    }
    return static_cast<std::int64_t>(v);
}

}  // namespace

void scan_record_pages(const PageReader& read, const RecordCellFn& fn) {
    std::array<unsigned char, 100> h{};
    if (!read(0, h.data(), h.size())) {
        return;
    }
    std::size_t page = (std::size_t{h[16]} << 8) | h[17];
    if (page == 1) {
        page = 65536;
    }
    if (page < 512 || (page & (page - 1)) != 0) {
        return;
    }
    const std::size_t usable = page - h[20];
    std::vector<unsigned char> buf(page);
    std::vector<unsigned char> over(page);
    std::string payload;
    auto read_page = [&](std::uint64_t no, std::vector<unsigned char>& into) {
        return no >= 1 && no <= (std::uint64_t{1} << 32) && read((no - 1) * page, into.data(), page);
    };
    for (std::uint64_t no = 2;; ++no) {
        if (!read_page(no, buf)) {
            break;
        }
        if (buf[0] != 0x0d) {
            continue;
        }
        const std::size_t cells = (std::size_t{buf[3]} << 8) | buf[4];
        for (std::size_t c = 0; c < cells && 8 + 2 * c + 1 < page; ++c) {
            const std::size_t at = (std::size_t{buf[8 + 2 * c]} << 8) | buf[8 + 2 * c + 1];
            if (at < 8 || at >= usable) {
                continue;
            }
            const unsigned char* p = buf.data() + at;
            const unsigned char* end = buf.data() + usable;
            std::uint64_t len = 0;
            std::uint64_t rowid = 0;
            std::size_t k = varint(p, end, len);
            if (k == 0 || len > (64u << 20)) {
                continue;
            }
            p += k;
            if ((k = varint(p, end, rowid)) == 0) {
                continue;
            }
            p += k;
            const std::size_t x = usable - 35;
            std::size_t local = len;
            if (len > x) {
                const std::size_t m = ((usable - 12) * 32 / 255) - 23;
                const std::size_t kk = m + ((len - m) % (usable - 4));
                local = kk <= x ? kk : m;
            }
            if (local > static_cast<std::size_t>(end - p)) {
                continue;
            }
            payload.assign(reinterpret_cast<const char*>(p), local);
            bool ok = true;
            if (local < len) {
                if (local + 4 > static_cast<std::size_t>(end - p)) {
                    continue;
                }
                std::uint64_t next = be32(p + local);
                while (ok && payload.size() < len) {
                    if (next < 2 || !read_page(next, over)) {
                        ok = false;
                        break;
                    }
                    const std::size_t take = std::min<std::size_t>(usable - 4, len - payload.size());
                    payload.append(reinterpret_cast<const char*>(over.data() + 4), take);
                    next = be32(over.data());
                }
            }
            if (!ok) {
                continue;
            }
            // The record: header size, four or five serial types (rows
            // written before schema v3 have no n), the values.
            const auto* r = reinterpret_cast<const unsigned char*>(payload.data());
            const auto* rend = r + payload.size();
            std::uint64_t hsize = 0;
            std::size_t used = varint(r, rend, hsize);
            if (used == 0 || hsize > payload.size()) {
                continue;
            }
            std::uint64_t types[5];
            const unsigned char* q = r + used;
            int n = 0;
            while (q < r + hsize && n < 6) {
                std::uint64_t t = 0;
                const std::size_t u = varint(q, r + hsize, t);
                if (u == 0) {
                    n = 6;
                    break;
                }
                if (n < 5) {
                    types[n] = t;
                }
                ++n;
                q += u;
            }
            auto is_int = [](std::uint64_t t) { return t <= 9 && t != 7; };
            if ((n != 4 && n != 5) || types[0] != 0 || !is_int(types[1]) || !is_int(types[2]) || types[3] < 12 ||
                types[3] % 2 != 0 || (n == 5 && !is_int(types[4]))) {
                continue;
            }
            static constexpr std::size_t kLen[] = {0, 1, 2, 3, 4, 6, 8, 8, 0, 0};
            const unsigned char* v = r + hsize;
            const std::size_t blob = (types[3] - 12) / 2;
            const std::size_t ints = kLen[types[1]] + kLen[types[2]];
            const std::size_t tail = n == 5 ? kLen[types[4]] : 0;
            if (ints > static_cast<std::size_t>(rend - v) || blob > static_cast<std::size_t>(rend - v) - ints ||
                tail > static_cast<std::size_t>(rend - v) - ints - blob) {
                continue;
            }
            const std::int64_t ts = int_value(v, types[1]);
            v += ints;
            const std::int64_t count = n == 5 ? int_value(v + blob, types[4]) : 1;
            if (count < 1) {
                continue;
            }
            fn(rowid, ts, std::string_view(reinterpret_cast<const char*>(v), blob), static_cast<std::uint64_t>(count));
        }
    }
}


void scan_record_pages(const std::filesystem::path& path, const RecordCellFn& fn) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return;
    }
    scan_record_pages(
        [&in](std::uint64_t offset, unsigned char* into, std::size_t n) {
            in.clear();
            in.seekg(static_cast<std::streamoff>(offset));
            in.read(reinterpret_cast<char*>(into), static_cast<std::streamsize>(n));
            return static_cast<std::size_t>(in.gcount()) == n;
        },
        fn);
}

void scan_record_pages(std::string_view file, const RecordCellFn& fn) {
    scan_record_pages(
        [file](std::uint64_t offset, unsigned char* into, std::size_t n) {
            if (offset > file.size() || n > file.size() - offset) {
                return false;
            }
            std::memcpy(into, file.data() + offset, n);
            return true;
        },
        fn);
}

}  // namespace sluice::buffer_detail
