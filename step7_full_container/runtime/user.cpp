#include "runtime/user.hpp"

#include <grp.h>     // setgroups(2)
#include <unistd.h>  // setresuid(2), setresgid(2)

#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ctr/error.hpp"    // ctr::check
#include "ctr/narrate.hpp"  // ctr::narrate

namespace ctr {

void setgroups(const std::vector<gid_t>& groups) {
  const std::string list = fmt::format("{}", fmt::join(groups, ","));
  check(::setgroups(groups.size(), groups.data()), "setgroups", list.empty() ? "none" : list);
  narrate({.call = fmt::format("setgroups({}, [{}])", groups.size(), list),
           .result = "ok",
           .shell = groups.empty() ? "setpriv --clear-groups" : "setpriv --groups " + list,
           .man = "setgroups(2)"});
}

void setresgid(gid_t gid) {
  check(::setresgid(gid, gid, gid), "setresgid", std::to_string(gid));
  narrate({.call = fmt::format("setresgid({0}, {0}, {0})", gid),
           .result = "ok",
           .shell = fmt::format("setpriv --regid {}", gid),
           .man = "setresgid(2)"});
}

void setresuid(uid_t uid) {
  check(::setresuid(uid, uid, uid), "setresuid", std::to_string(uid));
  narrate({.call = fmt::format("setresuid({0}, {0}, {0})", uid),
           .result = "ok",
           .shell = fmt::format("setpriv --reuid {}", uid),
           .man = "setresuid(2)"});
}

}  // namespace ctr
