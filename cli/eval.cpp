// `treaty eval`: decide requests from flags, a JSON file or JSON Lines, with explanations and
// field masks.
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "treaty/check.hpp"
#include "treaty/convert.hpp"
#include "treaty/log.hpp"
#include "treaty/parse.hpp"
#include "treaty/request_reader.hpp"

namespace treaty::cli {

namespace {
bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

bool split_action(std::string_view text, std::string& name, std::vector<std::pair<std::string, std::string>>& args,
                  std::string& why) {
  text = trim(text);
  std::size_t i = 0;
  while (i < text.size() && (i == 0 ? ident_start(text[i]) : ident_char(text[i]))) ++i;
  if (i == 0) {
    why = "--action must start with the action's name";
    return false;
  }
  name = text.substr(0, i);
  std::string_view rest = trim(text.substr(i));
  if (rest.empty()) return true;
  if (rest.front() != '(' || rest.back() != ')') {
    why = "--action is a name, or a name and `(parameter: value, ...)`";
    return false;
  }
  rest = rest.substr(1, rest.size() - 2);
  std::vector<std::string_view> pieces;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t k = 0; k < rest.size(); ++k) {
    const char c = rest[k];
    if (c == '"') {
      for (++k; k < rest.size() && rest[k] != '"'; ++k)
        if (rest[k] == '\\') ++k;
    } else if (c == '(' || c == '{' || c == '[') {
      ++depth;
    } else if (c == ')' || c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 0) {
      pieces.push_back(rest.substr(start, k - start));
      start = k + 1;
    }
  }
  if (!trim(rest).empty()) pieces.push_back(rest.substr(start));
  for (auto piece : pieces) {
    piece = trim(piece);
    std::size_t n = 0;
    while (n < piece.size() && (n == 0 ? ident_start(piece[n]) : ident_char(piece[n]))) ++n;
    const std::string_view value = trim(piece.substr(n));
    if (n == 0 || value.empty() || value.front() != ':' || trim(value.substr(1)).empty()) {
      why = "each argument of --action is `parameter: value`, not `" + std::string(piece) + "`";
      return false;
    }
    args.emplace_back(std::string(piece.substr(0, n)), std::string(trim(value.substr(1))));
  }
  return true;
}

namespace {

/// Reads `--principal T::"id" --action 'name(arg: v)' --resource T::"id"` with the language's own
/// expression parser and the request converter a JSON request uses, so the flags accept what a
/// `test` expectation does and fail the same way.
bool request_from_flags(Loaded& l, const std::string& principal, const std::string& action,
                        const std::string& resource, Overlay& overlay, Request& out,
                        const std::string& mask = {}, std::uint32_t* mask_index = nullptr) {
  const auto& p = l.engine->program();
  Diagnostics d;
  std::string why;
  auto parse = [&](const std::string& what, const std::string& text, syntax::Expr& e) {
    const auto id = l.sm.add(what, text);
    return parse_expression(l.sm, id, e, d);
  };
  syntax::Expr pe, re;
  std::string aname;
  std::vector<std::pair<std::string, std::string>> arg_texts;
  bool ok = parse("--principal", principal, pe) && parse("--resource", resource, re) &&
            split_action(action, aname, arg_texts, why);
  if (ok && (pe.kind != syntax::Expr::Kind::entity_ref || re.kind != syntax::Expr::Kind::entity_ref)) {
    why = "--principal and --resource are entities, as in Person::\"alice\"";
    ok = false;
  }
  std::vector<syntax::Expr> arg_values(arg_texts.size());
  for (std::size_t i = 0; ok && i < arg_texts.size(); ++i)
    ok = parse("--action " + arg_texts[i].first, arg_texts[i].second, arg_values[i]);
  if (!ok) {
    std::cerr << render_human(l.sm, d.all());
    std::cerr << "treaty: error: cannot read the request flags" << (why.empty() ? "" : ": " + why)
              << "; write them as in a test: --principal 'Person::\"alice\"' "
                 "--action 'assign_task(kind: approval)' --resource 'Person::\"bob\"'\n";
    return false;
  }
  OverlayResolver res(overlay);
  RequestConverter conv(p.schema, res);
  std::string error;
  if (conv.principal(pe.name, pe.str(), error) && conv.resource(re.name, re.str(), error) && conv.action(aname, error)) {
    for (std::size_t i = 0; i < arg_texts.size() && error.empty(); ++i) {
      Span where;
      if (conv.arg(arg_texts[i].first, to_constant(arg_values[i]), error, where) ==
          RequestConverter::ArgProblem::bad_value)
        error = "argument `" + arg_texts[i].first + "`: " + error;
    }
    auto& parts = conv.parts();
    const auto& act = p.schema.actions[parts.action];
    if (error.empty() && !mask.empty()) {
      const auto idx = conv.param(mask);
      if (!idx) {
        error = "action `" + act.name + "` has no parameter `" + mask + "` to mask";
      } else if (act.params[*idx].type.base != Base::enum_ || act.params[*idx].type.set) {
        error = "--mask needs an enum parameter; `" + mask + "` is `" + p.schema.type_name(act.params[*idx].type) + "`";
      } else if (parts.given[*idx]) {
        error = "--mask " + mask + ": leave the masked parameter out of --action";
      } else {
        parts.given[*idx] = true;
        parts.args[*idx] = Value::enumv(act.params[*idx].type.enum_id, 0);
        *mask_index = static_cast<std::uint32_t>(*idx);
      }
    }
    if (error.empty() &&
        l.engine->make_request(parts.principal_type, parts.principal_id, parts.action, std::move(parts.args),
                               std::move(parts.given), parts.resource_type, parts.resource_id, &overlay, out, error))
      return true;
  }
  std::cerr << "treaty: error: bad request: " << error << "\n";
  return false;
}

/// The answers, written through one buffer (flushed when large and at the end).
class Output {
 public:
  Output() { buf_.reserve(kFlush + 4096); }
  ~Output() { flush(); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlush) flush();
  }
  void flush() {
    if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), stdout);
    buf_.clear();
    std::fflush(stdout);
  }

 private:
  // Written out every 64 KiB: a larger buffer (it was 1 MiB) takes half of a core's 2 MiB L2
  // from the world a decision reads (--requests on the M world: 0.93-0.95x the time).
  static constexpr std::size_t kFlush = 1 << 16;
  std::string buf_;
};

