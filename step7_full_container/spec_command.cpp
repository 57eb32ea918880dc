// `mycontainer spec [RUN FLAGS]`: prints the config.json that `mycontainer run` with the same
// flags would run (or writes it, with -o FILE). `mycontainer run --config FILE` runs it.
//
//   mycontainer spec -m 64m --userns -- /bin/echo hi
#include <fcntl.h>  // open(2)

#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "ctr/error.hpp"  // ctr::check, ctr::UsageError
#include "ctr/fd.hpp"     // ctr::UniqueFd
#include "options.hpp"

namespace mycontainer {

int spec(const CLI::App& spec_app, RunOptions& o, const std::string& output) {
  finish_run_options(spec_app, o);
  const std::string text = spec_to_json(spec_from_flags(o)).dump(2) + "\n";
  if (output.empty() || output == "-") {
    fmt::print("{}", text);
    return 0;
  }
  // O_EXCL: never overwrite a config.json that is there already (runc spec refuses too).
  const ctr::UniqueFd fd(::open(output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) {
    throw ctr::UsageError(fmt::format("cannot write '{}': {} (remove it, or choose another file)",
                                      output, std::strerror(errno)));
  }
  ctr::check(static_cast<int>(::write(fd.get(), text.data(), text.size())), "write", output);
  return 0;
}

}  // namespace mycontainer
