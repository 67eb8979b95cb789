// `treaty lsp`: a Language Server Protocol server over stdin/stdout for editors.
//
// The package is every `.treaty` file under the workspace folder (rootUri, or the first of
// workspaceFolders), with the text of documents open in the editor instead of what is on disk.
// Every change re-runs the compile pipeline as `treaty check` runs it (lints on, requirements
// evaluated) and publishes its diagnostics: the same codes and messages. A package without errors
// is also indexed (name_index.hpp, as `treaty explain` resolves names) for hover, definition,
// references and completion; while the package has errors, the last index made without errors
// answers them, and document symbols come from what the parser could read.
//
// Framing: `Content-Length: N` headers, a blank line, N bytes of JSON. A frame without a length,
// or longer than kMaxMessage, or whose body is not JSON, gets an error response with a null id
// (the frame is skipped, so the stream stays in step); an unknown request gets MethodNotFound;
// unknown notifications are ignored; a request whose params are not what the method needs gets
// InvalidParams. Nothing the client sends ends the server but `exit` or the end of stdin.
#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "lsp.hpp"
#include "name_index.hpp"
#include "treaty/compile.hpp"
#include "treaty/convert.hpp"
#include "treaty/format.hpp"
#include "treaty/parse.hpp"
#include "treaty/program.hpp"

namespace treaty::cli {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxMessage = 64u << 20;  ///< bytes of one frame's body
constexpr std::size_t kMaxHeaderLine = 4096;
constexpr std::size_t kMaxDepth = 256;  ///< nesting of a message's JSON (copying is recursive)

// JSON-RPC and LSP error codes.
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kInternalError = -32603;
constexpr int kServerNotInitialized = -32002;
constexpr int kRequestFailed = -32803;

struct RpcError {
  int code;
  std::string message;
};

/// An integer member of an LSP message (a position's line and character, a document's version):
/// a JSON integer, or `fallback` when the member is absent. A float is refused (kInvalidParams), not
/// converted: a huge one (`"version": 2.3e61`, or 62 digits, which the parser reads as a float) does
/// not fit in 64 bits, and converting it would be undefined behaviour.
std::int64_t integer_member(const json& obj, const char* key, std::optional<std::int64_t> fallback = std::nullopt) {
  if (!obj.is_object()) throw RpcError{kInvalidParams, std::string("invalid params: `") + key + "` must be in an object"};
  const auto it = obj.find(key);
  if (it == obj.end()) {
    if (fallback) return *fallback;
    throw RpcError{kInvalidParams, std::string("invalid params: `") + key + "` is missing"};
  }
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    throw RpcError{kInvalidParams, std::string("invalid params: `") + key + "` is too large"};
  if (!it->is_number_integer()) throw RpcError{kInvalidParams, std::string("invalid params: `") + key + "` must be an integer"};
  return it->get<std::int64_t>();
}

// --- framing -------------------------------------------------------------------------------------

enum class Frame { ok, eof, bad };

/// Reads one frame's body into `body`. `bad` with the reason in `why` for a frame that was skipped.
Frame read_frame(std::FILE* in, std::string& body, std::string& why) {
  std::size_t length = 0;
  bool have_length = false;
  bool any_header = false;
  for (;;) {
    std::string line;
    int c;
    while ((c = std::fgetc(in)) != EOF && c != '\n') {
      if (line.size() < kMaxHeaderLine) line.push_back(static_cast<char>(c));
    }
    if (c == EOF && line.empty()) return Frame::eof;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (!any_header) continue;  // stray blank lines between frames
      break;
    }
    any_header = true;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (name != "content-length") continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    std::size_t n = 0;
    bool digits = !v.empty() && v.size() <= 18;
    for (char ch : v) {
      if (ch < '0' || ch > '9') {
        digits = false;
        break;
      }
      n = n * 10 + static_cast<std::size_t>(ch - '0');
    }
    if (digits) {
      length = n;
      have_length = true;
    } else {
      why = "malformed Content-Length header `" + line + "`";
      have_length = false;
    }
    if (c == EOF) return Frame::eof;
  }
  if (!have_length) {
    if (why.empty()) why = "frame without a Content-Length header";
    return Frame::bad;
  }
  if (length > kMaxMessage) {
    // Skip the body to stay in step with the stream.
    for (std::size_t i = 0; i < length; ++i)
      if (std::fgetc(in) == EOF) return Frame::eof;
    why = "message of " + std::to_string(length) + " bytes, more than the limit of " + std::to_string(kMaxMessage);
    return Frame::bad;
  }
  body.resize(length);
  if (length > 0 && std::fread(body.data(), 1, length, in) != length) return Frame::eof;
  return Frame::ok;
}

