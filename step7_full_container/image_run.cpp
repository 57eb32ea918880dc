// `run IMAGE`: the image, found in the store (image/store.hpp), or pulled first when it is not
// there, as `docker run` does ("Unable to find image 'x' locally", then a pull).

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "commands.hpp"     // pull_missing_image (images.cpp)
#include "ctr/error.hpp"    // ctr::UsageError, ctr::check
#include "image/store.hpp"  // mycontainer::image::Store
#include "options.hpp"

namespace mycontainer {

ImageForRun image_for_run(const std::string& reference) {
  const image::Store store;
  // find_to_run: the least of the store that a start needs (image/store.hpp).
  std::optional<image::ImageToRun> found = store.find_to_run(reference);
  if (!found) {
    // images.cpp: `mycontainer-image pull`, run to its end, its progress on our stderr.
    if (pull_missing_image(reference) != 0) {
      throw ctr::UsageError(fmt::format(
          "image '{}' is not in the store, and pulling it failed (above); a command for the "
          "default rootfs goes after `--`: mycontainer run -- {}",
          reference, reference));
    }
    found = store.find_to_run(reference);
    if (!found)
      throw ctr::UsageError(fmt::format("image '{}': not in the store after pull", reference));
  }
  ImageForRun image{
      .reference = reference, .id = found->id, .config = std::move(found->config), .layers = {}};
  for (const auto& dir : found->layers) image.layers.push_back(dir.string());
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