// The lines of a JSON Lines file, read through one reused buffer (1 MiB, grown for a longer
// line) rather than whole: reading a 120 MB file of a million requests whole cost a quarter of
// `eval --requests`'s time in the kernel's zeroing of fresh pages, and memory grew with the file.
class Lines {
 public:
  ~Lines() {
    if (f_) std::fclose(f_);
  }
  bool open(const std::string& path, std::string& error) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      error = "is a directory";
      return false;
    }
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) error = std::strerror(errno);
    return f_ != nullptr;
  }
  // The next line without its '\n' (valid until the next call); false at the end, with `error`
  // set when reading failed.
  bool next(std::string_view& line, std::string& error) {
    for (;;) {
      const char* b = buf_.data() + begin_;
      if (const void* nl = std::memchr(b, '\n', end_ - begin_)) {
        const auto len = static_cast<std::size_t>(static_cast<const char*>(nl) - b);
        line = std::string_view(b, len);
        begin_ += len + 1;
        return true;
      }
      if (eof_) {
        if (begin_ == end_) return false;
        line = std::string_view(b, end_ - begin_);  // the last line, without a '\n'
        begin_ = end_;
        return true;
      }
      // Keep the partial line, grow for a line longer than the buffer, and read more.
      std::memmove(buf_.data(), b, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (buf_.size() - end_ < kChunk / 2) buf_.resize(buf_.size() * 2);
      const std::size_t got = std::fread(buf_.data() + end_, 1, buf_.size() - end_, f_);
      end_ += got;
      if (got == 0) {
        if (std::ferror(f_)) {
          error = "read error";
          return false;
        }
        eof_ = true;
      }
    }
  }

 private:
  static constexpr std::size_t kChunk = 1 << 20;
  std::FILE* f_ = nullptr;
  std::string buf_ = std::string(kChunk, '\0');
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
};

void print_decision(Loaded& l, const DecisionWriter& w, const Decision& d, const Request& r,
                    const std::string& format, bool explain, std::string& out) {
  append_decision(out, *l.engine, l.sm, w, d, r, format, explain);
}

/// The decision as a picture (treaty/graph.hpp), written whole to stdout or --output.
int draw_decision(Loaded& l, const Decision& d, const Request& r, const std::string& format, const std::string& output) {
  const Graph g = decision_graph(*l.engine, d, r, &l.sm);
  std::string text, error;
  if (!render_picture(g, format, text, error) || !write_output(output, text, error)) {
    std::cerr << "treaty: error: " << error << "\n";
    return kUsage;
  }
  return kOk;
}

