// Store::load_layout: ingesting an OCI image layout (mc_image_write, with libarchive).
#include "ctr/error.hpp"
#include "image/store.hpp"

namespace mycontainer::image {

Image Store::load_layout(const std::filesystem::path& dir, const std::vector<Reference>& names,
                         const ProgressFn& progress) {
  (void)dir;
  (void)names;
  (void)progress;
  throw ctr::UsageError("load_layout: not implemented yet");
}

}  // namespace mycontainer::image
