#include "ctr/error.hpp"

#include <unistd.h>  // geteuid(2)

#include <fmt/format.h>

namespace ctr {

namespace {
std::string describe(const std::string& call, const std::string& arg) {
  return arg.empty() ? call : fmt::format("{}('{}')", call, arg);
}
}  // namespace

SyscallError::SyscallError(int err, std::string call, std::string arg, std::string hint)
    : std::system_error(err, std::generic_category(), describe(call, arg)),
      call_(std::move(call)),
      arg_(std::move(arg)),
      hint_(std::move(hint)) {}

void check_neg_errno(int rc, std::string_view call, std::string_view arg) {
  if (rc < 0) throw SyscallError(-rc, std::string(call), std::string(arg));
}

std::string hint_for(const SyscallError& e) {
  if (!e.hint().empty()) return e.hint();
  if (e.call() == "execve") return {};  // the command's own problem, not ours
  if (e.err() == EPERM || e.err() == EACCES) {
    if (e.call() == "pivot_root")
      return fmt::format("is the rootfs on a shared mount? the mounts must be private{}",
                         kSeeTroubleshooting);
    if (::geteuid() != 0)
      return fmt::format("this needs root rights: run it with sudo{}", kSeeTroubleshooting);
    return {};
  }
  if (e.call() == "pivot_root" && e.err() == EINVAL)
    return fmt::format(
        "pivot_root needs a mount point and private mounts: is / shared? (pivot_root(2) NOTES){}",
        kSeeTroubleshooting);
  if (e.call() == "mount" && e.err() == ENOENT) {
    // /proc, /sys or /dev missing in the rootfs: the steps mount onto them, never create them.
    for (const char* dir : {"/proc", "/sys", "/dev"}) {
      const std::string_view arg = e.arg();
      if (arg.size() > 5 && arg.substr(arg.size() - std::string_view(dir).size()) == dir) {
        return fmt::format(
            "the rootfs has no {} to mount on: it does not look like a root "
            "filesystem (make one with `sudo scripts/make-rootfs.sh DIR`){}",
            dir, kSeeTroubleshooting);
      }
    }
  }
  if (e.err() == ENOENT && (e.call() == "chroot" || e.call() == "open_rootfs"))
    return "make a root filesystem first: sudo scripts/make-rootfs.sh";
  return {};
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += ch;  // UTF-8 bytes (>= 0x80) pass: a name in Japanese stays readable
    }
  }
  return out;
}

std::string error_line(const std::exception& e) {
  if (const auto* sys = dynamic_cast<const SyscallError*>(&e)) {
    if (auto hint = hint_for(*sys); !hint.empty())
      return printable(fmt::format("{} ({})", e.what(), hint));
  }
  return printable(e.what());
}

}  // namespace ctr
