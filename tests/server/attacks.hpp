// Hostile clients of `treaty serve`, on raw loopback sockets: shared by the hostile-client tests
// (tests/server/hostile_test.cpp), which check what each one is answered, and by the benchmark
// that measures other clients' latency while they run (bench/attack.cpp, scripts/bench_hostile.sh).
// Header-only and free of GoogleTest, so the benchmark can include it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace treaty_attack {

/// A connected loopback socket, or -1; `rcvbuf` > 0 sets its receive buffer first (before the
/// connect: shrinking it afterwards makes TCP wait on zero-window probes).
inline int connect_to(unsigned short port, int rcvbuf = 0) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};  // a send the server does not read (it is answering) gives up in 5 s
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}
/// Sends all of `s` (blocking); false when the peer has gone.
inline bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const auto n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}
/// Reads until the peer closes or nothing arrives for `quiet_ms`.
inline std::string read_until_quiet(int fd, int quiet_ms) {
  std::string out;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, quiet_ms) <= 0) break;
    const auto n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}
/// Closes with a reset (SO_LINGER 0) instead of a FIN: a client that vanishes.
inline void reset_close(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}
/// Raises this process's soft limit of open files to its hard limit; returns the limit.
inline std::size_t raise_open_files() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  r.rlim_cur = r.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &r);
  (void)getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur == RLIM_INFINITY ? (1u << 20) : static_cast<std::size_t>(r.rlim_cur);
}

/// One HTTP response read off a raw connection.
struct RawResponse {
  unsigned status = 0;
  std::string head, body;
};
/// The complete responses at the front of `raw` (Content-Length or chunked framing, or a body
/// that ends at the close when `closed`), in order; what follows stays in `rest`.
inline std::vector<RawResponse> split_responses(const std::string& raw, bool closed, std::string* rest = nullptr) {
  std::vector<RawResponse> out;
  std::size_t pos = 0;
  for (;;) {
    const auto end = raw.find("\r\n\r\n", pos);
    if (end == std::string::npos || raw.compare(pos, 5, "HTTP/") != 0 || end - pos < 12) break;
    RawResponse r;
    r.head = raw.substr(pos, end + 4 - pos);
    r.status = static_cast<unsigned>(std::strtoul(r.head.c_str() + 9, nullptr, 10));
    std::string lower = r.head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t at = end + 4;
    if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
      bool whole = false;
      for (;;) {
        const auto eol = raw.find("\r\n", at);
        if (eol == std::string::npos) break;
        const auto size = std::strtoul(raw.c_str() + at, nullptr, 16);
        if (size == 0) {
          whole = raw.size() >= eol + 4;
          at = eol + 4;
          break;
        }
        if (raw.size() < eol + 2 + size + 2) break;
        r.body.append(raw, eol + 2, size);
        at = eol + 2 + size + 2;
      }
      if (!whole) break;
    } else if (const auto cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
      const auto n = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
      if (raw.size() < at + n) break;
      r.body = raw.substr(at, n);
      at += n;
    } else {
      if (!closed) break;
      r.body = raw.substr(at);
      at = raw.size();
    }
    out.push_back(std::move(r));
    pos = at;
  }
  if (rest) *rest = raw.substr(pos);
  return out;
}

/// Reads the responses to what was sent on `fd`: until `n` are complete (and 50 ms more, to see
/// any extra), the server closes, or `timeout_ms` pass.
inline std::vector<RawResponse> read_responses(int fd, std::size_t n = 1, int timeout_ms = 20000) {
  std::string raw;
  bool closed = false;
  char buf[65536];
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int wait = timeout_ms; std::chrono::steady_clock::now() < until;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, wait) <= 0) break;
    const auto got = recv(fd, buf, sizeof buf, 0);
    if (got <= 0) {
      closed = true;
      break;
    }
    raw.append(buf, static_cast<std::size_t>(got));
    if (split_responses(raw, false).size() >= n) wait = 50;
  }
  return split_responses(raw, closed);
}

/// A POST request with a Content-Length body.
inline std::string post(const std::string& target, const std::string& body, const std::string& extra_headers = "",
                        const std::string& type = "application/json") {
  return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + type + "\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// `depth` unclosed `[` (a million in the issue's case), and the same depth closed.
inline std::string open_brackets(std::size_t depth) { return std::string(depth, '['); }
inline std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// ---------------------------------------------------------------------------------------------
// Attacks that run until `stop`, for the benchmark (each also appears, checked, in the tests)
// ---------------------------------------------------------------------------------------------
/// `n` connections each sending a request a byte a second (the server cuts each off at its
/// request timeout; a cut-off one is reopened).
inline void slow_clients(unsigned short port, std::size_t n, const std::atomic<bool>& stop) {
  const std::string req = post("/access/v1/evaluation", R"({"subject":{"type":"user","id":"alice"}})");
  struct Slow {
    int fd = -1;
    std::size_t sent = 0;
  };
  std::vector<Slow> s(n);
  while (!stop.load()) {
    for (auto& c : s) {
      if (c.fd < 0 || c.sent >= req.size()) {
        if (c.fd >= 0) close(c.fd);
        c = {connect_to(port), 0};
        if (c.fd < 0) continue;
      }
      if (send(c.fd, req.data() + c.sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) ++c.sent;
      else c.sent = req.size();  // cut off: reopen next second
    }
    for (int i = 0; i < 10 && !stop.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& c : s)
    if (c.fd >= 0) close(c.fd);
}
/// `n` connections that connect and send nothing, held until `stop`.
inline void idle_connections(unsigned short port, std::size_t n, const std::atomic<bool>& stop) {
  std::vector<int> fds;
  for (std::size_t i = 0; i < n && !stop.load(); ++i) {
    const int fd = connect_to(port);
    if (fd >= 0) fds.push_back(fd);
  }
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int fd : fds) close(fd);
}
/// Requests nested a million deep, pipelined garbage after a valid request, and clients that
/// vanish in the middle of a large answer, in turn, one connection at a time.
inline void malformed_clients(unsigned short port, const std::string& valid_request, const std::atomic<bool>& stop) {
  const std::string deep = post("/access/v1/evaluation", open_brackets(1'000'000));
  std::string lines;
  for (int i = 0; i < 20000; ++i) lines += valid_request + "\n";
  const std::string batch = post("/v1/decide/batch", lines, "", "application/x-ndjson");
  const std::string garbage = post("/v1/decide", valid_request) + "\x01\x02GARBAGE / HTTP/7\r\n\r\n";
  char buf[4096];
  for (unsigned turn = 0; !stop.load(); ++turn) {
    const int fd = connect_to(port);
    if (fd < 0) continue;
    switch (turn % 3) {
      case 0:
        (void)send_all(fd, deep);
        (void)read_responses(fd, 1, 5000);
        close(fd);
        break;
      case 1:
        (void)send_all(fd, garbage);
        (void)read_responses(fd, 2, 5000);
        close(fd);
        break;
      default:
        (void)send_all(fd, batch);
        (void)!recv(fd, buf, sizeof buf, 0);
        reset_close(fd);
        break;
    }
  }
}

}  // namespace treaty_attack
