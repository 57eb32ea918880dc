// A temporary directory for a test, removed with everything in it at the end (also when the
// test failed). Header-only.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include "support.hpp"  // mc::test::unique_name

namespace mc::test {

class TempDir {
 public:
  explicit TempDir(const std::string& what = "mct-tmp")
      : path_(std::filesystem::temp_directory_path() / unique_name(what)) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& p) const { return path_ / p; }

 private:
  std::filesystem::path path_;
};

}  // namespace mc::test
