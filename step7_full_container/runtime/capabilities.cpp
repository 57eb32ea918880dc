#include "runtime/capabilities.hpp"

#include <sys/prctl.h>  // prctl(2) PR_CAPBSET_READ, PR_CAP_AMBIENT

#include <sys/capability.h>  // cap_* (libcap): cap_from_name(3), cap_drop_bound(3), ...

#include <algorithm>  // std::transform, std::all_of
#include <cctype>     // std::toupper
#include <cerrno>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"  // read_file
#include "ctr/narrate.hpp"

namespace ctr {

namespace {

struct CapFree {
  void operator()(void* p) const noexcept { ::cap_free(p); }
};
using CapState = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_all(std::string_view name) {
  return upper(name) == "ALL";
}

std::string lowercase_names(const CapabilitySet& caps) {
  std::string out;
  for (cap_value_t c : caps) out += (out.empty() ? "" : ",") + lower(capability_name(c));
  return out;
}

}  // namespace

CapabilitySet default_capabilities() {
  return {
      CAP_CHOWN,         // chown(2) any file: package managers, entrypoints fixing ownership
      CAP_DAC_OVERRIDE,  // root ignores file permission bits (as everyone expects of root)
      CAP_FSETID,        // keep setuid/setgid bits when modifying a file
      CAP_FOWNER,        // chmod/utime files one does not own
      CAP_MKNOD,         // mknod(2) device nodes (the devices cgroup decides which work)
      // Not CAP_NET_RAW, unlike docker (podman leaves it out too): raw and packet sockets
      // forge any frame on the bridge, ARP replies included, so one container could take
      // another's gateway (issue #17, item 8). ping still works: an ICMP datagram socket,
      // which the container's own net.ipv4.ping_group_range allows (spec_from_flags.cpp).
      CAP_SETGID,            // setgid(2), setgroups(2): su, servers dropping privileges
      CAP_SETUID,            // setuid(2)
      CAP_SETFCAP,           // set file capabilities (setcap)
      CAP_SETPCAP,           // drop from its own bounding set; change inheritable
      CAP_NET_BIND_SERVICE,  // bind ports below 1024
      CAP_SYS_CHROOT,        // chroot(2)
      CAP_KILL,              // signal processes of other users (in its own PID namespace)
      CAP_AUDIT_WRITE,       // write to the audit log: login, sshd
  };
}

CapabilitySet all_capabilities() {
  CapabilitySet out;
  for (cap_value_t c = 0; c < static_cast<cap_value_t>(::cap_max_bits()); ++c) {
    // Only what our own bounding set still holds: a runtime started without, say,
    // CAP_SYS_RESOURCE cannot give it away (capset(2) EPERM).
    if (::prctl(PR_CAPBSET_READ, c) == 1) out.insert(c);
  }
  return out;
}

cap_value_t capability_from_name(std::string_view name) {
  const std::string given(name);
  std::string bare = upper(name);
  if (bare == "ALL") {
    throw UsageError("capability 'ALL' is only valid in --cap-add/--cap-drop: see capabilities(7)");
  }
  if (bare.rfind("CAP_", 0) == 0) bare = bare.substr(4);
  // cap_from_name(3) also takes numbers and stops at the first character that is not a
  // letter or '_' ("chown,kill" would read as chown): accept only a whole name.
  const bool well_formed =
      !bare.empty() && std::all_of(bare.begin(), bare.end(), [](unsigned char c) {
        return (c >= 'A' && c <= 'Z') || c == '_';
      });
  cap_value_t value = 0;
  if (!well_formed || ::cap_from_name(("cap_" + lower(bare)).c_str(), &value) != 0) {
    throw UsageError(fmt::format("unknown capability '{}': see capabilities(7)", given));
  }
  if (value >= static_cast<cap_value_t>(::cap_max_bits())) {
    throw UsageError(fmt::format(
        "capability '{}' is not supported by this kernel (it knows {} capabilities): see "
        "capabilities(7)",
        given, ::cap_max_bits()));
  }
  return value;
}

std::string capability_name(cap_value_t cap) {
  std::unique_ptr<char, CapFree> name(::cap_to_name(cap));
  if (!name) return fmt::format("CAP_{}", cap);
  std::string out = upper(name.get());
  // libcap names capabilities newer than itself by number.
  if (!out.empty() && std::isdigit(static_cast<unsigned char>(out[0]))) out = "CAP_" + out;
  return out;
}

std::string capabilities_to_string(const CapabilitySet& caps) {
  std::string out;
  for (cap_value_t c : caps) out += (out.empty() ? "" : ",") + capability_name(c);
  return out.empty() ? "(none)" : out;
}

uint64_t capability_mask(const CapabilitySet& caps) {
  uint64_t mask = 0;
  for (cap_value_t c : caps) {
    if (c >= 0 && c < 64) mask |= uint64_t{1} << c;
  }
  return mask;
}

CapabilitySet resolve_capabilities(const CapabilitySet& defaults,
                                   const std::vector<std::string>& cap_add,
                                   const std::vector<std::string>& cap_drop) {
  bool add_all = false, drop_all = false;
  CapabilitySet add, drop;
  // Parse everything first, so a typo is reported whatever else the lists say.
  for (const auto& name : cap_add) {
    if (is_all(name)) {
      add_all = true;
    } else {
      add.insert(capability_from_name(name));
    }
  }
  for (const auto& name : cap_drop) {
    if (is_all(name)) {
      drop_all = true;
    } else {
      drop.insert(capability_from_name(name));
    }
  }
  CapabilitySet out;
  if (add_all) {
    for (cap_value_t c : all_capabilities()) {
      if (!drop.count(c)) out.insert(c);
    }
  } else if (drop_all) {
    out = add;
  } else {
    for (cap_value_t c : defaults) {
      if (!drop.count(c)) out.insert(c);
    }
    out.insert(add.begin(), add.end());
  }
  return out;
}

void drop_bounding_set(const CapabilitySet& keep) {
  const auto max = static_cast<cap_value_t>(::cap_max_bits());
  CapabilitySet dropped;
  for (cap_value_t c = 0; c < max; ++c) {
    if (keep.count(c)) continue;
    // Dropping one that is gone already succeeds: no need to ask first (PR_CAPBSET_READ),
    // except to tell why a drop failed (EPERM without CAP_SETPCAP is fine if it is gone).
    const bool had = narrating() && ::cap_get_bound(c) == 1;  // for the narration only
    if (::cap_drop_bound(c) != 0) {
      const int err = errno;
      if (::cap_get_bound(c) == 1)
        throw SyscallError(err, "prctl(PR_CAPBSET_DROP)", capability_name(c));
    }
    if (had) dropped.insert(c);
  }
  if (narrating() && !dropped.empty()) {
    narrate({.call = fmt::format("prctl(PR_CAPBSET_DROP, ...) x{}: {}", dropped.size(),
                                 capabilities_to_string(dropped)),
             .result = "ok",
             .shell = fmt::format("capsh --drop={} --", lowercase_names(dropped)),
             .man = "capabilities(7)"});
  }
}

void apply_capabilities(const CapabilitySet& keep) {
  const auto max = static_cast<cap_value_t>(::cap_max_bits());

  // capset(2) can only lower permitted: refuse up front, with the names, rather than let
  // it fail with a bare EPERM.
  CapState current(::cap_get_proc());
  if (!current) throw SyscallError(errno, "cap_get_proc");
  CapabilitySet missing;
  for (cap_value_t c : keep) {
    cap_flag_value_t held = CAP_CLEAR;
    if (c >= max || ::cap_get_flag(current.get(), c, CAP_PERMITTED, &held) != 0 ||
        held != CAP_SET) {
      missing.insert(c);
    }
  }
  if (!missing.empty()) {
    throw SyscallError(EPERM, "capset",
                       fmt::format("keep {}, which this process does not hold itself",
                                   capabilities_to_string(missing)));
  }

  // 1. The bounding set, while we still have CAP_SETPCAP to do it.
  drop_bounding_set(keep);

  // 2. Ambient: empty, so a non-root user in the container gets nothing across execve
  // (prctl(2) PR_CAP_AMBIENT_CLEAR_ALL). EINVAL: a kernel before 4.3, which has no ambient set.
  // One call: libcap's cap_reset_ambient(3) first asks about each capability in turn.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    throw SyscallError(errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }

  // 3. Permitted and effective = keep; inheritable empty (cap_init(3) starts all clear).
  CapState state(::cap_init());
  if (!state) throw SyscallError(errno, "cap_init");
  const std::vector<cap_value_t> values(keep.begin(), keep.end());
  for (cap_flag_t set : {CAP_PERMITTED, CAP_EFFECTIVE}) {
    if (values.empty()) break;  // cap_init() is all clear already; libcap refuses 0 values
    check(::cap_set_flag(state.get(), set, static_cast<int>(values.size()), values.data(), CAP_SET),
          "cap_set_flag");
  }
  check(::cap_set_proc(state.get()), "capset", capabilities_to_string(keep));
  if (narrating()) {
    narrate({.call = fmt::format("capset(permitted = effective = {}, inheritable = none)",
                                 capabilities_to_string(keep)),
             .result = fmt::format("ok (CapEff {:016x})", capability_mask(keep)),
             .shell = fmt::format("capsh --caps='{}=ep' --", lowercase_names(keep)),
             .man = "capset(2)"});
  }
}

CapabilityMasks parse_capability_masks(std::string_view status_text) {
  CapabilityMasks masks;
  std::istringstream in{std::string(status_text)};
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    uint64_t* field = key == "CapInh"   ? &masks.inheritable
                      : key == "CapPrm" ? &masks.permitted
                      : key == "CapEff" ? &masks.effective
                      : key == "CapBnd" ? &masks.bounding
                      : key == "CapAmb" ? &masks.ambient
                                        : nullptr;
    if (field == nullptr) continue;
    try {
      *field = std::stoull(line.substr(colon + 1), nullptr, 16);
    } catch (const std::exception&) {
      *field = 0;
    }
  }
  return masks;
}

CapabilityMasks read_capability_masks(const std::string& status_path) {
  const std::optional<std::string> text = read_file(status_path);
  if (!text) throw SyscallError(errno, "open", status_path);
  return parse_capability_masks(*text);
}

}  // namespace ctr
