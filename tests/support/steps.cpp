#include "steps.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>  // std::getenv
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace mc::test {

namespace fs = std::filesystem;

std::vector<std::string> Step::prefix() const {
  if (number == 7) return {"run", "--rootfs", rootfs()};
  return {"--rootfs", rootfs()};
}

const std::vector<Step>& all_steps() {
  static const std::vector<Step> steps = [] {
    std::vector<Step> all = {
        {1, "simple_container"},   {2, "container_with_pid"},     {3, "container_with_mount"},
        {4, "container_with_uts"}, {5, "container_with_network"}, {6, "container_with_cgroups"},
        {7, "mycontainer"}};
    // `make check` in a step folder (scripts/step.mk): the learner's exercise copy of that
    // step, built as BINARY_exercise, is what the tests run.
    if (const char* exercise = std::getenv("MC_EXERCISE_STEP")) {
      for (auto& s : all) {
        if (std::to_string(s.number) == exercise) s.binary += "_exercise";
      }
    }
    std::vector<Step> built;
    for (const auto& s : all) {
      if (fs::exists(bin(s.binary))) built.push_back(s);
    }
    return built;
  }();
  return steps;
}

const Step& step(int number) {
  for (const auto& s : all_steps()) {
    if (s.number == number) return s;
  }
  throw std::runtime_error(fmt::format("step {} is not built", number));
}

RunResult run_step(const Step& step, const std::vector<std::string>& options,
                   const std::vector<std::string>& command, const RunOptions& run_options) {
  std::vector<std::string> argv{bin(step.binary)};
  for (const auto& p : step.prefix()) argv.push_back(p);
  for (const auto& o : options) argv.push_back(o);
  if (!command.empty()) {
    argv.emplace_back("--");
    for (const auto& c : command) argv.push_back(c);
  }
  return run(argv, run_options);
}

FileInRootfs::FileInRootfs(const std::string& host_source, const std::string& name_inside)
    : inside_("/tmp/" + name_inside) {
  fs::copy_file(host_source, host_path(), fs::copy_options::overwrite_existing);
}

FileInRootfs::~FileInRootfs() {
  std::error_code ec;
  fs::remove(host_path(), ec);
}

std::string FileInRootfs::host_path() const {
  return rootfs() + inside_;
}

FileInRootfs install_probe(const std::string& name) {
  return FileInRootfs(bin("probe_" + name), unique_name(name));
}

HostMarker::HostMarker() : path_(fmt::format("/tmp/{}", unique_name("mc-marker"))) {
  std::ofstream(path_) << "host marker\n";
}

HostMarker::~HostMarker() {
  std::error_code ec;
  fs::remove(path_, ec);
}

std::string unique_sleep_seconds() {
  static std::atomic<int> n{0};
  return fmt::format("{}{}", 100000 + (::getpid() % 90000), n++);
}

}  // namespace mc::test
