// The READMEs' console blocks, run and compared with what they show: docs that cannot drift.
//
// Every ```console block of every step's README.md and README.ja.md is a test: its `$ `
// lines are typed into one bash session (in the step's directory, `sudo` as a plain prefix
// since the suite runs as root), and each command's output must match the lines the README
// shows under it. What varies from run to run is matched by shape, not by value:
//
//   - a number of four or more digits (a PID, a size in bytes) is any number, and the same
//     number in the README must be the same number in the run (the PID that `clone` printed
//     is the one `ps` lists); a command typed later that contains it gets the real value;
//   - a duration with a fraction (`0.27 ms`) is any duration;
//   - `mc-` and eight hex digits is any generated container name, `veth`/`ceth` and eight hex
//     digits any veth name, 32 hex digits any session id in a cgroup path (systemd's, or
//     the machine's), `Nov 29 03:43` any time stamp of `ls -l` (and an ISO 8601 time any), a MAC
//     address any MAC address (and fe80:: any link-local address, `@ifN` any peer index), a number
//     with three decimals any time in ms;
//   - in strace's output, an address (`0x` and six or more hex digits) is any address, and
//     the size of an environment (`/* 41 vars */`) any size;
//   - `/work/main` (where the samples were made) is this checkout;
//   - a line `...` stands for any number of lines;
//   - runs of blanks count as one (columns shift with the width of a PID);
//   - tokens listed in a `<!-- vary: TOKEN... -->` comment just above the block vary too.
//
// A block that cannot run here says why, in a comment just above it:
// `<!-- not checked: REASON -->` (an interactive shell, a second terminal...). A block that
// runs the test suite itself is not run (it would run this test); its test count is checked
// against `ctest -N` instead. A README.ja.md block that is the same as its README.md block is
// run once.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace fs = std::filesystem;
using mc::test::source_dir;

namespace {

struct Command {
  std::string text;                   // what follows "$ "
  std::vector<std::string> expected;  // the lines the README shows under it
};

struct Block {
  std::string file;  // relative to the source directory
  int line = 0;      // of the opening fence
  std::string not_checked;
  std::vector<std::string> vary;
  std::vector<Command> commands;
};

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

// Runs of blanks as one, none at either end: columns move with the width of a number.
std::string squeeze(const std::string& s) {
  std::string out;
  for (char ch : rtrim(s)) {
    if ((ch == ' ' || ch == '\t') && (out.empty() || out.back() == ' ')) continue;
    out += ch == '\t' ? ' ' : ch;
  }
  return out;
}

std::optional<std::string> comment_value(const std::string& line, const std::string& key) {
  const std::string open = "<!-- " + key + ":";
  if (line.rfind(open, 0) != 0 || line.size() < open.size() + 4) return std::nullopt;
  if (line.compare(line.size() - 3, 3, "-->") != 0) return std::nullopt;
  std::string value = line.substr(open.size(), line.size() - 3 - open.size());
  while (!value.empty() && value.front() == ' ') value.erase(value.begin());
  return rtrim(value);
}

std::vector<Block> parse_blocks(const std::string& relative) {
  std::ifstream in(source_dir() + "/" + relative);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<Block> blocks;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (rtrim(lines[i]) != "```console") continue;
    Block b{relative, static_cast<int>(i + 1), {}, {}, {}};
    // The comments right above the fence (blank lines between are allowed).
    for (std::size_t j = i; j-- > 0;) {
      const std::string above = rtrim(lines[j]);
      if (above.empty()) continue;
      if (auto why = comment_value(above, "not checked")) {
        b.not_checked = *why;
      } else if (auto tokens = comment_value(above, "vary")) {
        std::istringstream words(*tokens);
        for (std::string w; words >> w;) b.vary.push_back(w);
      } else {
        break;
      }
    }
    for (++i; i < lines.size() && rtrim(lines[i]) != "```"; ++i) {
      if (lines[i].rfind("$ ", 0) == 0) {
        b.commands.push_back({lines[i].substr(2), {}});
      } else if (!b.commands.empty()) {
        b.commands.back().expected.push_back(lines[i]);
      }
    }
    while (!b.commands.empty() && !b.commands.back().expected.empty() &&
           rtrim(b.commands.back().expected.back()).empty()) {
      b.commands.back().expected.pop_back();
    }
    blocks.push_back(std::move(b));
  }
  return blocks;
}

