// The parsers of limits.hpp: --memory, --cpus, --pids.
#include "ctr/limits.hpp"

#include <unistd.h>  // sysconf(3)

#include <cctype>    // std::tolower
#include <charconv>  // std::from_chars
#include <iterator>  // std::size
#include <limits>    // std::numeric_limits

#include <fmt/format.h>  // fmt::format

#include "ctr/error.hpp"  // UsageError

namespace ctr {

uint64_t parse_size(std::string_view text, std::string_view what) {
  const auto bad = [&](std::string_view why) {
    return UsageError(
        fmt::format("invalid {} '{}': {}use a number with an optional k, m or g "
                    "suffix, like 64m",
                    what, text, why));
  };
  if (!text.empty() && text.front() == '-') throw bad("it cannot be negative; ");
  // The whole part, then an optional fraction: "1.5g". 128 bits leave room to detect overflow.
  size_t i = 0;
  unsigned __int128 whole = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > std::numeric_limits<uint64_t>::max()) throw bad("too large; ");
  }
  if (i == 0) throw bad("");
  unsigned __int128 frac = 0, frac_scale = 1;
  if (i < text.size() && text[i] == '.') {
    const size_t frac_start = ++i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      if (frac_scale < 1000000000000000000ULL) {  // 18 digits are plenty: round down the rest
        frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
        frac_scale *= 10;
      }
    }
    if (i == frac_start) throw bad("");
  }
  // The unit: k, m, g or t (powers of 1024), then optionally "b" or "ib"; or just "b".
  std::string unit;
  for (; i < text.size(); ++i)
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  std::string_view rest = unit;
  uint64_t multiplier = 1;
  if (const size_t p = std::string_view("kmgt").find(rest.substr(0, 1));
      !rest.empty() && p != std::string_view::npos) {
    multiplier = uint64_t{1} << (10 * (p + 1));
    rest.remove_prefix(1);
    if (rest == "ib") rest = "b";
  }
  if (!rest.empty() && rest != "b") throw bad("");
  const unsigned __int128 bytes = whole * multiplier + frac * multiplier / frac_scale;
  // v1 files hold a signed 64-bit number (memory.limit_in_bytes), so stay below INT64_MAX.
  if (bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) throw bad("too large; ");
  return static_cast<uint64_t>(bytes);
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0 || value == static_cast<double>(static_cast<uint64_t>(value))) {
    return fmt::format("{} {}", static_cast<uint64_t>(value), kUnits[unit]);
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

uint64_t parse_memory_limit(std::string_view text) {
  const uint64_t bytes = parse_size(text, "memory size");
  if (bytes < kMinMemoryBytes) {
    throw UsageError(fmt::format(
        "memory limit '{}' is too small: give at least 6m, the least a container can start in "
        "(docker has the same minimum)",
        text));
  }
  return bytes;
}

double parse_cpus(std::string_view text) {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return parse_cpus(text, online > 0 ? static_cast<unsigned>(online) : 1);
}

double parse_cpus(std::string_view text, unsigned online_cpus) {
  const auto bad = [&] {
    return UsageError(fmt::format(
        "invalid cpus '{}': use a number of CPUs from 0.01 to {} (this machine has {} online), "
        "like 0.5",
        text, online_cpus, online_cpus));
  };
  // Only plain decimals: from_chars would also take "1e3", "inf" and "nan".
  bool seen_digit = false, seen_dot = false;
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      seen_digit = true;
    } else if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      throw bad();
    }
  }
  if (!seen_digit) throw bad();
  double cpus = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), cpus);
  if (ec != std::errc() || end != text.data() + text.size()) throw bad();
  // 0.01 CPU is a quota of 1000 us per 100000 us period, the least the kernel takes
  // (cpu.cfs_quota_us >= 1ms, sched/core.c: min_cfs_quota_period).
  if (cpus < 0.01 || cpus > static_cast<double>(online_cpus)) throw bad();
  return cpus;
}

uint64_t parse_pids_limit(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > kMaxPidsLimit) {
    throw UsageError(fmt::format(
        "invalid pids limit '{}': use a whole number of processes from 1 to {}, like 100 "
        "(leave the option out for no limit)",
        text, kMaxPidsLimit));
  }
  return value;
}

}  // namespace ctr
