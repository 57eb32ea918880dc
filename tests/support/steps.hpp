// Running the step binaries in tests: one description per step, so a check that holds for
// every step (exit codes, bad input, nothing left behind) is written once.
#pragma once

#include <string>
#include <vector>

#include "support.hpp"

namespace mc::test {

struct Step {
  int number;
  std::string binary;  // in build/bin
  // The words that put the command line before the command: {"--rootfs", ROOTFS} for steps
  // 1-6, {"run", "--rootfs", ROOTFS} for step 7.
  std::vector<std::string> prefix() const;
};

const std::vector<Step>& all_steps();
const Step& step(int number);

// Runs `BINARY <prefix> [options...] -- command...`.
RunResult run_step(const Step& step, const std::vector<std::string>& options,
                   const std::vector<std::string>& command, const RunOptions& run_options = {});

// A file copied into the rootfs (e.g. a probe program) and removed again by the destructor.
class FileInRootfs {
 public:
  FileInRootfs(const std::string& host_source, const std::string& name_inside);
  ~FileInRootfs();
  FileInRootfs(const FileInRootfs&) = delete;
  FileInRootfs& operator=(const FileInRootfs&) = delete;
  const std::string& inside() const { return inside_; }  // its path in the container
  std::string host_path() const;                         // its path on the host

 private:
  std::string inside_;
};

// Copies build/bin/probe_NAME into the rootfs's /tmp under a unique name.
FileInRootfs install_probe(const std::string& name);

// A file on the host outside the rootfs, removed by the destructor.
class HostMarker {
 public:
  HostMarker();
  ~HostMarker();
  HostMarker(const HostMarker&) = delete;
  HostMarker& operator=(const HostMarker&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A unique number to put on a command line (`sleep 1000<n>`) so the test can find the
// container's process from the host.
std::string unique_sleep_seconds();

}  // namespace mc::test
