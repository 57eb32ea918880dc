#include "ctr/ipv4.hpp"

#include <algorithm>  // std::min
#include <array>      // std::array
#include <cctype>     // std::isdigit
#include <charconv>   // std::from_chars
#include <optional>   // std::optional

#include <fmt/format.h>  // fmt::format

#include "ctr/error.hpp"  // UsageError

namespace ctr {

namespace {

// Reads up to `max` decimal digits at the front of text; nullopt if there are none, if
// there are more, or if a number of two digits or more starts with '0'.
std::optional<uint32_t> take_number(std::string_view& text, size_t max) {
  size_t len = 0;
  while (len < text.size() && len <= max && std::isdigit(static_cast<unsigned char>(text[len])))
    ++len;
  if (len == 0 || len > max || (len > 1 && text[0] == '0')) return std::nullopt;
  uint32_t value = 0;
  std::from_chars(text.data(), text.data() + len, value);
  text.remove_prefix(len);
  return value;
}

std::optional<uint32_t> try_parse_ipv4(std::string_view text) {
  uint32_t address = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text.front() != '.') return std::nullopt;
      text.remove_prefix(1);
    }
    auto value = take_number(text, 3);
    if (!value || *value > 255) return std::nullopt;
    address = (address << 8) | *value;
  }
  if (!text.empty()) return std::nullopt;
  return address;
}

}  // namespace

std::string format_ipv4(uint32_t address) {
  return fmt::format("{}.{}.{}.{}", address >> 24, (address >> 16) & 0xff, (address >> 8) & 0xff,
                     address & 0xff);
}

uint32_t parse_ipv4(std::string_view text) {
  if (auto address = try_parse_ipv4(text)) return *address;
  throw UsageError(fmt::format("invalid address '{}': expected A.B.C.D", text));
}

std::string Ipv4Cidr::to_string() const {
  return fmt::format("{}/{}", format_ipv4(addr), prefix);
}

Ipv4Cidr parse_cidr(std::string_view text, std::string_view what) {
  const auto slash = text.find('/');
  std::optional<uint32_t> address;
  if (slash != std::string_view::npos) address = try_parse_ipv4(text.substr(0, slash));
  std::string_view rest = slash == std::string_view::npos ? "" : text.substr(slash + 1);
  auto prefix = take_number(rest, 2);
  if (!address || !prefix || !rest.empty())
    throw UsageError(fmt::format("invalid {} '{}': expected A.B.C.D/N", what, text));
  if (*prefix > 32)
    throw UsageError(
        fmt::format("invalid {} '{}': the prefix length N must be 0 to 32", what, text));
  return {*address, static_cast<int>(*prefix)};
}

namespace {
// Ranges no bridge may take (RFC 6890): 127/8 is the host's own loopback (its route is in the
// `local` table, which /proc/net/route does not show: the clash check would miss it), the
// others are not addresses one host can give another.
void refuse_special_range(Ipv4Cidr subnet, std::string_view text) {
  struct Range {
    Ipv4Cidr cidr;
    const char* what;
  };
  static constexpr std::array<Range, 4> kSpecial{{
      {{0x00000000, 8}, "\"this network\" (0.0.0.0/8)"},
      {{0x7f000000, 8}, "the host's loopback addresses (127.0.0.0/8)"},
      {{0xe0000000, 4}, "multicast (224.0.0.0/4)"},
      {{0xf0000000, 4}, "reserved (240.0.0.0/4)"},
  }};
  for (const Range& r : kSpecial) {
    const Ipv4Cidr wider{subnet.addr, std::min(subnet.prefix, r.cidr.prefix)};
    if (wider.contains(r.cidr.addr)) {
      throw UsageError(
          fmt::format("subnet {} is in {}: choose a private range, e.g. 10.48.0.0/24 (RFC 1918)",
                      text, r.what));
    }
  }
}
}  // namespace

Ipv4Cidr parse_subnet(std::string_view text) {
  const Ipv4Cidr subnet = parse_cidr(text, "subnet");
  if (subnet.addr != subnet.network())
    throw UsageError(fmt::format("invalid subnet '{}': host bits are set (did you mean {}?)", text,
                                 subnet.subnet().to_string()));
  if (subnet.prefix > 30)
    throw UsageError(
        fmt::format("subnet {} is too small: use /30 or shorter (it needs a network, a gateway, a "
                    "container and a broadcast address)",
                    text));
  if (subnet.prefix < 8)
    throw UsageError(fmt::format("subnet {} is too large: use /8 or longer", text));
  refuse_special_range(subnet, text);
  return subnet;
}

void validate_container_address(uint32_t address, Ipv4Cidr subnet) {
  const std::string a = format_ipv4(address);
  const std::string s = subnet.subnet().to_string();
  if (!subnet.contains(address))
    throw UsageError(fmt::format("address {} is outside the subnet {}", a, s));
  if (address == subnet.network())
    throw UsageError(fmt::format("address {} is the network address of {}, not a host", a, s));
  if (address == subnet.broadcast())
    throw UsageError(fmt::format("address {} is the broadcast address of {}, not a host", a, s));
  if (address == gateway_of(subnet).addr)
    throw UsageError(
        fmt::format("address {} is the gateway of {} (the bridge's own address)", a, s));
}

void validate_container_address(Ipv4Cidr address, Ipv4Cidr subnet) {
  if (address.prefix != subnet.prefix)
    throw UsageError(fmt::format("address {} does not match the subnet {}: use {}/{}",
                                 address.to_string(), subnet.subnet().to_string(),
                                 format_ipv4(address.addr), subnet.prefix));
  validate_container_address(address.addr, subnet);
}

}  // namespace ctr
