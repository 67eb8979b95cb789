// The cluster's feed (scripts/bench_cluster.sh, docs/scale.md): write-to-visible latency on every
// replica, and the changes applied per second, against a running cluster (scripts/cluster.sh).
//
//   bench_cluster --pg URL --replicas "PORT PORT ..." [--writes N] [--batches B --rows R]
//
// Visibility: N transactions, one after another 5 ms apart, each updating one Trust and taking
// treaty_position(); from its COMMIT, one thread per replica asks /health/ready (keep-alive) until
// the replica's revision reaches the position. Throughput: B transactions of R Person updates
// each, committed back to back while an older transaction holds the replicas' watermark; from
// that one's COMMIT, the time until every replica is at the last position: B*R changes applied
// over that time (and, apart, the writer's own rate: the triggers' cost). Prints JSON lines.
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

/// A keep-alive HTTP/1.1 GET client on 127.0.0.1.
class Http {
 public:
  explicit Http(int port) : port_(port) { connect_(); }
  ~Http() { close(fd_); }
  /// The body of GET `path`.
  std::string get(const std::string& path) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) throw std::runtime_error("send");
    std::string buf;
    char tmp[4096];
    for (;;) {
      const auto h = buf.find("\r\n\r\n");
      if (h != std::string::npos) {
        const auto cl = buf.find("Content-Length: ");
        const std::size_t len = cl == std::string::npos ? 0 : std::stoul(buf.substr(cl + 16));
        if (buf.size() >= h + 4 + len) return buf.substr(h + 4, len);
      }
      const auto n = recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) throw std::runtime_error("recv");
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }

 private:
  void connect_() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect");
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  int port_;
  int fd_ = -1;
};

std::uint64_t revision_of(Http& h) {
  const std::string b = h.get("/health/ready");
  const auto p = b.find("\"revision\":");
  return p == std::string::npos ? 0 : std::stoull(b.substr(p + 11));
}

std::string exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const auto s = PQresultStatus(r);
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
    const std::string e = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error(e + ": " + sql);
  }
  std::string v = s == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  return v;
}

std::vector<std::string> column(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetvalue(r, i, 0));
  PQclear(r);
  return out;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

/// Waits until every replica is at `pos`; the time each arrived, from `t0`, in ms.
std::vector<double> wait_all(std::vector<Http*>& hs, std::uint64_t pos, Clock::time_point t0) {
  std::vector<double> ms(hs.size());
  std::vector<std::thread> ts;
  for (std::size_t i = 0; i < hs.size(); ++i)
    ts.emplace_back([&, i] {
      while (revision_of(*hs[i]) < pos) {
      }
      ms[i] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    });
  for (auto& t : ts) t.join();
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, ports_text;
  int writes = 200, batches = 20, rows = 1000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--pg") url = next();
    else if (a == "--replicas") ports_text = next();
    else if (a == "--writes") writes = std::stoi(next());
    else if (a == "--batches") batches = std::stoi(next());
    else if (a == "--rows") rows = std::stoi(next());
    else {
      std::cerr << "usage: bench_cluster --pg URL --replicas \"PORT ...\" [--writes N] [--batches B --rows R]\n";
      return 2;
    }
  }
  std::vector<int> ports;
  std::istringstream ps(ports_text);
  for (int p; ps >> p;) ports.push_back(p);
  if (url.empty() || ports.empty()) {
    std::cerr << "bench_cluster: --pg and --replicas are required\n";
    return 2;
  }
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::cerr << "bench_cluster: " << PQerrorMessage(c);
    return 1;
  }
  std::vector<std::unique_ptr<Http>> owned;
  std::vector<Http*> hs;
  for (int p : ports) {
    owned.push_back(std::make_unique<Http>(p));
    hs.push_back(owned.back().get());
  }
  const auto trusts = column(c, "SELECT id FROM \"Trust\" ORDER BY id LIMIT 1000");
  // Write to visible, per replica.
  std::vector<std::vector<double>> seen(ports.size());
  for (int i = 0; i < writes; ++i) {
    const std::string& id = trusts[static_cast<std::size_t>(i) % trusts.size()];
    exec(c, "BEGIN");
    exec(c, "UPDATE \"Trust\" SET accepted = NOT accepted WHERE id = '" + id + "'");
    const auto pos = std::stoull(exec(c, "SELECT treaty_position()"));
    exec(c, "COMMIT");
    const auto t0 = Clock::now();
    const auto ms = wait_all(hs, pos, t0);
    for (std::size_t r = 0; r < ms.size(); ++r) seen[r].push_back(ms[r]);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (std::size_t r = 0; r < ports.size(); ++r)
    std::printf("{\"bench\":\"write_to_visible\",\"replica\":%d,\"writes\":%d,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f}\n",
                ports[r], writes, pct(seen[r], 0.5), pct(seen[r], 0.99), pct(seen[r], 1.0));
  // Feed throughput: batches of Person updates committed while another transaction holds the
  // watermark (an xid taken first, committed last), so the replicas see none of them until it
  // ends; then the time until every replica has applied all of them is the feed's own.
  const auto persons = column(c, "SELECT id FROM \"Person\" ORDER BY id LIMIT " + std::to_string(rows));
  PGconn* holder = PQconnectdb(url.c_str());
  exec(holder, "BEGIN");
  exec(holder, "SELECT pg_current_xact_id()");
  const auto w0 = Clock::now();
  std::uint64_t pos = 0;
  for (int b = 0; b < batches; ++b) {
    exec(c, "BEGIN");
    exec(c, "UPDATE \"Person\" SET roles = CASE WHEN 'key_contact' = ANY(roles) THEN array_remove(roles, 'key_contact') "
            "ELSE array_append(roles, 'key_contact') END WHERE id IN (SELECT id FROM \"Person\" ORDER BY id LIMIT " +
                std::to_string(rows) + ")");
    pos = std::stoull(exec(c, "SELECT treaty_position()"));
    exec(c, "COMMIT");
  }
  const double committed_ms = std::chrono::duration<double, std::milli>(Clock::now() - w0).count();
  exec(holder, "COMMIT");
  const auto t0 = Clock::now();
  const auto ms = wait_all(hs, pos, t0);
  PQfinish(holder);
  const double last = *std::max_element(ms.begin(), ms.end());
  const double first = *std::min_element(ms.begin(), ms.end());
  const double changes = static_cast<double>(batches) * static_cast<double>(persons.size());
  std::printf("{\"bench\":\"feed_throughput\",\"transactions\":%d,\"changes\":%.0f,\"writer_commit_ms\":%.1f,"
              "\"first_replica_ms\":%.1f,\"all_replicas_ms\":%.1f,\"changes_per_s\":%.0f,\"writer_changes_per_s\":%.0f}\n",
              batches, changes, committed_ms, first, last, changes / (last / 1000.0), changes / (committed_ms / 1000.0));
  PQfinish(c);
  return 0;
}