int run_eval(const std::vector<std::string>& paths, const std::vector<std::string>& data, const std::string& request,
             const std::string& requests, const std::string& principal, const std::string& action,
             const std::string& resource, bool explain, const std::string& format, const std::string& mask,
             const std::string& bundle, const std::string& output) {
  const bool picture = format == "dot" || format == "svg" || format == "mermaid";
  if (bundle.empty() == paths.empty()) {
    std::cerr << "treaty: error: give either policy PATHs or --bundle FILE\n";
    return kUsage;
  }
  if (!bundle.empty() && !data.empty()) {
    std::cerr << "treaty: error: --data goes into the bundle at `treaty compile`; it cannot be added to --bundle\n";
    return kUsage;
  }
  const int sources = !request.empty() + !requests.empty() + !(principal.empty() && action.empty() && resource.empty());
  if (sources != 1) {
    std::cerr << "treaty: error: give exactly one of --request FILE, --requests FILE or --principal/--action/--resource\n";
    return kUsage;
  }
  if (!mask.empty() && explain) {
    std::cerr << "treaty: error: --mask lists the allowed values of a parameter; it has no explanation: leave out "
                 "--explain, or give the value in --action and --explain that decision\n";
    return kUsage;
  }
  if (!mask.empty() && principal.empty()) {
    std::cerr << "treaty: error: --mask goes with --principal, --action and --resource\n";
    return kUsage;
  }
  if (picture && !explain) {
    std::cerr << "treaty: error: --format " << format << " draws the explanation of a decision: add --explain\n";
    return kUsage;
  }
  if (picture && !requests.empty()) {
    std::cerr << "treaty: error: --format " << format
              << " draws one decision: give --request FILE or --principal/--action/--resource, not --requests\n";
    return kUsage;
  }
  if (!output.empty() && !picture) {
    std::cerr << "treaty: error: --output goes with --format dot, svg or mermaid\n";
    return kUsage;
  }
  if (request.empty() && requests.empty() && (principal.empty() || action.empty() || resource.empty())) {
    std::cerr << "treaty: error: --principal, --action and --resource go together\n";
    return kUsage;
  }
  Loaded l;
  LoadOptions lo;
  lo.paths = paths;
  lo.data = data;
  lo.bundle = bundle;
  if (!load_or_report(l, lo)) return exit_for(l.diags);
  StageTimer t("evaluate");
  if (!principal.empty()) {
    Overlay overlay(l.engine->program());
    Request r;
    std::uint32_t mask_index = 0;
    if (!request_from_flags(l, principal, action, resource, overlay, r, mask, &mask_index)) return kUsage;
    if (!mask.empty()) {
      // A field mask: every value of the parameter that would be allowed, in one call.
      const auto& p = l.engine->program();
      const auto& ptype = p.schema.actions[r.action].params[mask_index].type;
      nlohmann::json allowed = nlohmann::json::array();
      for (auto v : l.engine->allowed_values(r, mask_index)) allowed.push_back(p.schema.enums[ptype.enum_id].values[v]);
      if (format == "json") {
        std::cout << nlohmann::json{{"parameter", mask}, {"allowed", allowed}}.dump() << "\n";
      } else {
        std::string line;
        for (const auto& v : allowed) line += (line.empty() ? "" : ", ") + v.get<std::string>();
        std::cout << mask << ": " << (line.empty() ? "(none)" : line) << "\n";
      }
      return kOk;
    }
    const auto d = l.engine->decide(r, explain);
    if (picture) return draw_decision(l, d, r, format, output);
    const DecisionWriter w(*l.engine, &l.sm);
    std::string out;
    print_decision(l, w, d, r, format, explain, out);
    std::cout << out << std::flush;
    t.set_result(std::string("1 request: ") + (d.allow ? "allow" : "deny"));
    return kOk;
  }
  const std::string& path = request.empty() ? requests : request;
  std::string text, err;
  Lines lines;
  if (!(request.empty() ? lines.open(path, err) : read_file(path, text, err))) {
    std::cerr << "treaty: error: cannot read " << path << ": " << err << "\n";
    return kUsage;
  }
  std::cout << std::flush;
  const DecisionWriter writer(*l.engine, &l.sm);
  RequestReader reader(*l.engine);
  Output out;
  int rc = kOk;
  std::size_t n = 0;
  Request fast;
  // Each document: the whole file for --request, each non-blank line for --requests.
  auto answer = [&](std::size_t line, std::string_view doc) {
    ++n;
    // The hot path: a plain request read with simdjson, no JSON tree, no overlay. Anything else
    // (inline entities, other arguments, every error) is read below as it always was.
    if (!requests.empty() && reader.read(doc, fast)) {
      print_decision(l, writer, l.engine->decide(fast, explain), fast, format, explain, out.buf());
      out.maybe_flush();
      return;
    }
    std::string at = path + (requests.empty() ? "" : ":" + std::to_string(line));
    nlohmann::json j;
    const auto bad_json = parse_json(doc, j);
    Overlay overlay(l.engine->program());
    Request r;
    std::string error;
    if (bad_json) {
      // Where and why, as for a facts file: path:line:column of the first bad character (or of a
      // key given twice).
      const auto& bad = *bad_json;
      SourceManager where;
      const auto lc = where.line_col(where.add(path, std::string(doc)),
                                     static_cast<std::uint32_t>(std::min(bad.offset, doc.size())));
      at = path + ":" + std::to_string(line + lc.line - 1) + ":" + std::to_string(lc.column);
      error = "invalid JSON: " + bad.message;
    } else if (!l.engine->request_from_json(j, overlay, r, error)) {}
    if (!error.empty()) {
      // A bad request is an error, never a deny; in a batch it is answered in place.
      if (format == "json") {
        DecisionWriter::write_error(at + ": " + error, out.buf());
        out.buf().push_back('\n');
      } else {
        out.buf() += "error: " + at + ": " + error + "\n";
      }
      out.flush();  // the answers so far before the message, as when each line was written out
      std::cerr << "treaty: error: " << at << ": bad request: " << error << "\n";
      rc = kUsage;
      return;
    }
    if (picture) {
      rc = draw_decision(l, l.engine->decide(r, true), r, format, output);
      return;
    }
    print_decision(l, writer, l.engine->decide(r, explain), r, format, explain, out.buf());
    out.maybe_flush();
  };
  if (!request.empty()) {
    answer(1, text);
  } else {
    std::size_t line = 0;
    std::string_view ln;
    while (lines.next(ln, err)) {
      ++line;
      if (ln.find_first_not_of(" \t\r") != std::string_view::npos) answer(line, ln);
    }
    if (!err.empty()) {
      out.flush();
      std::cerr << "treaty: error: cannot read " << path << " after line " << line << ": " << err << "\n";
      return kUsage;
    }
  }
  out.flush();
  t.set_result(std::to_string(n) + " requests");
  return rc;
}


