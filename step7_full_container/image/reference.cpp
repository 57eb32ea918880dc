// Image references, parsed by docker's rules (github.com/distribution/reference:
// normalize.go, regexp.go). A learner can compare: `docker pull Alpine` fails the same way.
#include <algorithm>
#include <string_view>

#include "ctr/error.hpp"  // ctr::UsageError
#include "image/store.hpp"

namespace mycontainer::image {
namespace {

constexpr std::string_view kDefaultRegistry = "docker.io";
constexpr std::string_view kOfficialPrefix = "library/";
constexpr std::size_t kMaxNameLength = 255;  // reference.NameTotalLengthMax

[[noreturn]] void invalid(std::string_view text, std::string_view why) {
  throw ctr::UsageError("invalid reference '" + ctr::printable(text) + "': " + std::string(why));
}

// docker's grammar (regexp.go) is regular expressions; they are matched here by hand, one
// character at a time, each pattern above its function. std::regex compiled them at every
// `run IMAGE` (a few hundred microseconds, #13) for names of a few characters.
// tests/steps/step7_image_test.cpp checks each against the regular expression itself.

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool alnum(char c) {
  return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool word_char(char c) {  // \w
  return alnum(c) || c == '_';
}
bool lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}
bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A path component is lowercase alphanumerics separated by '.', '_', "__" or any number of
// '-':  [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
bool valid_component(std::string_view c) {
  std::size_t i = 0;
  while (i < c.size()) {
    if (!lower_alnum(c[i])) return false;  // [a-z0-9]+ starts here
    while (i < c.size() && lower_alnum(c[i])) ++i;
    if (i == c.size()) return true;
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      i += (i + 1 < c.size() && c[i + 1] == '_') ? 2 : 1;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return false;
    }
  }
  return false;  // empty, or a separator at the end
}

// One label of a host name:  [a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?
bool valid_label(std::string_view l) {
  return !l.empty() && alnum(l.front()) && alnum(l.back()) &&
         std::all_of(l.begin(), l.end(), [](char c) { return alnum(c) || c == '-'; });
}

// A host name or IPv4 address, or an IPv6 address in brackets, optionally ":port":
//   (?:LABEL(?:\.LABEL)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?
bool valid_registry(std::string_view r) {
  std::string_view host = r;
  std::string_view port;
  if (r.starts_with('[')) {
    const auto close = r.find(']');
    if (close == std::string_view::npos) return false;
    host = r.substr(1, close - 1);
    const std::string_view after = r.substr(close + 1);
    if (!after.empty() && (after.front() != ':' || !all_digits(after.substr(1)))) return false;
    return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
      return lower_hex(c) || (c >= 'A' && c <= 'F') || c == ':';
    });
  }
  if (const auto colon = r.find(':'); colon != std::string_view::npos) {
    host = r.substr(0, colon);
    port = r.substr(colon + 1);
    if (!all_digits(port)) return false;
  }
  for (std::size_t begin = 0;;) {
    const auto dot = host.find('.', begin);
    if (!valid_label(host.substr(begin, dot - begin))) return false;
    if (dot == std::string_view::npos) return true;
    begin = dot + 1;
  }
}

// [\w][\w.-]{0,127}
bool valid_tag(std::string_view t) {
  return !t.empty() && t.size() <= 128 && word_char(t.front()) &&
         std::all_of(t.begin(), t.end(),
                     [](char c) { return word_char(c) || c == '.' || c == '-'; });
}

}  // namespace

// sha256:[0-9a-f]{64}
bool is_digest(std::string_view text) {
  constexpr std::string_view kPrefix = "sha256:";
  return text.size() == kPrefix.size() + 64 && text.starts_with(kPrefix) &&
         std::all_of(text.begin() + kPrefix.size(), text.end(), lower_hex);
}

std::string Reference::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::familiar_name() const {
  if (registry != kDefaultRegistry) return name();
  if (repository.starts_with(kOfficialPrefix) &&
      repository.find('/', kOfficialPrefix.size()) == std::string::npos) {
    return repository.substr(kOfficialPrefix.size());
  }
  return repository;
}

Reference parse_reference(std::string_view text) {
  if (text.empty()) invalid(text, "empty");
  if (text.find('\0') != std::string_view::npos) invalid(text, "contains a NUL");
  Reference ref;
  std::string rest(text);
  if (const auto at = rest.find('@'); at != std::string::npos) {
    ref.digest = rest.substr(at + 1);
    rest.resize(at);
    if (!is_digest(ref.digest)) invalid(text, "a digest is sha256: and 64 lowercase hex digits");
  }
  // The tag is after the last ':' that comes after the last '/' (a ':' before is a port).
  const auto slash = rest.rfind('/');
  const auto colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    ref.tag = rest.substr(colon + 1);
    rest.resize(colon);
    if (!valid_tag(ref.tag)) {
      invalid(text, "a tag is [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128 characters");
    }
  }
  // normalize.go splitDockerDomain: the first component is a registry only if it looks like
  // a host (a '.', a ':' or "localhost"); otherwise the name is on Docker Hub, and a name
  // with no '/' is an official image, under library/.
  const auto first = rest.find('/');
  const std::string head = rest.substr(0, first);
  if (first != std::string::npos &&
      (head.find_first_of(".:") != std::string::npos || head == "localhost")) {
    ref.registry = head;
    ref.repository = rest.substr(first + 1);
    if (!valid_registry(ref.registry)) invalid(text, "bad registry host '" + ref.registry + "'");
  } else {
    ref.registry = kDefaultRegistry;
    ref.repository = rest;
  }
  if (ref.registry == "index.docker.io") ref.registry = kDefaultRegistry;
  if (ref.registry == kDefaultRegistry && ref.repository.find('/') == std::string::npos) {
    ref.repository = std::string(kOfficialPrefix) + ref.repository;
  }
  if (ref.repository.empty()) invalid(text, "no repository name");
  if (std::any_of(ref.repository.begin(), ref.repository.end(), ::isupper)) {
    invalid(text, "repository name must be lowercase");
  }
  std::size_t begin = 0;
  while (true) {
    const auto end = ref.repository.find('/', begin);
    if (!valid_component(ref.repository.substr(begin, end - begin))) {
      invalid(text, "a name component is lowercase letters and digits, separated by . _ __ or -");
    }
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  if (ref.name().size() > kMaxNameLength) invalid(text, "name longer than 255 characters");
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace mycontainer::image
