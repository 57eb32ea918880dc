// Image references, parsed by docker's rules (github.com/distribution/reference:
// normalize.go, regexp.go). A learner can compare: `docker pull Alpine` fails the same way.
#include <algorithm>
#include <regex>

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

// regexp.go: a path component is lowercase alphanumerics separated by '.', '_', "__" or
// any number of '-'.
bool valid_component(const std::string& c) {
  static const std::regex re("[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*");
  return std::regex_match(c, re);
}

bool valid_registry(const std::string& r) {
  // A host name or IPv4 address, optionally ":port" (IPv6 in brackets too).
  static const std::regex re(
      R"((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?)");
  return std::regex_match(r, re);
}

bool valid_tag(const std::string& t) {
  static const std::regex re(R"([\w][\w.-]{0,127})");
  return std::regex_match(t, re);
}

}  // namespace

bool is_digest(std::string_view text) {
  static const std::regex re("sha256:[0-9a-f]{64}");
  return std::regex_match(text.begin(), text.end(), re);
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
