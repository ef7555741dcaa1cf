#include "pg/embedded_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "pg/connection.h"

namespace medmigrate::pg {

namespace fs = std::filesystem;

namespace {

constexpr const char* kServerUser = "medmigrate";
constexpr const char* kSuperuser = "postgres";

// Who runs initdb, pg_ctl and the server: nobody special when we are not root.
struct RunAs {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs argv[0] with `argv`, as `as`, capturing its output. Every descriptor
// above stderr is closed in the child: the server that pg_ctl leaves behind must
// not inherit our lock file or sockets.
Result<ProcessResult> Run(const std::vector<std::string>& argv, const RunAs& as) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::Internal("pipe: " + std::string(strerror(errno)));
  pid_t pid = fork();
  if (pid < 0) return Status::Internal("fork: " + std::string(strerror(errno)));
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    close_range(3, ~0U, 0);
    if (as.switch_user) {
      if (setgroups(0, nullptr) != 0 || setgid(as.gid) != 0 || setuid(as.uid) != 0) _exit(126);
    }
    setenv("LC_MESSAGES", "C", 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  ProcessResult result;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) result.output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string LastLines(const std::string& text, int count) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) lines.push_back(l);
  }
  std::string out;
  for (size_t i = lines.size() > static_cast<size_t>(count) ? lines.size() - count : 0;
       i < lines.size(); ++i) {
    out += (out.empty() ? "" : " | ") + lines[i];
  }
  return out;
}

Result<std::string> FindBinDir(const std::string& configured) {
  std::string dir = configured;
  if (dir.empty()) {
    if (const char* env = std::getenv("MEDMIGRATE_PG_BINDIR")) dir = env;
  }
  if (dir.empty()) {
    std::vector<std::pair<int, std::string>> found;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      std::string name = entry.path().filename();
      if (fs::exists(entry.path() / "bin" / "initdb") && !name.empty() &&
          std::all_of(name.begin(), name.end(), ::isdigit)) {
        found.emplace_back(std::stoi(name), (entry.path() / "bin").string());
      }
    }
    if (found.empty()) {
      return Status::NotFound(
          "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: run 'make setup' "
          "(installs postgresql-15) or set MEDMIGRATE_PG_BINDIR");
    }
    std::sort(found.begin(), found.end());
    dir = found.back().second;
  }
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    if (access((fs::path(dir) / tool).c_str(), X_OK) != 0) {
      return Status::NotFound(fmt::format("{}/{} is missing or not executable", dir, tool));
    }
  }
  return dir;
}

Result<RunAs> ServerUser() {
  RunAs as;
  if (geteuid() != 0) return as;
  passwd* pw = getpwnam(kServerUser);
  if (pw == nullptr) {
    spdlog::info("creating system user '{}' to run the private PostgreSQL cluster "
                 "(PostgreSQL refuses to run as root)",
                 kServerUser);
    MM_ASSIGN_OR_RETURN(ProcessResult r,
                        Run({"/usr/sbin/useradd", "--system", "--user-group", "--no-create-home",
                             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                             kServerUser},
                            RunAs{}));
    pw = getpwnam(kServerUser);
    if (pw == nullptr) {
      return Status::FailedPrecondition(fmt::format(
          "cannot create the system user '{}' that runs the private cluster: {}", kServerUser,
          LastLines(r.output, 2)));
    }
  }
  as.switch_user = true;
  as.uid = pw->pw_uid;
  as.gid = pw->pw_gid;
  return as;
}

// Whether the server's user can reach `dir` (it cannot under /root, say).
Result<bool> Reachable(const std::string& dir, const RunAs& as) {
  if (!as.switch_user) return true;
  MM_ASSIGN_OR_RETURN(ProcessResult r, Run({"/usr/bin/test", "-x", dir}, as));
  return r.exit_code == 0;
}

Status CheckReachable(const std::string& dir, const RunAs& as) {
  MM_ASSIGN_OR_RETURN(bool ok, Reachable(dir, as));
  if (!ok) {
    return Status::PermissionDenied(fmt::format(
        "the private cluster runs as user '{}' (PostgreSQL refuses root), which cannot reach {}: "
        "choose a --data-dir under a folder every user may enter (e.g. /var/tmp/medmigrate)",
        kServerUser, dir));
  }
  return Status::Ok();
}

