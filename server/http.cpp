// The transport: Beast sessions with keep-alive and limits, the acceptor, signals and draining,
// and the reload and file-watch threads.
#include <malloc.h>

#include <array>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "internal.hpp"

namespace treaty::server {

namespace internal {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;

/// One connection. Each turn: wait (idle timeout) for the first byte, read one request (header
/// and body limits, request timeout), handle it synchronously, write the answer; again while
/// keep-alive holds and the server is not draining.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server::Impl& srv, std::atomic<std::int64_t>& loop_open)
      : stream_(std::move(socket)), srv_(srv), loop_open_(loop_open) {
    // Waiting for its first request from the accept on: the acceptor's thread runs ahead of the
    // loops, and a connection whose loop has not started it yet may still make room for another.
    idle_since_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }
  ~Session() {
    srv_.metrics.connections_open.fetch_sub(1, std::memory_order_relaxed);
    loop_open_.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->wait_request(); });
  }
  /// Refuses the connection (too many) with 503 and closes it.
  void refuse() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      Response r;
      r.status = 503;
      r.body = R"({"error":"too many connections"})";
      r.close = true;
      self->send(std::move(r), 11, false, {});
    });
  }
  /// Closes the connection if it is waiting for a request (draining); a request being read or
  /// handled finishes first.
  void close_if_idle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) self->shutdown();
    });
  }
  /// Since when the connection has waited for a request (steady-clock ticks), or kBusy while it
  /// reads, handles or writes one, or kClosing once it is closing. Read by the acceptor, on
  /// another strand.
  static constexpr std::int64_t kBusy = -1, kClosing = -2;
  [[nodiscard]] std::int64_t idle_since() const { return idle_since_.load(std::memory_order_relaxed); }
  /// Gives the connection's place under --max-connections to a new one, once: true if it is
  /// closing (answered and shut down, or its client gone, while a lingering close or the last
  /// handlers still hold it) and its place was not given yet. A closing connection is still
  /// counted open until its last handler lets it go, which takes a few scheduler rounds and, for
  /// a client that keeps its end open, up to the linger's half second: without this, the moment
  /// after many clients close together (or after answers with `Connection: close` to clients that
  /// linger) would refuse new clients 503, every counted connection being neither idle nor alive.
  [[nodiscard]] bool place_was_given() const { return place_given_.load(std::memory_order_relaxed); }
  bool give_place() {
    return idle_since() == kClosing && !place_given_.exchange(true, std::memory_order_relaxed);
  }
  /// Closes the connection to make room for a new one, if it still waits for a request when its
  /// strand gets to it; one that has begun a request meanwhile is left to finish it. Its place is
  /// the new connection's either way (give_place() says no from now on).
  void evict_if_idle() {
    place_given_.store(true, std::memory_order_relaxed);
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->idle_) return;
      self->srv_.metrics.connections_evicted.fetch_add(1, std::memory_order_relaxed);
      self->shutdown();
    });
  }

 private:
  void wait_request() {
    if (srv_.draining.load()) return shutdown();
    idle_ = true;
    if (buffer_.size() > 0) return read_request();  // a pipelined request is already here
    idle_since_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    stream_.expires_never();
    stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      // Closed while it waited (a drain or the idle timeout): its lingering read owns the
      // stream now, and a second read on it would be two reads at once (Beast asserts).
      if (self->closed_) return;
      if (ec) return self->shutdown();
      self->read_request();
    });
    set_deadline(Phase::idle, srv_.opts.idle_timeout);
  }

  // Timeouts. One timer per connection ticks (a quarter of the shorter timeout) and compares
  // the clock with the deadline of the current phase: a request costs no timer operation (each
  // is a system call), and a timeout fires at most a quarter late.
  enum class Phase { none, idle, reading, writing };
  void set_deadline(Phase ph, std::chrono::milliseconds d) {
    phase_ = ph;
    deadline_ = std::chrono::steady_clock::now() + d;
    if (!ticking_ && !closed_) tick();
  }
  void tick() {
    ticking_ = true;
    const auto shorter = std::min(srv_.opts.idle_timeout, srv_.opts.request_timeout);
    timer_.expires_after(std::max<std::chrono::milliseconds>(shorter / 4, std::chrono::milliseconds(1)));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->on_tick(ec); });
  }
  void on_tick(beast::error_code ec) {
    ticking_ = false;
    if (ec || closed_) return;
    if (phase_ != Phase::none && std::chrono::steady_clock::now() >= deadline_) {
      const Phase ph = phase_;
      phase_ = Phase::none;
      if (ph == Phase::idle && idle_) return shutdown();
      if (ph == Phase::writing) return shutdown();
      if (ph == Phase::reading && reading_) {
        timed_out_ = true;
        beast::error_code ignored;
        stream_.socket().cancel(ignored);
      }
    }
    tick();
  }

  void read_request() {
    idle_ = false;
    idle_since_.store(kBusy, std::memory_order_relaxed);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(srv_.opts.max_header));
    parser_->body_limit(srv_.opts.max_batch_body);
    // The request timer cancels the reads instead of closing the socket (as the stream's own
    // timer would), so a client too slow to send its request is still told 408.
    timed_out_ = false;
    reading_ = true;
    set_deadline(Phase::reading, srv_.opts.request_timeout);
    stream_.expires_never();
    // The wait said the socket is readable: read what is there now and parse the header from
    // it in place. An asynchronous read that completes at once still goes through the
    // scheduler, a handler more per request; this way a request costs what the echo server's
    // does. Anything short of a whole header (or an error, which the read then meets and
    // reports as always) goes the asynchronous way.
    if (buffer_.size() == 0 && stream_.socket().non_blocking()) {  // set once, at the accept
      beast::error_code ec;
      const std::size_t n = stream_.socket().read_some(buffer_.prepare(kReadChunk), ec);
      if (!ec) buffer_.commit(n);
    }
    if (beast::error_code ec; parse_buffered(ec, true)) return ec ? on_error(ec) : on_header(ec);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }
  static constexpr std::size_t kReadChunk = 16384;

  void on_header(beast::error_code ec) {
    if (ec || timed_out_) return on_error(ec);
    if (Server::Impl::streamed(parser_->get())) return start_batch();
    const auto target = parser_->get().target();
    const bool batch = target.starts_with("/v1/decide/batch") || target.starts_with("/access/v1/evaluations");
    const auto limit = batch ? srv_.opts.max_batch_body : srv_.opts.max_body;
    if (parser_->content_length() && *parser_->content_length() > limit) return on_error(http::error::body_limit);
    parser_->body_limit(limit);
    continue_then([](Session& s) {
      // The body mostly arrives with the header, in the same read: parse what is buffered
      // first. An asynchronous read that finds the whole body buffered still completes through
      // the scheduler, a handler more per request (and a wakeup of the other thread).
      beast::error_code buffered;
      if (s.parse_buffered(buffered)) return buffered ? s.on_error(buffered) : s.on_read(buffered);
      http::async_read(s.stream_, s.buffer_, *s.parser_,
                       [self = s.shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
    });
  }

  /// Feeds the parser what the buffer holds. True when that settled the request, or its header
  /// with `header_only`: it is whole (`ec` clear) or refused (`ec` set: a header or body over
  /// its limit, bad syntax, a bad chunk); false when more must be read.
  bool parse_buffered(beast::error_code& ec, bool header_only = false) {
    const auto done = [&] { return header_only ? parser_->is_header_done() : parser_->is_done(); };
    while (!done() && buffer_.size() > 0) {
      const std::size_t n = parser_->put(buffer_.data(), ec);
      buffer_.consume(n);
      if (ec == http::error::need_more) {
        ec = {};
        return false;
      }
      if (ec) return true;
      if (n == 0) return false;
    }
    return done();
  }

  /// Runs `next` once the client has been told to send its body, if it waits to be told
  /// (`Expect: 100-continue`, which curl sends for a body over 1 MiB and then waits a second for):
  /// called when the header is accepted, so a refused request is answered instead.
  template <class F>
  void continue_then(F next) {
    const auto& req = parser_->get();
    if (req.version() < 11 || !beast::iequals(req[http::field::expect], "100-continue")) return next(*this);
    static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(k100.data(), k100.size()),
                      [self = shared_from_this(), next](beast::error_code ec, std::size_t) {
                        if (ec) return self->shutdown();
                        next(*self);
                      });
  }

  void on_error(beast::error_code ec) {
    reading_ = false;
    phase_ = Phase::none;
    Response r;
    r.close = true;
    if (timed_out_ || ec == beast::error::timeout) {
      r.status = 408;
      r.body = R"({"error":"the request was not received in time"})";
    } else if (ec == http::error::header_limit) {
      r.status = 431;
      r.body = R"({"error":"the request line and headers are too large"})";
    } else if (ec == http::error::body_limit) {
      r.status = 413;
      r.body = R"({"error":"the request body is too large"})";
    } else if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
               ec == asio::error::operation_aborted) {
      return shutdown();
    } else {
      r.status = 400;
      r.body = R"({"error":"malformed HTTP request"})";
    }
    send(std::move(r), 11, false, {});
  }

  void on_read(beast::error_code ec) {
    if (ec || timed_out_) return on_error(ec);
    reading_ = false;
    phase_ = Phase::none;
    auto& req = parser_->get();
    Response out;
    const unsigned version = req.version();
    const bool keep = req.keep_alive();
    const auto rid = req["X-Request-ID"];
    const std::string_view request_id(rid.data(), rid.size());
    // The callback for an answer given later (a reload) is built only when a handler asks.
    srv_.handle(req, out, [this, version, keep, request_id]() -> Later {
      return [self = shared_from_this(), version, keep, id = std::string(request_id)](Response r) {
        asio::post(self->stream_.get_executor(), [self, r = std::move(r), version, keep, id]() mutable {
          self->send(std::move(r), version, keep, id);
        });
      };
    });
    if (!out.deferred) send(std::move(out), version, keep, request_id);
  }

  // A streamed batch (POST /v1/decide/batch; BatchStream). The body is read in pieces into the
  // stream's buffer through a buffer_body parser (which also undoes a chunked body and counts
  // --max-batch-body), each piece's complete lines are answered at once, and the answers leave
  // in chunks of the chunked response: when kFlush bytes are waiting, or when the input at hand
  // is used up and the client must send more. The status line goes with the first chunk, so a
  // batch that fails before (too large, too many lines, too slow) is still answered with its
  // status; after that it ends with an `{"error": ...}` line, the last chunk, and a close. One
  // operation at a time: read, answer, write, read. The request timeout counts the time spent
  // waiting for the body (as for any request), and a second one the time spent writing: a client
  // that stalls either way is dropped, and the time spent deciding is not the client's.
  void start_batch() {
    const auto& req = parser_->get();
    if (parser_->content_length() && *parser_->content_length() > srv_.opts.max_batch_body)
      return on_error(http::error::body_limit);
    version_ = req.version();
    keep_ = req.keep_alive();
    request_id_ = std::string(req["X-Request-ID"]);
    Response refusal;
    batch_ = srv_.open_batch(req, refusal);
    if (!batch_) {  // refused before the body: answered without reading it, and closed
      reading_ = false;
      phase_ = Phase::none;
      refusal.close = true;
      return send(std::move(refusal), version_, false, request_id_);
    }
    chunked_ = version_ >= 11;  // an HTTP/1.0 client gets the answers until the close
    http::response<http::empty_body> head{http::status::ok, version_};
    head.set(http::field::server, "treaty");
    head.set(http::field::content_type, "application/x-ndjson");
    if (!request_id_.empty()) head.set("X-Request-ID", request_id_);
    head.set("X-Treaty-Revision", std::to_string(batch_->revision));
    head.keep_alive(keep_ && chunked_ && !srv_.draining.load());
    keep_ = head.keep_alive();
    if (chunked_) head.chunked(true);
    std::ostringstream os;
    os << head.base();
    head_ = os.str();
    head_sent_ = close_after_ = room_filled_ = false;
    read_left_ = deadline_ - std::chrono::steady_clock::now();  // what is left of the request timeout
    write_left_ = srv_.opts.request_timeout;
    continue_then([](Session& s) {
      s.bparser_.emplace(std::move(*s.parser_));
      s.bparser_->body_limit(s.srv_.opts.max_batch_body);
      s.buffer_.reserve(BatchStream::kRead);  // reads of up to 64 KiB (Beast reads what the buffer holds)
      s.phase_ = Phase::none;
      s.reading_ = false;
      s.batch_step();
    });
  }

  /// Answers what has arrived, then writes, reads more, or ends the response.
  void batch_step() {
    BatchStream::State st;
    try {
      st = batch_->run(bparser_->is_done());
    } catch (const std::exception& e) {  // fails closed: no answer is made up
      return batch_fail(500, std::string("internal error: ") + e.what());
    }
    if (st == BatchStream::State::too_many)
      return batch_fail(413, "a batch may hold at most " + std::to_string(srv_.opts.max_batch) + " requests");
    if (st == BatchStream::State::full) return batch_write(false);
    if (bparser_->is_done()) return batch_write(true);
    // Answers waiting and nothing more at hand (the last read had room to spare, so all that is
    // buffered is at most a piece of chunk framing, and the socket has nothing): send them
    // before waiting for the client.
    beast::error_code ec;
    if (!batch_->out().empty() && !room_filled_ && stream_.socket().available(ec) == 0) return batch_write(false);
    batch_read();
  }

  void batch_read() {
    const auto [data, size] = batch_->space();
    auto& body = bparser_->get().body();
    body.data = data;
    body.size = size;
    body.more = true;
    offered_ = size;
    reading_ = true;
    started_ = std::chrono::steady_clock::now();
    set_deadline(Phase::reading, std::chrono::ceil<std::chrono::milliseconds>(read_left_));
    http::async_read_some(stream_, buffer_, *bparser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_batch_read(ec); });
  }

  void on_batch_read(beast::error_code ec) {
    reading_ = false;
    phase_ = Phase::none;
    read_left_ -= std::chrono::steady_clock::now() - started_;
    auto& body = bparser_->get().body();
    if (ec == http::error::need_buffer) ec = {};  // the offered room is full: not an error
    // A read parses one piece (a chunk, the body at hand): parse the rest of what is buffered
    // too, so that what is left there is at most a piece of chunk framing, which gives nothing
    // until more arrives.
    while (!ec && !timed_out_ && !bparser_->is_done() && buffer_.size() > 0 && body.size > 0) {
      const auto used = bparser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (used == 0) break;
    }
    if (ec == http::error::need_buffer) ec = {};
    batch_->commit(offered_ - body.size);
    room_filled_ = body.size == 0;
    if (timed_out_ || ec == beast::error::timeout)
      return batch_fail(408, "the request was not received in time");
    if (ec == http::error::body_limit) return batch_fail(413, "the request body is too large");
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted)
      return shutdown();  // the client is gone
    if (ec) return batch_fail(400, "malformed HTTP request");
    batch_step();
  }

  /// Ends a batch cut short: with the status when nothing was sent yet, else with an error line.
  void batch_fail(unsigned status, std::string message) {
    close_after_ = true;
    if (!head_sent_) {
      batch_->status = status;
      batch_.reset();
      bparser_.reset();
      Response r;
      r.status = status;
      r.body = "{\"error\":" + nlohmann::json(message).dump() + "}";
      r.close = true;
      return send(std::move(r), version_, false, request_id_);
    }
    batch_->fail(message);
    batch_write(true);
  }

  /// Writes the answers waiting (with the status line and headers the first time) as one chunk;
  /// `last` adds the last chunk.
  void batch_write(bool last) {
    const std::string& out = batch_->out();
    std::array<asio::const_buffer, 5> bufs;
    std::size_t k = 0;
    if (!head_sent_) bufs[k++] = asio::buffer(head_);
    if (!chunked_) {
      bufs[k++] = asio::buffer(out);
    } else {
      if (!out.empty()) {
        const int n = std::snprintf(chunk_head_.data(), chunk_head_.size(), "%zx\r\n", out.size());
        bufs[k++] = asio::buffer(chunk_head_.data(), static_cast<std::size_t>(n));
        bufs[k++] = asio::buffer(out);
        bufs[k++] = asio::buffer("\r\n", 2);
      }
      if (last) bufs[k++] = asio::buffer("0\r\n\r\n", 5);
    }
    head_sent_ = true;
    if (last) batch_->finish();
    started_ = std::chrono::steady_clock::now();
    set_deadline(Phase::writing, std::chrono::ceil<std::chrono::milliseconds>(write_left_));
    asio::async_write(stream_, bufs, [self = shared_from_this(), last](beast::error_code ec, std::size_t) {
      self->on_batch_write(ec, last);
    });
  }

  void on_batch_write(beast::error_code ec, bool last) {
    phase_ = Phase::none;
    write_left_ -= std::chrono::steady_clock::now() - started_;
    if (ec) return shutdown();
    batch_->out().clear();
    if (!last) return batch_step();
    batch_.reset();
    bparser_.reset();
    buffer_.shrink_to_fit();  // keeps what a pipelined request has sent
    if (close_after_ || !keep_ || srv_.draining.load()) return shutdown();
    wait_request();
  }

  void send(Response r, unsigned version, bool keep, std::string_view request_id) {
    // The status line and headers are written here rather than by Beast's serializer, whose
    // field list and buffer walk were about 3% of the server's profile; the same fields in the
    // same order as response::set/keep_alive/prepare_payload wrote them (a name given twice in
    // r.headers: the last one, as set() replaced it).
    res_keep_ = keep && !r.close && !srv_.draining.load();
    res_head_.clear();
    res_head_ += version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
    res_head_ += std::to_string(r.status);
    res_head_ += ' ';
    const auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
    res_head_.append(reason.data(), reason.size());
    res_head_ += "\r\nServer: treaty\r\nContent-Type: ";
    res_head_ += r.content_type;
    if (!request_id.empty()) {
      res_head_ += "\r\nX-Request-ID: ";
      res_head_ += request_id;
    }
    for (std::size_t i = 0; i < r.headers.size(); ++i) {
      const auto& [k, v] = r.headers[i];
      bool later = false;
      for (std::size_t j = i + 1; j < r.headers.size() && !later; ++j) later = beast::iequals(k, r.headers[j].first);
      if (later) continue;
      res_head_ += "\r\n";
      res_head_ += k;
      res_head_ += ": ";
      res_head_ += v;
    }
    if (version >= 11 && !res_keep_) res_head_ += "\r\nConnection: close";
    if (version < 11 && res_keep_) res_head_ += "\r\nConnection: keep-alive";
    res_head_ += "\r\nContent-Length: ";
    res_head_ += std::to_string(r.body.size());
    res_head_ += "\r\n\r\n";
    res_body_ = std::move(r.body);
    set_deadline(Phase::writing, srv_.opts.request_timeout);
    std::array<asio::const_buffer, 2> bufs{asio::buffer(res_head_), asio::buffer(res_body_)};
    // Written in place when the socket takes it all at once (the common case): an asynchronous
    // write that completes at once is still posted, and the post wakes the thread waiting in
    // epoll (an epoll_ctl each time). What the socket does not take is written asynchronously,
    // under the write timeout, as before.
    std::size_t sent = 0;
    if (stream_.socket().non_blocking()) {
      beast::error_code ec;
      sent = stream_.socket().write_some(bufs, ec);
      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return shutdown();
    }
    if (sent == bufs[0].size() + bufs[1].size()) {
      phase_ = Phase::none;
      if (!res_keep_) return shutdown();
      // A pipelined request already buffered is read on the next turn, not in this call, so a
      // client's thousand pipelined requests do not nest a thousand calls.
      if (buffer_.size() > 0)
        return asio::post(stream_.get_executor(), [self = shared_from_this()] { self->wait_request(); });
      return wait_request();
    }
    for (auto& b : bufs) {
      const std::size_t k = std::min(sent, b.size());
      b += k;
      sent -= k;
    }
    asio::async_write(stream_, bufs, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || !self->res_keep_) return self->shutdown();
      self->wait_request();
    });
  }

  void shutdown() {
    if (closed_) return;  // a write that fails after a timeout closed the connection
    idle_ = false;
    idle_since_.store(kClosing, std::memory_order_relaxed);
    reading_ = false;
    closed_ = true;
    phase_ = Phase::none;
    timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      stream_.socket().close(ec);
      return;
    }
    // A lingering close: closing a socket with unread input (a refused connection's request,
    // the rest of a body over the limit) makes the kernel reset the connection, and the reset
    // discards the response the client has not read yet: a 503 or 413 arrived as nothing.
    // Read and drop what the client still sends, until it closes, 64 KB or half a second.
    stream_.expires_after(std::chrono::milliseconds(500));
    linger();
  }
  void linger() {
    stream_.async_read_some(asio::buffer(drain_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (!ec && self->drained_ < 65536) return self->linger();
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
    });
  }

  beast::tcp_stream stream_;
  Server::Impl& srv_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // A streamed batch.
  std::unique_ptr<BatchStream> batch_;
  std::optional<http::request_parser<http::buffer_body>> bparser_;
  std::string head_, request_id_;  ///< the response's status line and headers; X-Request-ID
  unsigned version_ = 11;
  bool keep_ = false, chunked_ = true, head_sent_ = false, close_after_ = false, room_filled_ = false;
  std::size_t offered_ = 0;  ///< room given to the read in progress
  std::chrono::steady_clock::duration read_left_{}, write_left_{};  ///< of the two timeouts
  std::chrono::steady_clock::time_point started_;                   ///< of the read or write
  std::array<char, 24> chunk_head_{};
  std::string res_head_, res_body_;  ///< the response being written
  bool res_keep_ = false;
  asio::steady_timer timer_{stream_.get_executor()};
  Phase phase_ = Phase::none;
  std::chrono::steady_clock::time_point deadline_;
  bool idle_ = false, reading_ = false, timed_out_ = false, ticking_ = false, closed_ = false;
  std::atomic<std::int64_t> idle_since_{kBusy};  ///< idle_'s time, for the acceptor (idle_since())
  std::atomic<bool> place_given_{false};          ///< see give_place()
  std::array<char, 4096> drain_{};  ///< what a lingering close reads and drops
  std::atomic<std::int64_t>& loop_open_;  ///< its loop's count of connections
  std::size_t drained_ = 0;
};

}  // namespace internal

