// `mycontainer run`: one container in the foreground, from flags or from a config.json.
// Either way it becomes one Spec (runtime/spec.hpp), and the engine (engine.cpp) runs that.
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands.hpp"
#include "ctr/cli.hpp"      // ctr::finish_common_options
#include "ctr/error.hpp"    // ctr::UsageError
#include "ctr/narrate.hpp"  // ctr::set_narrator
#include "engine.hpp"
#include "runtime/hardening.hpp"  // ctr::close_fds_from
#include "runtime/state.hpp"      // ctr::random_container_name, ctr::validate_container_name

namespace mycontainer {

namespace {

// With --config the file says everything about the container; only what is about this run
// may come with it.
void refuse_other_flags(const CLI::App& run) {
  for (const CLI::Option* option : run.get_options()) {
    const std::string name = option->get_name();
    if (option->count() == 0 || name == "--config" || name == "--name" || name == "--timings" ||
        name == "--explain") {
      continue;
    }
    throw ctr::UsageError(fmt::format(
        "{} cannot be combined with --config: the config.json describes the whole container "
        "(edit it, or drop --config)",
        option->get_name(false, true)));
  }
  if (!run.remaining().empty()) {
    throw ctr::UsageError(
        "a command cannot be combined with --config: it is the config.json's process.args");
  }
}

int run_from_config(const CLI::App& run, const RunOptions& o) {
  refuse_other_flags(run);
  const Spec spec = read_spec(o.config);  // errors name the file as it was given
  const std::filesystem::path file = std::filesystem::absolute(o.config);
  // root.path is relative to the bundle, the directory of config.json (config.md "Root").
  const std::filesystem::path root = (file.parent_path() / spec.root.path).lexically_normal();
  if (spec.root_layers.empty()) ctr::validate_rootfs(root.string());  // else: the image's
  const std::string name = o.name.empty() ? ctr::random_container_name() : o.name;
  ctr::validate_container_name(name);
  if (o.common.explain) ctr::set_narrator(ctr::stderr_narrator("mycontainer"));
  return run_container(
      spec, {.name = name, .rootfs = root.string(), .timings = o.timings, .create = std::nullopt});
}

}  // namespace

int run(const CLI::App& run, RunOptions& o) {
  // Nothing our caller leaked to us may take part in resolving a path (CVE-2024-21626).
  ctr::close_fds_from(3);
  if (!o.config.empty()) return run_from_config(run, o);
  finish_run_options(run, o);
  if (!o.image.empty()) {  // NEW: images. The root is the image's layers (engine.cpp mount_root)
    const Spec spec = spec_from_image(o, image_for_run(o.image));
    return run_container(spec, {.name = o.name,
                                .rootfs = spec.root.path.string(),
                                .timings = o.timings,
                                .create = std::nullopt});
  }
  const Spec spec = spec_from_flags(o);
  return run_container(
      spec,
      {.name = o.name, .rootfs = o.common.rootfs, .timings = o.timings, .create = std::nullopt});
}

}  // namespace mycontainer