Status Chown(const fs::path& p, const RunAs& as) {
  if (!as.switch_user) return Status::Ok();
  if (chown(p.c_str(), as.uid, as.gid) != 0) {
    return Status::PermissionDenied(fmt::format("chown {}: {}", p.string(), strerror(errno)));
  }
  return Status::Ok();
}

bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// PostgreSQL cannot be told to bind to port 0 and report the port it got, so we
// ask the kernel for a free one, release it and hand it to the server; a race
// with another process is handled by retrying the start with a new port.
Result<int> FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal("socket: " + std::string(strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return Status::Internal("cannot find a free loopback port: " + std::string(strerror(errno)));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

// Holds an exclusive flock on <dir>/.lock for its lifetime.
class FolderLock {
 public:
  static Result<FolderLock> Acquire(const fs::path& dir) {
    FolderLock l;
    l.fd_ = open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (l.fd_ < 0 || flock(l.fd_, LOCK_EX) != 0) {
      return Status::PermissionDenied(
          fmt::format("cannot lock {}/.lock: {}", dir.string(), strerror(errno)));
    }
    return l;
  }
  FolderLock(FolderLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ~FolderLock() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  FolderLock() = default;
  int fd_ = -1;
};

// Where a cluster's parts live. PGDATA and the server log are under the
// folder, unless that folder is out of the server user's reach (a project
// under /root, run as root): then they live in a folder of their own under
// kRelocatedRoot, and cluster.json (which stays in the folder) says where.
constexpr const char* kRelocatedRoot = "/var/lib/medmigrate/clusters";

struct Paths {
  fs::path root, server_home, data, log_dir, log, info;
  explicit Paths(const std::string& data_dir)
      : root(fs::weakly_canonical(fs::absolute(data_dir))), info(root / "cluster.json") {
    SetServerHome(root);
  }
  void SetServerHome(const fs::path& home) {
    server_home = home;
    data = home / "data";
    log_dir = home / "log";
    log = log_dir / "postgres.log";
  }
  // A home for the server outside the folder, named after the folder.
  fs::path RelocatedHome() const {
    unsigned char digest[crypto_hash_sha256_BYTES];
    std::string r = root.string();
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(r.data()), r.size());
    std::string hex;
    for (int i = 0; i < 8; ++i) hex += fmt::format("{:02x}", digest[i]);
    return fs::path(kRelocatedRoot) / hex;
  }
};

Result<ClusterInfo> ReadInfo(Paths* paths) {
  Paths& p = *paths;
  std::ifstream in(p.info);
  nlohmann::json j;
  if (in) {
    j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
      // Never treat a damaged record as "no cluster": initdb would wipe the data.
      return Status::DataLoss(fmt::format(
          "{} is damaged: remove the folder {} to create a new cluster", p.info.string(),
          p.root.string()));
    }
  }
  if (j.is_object() && j.contains("server_home") && j["server_home"].is_string()) {
    p.SetServerHome(j["server_home"].get<std::string>());
  }
  if (!j.is_object() || !fs::exists(p.data / "PG_VERSION")) {
    return Status::NotFound(fmt::format(
        "no private cluster in {}: run 'medmigrate pg start' (or 'make demo') first",
        p.root.string()));
  }
  ClusterInfo info;
  try {
    info.port = j.at("port").get<int>();
    info.user = j.at("user").get<std::string>();
    info.password = j.at("password").get<std::string>();
  } catch (const std::exception&) {
    return Status::DataLoss(fmt::format(
        "{} is damaged: remove the folder {} to create a new cluster", p.info.string(),
        p.root.string()));
  }
  info.data_dir = p.root.string();
  std::ifstream v(p.data / "PG_VERSION");
  std::getline(v, info.version);
  return info;
}

Status WriteInfo(const Paths& p, const ClusterInfo& info) {
  nlohmann::json j = {{"port", info.port},
                      {"user", info.user},
                      {"password", info.password},
                      {"server_home", p.server_home.string()}};
  fs::path tmp = p.info;
  tmp += ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::PermissionDenied(fmt::format("cannot write {}", tmp.string()));
  std::string text = j.dump(2) + "\n";
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!ok || rename(tmp.c_str(), p.info.c_str()) != 0) {
    return Status::PermissionDenied(fmt::format("cannot write {}", p.info.string()));
  }
  return Status::Ok();
}

