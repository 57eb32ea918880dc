// mycontainer-image's commands load and import (tool.hpp).
#include "image/tool.hpp"

#include "ctr/error.hpp"

namespace mycontainer::image {

ProgressFn progress_printer(bool quiet) {
  (void)quiet;
  return {};
}

int load(Store& store, const std::string& file, bool quiet) {
  (void)store;
  (void)file;
  (void)quiet;
  throw ctr::UsageError("load: not implemented yet");
}

int import_rootfs(Store& store, const std::string& file, const std::string& name, bool quiet) {
  (void)store;
  (void)file;
  (void)name;
  (void)quiet;
  throw ctr::UsageError("import: not implemented yet");
}

}  // namespace mycontainer::image
