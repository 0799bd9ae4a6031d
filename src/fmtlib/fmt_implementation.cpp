// fmt's implementation, compiled once for the whole build.
//
// Debian ships libfmt only as a shared library, and a static sluice must not
// need it at run time. Defining FMT_HEADER_ONLY everywhere did that by
// compiling fmt's implementation (format-inl.h: float formatting, locale
// hooks, error reporting) into every file that includes <fmt/format.h>,
// which made each such file about 3 s slower to compile at -O2. Instead the
// rest of the tree includes only fmt's declarations, and this file compiles
// the definitions from Debian's header once and instantiates the templates
// that format.h declares but leaves to the library.

#include <fmt/format-inl.h>

#include <locale>

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;

template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view, basic_format_args<FMT_BUFFER_CONTEXT(char)>,
                                 locale_ref);

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<wchar_t>;
template FMT_API auto decimal_point_impl(locale_ref) -> wchar_t;
template FMT_API void buffer<wchar_t>::append(const wchar_t*, const wchar_t*);

}  // namespace detail
FMT_END_NAMESPACE
