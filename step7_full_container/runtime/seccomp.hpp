// Seccomp: a filter the kernel runs on every system call the container makes (seccomp(2)),
// compiled with libseccomp (seccomp_init(3), seccomp_rule_add(3), seccomp_export_bpf(3)).
//
// Capabilities decide what a call may do; seccomp decides which calls reach the kernel at
// all. Every syscall is attack surface: most kernel privilege escalations start with a call
// an ordinary program never makes (keyctl, bpf, userfaultfd, unshare + the new mount API).
// Refusing those calls closes the hole before anyone finds it.
//
// An allow list, as docker's default profile (moby profiles/seccomp/default.json): default
// action EPERM, ~350 calls allowed by name, some only with a capability, a few only with
// certain arguments. Why not a deny list (allow all, refuse the dangerous ones)? Because the
// kernel adds calls every release and a deny list lets each new one through until someone
// notices: open_tree_attr (Linux 6.15) cloned /proc without its masks here while this
// project's filter was a deny list (issue #17). In an allow list a call nobody reviewed is
// refused.
//
// The profile is data, the OCI `linux.seccomp` value (mycontainer::Seccomp, spec.hpp):
// default_seccomp_profile() writes the default one for a set of capabilities; a config.json
// may bring its own. compile_seccomp() turns any profile into the BPF program the kernel
// runs, cached_seccomp() keeps that program so that a container start does not pay
// libseccomp's millisecond, and load_bpf() installs it.
//
// Where we are stricter than docker (every difference is in default_seccomp_profile):
//  - With --cap-add SYS_ADMIN docker also allows mount, umount, the new mount API
//    (open_tree...), unshare, setns and clone with namespace flags, and relies on AppArmor
//    to stop `mount -t proc` and friends. We have no AppArmor: those stay refused; only
//    --privileged or --seccomp unconfined lifts them.
//  - io_uring is refused (docker 25+ does the same).
//  - No x32 ABI on x86_64 (docker allows it): an x32 call kills the process, and the filter
//    is 29% shorter, which each container start pays for (seccomp.cpp, sibling_arches).
//  - No setuid/setgid bits (chmod, open/creat/mknod modes; openat2, whose mode seccomp cannot
//    read, answers ENOSYS): a file the container makes in the shared rootfs or a volume is a
//    file on the host's file system, and a setuid-root one there is a root shell for any host
//    user (issue #17, item 5; SECURITY.md).
#pragma once

#include <linux/filter.h>  // struct sock_filter

#include <filesystem>  // std::filesystem::path
#include <string>      // std::string
#include <vector>      // std::vector

#include <stdexcept>  // std::runtime_error

#include "runtime/capabilities.hpp"  // ctr::CapabilitySet

// The OCI seccomp profile, runtime/spec.hpp (declared only: run.cpp, until it reads a Spec,
// has a User of its own).
namespace mycontainer {
struct Seccomp;
}

namespace ctr {

// A compiled filter: the classic BPF program (struct sock_filter[]) the kernel runs.
using BpfProgram = std::vector<sock_filter>;

// Docker's default profile for a container holding `caps` (its bounding set), with the
// differences listed above. Architectures: the native one and its 32-bit sibling (x86 on
// x86_64, arm on aarch64, s390 on s390x); an x32 call is killed (seccomp.cpp says why).
mycontainer::Seccomp default_seccomp_profile(const CapabilitySet& caps);

// The profile as a BPF program, for every architecture it lists (none listed: the native
// one and its siblings); a call from any other ABI kills the process. libseccomp sorts the
// rules into a binary tree on the syscall number. In front of libseccomp's program comes a
// stub (as runc's patchbpf): a number above the highest one the profile names on that
// architecture answers ENOSYS, "not implemented", so that a libc tries the older call it
// falls back to (glibc does for clone3, faccessat2, fchmodat2...), when the default action
// is not "allow". Names libseccomp does not know:
//  - in a rule that allows (or does what the default does), skipped: the call cannot be
//    named, so the default refuses it, which is the safe side;
//  - in a rule that refuses what the default would let through, an error (SeccompError):
//    skipping it would weaken the filter without a word.
// Throws SeccompError for a profile libseccomp cannot express (an unknown architecture, the
// action "notify" that needs a listener we do not have, two conditions on one argument).
BpfProgram compile_seccomp(const mycontainer::Seccomp& profile);

// compile_seccomp(profile), kept in `dir`: one file per distinct profile, named by a hash of
// its canonical text (seccomp_profile_text) and holding that text, so that a file is used
// only for exactly its profile (and this libseccomp). Written to a temporary file and
// renamed: concurrent runtimes each write whole files and the last rename wins. A file that
// is not exactly ours (not a regular file owned by us, writable by others, a directory
// writable by others, a truncated or foreign file) is ignored and the program compiled in
// memory: the cache can make a start faster, never the filter weaker. Root's dir is
// /run/mycontainer/seccomp; a rootless runtime passes its own.
BpfProgram cached_seccomp(const mycontainer::Seccomp& profile, const std::filesystem::path& dir);

// A canonical text of the profile: one line per fact, in a fixed order, with the libseccomp
// version (which decides the numbers). Equal profiles give equal texts.
std::string seccomp_profile_text(const mycontainer::Seccomp& profile);

// seccomp(SECCOMP_SET_MODE_FILTER) with a compiled program, without libseccomp: from now on
// the kernel applies the filter to this thread and to every process it starts; nothing can
// remove it. Needs no_new_privs (set_no_new_privs(), hardening.hpp) or CAP_SYS_ADMIN: a
// filter could otherwise trick a setuid program into misbehaving. Narrated.
void load_bpf(const BpfProgram& program);

// A profile that cannot be compiled.
class SeccompError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ctr