// --- Matching one line, with the values that vary bound as they are first seen ---

using Bindings = std::map<std::string, std::string>;  // README literal -> value in this run

std::string regex_escape(const std::string& s) {
  static const std::string special = R"(\^$.|?*+()[]{}-)";
  std::string out;
  for (char ch : s) {
    if (special.find(ch) != std::string::npos) out += '\\';
    out += ch;
  }
  return out;
}

struct Piece {
  std::string text;
  std::string pattern;  // empty: literal text
  bool bind = true;     // the same README text must be the same value everywhere in the block
};

// Splits an expected line into literal text and the tokens that vary.
std::vector<Piece> pieces_of(const std::string& line, const std::vector<std::string>& vary) {
  std::string alternatives =
      R"(/work/main|mc-[0-9a-f]{8}\b|[ce]th[0-9a-f]{8}\b|\b[0-9a-f]{32}\b|)"
      R"(\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b|fe80::[0-9a-f:]+|\b\d+\.\d{3}\b|@if\d+|)"
      R"(\b[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d\b|<[a-z][a-z -]*>|\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|)"
      R"(\b0x[0-9a-f]{6,}\b|/\* \d+ vars \*/|\b\d+\.\d+(?= ?ms\b)|\b\d{4,}\b)";
  std::string listed;  // the block's own tokens first: they win over the shapes
  for (const auto& token : vary) {
    listed += regex_escape(token);
    listed += '|';
  }
  alternatives.insert(0, listed);
  const std::regex tokens(alternatives);
  std::vector<Piece> pieces;
  std::size_t at = 0;
  for (auto it = std::sregex_iterator(line.begin(), line.end(), tokens);
       it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    const auto pos = static_cast<std::size_t>(m.position(0));
    if (pos > at) pieces.push_back({line.substr(at, pos - at), ""});
    const std::string t = m.str(0);
    std::string pattern;
    if (t == "/work/main") {
      pieces.push_back({source_dir(), ""});
      at = pos + t.size();
      continue;
    }
    if (t.rfind("0x", 0) == 0 || t.rfind("/*", 0) == 0) {  // strace: an address, an env size
      pieces.push_back({t, t[0] == '0' ? "0x[0-9a-f]+" : R"(/\* \d+ vars \*/)", false});
      at = pos + t.size();
      continue;
    }
    if (t.rfind("mc-", 0) == 0) {
      pattern = "mc-[0-9a-f]{8}";
    } else if (std::regex_match(t, std::regex("(?:[0-9a-f]{2}:){5}[0-9a-f]{2}"))) {
      pattern = "(?:[0-9a-f]{2}:){5}[0-9a-f]{2}";
    } else if (t.rfind("@if", 0) == 0) {
      pattern = R"(@if\d+)";
    } else if (t.rfind("fe80::", 0) == 0) {
      pattern = "fe80::[0-9a-f:]+";
    } else if (std::regex_match(t, std::regex("[ce]th[0-9a-f]{8}"))) {
      pattern = "[ce]th[0-9a-f]{8}";
    } else if (std::regex_match(t, std::regex(R"([A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d)"))) {
      pieces.push_back({t, R"([A-Z][a-z]{2} \d{1,2} \d\d:\d\d)", false});  // blanks squeezed
      at = pos + t.size();
      continue;
    } else if (std::regex_match(t, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) {
      pieces.push_back({t, R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", false});  // a start time
      at = pos + t.size();
      continue;
    } else if (t.front() == '<') {
      pieces.push_back({t, R"(\S+)", false});  // <time>, <pid>: a placeholder
      at = pos + t.size();
      continue;
    } else if (std::regex_match(t, std::regex(R"(\d+)"))) {
      pattern = R"(\d+)";
    } else if (std::regex_match(t, std::regex(R"(\d+\.\d+)"))) {
      pattern = R"(\d+(?:\.\d+)?)";
    } else if (std::regex_match(t, std::regex("[0-9a-f]+"))) {
      pattern = "[0-9a-f]+";
    } else {
      pattern = R"(\S+)";
    }
    pieces.push_back({t, pattern});
    at = pos + t.size();
  }
  if (at < line.size()) pieces.push_back({line.substr(at), ""});
  return pieces;
}

bool match_line(const std::string& expected, const std::string& actual,
                const std::vector<std::string>& vary, Bindings& bindings) {
  const auto pieces = pieces_of(squeeze(expected), vary);
  std::string pattern;
  std::vector<std::string> unbound;  // in the order of the groups
  for (const auto& p : pieces) {
    if (p.pattern.empty()) {
      pattern += regex_escape(p.text);
    } else if (!p.bind) {
      pattern += "(?:" + p.pattern + ")";
    } else if (auto b = bindings.find(p.text); b != bindings.end()) {
      pattern += regex_escape(b->second);
    } else if (std::find(unbound.begin(), unbound.end(), p.text) != unbound.end()) {
      pattern += R"(\S+)";  // seen twice on this line: taken from the first
    } else {
      pattern += "(" + p.pattern + ")";
      unbound.push_back(p.text);
    }
  }
  std::smatch m;
  const std::string line = squeeze(actual);
  if (!std::regex_match(line, m, std::regex(pattern))) return false;
  for (std::size_t g = 0; g < unbound.size(); ++g) bindings[unbound[g]] = m.str(g + 1);
  return true;
}

// Expected lines against actual ones; `...` is any number of lines.
bool match_lines(const std::vector<std::string>& expected, std::size_t e,
                 const std::vector<std::string>& actual, std::size_t a,
                 const std::vector<std::string>& vary, Bindings& bindings) {
  if (e == expected.size()) return a == actual.size();
  if (rtrim(expected[e]) == "...") {
    for (std::size_t skip = a; skip <= actual.size(); ++skip) {
      Bindings attempt = bindings;
      if (match_lines(expected, e + 1, actual, skip, vary, attempt)) {
        bindings = attempt;
        return true;
      }
    }
    return false;
  }
  if (a == actual.size()) return false;
  Bindings attempt = bindings;
  if (!match_line(expected[e], actual[a], vary, attempt)) return false;
  if (!match_lines(expected, e + 1, actual, a + 1, vary, attempt)) return false;
  bindings = attempt;
  return true;
}

// A command typed later gets the values bound so far (the PID a previous line printed).
std::string substitute(std::string command, const Bindings& bindings) {
  for (const auto& [literal, value] : bindings) {
    const std::regex word("(^|[^0-9A-Za-z_])(" + regex_escape(literal) + ")(?=$|[^0-9A-Za-z_])");
    std::string out;
    std::size_t at = 0;
    for (auto it = std::sregex_iterator(command.begin(), command.end(), word);
         it != std::sregex_iterator(); ++it) {
      const auto pos = static_cast<std::size_t>(it->position(2));
      out += command.substr(at, pos - at) + value;
      at = pos + literal.size();
    }
    out.append(command, at);
    command = std::move(out);
  }
  const std::string here = "/work/main";
  for (auto pos = command.find(here); pos != std::string::npos; pos = command.find(here, pos)) {
    command.replace(pos, here.size(), source_dir());
    pos += source_dir().size();
  }
  return command;
}

// --- One bash session per block ---

class Session {
 public:
  explicit Session(const std::string& directory) : bin_(make_sudo()) {
    int commands[2];
    int output[2];
    if (::pipe2(commands, O_CLOEXEC) != 0 || ::pipe2(output, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(commands[0], 3);
      ::fcntl(3, F_SETFD, 0);  // dup2 onto itself (the pipe may already be fd 3) keeps CLOEXEC
      ::dup2(output[1], 1);
      ::dup2(output[1], 2);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      if (::chdir(directory.c_str()) != 0) ::_exit(125);
      // Each command is read from fd 3 (NUL-terminated), run in this shell (so that `cd`,
      // `$!` and `wait` carry over), then a marker line ends its output. Its stdin is
      // /dev/null: nothing a command reads can be the next command.
      static const char* const kLoop =
          "while IFS= read -r -d '' mc_cmd <&3; do eval \"$mc_cmd\" </dev/null; "
          "printf '\\036done\\n'; done\n";
      // `sudo` is a script first on PATH that execs its command, as root already runs it
      // (a function would make `sudo CMD &` a subshell, and `$!` not CMD's PID).
      const std::string path = bin_ + ":" + (std::getenv("PATH") ? std::getenv("PATH") : "");
      ::setenv("PATH", path.c_str(), 1);
      ::execlp("bash", "bash", "--norc", "--noprofile", "-c", kLoop, nullptr);
      ::_exit(127);
    }
    ::close(commands[0]);
    ::close(output[1]);
    to_ = commands[1];
    from_ = output[0];
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    ::close(to_);
    stop_group();
    ::close(from_);
    ::waitpid(pid_, nullptr, 0);
    std::error_code ec;
    fs::remove_all(bin_, ec);
  }

  // The command's output lines (stdout and stderr, as the terminal shows them).
  std::optional<std::vector<std::string>> run(const std::string& command,
                                              std::chrono::seconds timeout) {
    const std::string message = command + '\0';
    if (::write(to_, message.data(), message.size()) != static_cast<ssize_t>(message.size())) {
      return std::nullopt;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto end = buffer_.find("\036done\n"); end != std::string::npos) {
        std::vector<std::string> lines;
        std::istringstream text(buffer_.substr(0, end));
        for (std::string line; std::getline(text, line);) lines.push_back(line);
        buffer_.erase(0, end + 6);
        while (!lines.empty() && rtrim(lines.back()).empty()) lines.pop_back();
        return lines;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(from_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  // The shell and what a block left in the background (a failed block's `sleep 1000 &`): a
  // SIGTERM, and a second one, as ^C twice, so that a runtime gives back what it made; a
  // SIGKILL only for what is still there after 15 s.
  void stop_group() const {
    ::kill(-pid_, SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(-pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (::kill(-pid_, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
      ::waitpid(pid_, nullptr, WNOHANG);  // the shell itself is our child: reap it
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid_, SIGKILL);
  }

  // A directory holding `sudo`: VAR=VALUE words exported, then exec.
  static std::string make_sudo() {
    char dir[] = "/tmp/mc-docs-XXXXXX";
    if (::mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp");
    const std::string sudo = std::string(dir) + "/sudo";
    std::ofstream(sudo) << "#!/bin/bash\n"
                           "while [[ $# -gt 0 && $1 == *=* ]]; do export \"$1\"; shift; done\n"
                           "exec \"$@\"\n";
    fs::permissions(sudo, fs::perms::owner_all);
    return dir;
  }
  std::string bin_;
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string buffer_;
};

// `scripts/test.sh -R REGEX` would run the suite inside the suite: count instead.
std::optional<std::string> suite_command_regex(const std::string& command) {
  static const std::regex suite(
      R"(^(?:sudo )?(?:\.\./)?scripts/test\.sh (-R '[^']+'|-L \w+)\s*(?:#.*)?$)");
  std::smatch m;
  if (!std::regex_match(command, m, suite)) return std::nullopt;
  return m.str(1);
}

// SELECTION is `-R 'REGEX'` or `-L LABEL`, as the README's command gives it.
std::string test_count(const std::string& selection) {
  const bool label = selection.rfind("-L ", 0) == 0;
  const std::string value =
      label ? selection.substr(3) : selection.substr(4, selection.size() - 5);  // -R 'X'
  const auto r = mc::test::run({"/usr/bin/env", "ctest", "--test-dir",
                                std::string(MC_BIN_DIR) + "/..", "-N", label ? "-L" : "-R", value});
  std::smatch m;
  static const std::regex total(R"(Total Tests: (\d+))");
  if (!std::regex_search(r.out, m, total)) return "?";
  return m.str(1);
}

std::string as_in_readme(std::string line);

// As the README would show it (this checkout's path as /work/main), to compare or paste.
std::string quote_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "    | " + as_in_readme(l) + "\n";
  return out.empty() ? "    (nothing)\n" : out;
}

// MC_DOCS_UPDATE=1: a sample that does not match is replaced by what the run printed (in
// README.md and README.ja.md alike), for a developer who changed what a step prints. Read
// the diff before committing it: it is the new behaviour, right or wrong.
bool update_mode() {
  const char* v = std::getenv("MC_DOCS_UPDATE");
  return v != nullptr && std::string(v) == "1";
}

std::string as_in_readme(std::string line) {
  const std::string here = "/work/main";
  for (auto pos = line.find(source_dir()); pos != std::string::npos;
       pos = line.find(source_dir(), pos + here.size())) {
    line.replace(pos, source_dir().size(), here);
  }
  return line;
}

void rewrite_sample(const std::string& step_dir, const Command& command,
                    const std::vector<std::string>& output) {
  std::string old_text = "$ " + command.text + "\n";
  for (const auto& l : command.expected) old_text += l + "\n";
  std::string new_text = "$ " + command.text + "\n";
  for (const auto& l : output) new_text += as_in_readme(l) + "\n";
  for (const char* name : {"README.md", "README.ja.md"}) {
    const std::string path = source_dir() + "/" + step_dir + "/" + name;
    std::string text = mc::test::read_file(path);
    if (const auto pos = text.find(old_text); pos != std::string::npos) {
      text.replace(pos, old_text.size(), new_text);
      std::ofstream(path) << text;
    }
  }
}

// The binary each step's ./container points at (its Makefile's BINARY).
std::string step_binary(const std::string& step_dir) {
  if (step_dir == "docs") return "mycontainer";
  std::ifstream makefile(source_dir() + "/" + step_dir + "/Makefile");
  static const std::regex binary(R"(^BINARY\s*:=\s*(\S+))");
  std::smatch m;
  for (std::string line; std::getline(makefile, line);) {
    if (std::regex_search(line, m, binary)) return m.str(1);
  }
  return {};
}

// A checkout of links in a temporary directory: what a block writes (a config.json) stays
// out of the source tree, and ./container points at this build's binary.
class Workspace {
 public:
  explicit Workspace(const std::string& step_dir) {
    char dir[] = "/tmp/mc-docs-tree-XXXXXX";
    if (::mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp");
    root_ = dir;
    for (const auto& entry : fs::directory_iterator(source_dir())) {
      if (entry.path().filename() != step_dir) {
        fs::create_directory_symlink(entry.path(), root_ / entry.path().filename());
      }
    }
    fs::create_directory(root_ / step_dir);
    for (const auto& entry : fs::directory_iterator(fs::path(source_dir()) / step_dir)) {
      if (entry.path().filename() != "container") {
        fs::create_symlink(entry.path(), root_ / step_dir / entry.path().filename());
      }
    }
    if (const std::string binary = step_binary(step_dir); !binary.empty()) {
      fs::create_symlink(mc::test::bin(binary), root_ / step_dir / "container");
      // A chapter of docs/ runs at the top (below): ./container is there too.
      if (step_dir == "docs") fs::create_symlink(mc::test::bin(binary), root_ / "container");
    }
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() {
    std::error_code ec;
    fs::remove_all(root_, ec);  // links and what the block wrote; never what they point at
  }
  const fs::path& root() const { return root_; }

 private:
  fs::path root_;
};

void check_block(const Block& block) {
  SCOPED_TRACE(fmt::format("{}:{}", block.file, block.line));
  const std::string step_dir = fs::path(block.file).parent_path().string();
  Workspace tree(step_dir);
  // A step's README runs in the step's directory, a chapter of docs/ at the top.
  Session shell((step_dir == "docs" ? tree.root() : tree.root() / step_dir).string());
  Bindings bindings;
  for (const auto& command : block.commands) {
    if (auto regex = suite_command_regex(command.text)) {
      if (command.expected.empty()) continue;  // no count shown: nothing to check
      const std::string want = fmt::format("out of {}", test_count(*regex));
      bool found = false;
      for (const auto& line : command.expected) found = found || line.ends_with(want);
      EXPECT_TRUE(found) << "$ " << command.text << "\n  the README should say `" << want
                         << "`; it shows:\n"
                         << quote_lines(command.expected);
      continue;
    }
    const std::string typed = substitute(command.text, bindings);
    const auto output = shell.run(typed, std::chrono::seconds(120));
    ASSERT_TRUE(output) << "$ " << typed << "\n  did not finish within 120 s";
    Bindings attempt = bindings;
    if (match_lines(command.expected, 0, *output, 0, block.vary, attempt)) {
      bindings = attempt;
      continue;
    }
    if (update_mode()) {
      rewrite_sample(step_dir, command, *output);
      continue;
    }
    ADD_FAILURE() << "$ " << typed << "\n  the README shows:\n"
                  << quote_lines(command.expected) << "  the run printed:\n"
                  << quote_lines(*output)
                  << "  (MC_DOCS_UPDATE=1 writes the run's output into the README)";
    return;  // what follows depends on this command
  }
}

struct Case {
  std::string name;
  Block block;
};

std::vector<std::string> readme_files() {
  std::vector<std::string> readmes;
  for (const auto& entry : fs::directory_iterator(source_dir())) {
    const std::string dir = entry.path().filename().string();
    if (!entry.is_directory() || dir.rfind("step", 0) != 0) continue;
    for (const char* name : {"README.md", "README.ja.md"}) {
      if (fs::exists(entry.path() / name)) readmes.push_back(dir + "/" + name);
    }
  }
  // The chapters beyond the steps (docs/), shaped like a step's README: their blocks run from
  // the top of the checkout (`sudo build/bin/mycontainer ...`); ./container there is step 7's
  // mycontainer (step_binary).
  for (const char* chapter :
       {"docs/images.md", "docs/images.ja.md", "docs/lifecycle.md", "docs/lifecycle.ja.md"}) {
    if (fs::exists(fs::path(source_dir()) / chapter)) readmes.emplace_back(chapter);
  }
  std::sort(readmes.begin(), readmes.end(), [](const std::string& a, const std::string& b) {
    // README.md before README.ja.md within a step (images.md before images.ja.md).
    const auto da = fs::path(a).parent_path(), db = fs::path(b).parent_path();
    if (da != db) return da < db;
    return !a.ends_with(".ja.md") && b.ends_with(".ja.md");
  });
  return readmes;
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  std::set<std::string> seen;  // the text of every block run, to run a translation's once
  for (const auto& readme : readme_files()) {
    for (auto& block : parse_blocks(readme)) {
      std::string text;
      for (const auto& c : block.commands) {
        text += c.text + "\n";
        for (const auto& l : c.expected) text += l + "\n";
      }
      if (!seen.insert(text).second || !block.not_checked.empty()) continue;
      // "chroot_README_md_30": no "stepN" in the name, or `ctest -R '[Ss]tep1'` (the
      // README's own command) would count these too.
      std::string name = readme.substr(readme.find('_') + 1) + "_" + std::to_string(block.line);
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      cases.push_back({name, std::move(block)});
    }
  }
  return cases;
}

// What gtest prints for a case: where the block is.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.block.file << ":" << c.block.line;
}

class Readme : public ::testing::TestWithParam<Case> {};

TEST_P(Readme, ConsoleBlockMatchesARun) {
  MC_REQUIRE_ROOT();
  check_block(GetParam().block);
}

INSTANTIATE_TEST_SUITE_P(Docs, Readme, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) { return info.param.name; });

// Every block is either checked or says why not: a block with no command is a mistake.
TEST(Readme, EveryBlockHasACommand) {
  for (const auto& readme : readme_files()) {
    for (const auto& block : parse_blocks(readme)) {
      EXPECT_FALSE(block.commands.empty())
          << block.file << ":" << block.line << ": a console block with no `$ ` line";
    }
  }
}

}  // namespace
