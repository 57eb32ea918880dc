// Seccomp: a filter the kernel runs on every system call the container makes (seccomp(2)),
// built with libseccomp (seccomp_init(3), seccomp_rule_add(3), seccomp_load(3)).
//
// Capabilities decide what a call may do; seccomp decides which calls reach the kernel at
// all. Every syscall is attack surface: most kernel privilege escalations start with a call
// an ordinary program never makes (keyctl, bpf, userfaultfd, unshare + the new mount API).
// Refusing those calls closes the hole before anyone finds it.
//
// Allow list or deny list? Docker's default profile is an allow list: default action
// SCMP_ACT_ERRNO, ~350 calls allowed by name, some only with a capability or a minimum
// kernel version. That is the stronger design (a syscall added to the kernel next year is
// refused until someone reviews it), but it must be maintained: each call a libc starts
// using breaks containers until the list learns it (images with glibc 2.33, which uses
// faccessat2, got `ls: Operation not permitted` on docker releases with an older profile).
// This project's filter is a deny list: default SCMP_ACT_ALLOW, and EPERM for the calls
// docker's profile keeps from a container without extra capabilities because they are
// dangerous, each with its reason. It fits on one screen, so a learner can check every line.
// The price: a *new* dangerous call is allowed until someone adds it here, and a few calls
// docker refuses as merely unneeded (mbind, move_pages, fanotify_init...) stay allowed.
//
// Two more differences from docker:
//  - Docker allows mount, unshare, setns, bpf... when the container has CAP_SYS_ADMIN
//    (--cap-add SYS_ADMIN). Here they are refused unconditionally; only --privileged or
//    --seccomp unconfined (no filter at all) lifts that.
//  - Docker answers EPERM for calls outside its list; we answer EPERM for those in ours. For
//    clone3 both answer ENOSYS (see docker_like_default()).
#pragma once

#include <linux/filter.h>  // struct sock_filter

#include <filesystem>  // std::filesystem::path

#include <seccomp.h>  // scmp_filter_ctx, SCMP_ACT_* (libseccomp)

#include <cstdint>  // uint32_t, uint64_t
#include <string>   // std::string
#include <vector>   // std::vector

#include "runtime/capabilities.hpp"  // ctr::CapabilitySet
#include "runtime/spec.hpp"          // mycontainer::Seccomp

namespace ctr {

// One rule, for --explain and the docs: "clone" -> EPERM "when flags & CLONE_NEW*".
struct SeccompRule {
  std::string syscall;
  int err = 0;       // the errno it returns
  std::string when;  // "" = always, else the argument condition
  std::string why;   // one line
};

// Owns a libseccomp filter context (seccomp_release(3) in the destructor).
class SeccompFilter {
 public:
  // An empty filter for the native architecture plus its 32-bit siblings (x86 and x32 on
  // x86_64, arm on aarch64, s390 on s390x): every call gets default_action.
  explicit SeccompFilter(uint32_t default_action = SCMP_ACT_ALLOW);
  SeccompFilter(SeccompFilter&& other) noexcept;
  SeccompFilter& operator=(SeccompFilter&& other) noexcept;
  SeccompFilter(const SeccompFilter&) = delete;
  SeccompFilter& operator=(const SeccompFilter&) = delete;
  ~SeccompFilter();

  // The project's default: docker's default profile for a container without extra
  // capabilities, written as a deny list (see above; every rule in seccomp.cpp says why).
  static SeccompFilter docker_like_default();

  // Refuses `syscall` with errno `err`. Returns false (and adds nothing) when none of the
  // filter's architectures has that call (libseccomp does not know the name).
  bool deny(const std::string& syscall, int err, const std::string& why = {});
  // Refuses `syscall` with `err` when (argument[arg] & mask) == value (SCMP_CMP_MASKED_EQ).
  // Several rules for one call combine with OR.
  bool deny_if_masked(const std::string& syscall, unsigned arg, uint64_t mask, uint64_t value,
                      int err, const std::string& when, const std::string& why = {});

  // seccomp_load(3): from now on the kernel applies the filter to this thread and to every
  // process it starts; nothing can remove it. Needs no_new_privs (set_no_new_privs(),
  // hardening.hpp) or CAP_SYS_ADMIN: we never let libseccomp set no_new_privs behind our
  // back (SCMP_FLTATR_CTL_NNP off), so the order of the hardening steps stays visible.
  // Throws SyscallError("seccomp_load"). Narrated.
  void load();

  // Writes the compiled BPF program (struct sock_filter[]) to fd (seccomp_export_bpf(3)):
  // a runtime could cache it and load it with seccomp(2) directly, skipping libseccomp.
  void export_bpf(int fd) const;
  // The pseudo-C of the filter (seccomp_export_pfc(3)): what --explain can show.
  void export_pfc(int fd) const;

  // The names of the calls with at least one rule, sorted.
  std::vector<std::string> denied_syscalls() const;
  const std::vector<SeccompRule>& rules() const noexcept { return rules_; }
  // "x86_64", "x86", "x32"...: the architectures the filter covers.
  std::vector<std::string> architectures() const;

  scmp_filter_ctx get() const noexcept { return ctx_; }

 private:
  scmp_filter_ctx ctx_ = nullptr;
  std::vector<SeccompRule> rules_;
  std::vector<uint32_t> arches_;
};

// set-and-forget: SeccompFilter::docker_like_default().load().
void load_default_seccomp();

// A compiled filter: the classic BPF program (struct sock_filter[]) the kernel runs.
using BpfProgram = std::vector<sock_filter>;

// The container's profile as the spec carries it (linux.seccomp): for now the deny list
// above, compiled once and cached like cached_default_seccomp.
mycontainer::Seccomp default_seccomp_profile(const CapabilitySet& caps);
BpfProgram cached_seccomp(const mycontainer::Seccomp& profile, const std::filesystem::path& dir);

// docker_like_default(), compiled, from a cache file in `dir` when there is one for this
// very binary and kernel (the key: the executable's device, inode and mtime, and the kernel
// release), else built with libseccomp and stored there (atomically: temporary file and
// rename). Building takes libseccomp most of a millisecond on every start; reading the
// cache, a few microseconds. Falls back to building when the cache cannot be used.
BpfProgram cached_default_seccomp(const std::filesystem::path& dir);
// seccomp(SECCOMP_SET_MODE_FILTER) with a compiled program, without libseccomp: the same
// rule as SeccompFilter::load (no_new_privs or CAP_SYS_ADMIN). Narrated.
void load_bpf(const BpfProgram& program);

}  // namespace ctr
