// The transport baseline of the server benchmarks: a Boost.Beast HTTP/1.1 server built like
// `treaty serve` (the acceptor on the main thread, N loops of one io_context and one thread each,
// a connection on the loop with the fewest, keep-alive, one request handled per turn, the same
// reads and writes) that answers every POST with its own body. What
// `treaty serve` costs beyond it is the decision and its JSON.
//   echo_server --listen-port P [--threads N]      prints `listening on 127.0.0.1:PORT`
#include <utility>  // before Asio under GCC 12

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <csignal>
#include <optional>
#include <string>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, std::atomic<long>& open) : stream_(std::move(s)), open_(open) {}
  ~Session() { open_.fetch_sub(1); }
  void start() { asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->wait(); }); }

 private:
  // The transport of `treaty serve` (server/http.cpp), step for step: wait until the socket is
  // readable, read what is there and parse it in place, read asynchronously only what is still
  // missing, write the head and the body in one write. So the ratio of the two measures what
  // the decision and its JSON cost, not a difference of transport.
  void wait() {
    if (buf_.size() > 0) return on_readable();  // a pipelined request is already here
    stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->close();
      self->on_readable();
    });
  }
  void on_readable() {
    parser_.emplace();
    parser_->body_limit(64 * 1024 * 1024);
    if (buf_.size() == 0 && stream_.socket().non_blocking()) {  // set once, at the accept
      beast::error_code ec;
      const std::size_t n = stream_.socket().read_some(buf_.prepare(16384), ec);
      if (!ec) buf_.commit(n);
    }
    beast::error_code ec;
    while (!parser_->is_done() && buf_.size() > 0) {
      const std::size_t n = parser_->put(buf_.data(), ec);
      buf_.consume(n);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return close();
      if (n == 0) break;
    }
    if (parser_->is_done()) return respond();
    http::async_read(stream_, buf_, *parser_, [self = shared_from_this()](beast::error_code e, std::size_t) {
      if (e) return self->close();
      self->respond();
    });
  }
  void respond() {
    auto& req = parser_->get();
    keep_ = req.keep_alive();
    body_ = std::move(req.body());
    head_ = "HTTP/1.1 200 OK\r\nServer: echo\r\nContent-Type: application/json\r\n";
    if (!keep_) head_ += "Connection: close\r\n";
    head_ += "Content-Length: " + std::to_string(body_.size()) + "\r\n\r\n";
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head_), asio::buffer(body_)};
    std::size_t sent = 0;
    if (stream_.socket().non_blocking()) {
      beast::error_code ec;
      sent = stream_.socket().write_some(bufs, ec);
      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return close();
    }
    if (sent == bufs[0].size() + bufs[1].size()) {
      if (!keep_) return close();
      if (buf_.size() > 0) return asio::post(stream_.get_executor(), [self = shared_from_this()] { self->wait(); });
      return wait();
    }
    for (auto& b : bufs) {
      const std::size_t k = std::min(sent, b.size());
      b += k;
      sent -= k;
    }
    asio::async_write(stream_, bufs, [self = shared_from_this()](beast::error_code e, std::size_t) {
      if (e || !self->keep_) return self->close();
      self->wait();
    });
  }
  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string head_, body_;
  bool keep_ = false;
  std::atomic<long>& open_;  // its loop's count of connections
};

int main(int argc, char** argv) {
  unsigned short port = 0;
  unsigned threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--listen-port") port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
    else if (k == "--threads") threads = static_cast<unsigned>(std::stoi(argv[i + 1]));
  }
  // As `treaty serve` (server/http.cpp): the acceptor on the main thread, each connection on the
  // loop (an io_context run by one thread) with the fewest connections.
  asio::io_context ioc;
  struct Loop {
    std::atomic<long> open{0};
    asio::io_context ctx{1};
  };
  std::vector<std::unique_ptr<Loop>> loops;
  for (unsigned i = 0; i < std::max(1u, threads); ++i) loops.push_back(std::make_unique<Loop>());
  tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  Loop* accepting = nullptr;
  std::function<void()> accept = [&] {
    accepting = loops.front().get();
    for (const auto& l : loops)
      if (l->open.load() < accepting->open.load()) accepting = l.get();
    acc.async_accept(accepting->ctx.get_executor(), [&](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      s.set_option(tcp::no_delay(true), ec);
      s.non_blocking(true, ec);
      accepting->open.fetch_add(1);
      std::make_shared<Session>(std::move(s), accepting->open)->start();
      accept();
    });
  };
  accept();
  asio::signal_set sig(ioc, SIGTERM, SIGINT);
  sig.async_wait([&](beast::error_code, int) {
    ioc.stop();
    for (auto& l : loops) l->ctx.stop();
  });
  std::cerr << "listening on 127.0.0.1:" << acc.local_endpoint().port() << std::endl;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep;
  std::vector<std::thread> ts;
  for (auto& l : loops) {
    keep.push_back(asio::make_work_guard(l->ctx));
    ts.emplace_back([&c = l->ctx] { c.run(); });
  }
  ioc.run();
  for (auto& t : ts) t.join();
}