/// True when the JSON text nests arrays and objects deeper than kMaxDepth (strings skipped).
/// Checked before parsing: nlohmann-json copies and prints values recursively.
bool too_deep(const std::string& body) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

void write_frame(std::ostream& out, const json& msg) {
  const std::string body = msg.dump(-1, ' ', false, json::error_handler_t::replace);
  out << "Content-Length: " << body.size() << "\r\n\r\n" << body << std::flush;
}

// --- URIs and positions --------------------------------------------------------------------------

std::string uri_to_path(const std::string& uri) {
  std::string s = uri;
  if (s.rfind("file://", 0) == 0) s = s.substr(7);
  else return {};
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string path_to_uri(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out = "file://";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
    else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

/// Line starts of a text, for LSP positions (0-based lines, UTF-16 code units).
struct LineMap {
  const std::string* text = nullptr;
  std::vector<std::uint32_t> starts;
  explicit LineMap(const std::string& t) : text(&t) {
    starts.push_back(0);
    for (std::uint32_t i = 0; i < t.size(); ++i)
      if (t[i] == '\n') starts.push_back(i + 1);
  }
  json position(std::uint32_t offset) const {
    offset = std::min<std::uint32_t>(offset, static_cast<std::uint32_t>(text->size()));
    const auto it = std::upper_bound(starts.begin(), starts.end(), offset);
    const auto line = static_cast<std::uint32_t>(it - starts.begin() - 1);
    std::uint32_t units = 0;
    for (std::uint32_t i = starts[line]; i < offset; ++i) {
      const auto c = static_cast<unsigned char>((*text)[i]);
      if ((c & 0xC0) == 0x80) continue;  // continuation byte
      units += c >= 0xF0 ? 2 : 1;         // a 4-byte sequence is a surrogate pair
    }
    return {{"line", line}, {"character", units}};
  }
  json range(std::uint32_t b, std::uint32_t e) const { return {{"start", position(b)}, {"end", position(e)}}; }
  /// The byte offset of an LSP position, clamped to the text.
  std::uint32_t offset(const json& pos) const {
    const auto line = integer_member(pos, "line");
    auto ch = integer_member(pos, "character");
    if (line < 0) return 0;
    if (static_cast<std::size_t>(line) >= starts.size()) return static_cast<std::uint32_t>(text->size());
    std::uint32_t i = starts[static_cast<std::size_t>(line)];
    while (i < text->size() && (*text)[i] != '\n' && ch > 0) {
      const auto c = static_cast<unsigned char>((*text)[i]);
      std::uint32_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      ch -= c >= 0xF0 ? 2 : 1;
      i = std::min<std::uint32_t>(i + len, static_cast<std::uint32_t>(text->size()));
    }
    return i;
  }
};

json severity_of(Severity s) { return s == Severity::error ? 1 : s == Severity::warning ? 2 : 3; }

bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// --- the server ----------------------------------------------------------------------------------

/// One run of the pipeline over the package, with what the requests read.
struct Analysis {
  SourceManager sm;
  Diagnostics diags;
  Compiled compiled;
  std::map<std::string, FileId> file_of;  ///< path -> file in sm
  std::optional<NameIndex> index;         ///< only without errors
  [[nodiscard]] const Program* program() const {
    return compiled.engine ? &compiled.engine->program() : compiled.program.get();
  }
  [[nodiscard]] const syntax::File* syntax_of(FileId id) const {
    for (const auto& f : compiled.pkg.files)
      if (f.file == id) return &f;
    return nullptr;
  }
};

struct Document {
  std::string text;
  std::int64_t version = 0;
};

class Server {
 public:
  Server(std::FILE* in, std::ostream& out, bool read_workspace) : in_(in), out_(out), read_workspace_(read_workspace) {}

  int run() {
    for (;;) {
      std::string body, why;
      const Frame f = read_frame(in_, body, why);
      if (f == Frame::eof) return shutdown_ ? kOk : kProblems;
      if (f == Frame::bad) {
        error_response(nullptr, kInvalidRequest, why);
        continue;
      }
      if (too_deep(body)) {
        error_response(nullptr, kInvalidRequest, "the message nests deeper than " + std::to_string(kMaxDepth) + " levels");
        continue;
      }
      json msg;
      if (parse_json(body, msg)) {  // strictly, as every JSON Treaty reads (a NUL byte is not the end)
        error_response(nullptr, kParseError, "the message is not valid JSON");
        continue;
      }
      if (!msg.is_object() || !msg.contains("method") || !msg["method"].is_string()) {
        // A response to a request of ours (we send none) or garbage.
        if (msg.is_object() && msg.contains("id") && !msg.contains("result") && !msg.contains("error"))
          error_response(msg["id"], kInvalidRequest, "a request needs a string `method`");
        else if (!msg.is_object())
          error_response(nullptr, kInvalidRequest, "a message must be a JSON object");
        continue;
      }
      const std::string method = msg["method"];
      const bool is_request = msg.contains("id");
      const json id = is_request ? msg["id"] : json();
      const json params = msg.contains("params") ? msg["params"] : json::object();
      if (method == "exit") return shutdown_ ? kOk : kProblems;
      try {
        if (is_request) {
          json result = request(method, params);
          write_frame(out_, {{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
        } else {
          notification(method, params);
        }
      } catch (const RpcError& e) {
        if (is_request) error_response(id, e.code, e.message);
      } catch (const json::exception& e) {
        if (is_request) error_response(id, kInvalidParams, std::string("invalid params: ") + e.what());
      } catch (const std::exception& e) {
        if (is_request) error_response(id, kInternalError, e.what());
      }
    }
  }

 private:
  std::FILE* in_;
  std::ostream& out_;
  bool read_workspace_;  ///< false: the workspace is the open documents only (the fuzz harness)
  bool initialized_ = false;
  bool shutdown_ = false;
  std::string root_;  ///< the workspace folder; empty: only the open documents
  std::map<std::string, Document> docs_;  ///< by path
  std::unique_ptr<Analysis> current_;     ///< the last run
  std::unique_ptr<Analysis> good_;        ///< the last run without errors (may be current_)
  bool good_is_current_ = false;
  std::set<std::string> published_;       ///< paths that were sent diagnostics

  void error_response(const json& id, int code, const std::string& message) {
    write_frame(out_, {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
  }
  void notify(const std::string& method, json params) {
    write_frame(out_, {{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}});
  }
  void log(const std::string& text) { notify("window/logMessage", {{"type", 3}, {"message", text}}); }

  json request(const std::string& method, const json& params) {
    if (method == "initialize") return initialize(params);
    if (!initialized_) throw RpcError{kServerNotInitialized, "the server is not initialized yet"};
    if (shutdown_) throw RpcError{kInvalidRequest, "the server is shut down; only `exit` is accepted"};
    if (method == "shutdown") {
      shutdown_ = true;
      return nullptr;
    }
    if (method == "textDocument/formatting") return formatting(params);
    if (method == "textDocument/hover") return hover(params);
    if (method == "textDocument/definition") return definition(params);
    if (method == "textDocument/references") return references(params);
    if (method == "textDocument/documentSymbol") return document_symbols(params);
    if (method == "workspace/symbol") return workspace_symbols(params);
    if (method == "textDocument/completion") return completion(params);
    if (method == "textDocument/codeAction") return code_actions(params);
    if (method == "textDocument/codeLens") return code_lenses(params);
    throw RpcError{kMethodNotFound, "unknown method `" + method + "`"};
  }

  void notification(const std::string& method, const json& params) {
    if (!initialized_ || shutdown_) return;
    if (method == "initialized") {
      analyze();  // the workspace's problems and symbols before any document is opened
    } else if (method == "textDocument/didOpen") {
      const auto& td = params.at("textDocument");
      const std::string path = path_of(td.at("uri"));
      docs_[path] = {td.at("text").get<std::string>(), integer_member(td, "version", 0)};
      analyze();
    } else if (method == "textDocument/didChange") {
      const std::string path = path_of(params.at("textDocument").at("uri"));
      auto& d = docs_[path];
      for (const auto& ch : params.at("contentChanges")) {
        if (ch.contains("range")) {
          const LineMap lm(d.text);
          const auto b = lm.offset(ch["range"].at("start")), e = lm.offset(ch["range"].at("end"));
          d.text.replace(b, e >= b ? e - b : 0, ch.at("text").get<std::string>());
        } else {
          d.text = ch.at("text").get<std::string>();
        }
      }
      d.version = integer_member(params.at("textDocument"), "version", d.version);
      analyze();
    } else if (method == "textDocument/didClose") {
      docs_.erase(path_of(params.at("textDocument").at("uri")));
      analyze();
    } else if (method == "textDocument/didSave" || method == "workspace/didChangeWatchedFiles") {
      analyze();
    }
    // `$/cancelRequest`, `$/setTrace`, ... and unknown notifications: nothing to do.
  }

  static std::string path_of(const json& uri) {
    const std::string p = uri_to_path(uri.get<std::string>());
    if (p.empty()) throw RpcError{kInvalidParams, "only file:// URIs are supported"};
    return std::filesystem::path(p).lexically_normal().string();
  }

  json initialize(const json& params) {
    if (initialized_) throw RpcError{kInvalidRequest, "initialize was already received"};
    std::string uri;
    if (params.contains("rootUri") && params["rootUri"].is_string()) uri = params["rootUri"];
    else if (params.contains("workspaceFolders") && params["workspaceFolders"].is_array() &&
             !params["workspaceFolders"].empty())
      uri = params["workspaceFolders"][0].at("uri");
    if (!uri.empty()) root_ = path_of(uri);
    else if (params.contains("rootPath") && params["rootPath"].is_string())
      root_ = std::filesystem::path(params["rootPath"].get<std::string>()).lexically_normal().string();
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    initialized_ = true;
    return {
        {"capabilities",
         {{"textDocumentSync", {{"openClose", true}, {"change", 1}, {"save", {{"includeText", false}}}}},
          {"hoverProvider", true},
          {"definitionProvider", true},
          {"referencesProvider", true},
          {"documentSymbolProvider", true},
          {"workspaceSymbolProvider", true},
          {"documentFormattingProvider", true},
          {"completionProvider", {{"triggerCharacters", {"."}}}},
          {"codeActionProvider", {{"codeActionKinds", {"quickfix"}}}},
          {"codeLensProvider", {{"resolveProvider", false}}}}},
        {"serverInfo", {{"name", "treaty"}, {"version", TREATY_VERSION}}}};
  }

  // --- analysis ----------------------------------------------------------------------------------

  bool under_root(const std::string& path) const {
    return !root_.empty() && path.size() > root_.size() && path.compare(0, root_.size(), root_) == 0 &&
           path[root_.size()] == '/';
  }

  void analyze() {
    auto a = std::make_unique<Analysis>();
    std::vector<std::pair<std::string, std::string>> texts;
    std::set<std::string> seen;
    if (read_workspace_ && !root_.empty() && std::filesystem::is_directory(root_)) {
      Diagnostics ignored;  // a workspace without .treaty files is not a problem of a document
      for (const auto& p : collect_treaty_files({root_}, ignored)) {
        const std::string path = std::filesystem::path(p).lexically_normal().string();
        seen.insert(path);
        if (auto it = docs_.find(path); it != docs_.end()) {
          texts.emplace_back(path, it->second.text);
          continue;
        }
        std::string text, error;
        if (read_source_file(path, ParseOptions{}.max_file_bytes, text, error) != ReadResult::ok) {
          log("treaty lsp: skipping `" + path + "`: " + error);
          continue;
        }
        texts.emplace_back(path, std::move(text));
      }
    }
    // Open documents not on disk yet (or outside the workspace folder) join the package.
    for (const auto& [path, d] : docs_)
      if (!seen.count(path) && path.size() > 7 && path.compare(path.size() - 7, 7, ".treaty") == 0)
        texts.emplace_back(path, d.text);
    CompileOptions co;
    co.check.lints = true;
    co.load_for_requirements_only = true;
    a->compiled = compile(a->sm, Sources::from_texts(texts), a->diags, co);
    for (FileId id = 0; id < a->sm.size(); ++id) a->file_of.emplace(a->sm.file(id).path, id);
    if (!a->diags.has_errors() && a->program()) a->index = index_names(a->sm, a->compiled.pkg, *a->program());
    a->diags.sort();
    publish(*a);
    if (a->index) {
      current_ = std::move(a);
      good_.reset();
      good_is_current_ = true;
    } else {
      if (good_is_current_) good_ = std::move(current_);
      good_is_current_ = false;
      current_ = std::move(a);
    }
  }

  const Analysis* good() const { return good_is_current_ ? current_.get() : good_.get(); }

  /// The diagnostic as LSP has it, in the file it is in.
  static json to_lsp(const Analysis& a, const Diagnostic& d) {
    const LineMap lm(a.sm.file(d.span.file).text);
    std::string message = d.message;
    if (d.help) message += "\nhelp: " + *d.help;
    json out = {{"range", lm.range(d.span.begin, d.span.end)},
                {"severity", severity_of(d.severity)},
                {"code", std::string(d.code())},
                {"source", "treaty"},
                {"message", message}};
    json related = json::array();
    for (const auto& n : d.notes) {
      if (!n.span.valid()) {
        out["message"] = out["message"].get<std::string>() + "\nnote: " + n.message;
        continue;
      }
      const LineMap nl(a.sm.file(n.span.file).text);
      related.push_back({{"location", {{"uri", path_to_uri(a.sm.file(n.span.file).path)},
                                       {"range", nl.range(n.span.begin, n.span.end)}}},
                         {"message", n.message}});
    }
    if (!related.empty()) out["relatedInformation"] = related;
    if (d.fix && d.fix->span.valid() && d.fix->span.file == d.span.file)
      out["data"] = {{"fix", {{"range", lm.range(d.fix->span.begin, d.fix->span.end)},
                              {"newText", d.fix->replacement}}}};
    return out;
  }

  void publish(const Analysis& a) {
    std::map<std::string, json> by_path;
    for (const auto& [path, _] : docs_) by_path[path] = json::array();
    for (const auto& p : published_) by_path[p] = json::array();
    for (const auto& d : a.diags.all()) {
      if (!d.span.valid() || d.span.file >= a.sm.size()) continue;
      const std::string& path = a.sm.file(d.span.file).path;
      if (path == "<message>") continue;
      by_path[path].push_back(to_lsp(a, d));
    }
    published_.clear();
    for (auto& [path, list] : by_path) {
      if (!list.empty()) published_.insert(path);
      json p = {{"uri", path_to_uri(path)}, {"diagnostics", std::move(list)}};
      if (auto it = docs_.find(path); it != docs_.end()) p["version"] = it->second.version;
      notify("textDocument/publishDiagnostics", std::move(p));
    }
  }

  // --- requests ----------------------------------------------------------------------------------

  /// The text of a document: the editor's, else the disk's.
  std::string text_of(const std::string& path) const {
    if (auto it = docs_.find(path); it != docs_.end()) return it->second.text;
    std::string text, error;
    if (read_source_file(path, ParseOptions{}.max_file_bytes, text, error) != ReadResult::ok)
      throw RpcError{kRequestFailed, "cannot read `" + path + "`: " + error};
    return text;
  }

  /// The analysed file and offset of a request's textDocument and position in `a`; nullopt when
  /// the analysis does not hold the document's current text.
  std::optional<std::pair<FileId, std::uint32_t>> locate(const Analysis* a, const json& params) const {
    if (!a) return std::nullopt;
    const std::string path = path_of(params.at("textDocument").at("uri"));
    auto it = a->file_of.find(path);
    if (it == a->file_of.end()) return std::nullopt;
    const std::string& text = a->sm.file(it->second).text;
    if (auto d = docs_.find(path); d != docs_.end() && d->second.text != text) return std::nullopt;
    return std::make_pair(it->second, LineMap(text).offset(params.at("position")));
  }

  static bool contains(Span s, FileId f, std::uint32_t off) { return s.file == f && s.begin <= off && off <= s.end && s.begin < s.end; }

  /// The declaration at (file, offset): its name or a use of it.
  static const Declared* declared_at(const Analysis& a, FileId f, std::uint32_t off) {
    const NameIndex& ix = *a.index;
    for (const auto& d : ix.decls)
      if (contains(d.loc, f, off)) return &d;
    for (const auto& [key, uses] : ix.uses)
      for (const auto& u : uses)
        if (contains(u.span, f, off))
          for (const auto& d : ix.decls)
            if (d.key == key) return &d;
    return nullptr;
  }

  static json location(const Analysis& a, Span s) {
    const auto& file = a.sm.file(s.file);
    return {{"uri", path_to_uri(file.path)}, {"range", LineMap(file.text).range(s.begin, s.end)}};
  }

  json hover(const json& params) {
    const Analysis* a = good();
    auto at = locate(a, params);
    if (!at) return nullptr;
    const auto [f, off] = *at;
    const Declared* d = declared_at(*a, f, off);
    std::string type;
    Span where{};
    for (const auto& t : a->index->types)
      if (contains(t.span, f, off)) {
        type = t.type;
        where = t.span;
      }
    if (!d && type.empty()) return nullptr;
    std::string md;
    if (d) {
      std::string decl(a->sm.text(d->text));
      // A long declaration (an entity with many attributes, a rule) shows its first lines.
      std::size_t lines = 0, cut = std::string::npos;
      for (std::size_t i = 0; i < decl.size(); ++i)
        if (decl[i] == '\n' && ++lines == 12) {
          cut = i;
          break;
        }
      if (cut != std::string::npos) decl = decl.substr(0, cut) + "\n  ...";
      md += "```treaty\n" + decl + "\n```\n\n*" + d->kind + "* `" + d->qualified + "`";
      if (!type.empty()) md += ": `" + type + "`";
      if (!d->doc.empty()) md += "\n\n" + d->doc;
      if (!where.valid()) where = d->loc;
      for (const auto& [key, uses] : a->index->uses)
        for (const auto& u : uses)
          if (key == d->key && contains(u.span, f, off)) where = u.span;
    } else {
      md = "`" + std::string(a->sm.text(where)) + "`: `" + type + "`";
    }
    return {{"contents", {{"kind", "markdown"}, {"value", md}}},
            {"range", LineMap(a->sm.file(f).text).range(where.begin, where.end)}};
  }

  json definition(const json& params) {
    const Analysis* a = good();
    auto at = locate(a, params);
    if (!at) return nullptr;
    const Declared* d = declared_at(*a, at->first, at->second);
    if (!d) return nullptr;
    return location(*a, d->loc);
  }

  json references(const json& params) {
    const Analysis* a = good();
    auto at = locate(a, params);
    json out = json::array();
    if (!at) return out;
    const Declared* d = declared_at(*a, at->first, at->second);
    if (!d) return out;
    const bool with_decl = params.contains("context") && params["context"].value("includeDeclaration", false);
    if (with_decl) out.push_back(location(*a, d->loc));
    if (auto it = a->index->uses.find(d->key); it != a->index->uses.end())
      for (const auto& u : it->second) out.push_back(location(*a, u.span));
    return out;
  }

  // Symbols, from what the parser read (so they are there while the package has errors).
  static json symbol(const LineMap& lm, const std::string& name, int kind, Span whole, Span sel, json children = {}) {
    if (!sel.valid()) sel = whole;
    json s = {{"name", name.empty() ? std::string("?") : name},
              {"kind", kind},
              {"range", lm.range(whole.begin, whole.end)},
              {"selectionRange", lm.range(sel.begin, sel.end)}};
    if (!children.is_null() && !children.empty()) s["children"] = std::move(children);
    return s;
  }

  static json symbols_of(const Analysis& a, const syntax::File& file) {
    const LineMap lm(a.sm.file(file.file).text);
    json out = json::array();
    for (const auto& decl : file.decls) {
      const Span whole = syntax::decl_span(decl);
      if (!whole.valid()) continue;
      if (const auto* d = syntax::get_if<syntax::EntityDecl>(&decl)) {
        json kids = json::array();
        for (const auto& at : d->attrs)
          kids.push_back(symbol(lm, at.name.name, 8, Span::cover(at.name.span, at.type.span), at.name.span));
        out.push_back(symbol(lm, d->name.name, 5, whole, d->name.span, kids));
      } else if (const auto* e = syntax::get_if<syntax::EnumDecl>(&decl)) {
        json kids = json::array();
        for (const auto& v : e->values) kids.push_back(symbol(lm, v.name, 22, v.span, v.span));
        out.push_back(symbol(lm, e->name.name, 10, whole, e->name.span, kids));
      } else if (const auto* ac = syntax::get_if<syntax::ActionDecl>(&decl)) {
        out.push_back(symbol(lm, ac->name.name, 12, whole, ac->name.span));
      } else if (const auto* p = syntax::get_if<syntax::PredicateDecl>(&decl)) {
        out.push_back(symbol(lm, p->name.name, 12, whole, p->name.span));
      } else if (const auto* r = syntax::get_if<syntax::RuleDecl>(&decl)) {
        out.push_back(symbol(lm, r->name.name, 6, whole, r->name.span));
      } else if (const auto* rq = syntax::get_if<syntax::RequireDecl>(&decl)) {
        out.push_back(symbol(lm, rq->name.name, 11, whole, rq->name.span));
      } else if (const auto* t = syntax::get_if<syntax::TestDecl>(&decl)) {
        out.push_back(symbol(lm, t->name, 24, whole, t->name_span));
      } else if (const auto* pp = syntax::get_if<syntax::PropertyDecl>(&decl)) {
        out.push_back(symbol(lm, pp->name.name, 7, whole, pp->name.span));
      } else if (const auto* fa = syntax::get_if<syntax::FactDecl>(&decl)) {
        out.push_back(symbol(lm, fa->type.name + "::" + quote_string(fa->id), 14, whole, fa->type.span));
      }
    }
    return out;
  }

  const syntax::File* current_file(const std::string& path) const {
    if (!current_) return nullptr;
    auto it = current_->file_of.find(path);
    return it == current_->file_of.end() ? nullptr : current_->syntax_of(it->second);
  }

  json document_symbols(const json& params) {
    const syntax::File* f = current_file(path_of(params.at("textDocument").at("uri")));
    return f ? symbols_of(*current_, *f) : json::array();
  }

  json workspace_symbols(const json& params) {
    std::string q = params.value("query", "");
    std::transform(q.begin(), q.end(), q.begin(), [](unsigned char c) { return std::tolower(c); });
    json out = json::array();
    if (!current_) return out;
    std::function<void(const json&, const std::string&, const std::string&)> add = [&](const json& s,
                                                                                      const std::string& uri,
                                                                                      const std::string& container) {
      std::string n = s["name"];
      std::string low = n;
      std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return std::tolower(c); });
      if (low.find(q) != std::string::npos && out.size() < 1000) {
        json sym = {{"name", n}, {"kind", s["kind"]}, {"location", {{"uri", uri}, {"range", s["selectionRange"]}}}};
        if (!container.empty()) sym["containerName"] = container;
        out.push_back(std::move(sym));
      }
      if (s.contains("children"))
        for (const auto& c : s["children"]) add(c, uri, n);
    };
    for (const auto& f : current_->compiled.pkg.files) {
      const std::string& path = current_->sm.file(f.file).path;
      for (const auto& s : symbols_of(*current_, f)) add(s, path_to_uri(path), "");
    }
    return out;
  }

  json formatting(const json& params) {
    const std::string path = path_of(params.at("textDocument").at("uri"));
    const std::string text = text_of(path);
    SourceManager sm;
    const FileId id = sm.add(path, text);
    Diagnostics d;
    const auto file = parse_file(sm, id, d);
    if (d.has_errors())
      throw RpcError{kRequestFailed, "not formatting `" + path + "`: it has syntax errors"};
    const std::string out = format_file(sm, file);
    // Never an edit that would change the meaning (the check `treaty fmt` makes).
    Diagnostics again_d;
    const auto again = parse_file(sm, sm.add(path + " (formatted)", out), again_d);
    if (again_d.has_errors() || !(again == file))
      throw RpcError{kInternalError, "formatting `" + path + "` would change its meaning; not formatted"};
    json edits = json::array();
    if (out != text) {
      const LineMap lm(text);
      edits.push_back({{"range", lm.range(0, static_cast<std::uint32_t>(text.size()))}, {"newText", out}});
    }
    return edits;
  }

  json code_actions(const json& params) {
    const std::string uri = params.at("textDocument").at("uri");
    json out = json::array();
    for (const auto& d : params.at("context").value("diagnostics", json::array())) {
      if (!d.contains("data") || !d["data"].is_object() || !d["data"].contains("fix")) continue;
      const auto& fix = d["data"]["fix"];
      // The diagnostic is echoed with the fields LSP defines only: what else the client put in it
      // (of any depth) is not written back.
      json echoed = {{"range", d.at("range")}, {"message", d.value("message", "")}};
      for (const char* k : {"severity", "code", "source"})
        if (d.contains(k) && !d[k].is_structured()) echoed[k] = d[k];
      out.push_back({{"title", "Replace with `" + fix.at("newText").get<std::string>() + "`"},
                     {"kind", "quickfix"},
                     {"diagnostics", json::array({echoed})},
                     {"isPreferred", true},
                     {"edit", {{"changes", {{uri, json::array({{{"range", fix.at("range")},
                                                                {"newText", fix.at("newText")}}})}}}}}});
    }
    return out;
  }

  json code_lenses(const json& params) {
    const std::string path = path_of(params.at("textDocument").at("uri"));
    json out = json::array();
    const syntax::File* f = current_file(path);
    if (!f) return out;
    const LineMap lm(current_->sm.file(f->file).text);
    for (const auto& decl : f->decls) {
      if (const auto* t = syntax::get_if<syntax::TestDecl>(&decl)) {
        const Span s = t->name_span.valid() ? t->name_span : t->span;
        out.push_back({{"range", lm.range(s.begin, s.end)},
                       {"command", {{"title", "\u25B6 Run test"},
                                    {"command", "treaty.runTest"},
                                    {"arguments", {path_to_uri(path), t->name}}}}});
      } else if (const auto* p = syntax::get_if<syntax::PropertyDecl>(&decl)) {
        const Span s = p->name.span.valid() ? p->name.span : p->span;
        out.push_back({{"range", lm.range(s.begin, s.end)},
                       {"command", {{"title", "\u25B6 Verify property"},
                                    {"command", "treaty.verifyProperty"},
                                    {"arguments", {path_to_uri(path), p->name.name}}}}});
      }
    }
    return out;
  }

  // --- completion --------------------------------------------------------------------------------

  json completion(const json& params) {
    const std::string path = path_of(params.at("textDocument").at("uri"));
    const std::string text = text_of(path);
    const LineMap lm(text);
    std::uint32_t off = lm.offset(params.at("position"));
    // The word being typed, and what stands before it.
    std::uint32_t start = off;
    while (start > 0 && is_ident_char(text[start - 1])) --start;
    json items = json::array();
    std::set<std::string> seen;
    auto item = [&](const std::string& label, int kind, const std::string& detail) {
      if (!seen.insert(label).second) return;
      items.push_back({{"label", label}, {"kind", kind}, {"detail", detail}});
    };
    const Analysis* a = good();
    const Program* p = a ? a->program() : nullptr;
    if (start > 0 && text[start - 1] == '.') {
      std::uint32_t b = start - 1;
      while (b > 0 && is_ident_char(text[b - 1])) --b;
      const std::string base = text.substr(b, start - 1 - b);
      if (!p) return items;
      if (auto en = p->schema.find_enum(base)) {
        for (const auto& v : p->schema.enums[*en].values) item(v, 20, base);
        return items;
      }
      // The base's type, where the index saw the same name typed in this file (nearest before).
      std::string type;
      if (auto it = a->file_of.find(path); it != a->file_of.end())
        for (const auto& t : a->index->types)
          if (t.span.file == it->second && t.span.begin <= b && a->sm.text(t.span) == base) type = t.type;
      for (const auto& et : p->schema.entities) {
        if (!type.empty() && et.name != type && type != et.name + "?") continue;
        for (const auto& at : et.attrs) item(at.name, 5, et.name + "." + at.name + ": " + p->schema.type_name(at.type));
      }
      return items;
    }
    if (p) {
      // The variables read in the declaration around the cursor (bindings, parameters, `exists`
      // variables), with their types: the names in scope there.
      if (auto it = a->file_of.find(path); it != a->file_of.end())
        if (const syntax::File* sf = a->syntax_of(it->second))
          for (const auto& decl : sf->decls) {
            const Span ds = syntax::decl_span(decl);
            if (!(ds.begin <= off && off <= ds.end)) continue;
            for (const auto& t : a->index->types) {
              if (t.span.file != it->second || t.span.begin < ds.begin || t.span.end > ds.end) continue;
              const std::string_view name = a->sm.text(t.span);
              // A variable read is a bare name; an attribute's span is its name after a `.`.
              if (t.span.begin > 0 && a->sm.file(it->second).text[t.span.begin - 1] == '.') continue;
              item(std::string(name), 6, t.type);
            }
          }
      for (const auto& et : p->schema.entities) item(et.name, 7, "entity type");
      for (const auto& en : p->schema.enums) {
        item(en.name, 13, "enum");
        for (const auto& v : en.values) item(v, 20, en.name);
      }
      for (const auto& ac : p->schema.actions) item(ac.name, 3, "action");
      for (const auto& pr : p->predicates) item(pr.name, 3, "predicate");
    }
    for (const char* kw : {"enum",  "entity", "action", "predicate", "permit", "forbid",   "principal", "resource",
                           "when",  "unless", "require", "forall",   "ensure", "message",  "test",      "given",
                           "expect", "allow", "deny",    "because",  "property", "exists", "where",     "in",
                           "and",   "or",     "not",     "is",       "any",    "true",     "false",     "none",
                           "key",   "inline"})
      item(kw, 14, "keyword");
    return items;
  }
};

struct LspOptions {
  bool stdio = true;
};

}  // namespace

int run_lsp(std::FILE* in, std::ostream& out, bool read_workspace) {
  Server s(in, out, read_workspace);
  return s.run();
}

std::function<int()> setup_lsp(CLI::App& app) {
  auto o = std::make_shared<LspOptions>();
  app.add_flag("--stdio", o->stdio, "Talk LSP over stdin and stdout (the default and only transport)");
  return [o] {
    std::ios::sync_with_stdio(false);
    return run_lsp(stdin, std::cout, true);
  };
}

}  // namespace treaty::cli
