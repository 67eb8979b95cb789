// A bounded closed-loop HTTP/1.1 load generator for loopback benchmarks of `treaty serve`.
//
//   loadgen --port P --path /access/v1/evaluation --bodies FILE [--connections C]
//           [--seconds S] [--max-requests N] [--content-type T] [--decisions-per-request K]
//           [--whole-file] [--check-lines] [--expect FILE] [--rate R] [--header 'K: V']...
//
// Each connection (one thread each) sends one request, waits for the whole answer, and sends the
// next (keep-alive), cycling through the bodies of FILE (one request body a line, or the whole
// file as one body with --whole-file). It reads the answer while it sends: a streamed answer
// (chunked, or with a Content-Length) begins before the request is all sent. --check-lines counts
// each answer's lines and fails unless there are --decisions-per-request. --expect gives, a line
// for each body, `true` or `false`: the AuthZEN decision its answer must begin with (counted as
// "wrong" otherwise; the soak test's reference). --rate paces all connections together to R
// requests a second (an open loop's schedule, closed per connection). It stops after S
// seconds or N requests, whichever is first, and prints one JSON line: requests, seconds,
// requests/s, decisions/s and latency percentiles.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {
struct Args {
  int port = 0, connections = 1;
  double seconds = 3;
  long max_requests = 10'000'000, decisions_per_request = 1;
  std::string path = "/", bodies, content_type = "application/json";
  bool whole_file = false;
  bool check_lines = false;  ///< each answer must hold --decisions-per-request lines
  std::string expect;        ///< a file of `true`/`false`, one for each body
  double rate = 0;           ///< requests a second over all connections; 0: as fast as answered
  std::string headers;       ///< --header lines, each ending in CRLF
};

/// Reads a response as it arrives: its framing (Content-Length or chunked), status and how many
/// answer lines its body held. The body is dropped as it is read.
struct Answer {
  std::string buf;  ///< received, not yet consumed
  bool have_head = false, chunked = false, done = false;
  unsigned status = 0;
  std::size_t left = 0;   ///< body bytes (Content-Length) or bytes of the current chunk
  bool in_chunk = false;  ///< chunked: inside a chunk's data
  long lines = 0;
  std::string prefix;  ///< the body's first bytes (the decision)
  void reset() { *this = {}; }
  /// False on a response it cannot read.
  bool feed() {
    if (!have_head) {
      const auto end = buf.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      if (buf.compare(0, 5, "HTTP/") != 0 || buf.size() < 12) return false;
      status = static_cast<unsigned>(std::stoul(buf.substr(9, 3)));
      std::string head = buf.substr(0, end + 2);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto cl = head.find("\r\ncontent-length:");
      chunked = head.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos;
      if (!chunked && cl == std::string::npos) return false;
      if (!chunked) left = std::stoul(head.substr(cl + 17));
      buf.erase(0, end + 4);
      have_head = true;
    }
    for (;;) {
      if (!chunked || in_chunk) {
        const auto n = std::min(left, buf.size());
        lines += std::count(buf.begin(), buf.begin() + static_cast<long>(n), '\n');
        if (prefix.size() < 32) prefix.append(buf, 0, std::min(n, 32 - prefix.size()));
        buf.erase(0, n);
        left -= n;
        if (left > 0) return true;
        if (!chunked) return done = true;
        if (buf.size() < 2) return true;
        if (buf.compare(0, 2, "\r\n") != 0) return false;
        buf.erase(0, 2);
        in_chunk = false;
      }
      const auto eol = buf.find("\r\n");
      if (eol == std::string::npos) return true;
      const auto size = std::stoul(buf.substr(0, eol), nullptr, 16);
      if (size == 0) {  // the last chunk, no trailers
        if (buf.size() < eol + 4) return true;
        return done = buf.compare(eol, 4, "\r\n\r\n") == 0;
      }
      buf.erase(0, eol + 2);
      left = size;
      in_chunk = true;
    }
  }
};

