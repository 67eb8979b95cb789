// The test side of `treaty serve`: a server process on a free loopback port, stopped by its PID,
// and a keep-alive HTTP client. Shared by the server's end-to-end tests.
#pragma once

#include <utility>  // before Asio under GCC 12

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "attacks.hpp"

namespace treaty_test {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;

/// `treaty serve ARGS --listen 127.0.0.1:0`, stopped (SIGTERM, then SIGKILL) by PID when dropped.
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> args) {
    int err[2];
    if (pipe(err) != 0) throw std::runtime_error("pipe");
    args.insert(args.begin(), {TREATY_BINARY, "serve"});
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
    pid_ = fork();
    if (pid_ == 0) {
      dup2(err[1], 2);
      close(err[0]);
      close(err[1]);
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(err[1]);
    err_ = err[0];
    // Read stderr until the server says where it listens (or exits).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    static const std::regex re("listening on 127\\.0\\.0\\.1:([0-9]+)");
    while (std::chrono::steady_clock::now() < deadline) {
      char buf[512];
      const auto n = read(err_, buf, sizeof buf);
      if (n <= 0) break;
      log_.append(buf, static_cast<std::size_t>(n));
      std::smatch m;
      if (std::regex_search(log_, m, re)) {
        port_ = static_cast<unsigned short>(std::stoi(m[1]));
        break;
      }
    }
    // Keep draining stderr so the server never blocks on it.
    drain_ = std::thread([this] {
      char buf[4096];
      for (;;) {
        const auto n = read(err_, buf, sizeof buf);
        if (n <= 0) break;
        std::lock_guard lk(m_);
        log_.append(buf, static_cast<std::size_t>(n));
      }
    });
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGTERM);
      for (int i = 0; i < 200 && !exited_; ++i) {
        if (waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
        else std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
      if (!exited_) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status_, 0);
      }
    }
    if (drain_.joinable()) drain_.join();
    close(err_);
  }
  [[nodiscard]] unsigned short port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  std::string log() {
    std::lock_guard lk(m_);
    return log_;
  }
  /// SIGKILL: the process dies wherever it is (the crash tests).
  void kill_now() {
    if (pid_ <= 0 || exited_) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    exited_ = true;
  }
  /// Sends SIGTERM and waits for the exit status (-1 when it did not exit in time).
  int terminate() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 400; ++i) {
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  int status_ = 0;
  bool exited_ = false;
  unsigned short port_ = 0;
  std::mutex m_;
  std::string log_;
  std::thread drain_;
};

struct Reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  json j() const { return json::parse(body); }
};

/// A keep-alive HTTP/1.1 client.
class Client {
 public:
  explicit Client(unsigned short port) : port_(port) { connect(); }
  Reply request(http::verb verb, const std::string& target, const std::string& body = {},
                std::map<std::string, std::string> headers = {{"Content-Type", "application/json"}}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(socket_, req);
    http::response_parser<http::string_body> p;
    p.body_limit(1ull << 30);
    http::read(socket_, buffer_, p);
    Reply r;
    r.status = p.get().result_int();
    for (auto& f : p.get()) r.headers[std::string(f.name_string())] = std::string(f.value());
    r.body = p.get().body();
    if (!p.get().keep_alive()) connect();
    return r;
  }
  Reply post(const std::string& target, const json& body) { return request(http::verb::post, target, body.dump()); }
  Reply get(const std::string& target) { return request(http::verb::get, target); }

 private:
  void connect() {
    boost::system::error_code ec;
    socket_.close(ec);
    socket_ = tcp::socket(ioc_);
    socket_.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
    buffer_.clear();
  }
  unsigned short port_;
  boost::asio::io_context ioc_;
  tcp::socket socket_{ioc_};
  boost::beast::flat_buffer buffer_;
};

/// A raw socket for hostile clients (attacks.hpp's connect_to: sends give up after 5 s).
inline int raw_connect(unsigned short port) { return treaty_attack::connect_to(port); }
inline std::string raw_read_all(int fd, int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  for (;;) {
    const auto n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}
inline void raw_send(int fd, const std::string& s) { (void)!send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

/// The peak resident memory of a process, in bytes.
inline std::size_t peak_rss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmHWM:")) return std::stoul(line.substr(6)) * 1024;
  return 0;
}

// Under AddressSanitizer a freed block waits in a quarantine (256 MB by default) before it is
// reused, so the server's peak memory would measure the quarantine, not what the server holds:
// the server of a memory test runs without one (ASAN_OPTIONS is read when it starts).
#if defined(__SANITIZE_ADDRESS__)
#define TREATY_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TREATY_TEST_ASAN 1
#endif
#endif
class NoAsanQuarantine {
 public:
  NoAsanQuarantine() {
#ifdef TREATY_TEST_ASAN
    const char* old = std::getenv("ASAN_OPTIONS");
    had_ = old != nullptr;
    if (old) old_ = old;
    setenv("ASAN_OPTIONS", ((had_ ? old_ + ":" : std::string()) + "quarantine_size_mb=0").c_str(), 1);
#endif
  }
  ~NoAsanQuarantine() {
#ifdef TREATY_TEST_ASAN
    if (had_) setenv("ASAN_OPTIONS", old_.c_str(), 1);
    else unsetenv("ASAN_OPTIONS");
#endif
  }
  NoAsanQuarantine(const NoAsanQuarantine&) = delete;
  NoAsanQuarantine& operator=(const NoAsanQuarantine&) = delete;

 private:
  std::string old_;
  bool had_ = false;
};

}  // namespace treaty_test