using internal::Session;
using tcp = asio::ip::tcp;

void Server::Impl::do_accept() {
  // The next connection goes to the loop with the fewest. Each loop has one thread, so its
  // executor serializes a connection's handlers as a strand would.
  accepting = loops.front().get();
  for (const auto& l : loops)
    if (l->open.load(std::memory_order_relaxed) < accepting->open.load(std::memory_order_relaxed)) accepting = l.get();
  acceptor->async_accept(accepting->ctx.get_executor(), [this](boost::beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || draining.load()) return;
      return do_accept();  // e.g. too many open files: keep accepting
    }
    socket.set_option(tcp::no_delay(true), ec);
    socket.non_blocking(true, ec);  // for the in-place read of Session::read_request (one ioctl)
    metrics.connections_total.fetch_add(1, std::memory_order_relaxed);
    const auto open = metrics.connections_open.fetch_add(1, std::memory_order_relaxed) + 1;
    accepting->open.fetch_add(1, std::memory_order_relaxed);
    auto s = std::make_shared<Session>(std::move(socket), *this, accepting->open);
    // Over the limit, a connection that is closing gives its place (Session::give_place), or
    // else the connection that has waited longest for a request makes room (as nginx reuses
    // idle keep-alive connections): connections that send nothing cannot lock other clients
    // out. Only when every connection is busy with a request is the new one refused, 503. (A
    // victim that begins a request before its strand closes it keeps it: the count is then one
    // over the limit until a connection closes.)
    bool admit = open <= opts.max_connections;
    {
      std::lock_guard lk(sessions_m);
      if (!admit) {
        std::shared_ptr<Session> oldest;
        std::int64_t since = 0;
        for (auto it = sessions.begin(); it != sessions.end();) {
          auto v = it->lock();
          if (!v) {
            it = sessions.erase(it);
            continue;
          }
          if (v->give_place()) {
            admit = true;
            oldest.reset();
            break;
          }
          // Not one already chosen to make room: its loop may not have closed it yet.
          const auto t = v->idle_since();
          if (t >= 0 && !v->place_was_given() && (!oldest || t < since)) oldest = std::move(v), since = t;
          ++it;
        }
        if (oldest) {
          oldest->evict_if_idle();
          admit = true;
        }
      }
      if (admit) {
        if (sessions.size() > 2 * opts.max_connections + 64)  // forget closed ones now and then
          for (auto it = sessions.begin(); it != sessions.end();) it = it->expired() ? sessions.erase(it) : ++it;
        sessions.insert(s);
      }
    }
    if (admit) {
      s->start();
    } else {
      metrics.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      s->refuse();
    }
    if (!draining.load()) do_accept();
  });
}

