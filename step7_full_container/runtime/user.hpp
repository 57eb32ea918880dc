// Who the command runs as: the user switch at the end of the child's setup (process.user
// of the spec), each call narrated so that --explain shows it.
//
// The order is groups, then the group, then the user (setuid(2)): changing the uid away
// from 0 drops the capabilities that setgroups and setresgid need (capabilities(7), "Effect
// of user ID changes on capabilities").
#pragma once

#include <sys/types.h>  // uid_t, gid_t

#include <vector>  // std::vector

namespace ctr {

// setgroups(2): the supplementary groups (none: an empty list). Throws SyscallError.
void setgroups(const std::vector<gid_t>& groups);
// setresgid(2) with real, effective and saved all `gid`. Throws SyscallError.
void setresgid(gid_t gid);
// setresuid(2) with real, effective and saved all `uid`. Throws SyscallError.
void setresuid(uid_t uid);

}  // namespace ctr
