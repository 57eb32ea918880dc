#include "ctr/narrate.hpp"

#include <unistd.h>  // isatty(3)

#include <fmt/format.h>

namespace ctr {

namespace {
Narrator& current() {
  static Narrator narrator;
  return narrator;
}
}  // namespace

void set_narrator(Narrator narrator) {
  current() = std::move(narrator);
}

bool narrating() noexcept {
  return static_cast<bool>(current());
}

void narrate(const Event& event) noexcept {
  try {
    if (current()) current()(event);
  } catch (...) {
    // Narration is commentary: it must never change what the program does.
  }
}

Narrator stderr_narrator(std::string prefix) {
  const bool color = ::isatty(STDERR_FILENO) == 1;
  return [prefix = std::move(prefix), color](const Event& e) {
    std::string line = fmt::format("[{}] {}", prefix, e.call);
    if (!e.result.empty()) line += fmt::format(" -> {}", e.result);
    if (!e.man.empty()) line += fmt::format("   ({})", e.man);
    if (!e.shell.empty()) line += fmt::format("\n[{}]   shell: {}", prefix, e.shell);
    if (color) line = "\033[2m" + line + "\033[0m";
    fmt::print(stderr, "{}\n", line);
  };
}

}  // namespace ctr
