// The test side of PostgreSQL (and HAProxy): a throwaway PostgreSQL cluster in a temporary
// directory on a free loopback port, and HAProxy in front of replicas, each a child of the test
// that dies with it (PR_SET_PDEATHSIG, set after the switch to the `postgres` user so it stays
// set) and is stopped by PID. scripts/pg.sh does the same for scripts. A missing binary is an
// error (scripts/setup.sh installs postgresql-15 and haproxy), never a skip.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace treaty_test {

inline const char* kPgBin = "/usr/lib/postgresql/15/bin";

/// A free TCP port on 127.0.0.1 (bound to 0 and released).
inline unsigned short free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t n = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || getsockname(s, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
    close(s);
    throw std::runtime_error("no free port");
  }
  close(s);
  return ntohs(a.sin_port);
}

/// Runs `argv` as a child (as user `as` when given and we are root), its output to `log` (its
/// stderr to `err_log` when given);
/// with `die_with_parent`, it gets SIGINT when the test process dies. Returns its PID.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log, const std::string& as = {},
                   bool die_with_parent = true, const std::string& err_log = {}) {
  uid_t uid = 0;
  gid_t gid = 0;
  const bool switch_user = !as.empty() && geteuid() == 0;
  if (switch_user) {
    const passwd* pw = getpwnam(as.c_str());
    if (!pw) throw std::runtime_error("no user `" + as + "` (scripts/setup.sh installs postgresql-15, which makes it)");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    if (switch_user && (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(126);
    if (die_with_parent) prctl(PR_SET_PDEATHSIG, SIGINT);  // after setuid, which clears it
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (!err_log.empty()) {
      const int efd = ::open(err_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (efd >= 0) dup2(efd, 2);
    }
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  return pid;
}

inline int wait_exit(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

inline void stop_pid(pid_t pid, int sig) {
  if (pid <= 0) return;
  kill(pid, sig);
  int st = 0;
  for (int i = 0; i < 400; ++i) {
    if (waitpid(pid, &st, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A PostgreSQL 15 cluster in a temporary directory, on 127.0.0.1:port() and a unix socket in
/// the directory; `trust` authentication for the user `postgres`. Removed when dropped.
class PgCluster {
 public:
  PgCluster() {
    namespace fs = std::filesystem;
    for (const char* b : {"initdb", "postgres"})
      if (!fs::exists(std::string(kPgBin) + "/" + b))
        throw std::runtime_error(std::string(kPgBin) + "/" + b +
                                 " is missing: scripts/setup.sh installs postgresql-15 (the PostgreSQL tests need it)");
    char tmpl[] = "/tmp/treaty_pg_XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    if (geteuid() == 0) {
      const passwd* pw = getpwnam("postgres");
      if (!pw) throw std::runtime_error("no user `postgres` (scripts/setup.sh installs postgresql-15)");
      if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown " + dir_);
    }
    const std::string log = dir_ + "/initdb.log";
    const int rc = wait_exit(spawn({std::string(kPgBin) + "/initdb", "-D", dir_ + "/data", "-U", "postgres", "-A", "trust",
                                    "--no-sync", "-E", "UTF8", "--locale=C"},
                                   log, "postgres", true));
    if (rc != 0) {
      const std::string text = read_text(log);
      cleanup();
      throw std::runtime_error("initdb failed (" + std::to_string(rc) + "): " + text);
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      pid_ = spawn({std::string(kPgBin) + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_, "-c",
                    "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
                    "full_page_writes=off", "-c", "max_connections=50", "-c", "shared_buffers=64MB"},
                   dir_ + "/postgres.log", "postgres", true);
      if (wait_ready()) return;
      stop_pid(pid_, SIGQUIT);
      pid_ = -1;
    }
    const std::string text = read_text(dir_ + "/postgres.log");
    cleanup();
    throw std::runtime_error("PostgreSQL did not start: " + text);
  }
  ~PgCluster() { cleanup(); }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  [[nodiscard]] unsigned short port() const { return port_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] std::string url() const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }
  /// psql -f FILE with ON_ERROR_STOP; the exit status, and psql's output in `out`.
  int psql_file(const std::string& file, std::string& out) const {
    const std::string log = dir_ + "/psql.log";
    std::filesystem::remove(log);
    const int rc = wait_exit(spawn({"/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url(), "-f", file}, log));
    out = read_text(log);
    return rc;
  }

 private:
  bool wait_ready() {
    for (int i = 0; i < 400; ++i) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      PGconn* c = PQconnectdb(url().c_str());
      const bool ok = PQstatus(c) == CONNECTION_OK;
      PQfinish(c);
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }
  void cleanup() {
    if (pid_ > 0) stop_pid(pid_, SIGINT);  // fast shutdown
    pid_ = -1;
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  std::string dir_;
  pid_t pid_ = -1;
  unsigned short port_ = 0;
};

/// One libpq connection; exec() throws with PostgreSQL's message on an error.
class Pg {
 public:
  explicit Pg(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) throw std::runtime_error(std::string("connect: ") + PQerrorMessage(c_));
  }
  ~Pg() { PQfinish(c_); }
  Pg(const Pg&) = delete;
  Pg& operator=(const Pg&) = delete;
  /// Runs `sql`; the first column of the first row of the last result ("" when none).
  std::string exec(const std::string& sql) {
    std::string error;
    std::string v;
    if (!try_exec(sql, v, error)) throw std::runtime_error("SQL failed: " + error + "\n" + sql);
    return v;
  }
  bool try_exec(const std::string& sql, std::string& value, std::string& error) {
    PGresult* r = PQexec(c_, sql.c_str());
    const auto s = PQresultStatus(r);
    const bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok) error = PQresultErrorMessage(r);
    else if (s == PGRES_TUPLES_OK && PQntuples(r) > 0) value = PQgetvalue(r, 0, 0);
    PQclear(r);
    return ok;
  }

 private:
  PGconn* c_;
};

}  // namespace treaty_test
