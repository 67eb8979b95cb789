// LSP harness: any bytes as what an editor sends `treaty lsp` (cli/lsp.cpp's run_lsp, over a
// buffer; the workspace is the open documents only). The input is messages separated by 0x1e:
// each is framed with its length (`Content-Length: N`), except one that begins with `!`, sent
// as it is (raw framing, to reach the frame reader); an `initialize` request goes first unless
// the first message is one. At most 12 messages.
//
// Invariants: the output is a sequence of well-formed frames, each a JSON-RPC 2.0 object; a
// response carries exactly one of "result" and "error", an error an integer code and a string
// message; every framed request (a JSON object with a string "method" and an "id") before `exit`
// is answered once with its id.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "lsp.hpp"
#include "treaty/convert.hpp"

namespace {

void fail(const char* what, const std::string& in, const std::string& out) {
  std::fprintf(stderr, "fuzz_lsp: invariant broken: %s\ninput:\n%.4000s\noutput:\n%.4000s\n", what, in.c_str(),
               out.c_str());
  std::abort();
}

/// Nesting of arrays and objects, strings skipped (the server refuses over 256).
std::size_t depth(const std::string& s) {
  std::size_t d = 0, most = 0;
  bool str = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (str) {
      if (c == '\\') ++i;
      else if (c == '"') str = false;
    } else if (c == '"') {
      str = true;
    } else if (c == '[' || c == '{') {
      most = std::max(most, ++d);
    } else if ((c == ']' || c == '}') && d > 0) {
      --d;
    }
  }
  return most;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16 * 1024) return 0;
  std::vector<std::string> msgs;
  {
    std::string cur;
    for (std::size_t i = 0; i < size; ++i) {
      if (data[i] == 0x1e) {
        msgs.push_back(std::move(cur));
        cur.clear();
      } else {
        cur.push_back(static_cast<char>(data[i]));
      }
    }
    msgs.push_back(std::move(cur));
  }
  if (msgs.size() > 12) msgs.resize(12);
  if (msgs.empty() || msgs[0].find("\"initialize\"") == std::string::npos)
    msgs.insert(msgs.begin(),
                R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"rootUri":"file:///fuzz","capabilities":{}}})");
  std::string in;
  std::map<std::string, int> asked;  // request id (as JSON) -> requests not yet answered
  bool exited = false;
  for (const auto& m : msgs) {
    if (!m.empty() && m[0] == '!') {
      in += m.substr(1);
      exited = true;  // the stream may be out of step from here: nothing more is expected
      continue;
    }
    in += "Content-Length: " + std::to_string(m.size()) + "\r\n\r\n" + m;
    if (exited || m.size() > (64u << 20) || depth(m) > 200) continue;
    nlohmann::json j;  // read as `treaty lsp` reads it: strictly (a key twice, a NUL byte: not JSON)
    if (treaty::parse_json(m, j) || !j.is_object() || !j.contains("method") || !j["method"].is_string()) continue;
    if (j["method"] == "exit") {
      exited = true;
      continue;
    }
    if (j.contains("id")) ++asked[j["id"].dump()];
  }

  std::FILE* f = fmemopen(in.data(), in.size(), "r");
  if (!f) return 0;
  std::ostringstream os;
  (void)treaty::cli::run_lsp(f, os, false);
  std::fclose(f);
  const std::string out = os.str();

  std::size_t pos = 0;
  while (pos < out.size()) {
    static const std::string head = "Content-Length: ";
    if (out.compare(pos, head.size(), head) != 0) fail("a frame begins with Content-Length", in, out);
    const auto end = out.find("\r\n\r\n", pos);
    if (end == std::string::npos) fail("a frame's header ends with a blank line", in, out);
    const std::size_t n = std::strtoull(out.c_str() + pos + head.size(), nullptr, 10);
    if (end + 4 + n > out.size()) fail("a frame holds its length", in, out);
    const auto j = nlohmann::json::parse(out.substr(end + 4, n), nullptr, false);
    pos = end + 4 + n;
    if (j.is_discarded() || !j.is_object() || j.value("jsonrpc", "") != "2.0") fail("a frame is JSON-RPC 2.0", in, out);
    if (j.contains("method")) continue;  // a notification
    if (!j.contains("id") || j.contains("result") == j.contains("error")) fail("a response has a result or an error", in, out);
    if (j.contains("error") && !(j["error"].is_object() && j["error"].contains("code") && j["error"]["code"].is_number_integer() &&
                                 j["error"].contains("message") && j["error"]["message"].is_string()))
      fail("an error has a code and a message", in, out);
    const auto it = asked.find(j["id"].dump());
    if (it != asked.end() && --it->second == 0) asked.erase(it);
  }
  if (!asked.empty()) fail("every request is answered", in, out);
  return 0;
}
