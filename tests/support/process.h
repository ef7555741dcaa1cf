// Runs the medmigrate CLI as a separate process, as a user would, and captures
// what it prints. For e2e and CLI tests.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace medmigrate::testing {

struct ProcessOutput {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::map<std::string, std::string> env;  // added to (or replacing) the inherited environment
  std::vector<std::string> unset_env;      // removed from the inherited environment
  std::string cwd;                         // empty: the test's own
  int timeout_seconds = 300;               // then SIGKILL
};

// build/medmigrate <args>.
ProcessOutput RunMedmigrate(const std::vector<std::string>& args, const ProcessOptions& options = {});

// Starts build/medmigrate <args> in the background (output discarded) and
// returns its pid, for tests that signal it; reap it with waitpid.
int SpawnMedmigrate(const std::vector<std::string>& args);

// A new empty folder under the build tree, for a test's working directory.
std::string MakeTempDir(const std::string& prefix);

}  // namespace medmigrate::testing