struct EvalOptions {
  std::vector<std::string> paths, data;
  std::string request, requests, principal, action, resource, format = "text", mask, bundle, output;
  bool explain = false;
};
}  // namespace

std::function<int()> setup_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  app.add_option("paths", o->paths, "Files or directories (or --bundle)");
  app.add_option("--bundle", o->bundle, "A bundle written by `treaty compile`, instead of PATHs");
  app.add_option("--data", o->data, "JSON facts file (repeatable)");
  app.add_option("--request", o->request, "A JSON request file");
  app.add_option("--requests", o->requests, "A JSON Lines file of requests, answered in order");
  app.add_option("--principal", o->principal, "The principal, as `Type::\"id\"`");
  app.add_option("--action", o->action, "The action, as `name` or `name(param: value)`");
  app.add_option("--resource", o->resource, "The resource, as `Type::\"id\"`");
  app.add_flag("--explain", o->explain,
               "Explain the decision: in words (text), as determining rules and misses (json), or as a picture of "
               "the facts it read (dot, svg, mermaid)");
  app.add_option("--mask", o->mask,
                 "With --principal/--action/--resource: list the values of this enum parameter (left out of "
                 "--action) that would be allowed, e.g. --mask field");
  add_format_option(app, o->format, {"text", "json", "dot", "svg", "mermaid"});
  app.add_option("-o,--output", o->output, "With --format dot, svg or mermaid: write the picture to FILE (atomically)");
  return [o] {
    return run_eval(o->paths, o->data, o->request, o->requests, o->principal, o->action, o->resource, o->explain,
                    o->format, o->mask, o->bundle, o->output);
  };
}

}  // namespace treaty::cli