void Server::Impl::begin_drain() {
  if (draining.exchange(true)) return;
  asio::post(ioc, [this] {
    boost::beast::error_code ec;
    if (acceptor) acceptor->close(ec);
  });
  std::lock_guard lk(sessions_m);
  for (auto& w : sessions)
    if (auto s = w.lock()) s->close_if_idle();
}

// ---------------------------------------------------------------------------------------------
// Snapshots and reload
// ---------------------------------------------------------------------------------------------
void Server::Impl::publish(std::shared_ptr<Snapshot> s) {
  for (std::size_t a = 0; a < s->engine->program().schema.actions.size(); ++a)
    s->action_counters.push_back(metrics.counters_for(s->engine->program().schema.actions[a].name)->data());
  auto names = std::make_shared<internal::Names>();
  const auto& p = s->engine->program();
  for (TypeId t = 0; t < p.schema.entities.size(); ++t) {
    names->types.emplace(p.schema.entities[t].name, t);
    // An entity may come without an id (AuthZEN 1.0 requires one; the Todo scenario's new todo
    // has none) only when its type is request-supplied and never stored as a fact.
    names->request_supplied.push_back(p.schema.entities[t].request_supplied && p.world().of_type(t).empty());
  }
  for (const auto& [ext, name] : opts.authzen_types)
    if (auto t = p.schema.find_entity(name)) names->types[ext] = *t;
  for (std::uint32_t a = 0; a < p.schema.actions.size(); ++a) {
    names->actions.emplace(p.schema.actions[a].name, a);
    names->action_names.push_back(p.schema.actions[a].name);
  }
  for (const auto& [ext, name] : opts.authzen_actions)
    if (auto a = p.schema.find_action(name)) {
      names->actions[ext] = *a;
      names->action_names[*a] = ext;  // a search answers with the name the PEP knows
    }
  std::lock_guard lk(snap_m);
  s->generation = generation.load() + 1;
  current = std::move(s);
  current_names = std::move(names);
  generation.store(current->generation, std::memory_order_release);
}

