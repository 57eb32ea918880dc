// The last check before execve(2) in step 7's child: nothing the command makes the kernel
// open may be a /proc magic link that leads back to the host (CVE-2019-5736).
#pragma once

#include <string>  // std::string

namespace ctr {

// Refuses (SyscallError "execve", ELOOP) a command that would make execve(2) open a /proc
// magic link: the file itself, a "#!" interpreter (scripts, up to the kernel's 4 levels),
// or an ELF program interpreter (PT_INTERP). In a runtime's child, /proc/self/exe is the
// runtime's own binary on the host: `#!/proc/self/exe` would run it inside the container,
// the way in of CVE-2019-5736. Each path is resolved with RESOLVE_NO_MAGICLINKS.
void check_exec_chain(const std::string& file);

}  // namespace ctr
