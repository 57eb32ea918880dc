// The exercises (`make exercise` in a step folder, scripts/make-exercise.sh): each step's copy
// has the code that step adds taken out and a TODO in its place, and nothing else changed.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace fs = std::filesystem;
using mc::test::read_file;
using mc::test::run;
using mc::test::source_dir;

namespace {

struct StepSource {
  int number;
  std::string dir;   // the step's folder
  std::string file;  // its source
  std::string gone;  // a call this step adds: the exercise must not have it
};

const std::vector<StepSource> kSteps = {
    {1, "step1_chroot", "simple_container.cpp", "ctr::chroot("},
    {2, "step2_pid_namespace", "container_with_pid.cpp", "| CLONE_NEWPID"},
    {3, "step3_mount_namespace", "container_with_mount.cpp", "ctr::pivot_root("},
    {4, "step4_uts_namespace", "container_with_uts.cpp", "ctr::sethostname("},
    {5, "step5_network_namespace", "container_with_network.cpp", "| CLONE_NEWNET"},
    {6, "step6_cgroups", "container_with_cgroups.cpp", "ctr::Cgroup::create("},
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class Exercise : public ::testing::TestWithParam<StepSource> {};

TEST_P(Exercise, TakesOutWhatTheStepAddsAndNothingElse) {
  const StepSource& s = GetParam();
  const fs::path out = fs::temp_directory_path() / mc::test::unique_name("mc-exercise") / s.file;
  fs::create_directories(out.parent_path());
  const auto r =
      run({source_dir() + "/scripts/make-exercise.sh", source_dir() + "/" + s.dir, out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string original = read_file(source_dir() + "/" + s.dir + "/" + s.file);
  const std::string exercise = read_file(out.string());
  fs::remove_all(out.parent_path());

  const std::string todo = "TODO(step " + std::to_string(s.number) + ")";
  EXPECT_NE(exercise.find(todo), std::string::npos);
  EXPECT_NE(original.find(s.gone), std::string::npos) << "the step's own code changed?";
  EXPECT_EQ(exercise.find(s.gone), std::string::npos) << s.gone << " is still in the exercise";
  // Every line that is not a TODO is the original's, in the original's order: the exercise
  // is the step with parts taken out, never with anything rewritten.
  const auto theirs = lines_of(original);
  size_t at = 0;
  for (const auto& line : lines_of(exercise)) {
    if (line.find(todo) != std::string::npos) continue;
    while (at < theirs.size() && theirs[at] != line) ++at;
    ASSERT_LT(at, theirs.size()) << "not in the original, or out of order: " << line;
    ++at;
  }
  // Earlier steps' markers stay code: only this step's feature is the exercise.
  for (int earlier = 1; earlier < s.number; ++earlier) {
    EXPECT_EQ(exercise.find("TODO(step " + std::to_string(earlier) + ")"), std::string::npos);
  }
}

TEST(Exercise, StepSevenAndNonStepsAreRefusedInOneLine) {
  const auto r = run({source_dir() + "/scripts/make-exercise.sh",
                      source_dir() + "/step7_full_container", "/tmp/never-written.cpp"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("step 7 is a runtime, not an exercise"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists("/tmp/never-written.cpp"));
}

INSTANTIATE_TEST_SUITE_P(Steps, Exercise, ::testing::ValuesIn(kSteps),
                         [](const ::testing::TestParamInfo<StepSource>& info) {
                           // not "stepN": `ctest -R [Ss]tepN` selects a step's own tests
                           return "exercise" + std::to_string(info.param.number);
                         });

}  // namespace
