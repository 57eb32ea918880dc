// fmt's formatting code, compiled once for the whole project.
//
// Debian's libfmt-dev ships fmt as a shared library (libfmt.so) and headers, but no static
// archive. The static binaries (MC_STATIC_LIBS, common/CMakeLists.txt) used to take fmt
// header-only (FMT_HEADER_ONLY), which compiles this code again in every translation unit
// that includes <fmt/core.h>: about 3 s of compiler time each, for ~130 files, in each build.
// Instead this one file holds the definitions, as fmt's own src/format.cc does: the functions
// of format-inl.h, and the template instances that <fmt/format.h> declares `extern`.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;

template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view,
                                 basic_format_args<FMT_BUFFER_CONTEXT(char)>, locale_ref);

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<wchar_t>;
template FMT_API auto decimal_point_impl(locale_ref) -> wchar_t;
template FMT_API void buffer<wchar_t>::append(const wchar_t*, const wchar_t*);

}  // namespace detail
FMT_END_NAMESPACE
