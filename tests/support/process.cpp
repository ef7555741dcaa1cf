#include "support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace medmigrate::testing {

namespace fs = std::filesystem;

namespace {

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  fs::path base = fs::temp_directory_path() / "medmigrate-tests";
  fs::create_directories(base);
  fs::permissions(base, fs::perms::all, fs::perm_options::add);
  std::string templ = (base / (prefix + "-XXXXXX")).string();
  char* made = mkdtemp(templ.data());
  if (made == nullptr) return {};
  fs::permissions(made, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::replace);
  return made;
}

namespace {

// In a forked child: stdin from /dev/null, stdout/stderr to `out`/`err`, no
// other descriptors, then exec build/medmigrate <args>. Never returns.
[[noreturn]] void ExecMedmigrate(const std::vector<std::string>& args, int out, int err) {
  int in = open("/dev/null", O_RDONLY);
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  close_range(3, ~0U, 0);
  std::vector<std::string> argv_s = {MEDMIGRATE_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

}  // namespace

int SpawnMedmigrate(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    ExecMedmigrate(args, devnull, devnull);
  }
  return pid;
}

ProcessOutput RunMedmigrate(const std::vector<std::string>& args, const ProcessOptions& options) {
  std::string dir = MakeTempDir("proc");
  fs::path out_path = fs::path(dir) / "stdout", err_path = fs::path(dir) / "stderr";
  pid_t pid = fork();
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
    for (const auto& name : options.unset_env) unsetenv(name.c_str());
    for (const auto& [k, v] : options.env) setenv(k.c_str(), v.c_str(), 1);
    ExecMedmigrate(args, out, err);
  }
  ProcessOutput result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_seconds);
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = Slurp(out_path);
  result.err = Slurp(err_path);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return result;
}

}  // namespace medmigrate::testing
