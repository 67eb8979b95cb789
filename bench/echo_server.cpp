// The transport baseline of the server benchmarks: a Boost.Beast HTTP/1.1 server built like
// `treaty serve` (one io_context on N threads, a strand per connection, keep-alive, one request
// handled per turn) that answers every POST with its own body. What `treaty serve` costs beyond
// it is the decision and its JSON.
//   echo_server --listen-port P [--threads N]      prints `listening on 127.0.0.1:PORT`
#include <utility>  // before Asio under GCC 12

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
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
  explicit Session(tcp::socket s) : stream_(std::move(s)) {}
  void start() { asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); }); }

 private:
  void read() {
    req_ = {};
    http::async_read(stream_, buf_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->res_ = {};
      self->res_.version(self->req_.version());
      self->res_.result(http::status::ok);
      self->res_.set(http::field::content_type, "application/json");
      self->res_.keep_alive(self->req_.keep_alive());
      self->res_.body() = std::move(self->req_.body());
      self->res_.prepare_payload();
      http::async_write(self->stream_, self->res_, [self](beast::error_code e, std::size_t) {
        if (e || !self->res_.keep_alive()) return self->close();
        self->read();
      });
    });
  }
  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

int main(int argc, char** argv) {
  unsigned short port = 0;
  unsigned threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--listen-port") port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
    else if (k == "--threads") threads = static_cast<unsigned>(std::stoi(argv[i + 1]));
  }
  asio::io_context ioc;
  tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  std::function<void()> accept = [&] {
    acc.async_accept(asio::make_strand(ioc), [&](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(s))->start();
      accept();
    });
  };
  accept();
  asio::signal_set sig(ioc, SIGTERM, SIGINT);
  sig.async_wait([&](beast::error_code, int) { ioc.stop(); });
  std::cerr << "listening on 127.0.0.1:" << acc.local_endpoint().port() << std::endl;
  std::vector<std::thread> ts;
  for (unsigned i = 1; i < threads; ++i) ts.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : ts) t.join();
}
