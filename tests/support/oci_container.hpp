// An OCI container for the tests of the OCI command line: a bundle made with `mycontainer
// spec` (no network, the test rootfs) in a temporary directory, a --root of its own, a unique
// id with the suite's tag; `delete --force` at the end. Header-only, like background.hpp.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mycontainer.hpp"
#include "runtime/state.hpp"
#include "steps.hpp"
#include "support.hpp"

namespace mc::test {

// One OCI container of the test: a bundle, a state root, an id; deleted at the end.
class OciContainer {
 public:
  using json = nlohmann::json;
  // config: a function that may change the config.json before `create`.
  explicit OciContainer(const std::string& tag, const std::function<void(json&)>& config = {},
                        std::vector<std::string> command = {}) {
    id_ = unique_name(tag);
    if (command.empty()) command = {"/bin/sleep", unique_sleep_seconds()};
    std::vector<std::string> argv{bin("mycontainer"),
                                  "spec",
                                  "--net",
                                  "none",
                                  "--rootfs",
                                  rootfs(),
                                  "--hostname",
                                  "opsbox",
                                  "-o",
                                  bundle_.path() + "/config.json",
                                  "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    const auto r = run(argv);
    EXPECT_EQ(r.status, 0) << r.err;
    if (config) {
      json j = json::parse(read_file(bundle_.path() + "/config.json"));
      config(j);
      std::ofstream(bundle_.path() + "/config.json") << j.dump(2);
    }
  }
  ~OciContainer() { mc({"delete", "--force", id_}); }

  RunResult mc(std::vector<std::string> args, const RunOptions& options = {}) const {
    std::vector<std::string> argv{bin("mycontainer"), "--root", root_.path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, options);
  }
  RunResult create() const { return mc({"create", "--bundle", bundle_.path(), id_}); }
  RunResult start() const { return mc({"start", id_}); }
  json state() const {
    const auto r = mc({"state", id_});
    return r.status == 0 ? json::parse(r.out) : json{};
  }
  pid_t pid() const { return state().value("pid", 0); }
  std::vector<std::string> cgroup_dirs() const {
    const auto s = ctr::read_state(std::filesystem::path(root_.path()) / "containers" / id_);
    return s ? s->cgroup_dirs : std::vector<std::string>{};
  }
  const std::string& id() const { return id_; }
  const std::string& bundle() const { return bundle_.path(); }
  const std::string& root() const { return root_.path(); }

 private:
  HostDir bundle_, root_;
  std::string id_;
};

}  // namespace mc::test
