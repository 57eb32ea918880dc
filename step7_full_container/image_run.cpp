// `run IMAGE`: the image, found in the store (img-store's runtime/store.hpp), or pulled first
// when it is not there, as `docker run` does.
#include <fmt/format.h>

#include "ctr/error.hpp"  // ctr::UsageError
#include "options.hpp"

namespace mycontainer {

ImageForRun image_for_run(const std::string& reference) {
  throw ctr::UsageError(fmt::format("image '{}': this build has no image store", reference));
}

}  // namespace mycontainer
