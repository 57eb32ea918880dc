// `run IMAGE`: the image, found in the store (image/store.hpp), or pulled first when it is not
// there, as `docker run` does ("Unable to find image 'x' locally", then a pull).
#include <spawn.h>     // posix_spawn(3)
#include <sys/wait.h>  // waitpid(2)
#include <unistd.h>    // readlink(2)

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "ctr/error.hpp"    // ctr::UsageError, ctr::check
#include "image/store.hpp"  // mycontainer::image::Store
#include "options.hpp"

extern char** environ;

namespace mycontainer {

namespace {

// `mycontainer-image --store ROOT pull REF`, run to its end (not exec'd: the container starts
// afterwards). The companion program sits beside our own binary, never looked up in PATH
// (images.cpp run_image_tool says why). Its progress lines go to our stderr.
void pull_missing_image(const std::string& reference) {
  char self[4096];
  const ssize_t n =
      ctr::check(::readlink("/proc/self/exe", self, sizeof self - 1), "readlink", "/proc/self/exe");
  self[n] = '\0';
  const std::string tool = (std::filesystem::path(self).parent_path() / "mycontainer-image");
  std::vector<std::string> words = {tool, "--store", image::Store::default_root().string(), "pull",
                                    reference};
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  // Its output is the pull's progress, never the container's: on stderr, as docker prints it.
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = 0;
  const int err = ::posix_spawn(&pid, tool.c_str(), &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (err != 0) throw ctr::SyscallError(err, "posix_spawn", tool);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw ctr::UsageError(
        fmt::format("image '{}' is not in the store, and pulling it failed "
                    "(above); a command for the default rootfs goes after "
                    "`--`: mycontainer run -- {}",
                    reference, reference));
  }
}

}  // namespace

ImageForRun image_for_run(const std::string& reference) {
  const image::Store store;
  std::optional<image::Image> found = store.find(reference);
  if (!found) {
    std::fputs(fmt::format("Unable to find image '{}' locally\n", reference).c_str(), stderr);
    pull_missing_image(reference);
    found = store.find(reference);
    if (!found)
      throw ctr::UsageError(fmt::format("image '{}': not in the store after pull", reference));
  }
  ImageForRun image{.reference = reference, .id = found->id, .config = found->config, .layers = {}};
  for (const auto& dir : store.layer_dirs(*found)) image.layers.push_back(dir.string());
  if (image.layers.empty()) {
    throw ctr::UsageError(fmt::format(
        "image '{}' has no layers: nothing to make a root of (import a root file system tarball)",
        reference));
  }
  return image;
}

}  // namespace mycontainer

// The container's state records its image under the key `rmi` looks for.
static_assert(std::string_view(mycontainer::kAnnotationImage) ==
              mycontainer::image::kImageAnnotation);
