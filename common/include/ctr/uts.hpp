// UTS namespace: the host name and domain name a process sees (uts_namespaces(7)).
#pragma once

#include <string>  // std::string

namespace ctr {

// sethostname(2), narrated. Checks the length first: the kernel takes at most 64 bytes
// (HOST_NAME_MAX) and says only EINVAL otherwise.
void sethostname(const std::string& name);
// setdomainname(2), narrated: the NIS domain name, the other name a UTS namespace holds.
void setdomainname(const std::string& name);
// gethostname(2).
std::string gethostname();
// Throws UsageError unless name is a valid host name (RFC 1123: letters, digits, '-', '.';
// 1..64 characters).
void validate_hostname(const std::string& name);

// The running kernel's release as uname(2) gives it ("6.1.0-18-amd64"), "?" if unreadable.
std::string kernel_release();
// True when that release is major.minor or later; false when it cannot be read. For what a
// feature needs where the kernel's own error would not say why (overlayfs, seccomp).
bool kernel_at_least(int major, int minor);

}  // namespace ctr
