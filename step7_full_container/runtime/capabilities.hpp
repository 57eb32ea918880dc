// Capabilities: root's powers split into ~40 pieces (capabilities(7)), and the few a
// container keeps.
//
// Root in a container is still uid 0 to the kernel. What stops it from loading modules or
// rebooting the host is that its process holds only some capabilities. Five sets matter:
//   bounding     the most this process and its children can ever get back (across execve);
//   permitted    what it may switch on;  effective  what the kernel checks right now;
//   inheritable  what survives execve into a program with matching file capabilities;
//   ambient      what survives execve into any program, for non-root users.
// When uid 0 calls execve(2), the kernel treats the program as if it had every file
// capability, so the new permitted set is inheritable | bounding (capabilities(7),
// "Capabilities and execution of programs by root"). That is why the bounding set is the
// real limit for a root container: drop a capability there and no exec brings it back.
//
// See it: `grep Cap /proc/self/status` in a container, then `capsh --decode=a80405fb`.
#pragma once

#include <sys/capability.h>  // cap_value_t, CAP_* (libcap)

#include <cstdint>      // uint64_t
#include <set>          // std::set
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

namespace ctr {

using CapabilitySet = std::set<cap_value_t>;

// Docker's default 14 (moby oci/caps/defaults.go): enough for a root shell, package
// managers and servers on low ports; nothing that reaches beyond the container.
// As a mask: 0x00000000a80405fb, what `grep CapBnd /proc/self/status` shows in docker.
CapabilitySet default_capabilities();
// Every capability the running kernel knows (0 .. cap_max_bits()-1) that this process's
// bounding set still holds: what --privileged keeps.
CapabilitySet all_capabilities();

// "NET_ADMIN", "cap_net_admin", "Cap_Net_Admin" -> CAP_NET_ADMIN (docker's spellings).
// Throws UsageError("unknown capability 'FOO': see capabilities(7)"); also for "ALL",
// which only resolve_capabilities understands, and for capabilities this kernel lacks.
cap_value_t capability_from_name(std::string_view name);
// CAP_NET_ADMIN -> "CAP_NET_ADMIN" (as docker and capabilities(7) spell it).
std::string capability_name(cap_value_t cap);
// "CAP_CHOWN,CAP_KILL" in numeric order, for messages and --explain.
std::string capabilities_to_string(const CapabilitySet& caps);
// The bit mask /proc/PID/status shows: bit N set for capability N.
uint64_t capability_mask(const CapabilitySet& caps);

// docker run --cap-add/--cap-drop, with docker's rules (moby oci/caps TweakCapabilities):
// "ALL" in cap_add: every capability except those in cap_drop; else "ALL" in cap_drop: only
// cap_add; else (defaults - cap_drop) + cap_add. Names as capability_from_name takes them.
CapabilitySet resolve_capabilities(const CapabilitySet& defaults,
                                   const std::vector<std::string>& cap_add,
                                   const std::vector<std::string>& cap_drop);

// Leaves this process with exactly `keep`: every other capability is dropped from the
// bounding set (drop_bounding_set), the ambient set is cleared, permitted and effective are
// set to `keep` and inheritable is emptied (capset(2)). Docker's result, as /proc/self/status
// shows it in `docker run --rm busybox grep Cap /proc/self/status`: CapBnd = CapPrm = CapEff
// = the kept set, CapInh = CapAmb = 0. Inheritable stays empty since CVE-2022-24769 (moby,
// runc): with inheritable = keep, a non-root user in the container who exec'd a program with
// file-inheritable capabilities gained them, which nobody expected. Root needs no
// inheritable set: its execve gets permitted = bounding.
// Works for uid 0 in the initial user namespace and in a user namespace alike (there the
// capabilities are the namespace's own: user_namespaces(7)). Throws SyscallError; EPERM
// ("capset") when `keep` has a capability this process does not hold itself. Narrated.
void apply_capabilities(const CapabilitySet& keep);

// Step 1 of apply_capabilities alone: PR_CAPBSET_DROP (prctl(2)) for every capability not in
// `keep` that is still in the bounding set. Needs CAP_SETPCAP. Leaves permitted and
// effective alone, so a runtime can still switch to the container's user afterwards even
// when CAP_SETUID is not kept (runc's order: bounding set, setuid with PR_SET_KEEPCAPS, then
// the other sets).
void drop_bounding_set(const CapabilitySet& keep);

// The five sets as /proc/PID/status shows them (CapInh, CapPrm, CapEff, CapBnd, CapAmb).
struct CapabilityMasks {
  uint64_t inheritable = 0;
  uint64_t permitted = 0;
  uint64_t effective = 0;
  uint64_t bounding = 0;
  uint64_t ambient = 0;
};
// Reads them from a status file ("/proc/self/status" by default). Throws SyscallError when
// the file cannot be read.
CapabilityMasks read_capability_masks(const std::string& status_path = "/proc/self/status");
// Parses the text of such a file (missing lines stay 0).
CapabilityMasks parse_capability_masks(std::string_view status_text);

}  // namespace ctr
