// A bounded closed-loop HTTP/1.1 load generator for loopback benchmarks of `treaty serve`.
//
//   loadgen --port P --path /access/v1/evaluation --bodies FILE [--connections C]
//           [--seconds S] [--max-requests N] [--content-type T] [--decisions-per-request K]
//
// Each connection (one thread each) sends one request, waits for the whole answer, and sends the
// next (keep-alive), cycling through the bodies of FILE (one request body a line, or the whole
// file as one body with --whole-file). It stops after S seconds or N requests, whichever is first,
// and prints one JSON line: requests, seconds, requests/s, decisions/s and latency percentiles.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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
};

bool read_answer(int fd, std::string& buf) {
  // Reads one response (Content-Length framing) into buf; false on error.
  buf.clear();
  char tmp[65536];
  std::size_t header_end = std::string::npos, need = 0;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = buf.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        auto cl = buf.find("Content-Length: ");
        if (cl == std::string::npos || cl > header_end) cl = buf.find("content-length: ");
        if (cl == std::string::npos || cl > header_end) return false;
        need = header_end + 4 + std::stoul(buf.substr(cl + 16));
      }
    }
    if (header_end != std::string::npos && buf.size() >= need) return buf.compare(9, 3, "200") == 0;
    const auto n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
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
  std::vector<std::string> requests;
  for (const auto& b : bodies)
    requests.push_back("POST " + a.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + a.content_type +
                       "\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b);
  std::atomic<long> issued{0}, failed{0};
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
      std::string buf;
      auto& mine = lat[static_cast<std::size_t>(c)];
      for (std::size_t k = static_cast<std::size_t>(c);; k += static_cast<std::size_t>(a.connections)) {
        if (issued.fetch_add(1) >= a.max_requests || std::chrono::steady_clock::now() >= deadline) break;
        const auto& req = requests[k % requests.size()];
        const auto s = std::chrono::steady_clock::now();
        if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()) || !read_answer(fd, buf)) {
          failed++;
          break;
        }
        mine.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s).count());
      }
      close(fd);
    });
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<std::size_t>(q * all.size()))]; };
  std::printf("{\"path\":\"%s\",\"connections\":%d,\"requests\":%zu,\"failed\":%ld,\"seconds\":%.3f,\"requests_per_s\":%.0f,"
              "\"decisions_per_s\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f}\n",
              a.path.c_str(), a.connections, all.size(), failed.load(), secs, all.size() / secs,
              static_cast<double>(all.size()) * static_cast<double>(a.decisions_per_request) / secs, pct(0.5), pct(0.9),
              pct(0.99));
  return failed.load() > 0 ? 1 : 0;
}