bool Server::Impl::reload_now(std::string& error) {
  std::shared_ptr<Snapshot> s;
  // The live facts go into the new world (a reload must not lose a write): exported at the
  // revision they are at now; batches committed meanwhile are applied again on top (rebase).
  // The first load takes the state snapshot, if --state has one.
  std::string facts;
  const std::string* given = nullptr;
  std::uint64_t at = 0;
  std::vector<WalRecord> records;
  const bool first = !live;
  try {
    if (first && feed) {
      if (!feed->load(facts, at, error)) throw std::runtime_error(error);
      given = &facts;
    } else if (first && !opts.state_dir.empty()) {
      if (!open_state(facts, records, error)) throw std::runtime_error(error);
      if (!facts.empty()) given = &facts;
      at = initial_revision;
    } else if (!first && (live->revision() > 0 || !opts.state_dir.empty())) {
      const auto e = live->begin_rebase();
      at = e->revision();
      facts = nlohmann::json{{"revision", at}, {"entities", export_facts(*e)}}.dump();
      given = &facts;
    }
    s = loader(given, error);
    if (s && given && !s->took_facts) at = 0;  // a bundle's own world: every write goes on top again
    if (s) {
      std::shared_ptr<const Engine> base(s->owner, s->engine);
      if (first) {
        live = std::make_shared<LiveFacts>(base, at);
        // A bundle's world cannot take the live facts: a reload applies their net state again.
        if (!s->can_take_facts) live->rebase_with_net_writes();
        if (wal) {
          journal = std::make_unique<internal::WalJournalAdapter>(*wal);
          if (!replay_log(records, error)) throw std::runtime_error(error);
          live->set_journal(journal.get());
        }
      } else if (!live->rebase(base, at, error)) {
        error = "the live facts do not fit the reloaded policy: " + error;
        s.reset();
      }
      if (s) {
        s->held = live->current();
        s->engine = s->held.get();
      }
    }
  } catch (const std::exception& e) {
    if (error.empty() || error != e.what()) error = std::string("internal error while loading: ") + e.what();
    s.reset();
    if (first) live.reset();
  }
  if (!s && live) live->cancel_rebase();
  {
    std::lock_guard lk(snap_m);
    last_reload_attempt = std::chrono::system_clock::now();
    last_reload_error = s ? "" : error;
  }
  if (!s) {
    metrics.reloads_failed.fetch_add(1);
    return false;
  }
  if (feed) feed->set_violations(s->violations, first ? "the initial load" : "a reload");
  s->prepare();
  {
    std::lock_guard lk(snap_m);
    s->policy_generation = ++policy_generation;
  }
  publish(std::move(s));
  metrics.reloads_ok.fetch_add(1);
  return true;
}