// Running state from pg_ctl status; fills pid.
Result<bool> IsRunning(const Paths& p, const std::string& bin_dir, const RunAs& as, int* pid) {
  MM_ASSIGN_OR_RETURN(ProcessResult r,
                      Run({bin_dir + "/pg_ctl", "status", "-D", p.data.string()}, as));
  *pid = 0;
  if (r.exit_code != 0) return false;
  std::ifstream pidfile(p.data / "postmaster.pid");
  pidfile >> *pid;
  return true;
}

std::string RandomPassword() {
  static constexpr char kAlphabet[] =
      "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  if (sodium_init() < 0) std::abort();
  std::string out;
  for (int i = 0; i < 32; ++i) out.push_back(kAlphabet[randombytes_uniform(sizeof(kAlphabet) - 1)]);
  return out;
}

Status InitDb(const Paths& p, const std::string& bin_dir, const RunAs& as, ClusterInfo* info) {
  std::error_code ec;
  fs::remove_all(p.data, ec);  // a half-made cluster from an interrupted initdb
  fs::create_directories(p.data);
  fs::permissions(p.data, fs::perms::owner_all, fs::perm_options::replace);
  MM_RETURN_IF_ERROR(Chown(p.data, as));
  info->user = kSuperuser;
  info->password = RandomPassword();
  fs::path pwfile = p.log_dir / ".initdb-password";
  {
    std::ofstream out(pwfile);
    out << info->password << "\n";
  }
  fs::permissions(pwfile, fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  MM_RETURN_IF_ERROR(Chown(pwfile, as));
  spdlog::info("initdb: creating a private PostgreSQL cluster in {}", p.data.string());
  MM_ASSIGN_OR_RETURN(ProcessResult r,
                      Run({bin_dir + "/initdb", "-D", p.data.string(), "-U", kSuperuser,
                           "--auth=scram-sha-256", "--pwfile=" + pwfile.string(), "-E", "UTF8",
                           "--no-locale", "--no-sync"},
                          as));
  fs::remove(pwfile, ec);
  if (r.exit_code != 0) {
    return Status::Internal(fmt::format("initdb failed (exit {}): {}", r.exit_code,
                                        LastLines(r.output, 3)));
  }
  std::ofstream conf(p.data / "postgresql.conf", std::ios::app);
  conf << "\n# Added by medmigrate: a private, disposable cluster.\n"
          "listen_addresses = '127.0.0.1'\n"
          "unix_socket_directories = ''\n"
          "fsync = off\n"
          "synchronous_commit = off\n"
          "full_page_writes = off\n"
          "shared_buffers = 256MB\n"
          "max_wal_size = 4GB\n"
          "max_connections = 200\n"
          "log_min_messages = warning\n";
  conf.close();
  MM_RETURN_IF_ERROR(WriteInfo(p, *info));
  return Status::Ok();
}

Status EnsureDatabases(const ClusterInfo& info, const std::vector<std::string>& databases) {
  MM_ASSIGN_OR_RETURN(Connection c, Connection::Open(info.Url("postgres"), "private cluster"));
  for (const std::string& db : databases) {
    MM_ASSIGN_OR_RETURN(auto exists, c.QueryValue("SELECT 1 FROM pg_database WHERE datname = $1",
                                                  {db}));
    if (exists) continue;
    Status s = c.Exec("CREATE DATABASE " + c.QuoteIdent(db));
    // Another process may have created it between our check and our CREATE.
    if (!s.ok() && s.sqlstate() != "42P04" && s.sqlstate() != "23505") return s;
  }
  return Status::Ok();
}

}  // namespace

std::string ClusterInfo::Url(std::string_view dbname) const {
  return fmt::format("postgres://{}:{}@127.0.0.1:{}/{}", user, password, port, dbname);
}

