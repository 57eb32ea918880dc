// `mycontainer pull REF`: the registry client (branch img-pull replaces this file).
#include "ctr/error.hpp"
#include "image/tool.hpp"

namespace mycontainer::image {

int pull(Store& store, const std::string& reference, bool quiet) {
  (void)store;
  (void)quiet;
  (void)parse_reference(reference);
  throw ctr::UsageError("pull: not built in yet");
}

}  // namespace mycontainer::image
