#include "ctr/uts.hpp"

#include <limits.h>       // HOST_NAME_MAX
#include <sys/utsname.h>  // uname(2)
#include <unistd.h>       // sethostname(2), gethostname(2)

#include <cctype>
#include <cstdio>  // std::sscanf

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/narrate.hpp"

namespace ctr {

void validate_hostname(const std::string& name) {
  const bool ok_chars = std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.';
  });
  if (name.empty() || name.size() > HOST_NAME_MAX || !ok_chars || name.front() == '-') {
    // printable(): a newline or an escape sequence in the name must not break the message.
    throw UsageError(fmt::format(
        "invalid hostname '{}': use 1 to {} letters, digits, '-' or '.', not starting with '-'",
        printable(name), HOST_NAME_MAX));
  }
}

void sethostname(const std::string& name) {
  validate_hostname(name);
  check(::sethostname(name.data(), name.size()), "sethostname", name);
  narrate({.call = fmt::format("sethostname(\"{}\")", name),
           .result = "ok",
           .shell = fmt::format("hostname {}", name),
           .man = "sethostname(2), uts_namespaces(7)"});
}

void setdomainname(const std::string& name) {
  validate_hostname(name);  // the same rules and the same 64 bytes
  check(::setdomainname(name.data(), name.size()), "setdomainname", name);
  narrate({.call = fmt::format("setdomainname(\"{}\")", name),
           .result = "ok",
           .shell = fmt::format("domainname {}", name),
           .man = "setdomainname(2), uts_namespaces(7)"});
}

std::string gethostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  check(::gethostname(buf, sizeof buf - 1), "gethostname");
  return buf;
}

std::string kernel_release() {
  struct utsname u {};
  return ::uname(&u) == 0 ? u.release : "?";
}

bool kernel_at_least(int major, int minor) {
  int have_major = 0;
  int have_minor = 0;
  if (std::sscanf(kernel_release().c_str(), "%d.%d", &have_major, &have_minor) != 2) return false;
  return have_major > major || (have_major == major && have_minor >= minor);
}

}  // namespace ctr