Result<ClusterInfo> StartCluster(const ClusterOptions& options) {
  Paths p(options.data_dir);
  std::error_code ec;
  fs::create_directories(p.root, ec);
  if (ec) {
    return Status::PermissionDenied(
        fmt::format("cannot create {}: {}", p.root.string(), ec.message()));
  }
  MM_ASSIGN_OR_RETURN(FolderLock lock, FolderLock::Acquire(p.root));
  MM_ASSIGN_OR_RETURN(std::string bin_dir, FindBinDir(options.bin_dir));
  MM_ASSIGN_OR_RETURN(RunAs as, ServerUser());

  Result<ClusterInfo> existing = ReadInfo(&p);
  ClusterInfo info;
  if (existing.ok()) {
    info = *existing;
    MM_RETURN_IF_ERROR(CheckReachable(p.server_home.string(), as));
  } else if (existing.status().code() == StatusCode::kNotFound) {
    MM_ASSIGN_OR_RETURN(bool reachable, Reachable(p.root.string(), as));
    if (!reachable) {
      p.SetServerHome(p.RelocatedHome());
      spdlog::info("{} is out of reach of user '{}': the server's files go to {}",
                   p.root.string(), kServerUser, p.server_home.string());
      fs::create_directories(p.server_home, ec);
      if (ec) {
        return Status::PermissionDenied(
            fmt::format("cannot create {}: {}", p.server_home.string(), ec.message()));
      }
      MM_RETURN_IF_ERROR(Chown(p.server_home, as));
    }
    fs::create_directories(p.log_dir, ec);
    MM_RETURN_IF_ERROR(Chown(p.log_dir, as));
    MM_RETURN_NOT_OK_PREPEND(InitDb(p, bin_dir, as, &info), "private cluster");
  } else {
    return existing.status();
  }
  info.data_dir = p.root.string();
  info.bin_dir = bin_dir;
  {
    std::ifstream v(p.data / "PG_VERSION");
    std::getline(v, info.version);
  }

  int pid = 0;
  MM_ASSIGN_OR_RETURN(bool running, IsRunning(p, bin_dir, as, &pid));
  for (int attempt = 0; !running && attempt < 3; ++attempt) {
    if (info.port == 0 || !PortFree(info.port)) {
      MM_ASSIGN_OR_RETURN(info.port, FreePort());
    }
    MM_RETURN_IF_ERROR(WriteInfo(p, info));
    MM_ASSIGN_OR_RETURN(
        ProcessResult r,
        Run({bin_dir + "/pg_ctl", "start", "-D", p.data.string(), "-w", "-t", "60", "-l",
             p.log.string(), "-o", fmt::format("-p {}", info.port)},
            as));
    if (r.exit_code == 0) {
      MM_ASSIGN_OR_RETURN(running, IsRunning(p, bin_dir, as, &pid));
      break;
    }
    if (attempt == 2) {
      std::ifstream log(p.log);
      std::stringstream tail;
      tail << log.rdbuf();
      return Status::Unavailable(fmt::format("the private cluster in {} did not start: {}",
                                             p.root.string(), LastLines(tail.str(), 3)));
    }
    info.port = 0;  // maybe another process took the port: try a new one
  }
  info.running = running;
  info.pid = pid;
  MM_RETURN_NOT_OK_PREPEND(EnsureDatabases(info, options.databases), "private cluster");
  return info;
}

Status StopCluster(const ClusterOptions& options) {
  Paths p(options.data_dir);
  MM_ASSIGN_OR_RETURN(ClusterInfo info, ReadInfo(&p));
  MM_ASSIGN_OR_RETURN(FolderLock lock, FolderLock::Acquire(p.root));
  MM_ASSIGN_OR_RETURN(std::string bin_dir, FindBinDir(options.bin_dir));
  MM_ASSIGN_OR_RETURN(RunAs as, ServerUser());
  int pid = 0;
  MM_ASSIGN_OR_RETURN(bool running, IsRunning(p, bin_dir, as, &pid));
  if (!running) return Status::Ok();
  MM_ASSIGN_OR_RETURN(ProcessResult r, Run({bin_dir + "/pg_ctl", "stop", "-D", p.data.string(),
                                            "-m", "fast", "-w", "-t", "60"},
                                           as));
  if (r.exit_code != 0) {
    return Status::Internal(
        fmt::format("pg_ctl stop failed (exit {}): {}", r.exit_code, LastLines(r.output, 2)));
  }
  return Status::Ok();
}

Result<ClusterInfo> ClusterStatus(const ClusterOptions& options) {
  Paths p(options.data_dir);
  MM_ASSIGN_OR_RETURN(ClusterInfo info, ReadInfo(&p));
  MM_ASSIGN_OR_RETURN(info.bin_dir, FindBinDir(options.bin_dir));
  MM_ASSIGN_OR_RETURN(RunAs as, ServerUser());
  MM_ASSIGN_OR_RETURN(info.running, IsRunning(p, info.bin_dir, as, &info.pid));
  return info;
}

}  // namespace medmigrate::pg