void Server::Impl::request_reload(internal::Later waiter) {
  std::lock_guard lk(reload_m);
  reload_wanted = true;
  if (waiter) reload_waiters.push_back(std::move(waiter));
  reload_cv.notify_all();
}

void Server::Impl::reload_loop() {
  for (;;) {
    std::vector<internal::Later> waiters;
    {
      std::unique_lock lk(reload_m);
      reload_cv.wait(lk, [&] { return reload_wanted || stopping; });
      if (stopping) {
        waiters.swap(reload_waiters);
        lk.unlock();
        for (auto& w : waiters) {
          internal::Response r;
          r.status = 503;
          r.body = R"({"error":"the server is stopping"})";
          w(std::move(r));
        }
        return;
      }
      reload_wanted = false;
      waiters.swap(reload_waiters);
    }
    std::weak_ptr<void> old;  // what the engine replaced holds (its world, its program)
    {
      std::lock_guard lk(snap_m);
      if (current) old = current->owner;
    }
    std::string error;
    const bool ok = reload_now(error);
    if (ok) std::cerr << "treaty serve: reloaded, policy " << current->checksum << "\n";
    else std::cerr << "treaty serve: reload failed, still serving the previous policy:\n" << error << "\n";
    for (auto& w : waiters) {
      internal::Response r;
      r.status = ok ? 200 : 422;
      nlohmann::json j;
      j["reloaded"] = ok;
      if (ok) {
        std::lock_guard lk(snap_m);
        j["checksum"] = current->checksum;
      } else {
        j["error"] = error;
      }
      r.body = j.dump();
      w(std::move(r));
    }
#ifdef __GLIBC__
    // Once the workers have let the replaced engine go (up to 10 s: a batch in flight keeps it),
    // give its pages back to the system. glibc keeps freed memory in each thread's arena: the
    // soak test (scripts/soak.sh) saw the resident size climb a step at every reload without it.
    if (ok) {
      std::unique_lock lk(reload_m);
      for (int i = 0; i < 500 && !old.expired(); ++i)
        if (reload_cv.wait_for(lk, std::chrono::milliseconds(20), [&] { return stopping || reload_wanted; })) break;
      lk.unlock();
      malloc_trim(0);
    }
#endif
  }
}