/// Sends one request while reading its answer (a streamed answer begins before the request is
/// all sent, and a server may stop reading until its answers are read); false on error.
bool exchange(int fd, const std::string& req, Answer& a) {
  a.reset();
  std::size_t sent = 0;
  char tmp[65536];
  while (!a.done) {
    pollfd p{fd, static_cast<short>(POLLIN | (sent < req.size() ? POLLOUT : 0)), 0};
    if (poll(&p, 1, -1) < 0) return false;
    if (p.revents & POLLOUT) {
      const auto n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN) return false;
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const auto n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN)) return false;
      if (n > 0) {
        a.buf.append(tmp, static_cast<std::size_t>(n));
        if (!a.feed()) return false;
      }
    }
  }
  return a.status == 200 && sent == req.size();
}
}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "loadgen: " << k << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--port") a.port = std::stoi(next());
    else if (k == "--path") a.path = next();
    else if (k == "--bodies") a.bodies = next();
    else if (k == "--connections") a.connections = std::stoi(next());
    else if (k == "--seconds") a.seconds = std::stod(next());
    else if (k == "--max-requests") a.max_requests = std::stol(next());
    else if (k == "--content-type") a.content_type = next();
    else if (k == "--decisions-per-request") a.decisions_per_request = std::stol(next());
    else if (k == "--whole-file") a.whole_file = true;
    else if (k == "--check-lines") a.check_lines = true;
    else if (k == "--expect") a.expect = next();
    else if (k == "--rate") a.rate = std::stod(next());
    else if (k == "--header") a.headers += next() + "\r\n";
    else {
      std::cerr << "loadgen: unknown option " << k << "\n";
      return 2;
    }
  }
  std::vector<std::string> bodies;
  {
    std::ifstream in(a.bodies, std::ios::binary);
    if (a.whole_file) {
      std::ostringstream ss;
      ss << in.rdbuf();
      bodies.push_back(ss.str());
    } else {
      for (std::string l; std::getline(in, l);)
        if (!l.empty()) bodies.push_back(l);
    }
  }
  if (bodies.empty() || a.port == 0) {
    std::cerr << "usage: loadgen --port P --path PATH --bodies FILE [--connections C] [--seconds S]\n";
    return 2;
  }
  std::vector<int> expected;  // 1 allow, 0 deny, one for each body
  if (!a.expect.empty()) {
    std::ifstream in(a.expect);
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) expected.push_back(l == "true" ? 1 : 0);
    if (expected.size() != bodies.size()) {
      std::cerr << "loadgen: --expect has " << expected.size() << " lines for " << bodies.size() << " bodies\n";
      return 2;
    }
  }
  std::vector<std::string> requests;
  for (const auto& b : bodies)
    requests.push_back("POST " + a.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + a.content_type +
                       "\r\n" + a.headers + "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b);
  std::atomic<long> issued{0}, failed{0}, wrong{0};
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(a.connections));
  const auto t0 = std::chrono::steady_clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(a.seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < a.connections; ++c)
    threads.emplace_back([&, c] {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<std::uint16_t>(a.port));
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        failed++;
        return;
      }
      Answer answer;
      auto& mine = lat[static_cast<std::size_t>(c)];
      for (std::size_t k = static_cast<std::size_t>(c);; k += static_cast<std::size_t>(a.connections)) {
        if (issued.fetch_add(1) >= a.max_requests || std::chrono::steady_clock::now() >= deadline) break;
        const auto& req = requests[k % requests.size()];
        if (a.rate > 0) {  // request k is due at k / rate seconds
          const auto due = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(static_cast<double>(k) / a.rate));
          std::this_thread::sleep_until(due);
        }
        const auto s = std::chrono::steady_clock::now();
        if (!exchange(fd, req, answer) || (a.check_lines && answer.lines != a.decisions_per_request)) {
          if (answer.done) std::cerr << "loadgen: status " << answer.status << ", " << answer.lines << " lines\n";
          failed++;
          break;
        }
        mine.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s).count());
        if (!expected.empty() &&
            answer.prefix.rfind(expected[k % expected.size()] ? "{\"decision\":true" : "{\"decision\":false", 0) != 0) {
          if (wrong.fetch_add(1) < 5) std::cerr << "loadgen: body " << k % bodies.size() << " answered " << answer.prefix << "\n";
        }
      }
      close(fd);
    });
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<std::size_t>(q * all.size()))]; };
  std::printf("{\"path\":\"%s\",\"connections\":%d,\"requests\":%zu,\"failed\":%ld,\"wrong\":%ld,\"seconds\":%.3f,\"requests_per_s\":%.0f,"
              "\"decisions_per_s\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f}\n",
              a.path.c_str(), a.connections, all.size(), failed.load(), wrong.load(), secs, all.size() / secs,
              static_cast<double>(all.size()) * static_cast<double>(a.decisions_per_request) / secs, pct(0.5), pct(0.9),
              pct(0.99));
  return failed.load() > 0 || wrong.load() > 0 ? 1 : 0;
}