void Server::Impl::watch_loop() {
  namespace fs = std::filesystem;
  auto stamp = [&] {
    std::vector<std::pair<fs::file_time_type, std::uintmax_t>> v;
    for (const auto& f : opts.watch_files) {
      std::error_code ec;
      if (fs::is_directory(f, ec)) {
        for (auto it = fs::recursive_directory_iterator(f, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec))
          if (it->is_regular_file(ec)) v.emplace_back(it->last_write_time(ec), it->file_size(ec));
      } else {
        v.emplace_back(fs::last_write_time(f, ec), fs::file_size(f, ec));
      }
    }
    return v;
  };
  auto last = stamp();
  std::unique_lock lk(reload_m);
  while (!stopping) {
    reload_cv.wait_for(lk, opts.watch_interval, [&] { return stopping; });
    if (stopping) break;
    lk.unlock();
    auto now = stamp();
    lk.lock();
    if (now != last) {
      last = std::move(now);
      reload_wanted = true;
      reload_cv.notify_all();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------
Server::Server(Options opts, Loader loader) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
  impl_->loader = std::move(loader);
}

Server::~Server() {
  if (impl_->feed) impl_->feed->stop();
  {
    std::lock_guard lk(impl_->reload_m);
    impl_->stopping = true;
    impl_->reload_cv.notify_all();
  }
  if (impl_->reload_thread.joinable()) impl_->reload_thread.join();
  if (impl_->watch_thread.joinable()) impl_->watch_thread.join();
  impl_->stop_state_thread();
  impl_->log.stop();
}

bool Server::load(std::string& error) {
  if (!impl_->opts.facts_url.empty() && !impl_->feed)
    impl_->feed = std::make_unique<PgFeed>(*impl_, impl_->opts.facts_url);
  const auto t0 = std::chrono::steady_clock::now();
  if (!impl_->reload_now(error)) return false;
  if (impl_->feed) {
    std::cerr << "treaty serve: the facts from PostgreSQL are served: "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
              << " ms from the start of the load (read, converted, indexed, requirements evaluated)\n";
    impl_->feed->start();
  }
  return true;
}

Server::Exchange Server::exchange(std::string_view method, std::string_view target,
                                  const std::vector<std::pair<std::string, std::string>>& headers, std::string body) {
  Impl& s = *impl_;
  internal::HttpRequest req;
  req.version(11);
  req.method_string(boost::beast::string_view(method.data(), method.size()));
  req.target(boost::beast::string_view(target.data(), target.size()));
  for (const auto& [k, v] : headers) req.insert(k, v);
  internal::Response out;
  auto answer = [&](internal::Response& r) {
    Exchange x;
    x.status = r.deferred ? 0 : r.status;
    x.body = std::move(r.body);
    x.content_type = r.content_type;
    x.headers = std::move(r.headers);
    return x;
  };
  // The limits the session applies while it reads the body (on_header, start_batch).
  const bool batch = target.starts_with("/v1/decide/batch") || target.starts_with("/access/v1/evaluations");
  if (body.size() > (batch ? s.opts.max_batch_body : s.opts.max_body)) {
    out.status = 413;
    out.body = R"({"error":"the request body is too large"})";
    return answer(out);
  }
  req.body() = std::move(body);
  req.prepare_payload();
  if (Impl::streamed(req)) {
    auto b = s.open_batch(req, out);
    if (!b) return answer(out);
    // The body in pieces as reads would bring it, the answers collected whole; a batch cut short
    // ends as the session ends it (its status when nothing was answered yet, else an error line).
    const std::string& in = req.body();
    std::string answers;
    std::size_t at = 0;
    auto fail = [&](unsigned status, std::string message) {
      if (answers.empty() && b->out().empty()) {
        b->status = status;
        b.reset();
        out.status = status;
        out.body = "{\"error\":" + nlohmann::json(message).dump() + "}";
        return answer(out);
      }
      b->fail(message);
      answers += b->out();
      b->finish();
      out.status = 200;
      out.content_type = "application/x-ndjson";
      out.body = std::move(answers);
      return answer(out);
    };
    for (;;) {
      const bool end = at == in.size();
      internal::BatchStream::State st;
      try {
        st = b->run(end);
      } catch (const std::exception& e) {
        return fail(500, std::string("internal error: ") + e.what());
      }
      if (st == internal::BatchStream::State::too_many)
        return fail(413, "a batch may hold at most " + std::to_string(s.opts.max_batch) + " requests");
      answers += b->out();
      b->out().clear();
      if (st == internal::BatchStream::State::full) continue;
      if (end) break;
      const auto [data, size] = b->space();
      const std::size_t n = std::min(size, in.size() - at);
      std::memcpy(data, in.data() + at, n);
      b->commit(n);
      at += n;
    }
    b->finish();
    out.status = 200;
    out.content_type = "application/x-ndjson";
    out.headers.emplace_back("X-Treaty-Revision", std::to_string(b->revision));
    out.body = std::move(answers);
    return answer(out);
  }
  s.handle(req, out, [] { return internal::Later([](internal::Response) {}); });
  return answer(out);
}

void Server::stop() { impl_->begin_drain(); }

int Server::run() {
  Impl& s = *impl_;
  std::string error;
  if (!s.opts.decision_log.empty() && !s.log.start(s.opts.decision_log, s.opts.decision_log_buffer, error)) {
    std::cerr << "treaty serve: error: " << error << "\n";
    return 2;
  }
  boost::beast::error_code ec;
  const auto addr = asio::ip::make_address(s.opts.host, ec);
  if (ec) {
    std::cerr << "treaty serve: error: `" << s.opts.host << "` is not an IP address\n";
    return 2;
  }
  s.acceptor.emplace(s.ioc);
  for (unsigned i = 0; i < std::max(1u, s.opts.threads); ++i) s.loops.push_back(std::make_unique<Server::Impl::Loop>());
  const tcp::endpoint ep(addr, s.opts.port);
  s.acceptor->open(ep.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(ep, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "treaty serve: error: cannot listen on " << s.opts.host << ":" << s.opts.port << ": " << ec.message()
              << "\n";
    return 2;
  }
  s.bound_port = s.acceptor->local_endpoint().port();

  asio::signal_set signals(s.ioc, SIGTERM, SIGINT, SIGHUP);
  std::function<void(const boost::beast::error_code&, int)> on_signal = [&](const boost::beast::error_code& e,
                                                                            int sig) {
    if (e) return;
    if (sig == SIGHUP) {
      s.request_reload({});
      signals.async_wait(on_signal);
      return;
    }
    std::cerr << "treaty serve: draining\n";
    s.begin_drain();
  };
  signals.async_wait(on_signal);
  // Once draining, stop waiting for signals so the io_context can run out of work.
  asio::steady_timer drain_watch(s.ioc);
  std::function<void(const boost::beast::error_code&)> check_drain = [&](const boost::beast::error_code& e) {
    if (e) return;
    if (s.draining.load()) {
      signals.cancel();
      return;
    }
    drain_watch.expires_after(std::chrono::milliseconds(50));
    drain_watch.async_wait(check_drain);
  };
  drain_watch.expires_after(std::chrono::milliseconds(50));
  drain_watch.async_wait(check_drain);

  s.reload_thread = std::thread([&s] { s.reload_loop(); });
  s.state_thread = std::thread([&s] { s.state_loop(); });
  if (s.opts.watch_interval.count() > 0 && !s.opts.watch_files.empty())
    s.watch_thread = std::thread([&s] { s.watch_loop(); });

  s.do_accept();
  std::cerr << "listening on " << s.opts.host << ":" << s.bound_port << std::endl;

  // Each loop keeps running until the acceptor is closed and the main io_context has run out of
  // work (draining); then it ends once its last connection has.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep;
  std::vector<std::thread> threads;
  for (auto& l : s.loops) {
    keep.push_back(asio::make_work_guard(l->ctx));
    threads.emplace_back([&c = l->ctx] { c.run(); });
  }
  s.ioc.run();
  for (auto& k : keep) k.reset();
  for (auto& t : threads) t.join();
  // From here the server only finishes (joins its threads, flushes the decision log). Asio gives
  // SIGTERM back its default action when the signal set goes, so a second SIGTERM (a supervisor
  // that repeats it) would kill the process mid-flush: the signals are ignored instead. clear()
  // now, so the set's destructor has nothing left to reset.
  signals.clear(ec);
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  {
    std::lock_guard lk(s.reload_m);
    s.stopping = true;
    s.reload_cv.notify_all();
  }
  if (s.reload_thread.joinable()) s.reload_thread.join();
  if (s.watch_thread.joinable()) s.watch_thread.join();
  s.stop_state_thread();
  s.log.stop();
  std::cerr << "treaty serve: stopped\n";
  return 0;
}

}  // namespace treaty::server
