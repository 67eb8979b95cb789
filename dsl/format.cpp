#include "treaty/format.hpp"

#include <algorithm>
#include <span>

#include "treaty/parse.hpp"

namespace treaty {
namespace {

using namespace syntax;
using K = Expr::Kind;

// Binding strength: or 1, and 2, not 3, comparisons 4, postfix 5, primaries 6.
int prec(const Expr& e) {
  switch (e.kind) {
    case K::or_: return 1;
    case K::and_: return 2;
    case K::not_: return 3;
    case K::cmp: case K::in: case K::is: return 4;
    case K::attr: case K::method: return 5;
    default: return 6;
  }
}

const char* op_text(CmpOp op) {
  switch (op) {
    case CmpOp::eq: return "==";
    case CmpOp::ne: return "!=";
    case CmpOp::lt: return "<";
    case CmpOp::le: return "<=";
    case CmpOp::gt: return ">";
    case CmpOp::ge: return ">=";
  }
  return "==";
}

bool is_open_ended(const Expr& e) { return e.kind == K::exists || e.kind == K::exists_in; }

/// Whether `e`, printed in a context of binding strength `min_prec` and followed by more text
/// (`followed`), needs parentheses. An `exists` body runs as far as it can, so an `exists` that
/// something follows is always parenthesized.
bool needs_parens(const Expr& e, int min_prec, bool followed) {
  return prec(e) < min_prec || (followed && is_open_ended(e));
}

/// Chains parenthesize chains inside them: `(a and b) or c` reads better than `a and b or c`.
int chain_child_prec(const Expr&) { return 3; }

std::string pr(const Expr& e, int min_prec, bool followed);

std::string join(const std::vector<Expr>& kids, std::size_t from = 0) {
  std::string s;
  for (std::size_t i = from; i < kids.size(); ++i) {
    if (i > from) s += ", ";
    s += pr(kids[i], 0, false);
  }
  return s;
}

std::string pr_bare(const Expr& e, bool followed) {
  switch (e.kind) {
    case K::bool_lit: return e.bool_value ? "true" : "false";
    case K::int_lit: return std::to_string(e.int_value);
    case K::string_lit: return quote_string(e.str());
    case K::none_lit: return "none";
    case K::set_lit: return "{" + join(e.kids) + "}";
    case K::entity_ref: return e.name + "::" + quote_string(e.str());
    case K::name: return e.name;
    case K::attr: return pr(e.kids.at(0), 5, true) + "." + e.name;
    case K::call: return e.name + "(" + join(e.kids) + ")";
    case K::method: return pr(e.kids.at(0), 5, true) + "." + e.name + "(" + join(e.kids, 1) + ")";
    // `not (a == b)`: the language reads `not a == b` the same way, but people do not.
    case K::not_: return "not " + pr(e.kids.at(0), 5, followed);
    case K::and_:
    case K::or_: {
      std::string s;
      const int cp = chain_child_prec(e);
      for (std::size_t i = 0; i < e.kids.size(); ++i) {
        if (i) s += e.kind == K::and_ ? " and " : " or ";
        s += pr(e.kids[i], cp, i + 1 < e.kids.size() || followed);
      }
      return s;
    }
    case K::cmp: return pr(e.kids.at(0), 5, true) + " " + op_text(e.op) + " " + pr(e.kids.at(1), 5, followed);
    case K::in: return pr(e.kids.at(0), 5, true) + " in " + pr(e.kids.at(1), 5, followed);
    case K::is: return pr(e.kids.at(0), 5, true) + " is " + e.name;
    case K::exists: return "exists " + e.var().name + ": " + e.name + " where " + pr(e.kids.at(0), 0, false);
    case K::exists_in:
      return "exists " + e.var().name + " in " + pr(e.kids.at(0), 5, true) + " where " + pr(e.kids.at(1), 0, false);
  }
  return "";
}

std::string pr(const Expr& e, int min_prec, bool followed) {
  if (needs_parens(e, min_prec, followed)) return "(" + pr_bare(e, false) + ")";
  return pr_bare(e, followed);
}

std::string type_text(const TypeRef& t) {
  switch (t.kind) {
    case TypeRef::Kind::named: return t.name;
    case TypeRef::Kind::set: return "Set<" + type_text(t.args.at(0)) + ">";
    case TypeRef::Kind::optional: return type_text(t.args.at(0)) + "?";
  }
  return "";
}

std::string names_text(std::span<const Ident> v, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += v[i].name;
  }
  return s;
}

struct Line {
  std::size_t indent = 0;
  std::string text;
  std::string trailing;  ///< a comment that stood at the end of this line
  bool blank_before = false;
  /// The line is or ends with a `///` comment that documents nothing (it stood inside or after
  /// a declaration): the next item that takes a doc must not begin on the next line.
  bool stray_doc = false;
};

/// Collects output lines and weaves the source's comments between them: a comment that began
/// before the anchor of the next line is printed on its own line (if it stood on its own line in
/// the source) or after the previous line (if it trailed code).
class Printer {
 public:
  Printer(const SourceManager& sm, const File& f, const FormatOptions& o) : opts_(o), comments_(f.comments) {
    if (f.file != kNoFile && f.file < sm.size()) text_ = sm.file(f.file).text;
    consumed_.assign(comments_.size(), false);
  }

  /// Marks the `///` comments directly before `offset` as printed (they come back as the doc).
  /// The next line starts a top-level declaration (it may get a blank line before it).
  void mark_top() { top_pending_ = true; }

  /// The next line starts an item that takes a doc (a declaration, a fact): a `///` comment on
  /// the line before it would become its doc when the output is parsed again, so a stray one
  /// gets a blank line after it (a blank line ends a doc).
  void mark_documented() { doc_pending_ = true; }

  /// Returns where the doc begins (or `offset` when there is none in the source).
  std::uint32_t consume_doc(std::uint32_t offset) {
    std::size_t i = 0;
    while (i < comments_.size() && comments_[i].span.end <= offset) ++i;
    std::uint32_t next = offset;
    while (i > 0 && comments_[i - 1].is_doc && blank_between(comments_[i - 1].span.end, next)) {
      consumed_[i - 1] = true;
      next = comments_[i - 1].span.begin;
      --i;
    }
    return next;
  }

  void flush_comments(std::uint32_t anchor, std::size_t indent) {
    for (std::size_t i = 0; i < comments_.size(); ++i) {
      const auto& c = comments_[i];
      if (consumed_[i] || c.span.begin >= anchor) continue;
      consumed_[i] = true;
      if (!c.own_line && !lines_.empty() && lines_.back().trailing.empty()) {
        lines_.back().trailing = c.text;
        lines_.back().stray_doc = c.is_doc;
      } else {
        Line l{indent, c.text, {}, false};
        if (indent == 0) l.blank_before = source_blank_before(c.span.begin);
        l.stray_doc = c.is_doc;
        push(std::move(l), c.span.end);
      }
    }
  }

  /// Adds a line whose content comes from source offset `anchor` (invalid: 0xffffffff).
  void line(std::size_t indent, std::string text, std::uint32_t anchor) {
    if (anchor != kNone) flush_comments(anchor, indent);
    Line l{indent, std::move(text), {}, false};
    if (top_pending_) l.blank_before = anchor == kNone ? !lines_.empty() : source_blank_before(anchor);
    if (doc_pending_ && !lines_.empty() && lines_.back().stray_doc) l.blank_before = true;
    top_pending_ = doc_pending_ = false;
    push(std::move(l), anchor);
  }

  void append_to_last(const std::string& s) {
    if (!lines_.empty()) lines_.back().text += s;
  }

  std::string finish() {
    flush_comments(kNone, 0);
    std::string out;
    for (std::size_t i = 0; i < lines_.size(); ++i) {
      const auto& l = lines_[i];
      if (l.blank_before && i > 0) out += "\n";
      if (!l.text.empty()) out += std::string(l.indent, ' ') + l.text;
      if (!l.trailing.empty()) out += (l.text.empty() ? std::string(l.indent, ' ') : std::string("  ")) + l.trailing;
      out += "\n";
    }
    return out;
  }

  // ----- expressions -----

  bool breakable(const Expr& e) const {
    if (e.kind == K::not_) return breakable(e.kids.at(0));
    return e.kind == K::and_ || e.kind == K::or_ || e.kind == K::exists || e.kind == K::exists_in;
  }

  /// Prints `prefix` + `e` starting at `first` indent, breaking onto lines at `cont` when too long.
  void expr(const std::string& prefix, const Expr& e, std::size_t first, std::size_t cont, int min_prec, bool followed,
            std::uint32_t anchor) {
    const std::string flat = prefix + pr(e, min_prec, followed);
    if (first + flat.size() <= opts_.width || !breakable(e) || needs_parens(e, min_prec, followed)) {
      line(first, flat, anchor);
      return;
    }
    if (e.kind == K::not_) {
      // `not (exists t: T where` / body / `)`: the closing parenthesis ends the last line.
      const Expr& k = e.kids.at(0);
      if (needs_parens(k, 5, followed)) {
        expr(prefix + "not (", k, first, cont + 2, 0, false, anchor);
        lines_.back().text += ")";
      } else {
        expr(prefix + "not ", k, first, cont, 5, followed, anchor);
      }
      return;
    }
    if (e.kind == K::and_ || e.kind == K::or_) {
      const int cp = chain_child_prec(e);
      const std::string kw = e.kind == K::and_ ? "and " : "or ";
      for (std::size_t i = 0; i < e.kids.size(); ++i) {
        const bool f = i + 1 < e.kids.size() || followed;
        if (i == 0)
          expr(prefix, e.kids[0], first, cont + 2, cp, f, anchor);
        else
          expr(kw, e.kids[i], cont, cont + 2, cp, f, begin_of(e.kids[i]));
      }
      return;
    }
    // exists: header on this line, body below.
    const std::string head = e.kind == K::exists
                                 ? "exists " + e.var().name + ": " + e.name + " where"
                                 : "exists " + e.var().name + " in " + pr(e.kids.at(0), 5, true) + " where";
    line(first, prefix + head, anchor);
    // The body is indented under the header even where continuation lines are not (a predicate's
    // body starts at the indent its continuations use).
    const Expr& body = e.kids.back();
    const std::size_t at = std::max(cont, first + 2);
    expr("", body, at, at, 0, false, begin_of(body));
  }

  static std::uint32_t begin_of(const Expr& e) { return e.span.valid() ? e.span.begin : kNone; }
  static std::uint32_t begin_of(Span s) { return s.valid() ? s.begin : kNone; }
  static std::uint32_t last_of(Span s) { return s.valid() && s.end > s.begin ? s.end - 1 : kNone; }

  std::size_t width() const { return opts_.width; }

  static constexpr std::uint32_t kNone = 0xffffffffu;

 private:
  void push(Line l, std::uint32_t /*anchor*/) { lines_.push_back(std::move(l)); }

  bool blank_between(std::uint32_t b, std::uint32_t e) const {
    int newlines = 0;
    for (auto j = b; j < e && j < text_.size(); ++j) {
      if (text_[j] == '\n') ++newlines;
      else if (text_[j] != ' ' && text_[j] != '\t' && text_[j] != '\r') return false;
    }
    return newlines <= 1;
  }

  /// True when the source has an empty line right before the line holding `offset`.
  bool source_blank_before(std::uint32_t offset) const {
    if (offset == kNone || text_.empty() || offset > text_.size()) return !lines_.empty();
    std::size_t i = offset;
    while (i > 0 && text_[i - 1] != '\n') --i;  // start of this line
    if (i == 0) return false;
    std::size_t j = i - 1;  // the '\n' ending the previous line
    std::size_t k = j;
    while (k > 0 && text_[k - 1] != '\n') --k;  // start of the previous line
    for (std::size_t m = k; m < j; ++m)
      if (text_[m] != ' ' && text_[m] != '\t' && text_[m] != '\r') return false;
    return true;
  }

  FormatOptions opts_;
  const std::vector<Comment>& comments_;
  std::vector<bool> consumed_;
  std::string_view text_;
  std::vector<Line> lines_;
  bool top_pending_ = false;
  bool doc_pending_ = false;
};

class FilePrinter {
 public:
  FilePrinter(Printer& p) : p_(p) {}

  void doc(const Doc& d, std::size_t indent, Span decl) {
    std::uint32_t anchor = decl.valid() ? p_.consume_doc(decl.begin) : Printer::kNone;
    p_.mark_documented();
    if (!d) return;
    std::size_t s = 0;
    while (true) {
      const auto e = d->find('\n', s);
      const std::string part = d->substr(s, e == std::string::npos ? std::string::npos : e - s);
      p_.line(indent, part.empty() ? "///" : "/// " + part, anchor);
      anchor = Printer::kNone;
      if (e == std::string::npos) break;
      s = e + 1;
    }
  }

  /// Prints a comma-separated member list either inline `{ a, b }` or one per line.
  void braced(std::size_t indent, const std::string& head, const std::vector<std::pair<std::string, std::uint32_t>>& items,
              std::uint32_t anchor, std::uint32_t close_anchor, const std::string& suffix = "",
              bool inline_ok = true, bool spaced = true) {
    std::string flat = head + "{";
    for (std::size_t i = 0; i < items.size(); ++i) flat += (i ? ", " : (spaced ? " " : "")) + items[i].first;
    flat += items.empty() ? "}" : (spaced ? " }" : "}");
    flat += suffix;
    if (inline_ok && indent + flat.size() <= p_.width()) {
      p_.line(indent, flat, anchor);
      return;
    }
    p_.line(indent, head + "{", anchor);
    for (const auto& [text, a] : items) p_.line(indent + 2, text + ",", a);
    p_.line(indent, "}" + suffix, close_anchor);
  }

  void fact(const FactDecl& f, std::size_t indent) {
    doc(f.doc, indent, f.span);
    std::vector<std::pair<std::string, std::uint32_t>> items;
    for (const auto& fi : f.fields) items.emplace_back(fi.name.name + ": " + pr(fi.value, 0, false), Printer::begin_of(fi.name.span));
    braced(indent, f.type.name + "::" + quote_string(f.id) + " ", items, Printer::begin_of(f.span), Printer::last_of(f.span));
  }

  std::string binding(const char* kw, const Binding& b) {
    std::string s = kw;
    if (b.var) s += " " + b.var->name;
    if (!b.types.empty()) s += ": " + names_text({b.types.data(), b.types.size()}, " | ");
    return s;
  }

  std::string pattern(const ActionPattern& a) {
    switch (a.kind) {
      case ActionPattern::Kind::any: return "any";
      case ActionPattern::Kind::set: return "{" + names_text({a.names.data(), a.names.size()}, ", ") + "}";
      case ActionPattern::Kind::one: {
        std::string s = a.names.at(0).name;
        if (a.has_parens) s += "(" + join(a.constraints) + ")";
        return s;
      }
    }
    return "any";
  }

  std::string request(const RequestSyntax& r) {
    std::string s = "principal " + pr(r.principal, 0, false) + " action " + r.action.name;
    if (r.has_parens) {
      s += "(";
      for (std::size_t i = 0; i < r.args.size(); ++i) s += (i ? ", " : "") + r.args[i].name.name + ": " + pr(r.args[i].value, 0, false);
      s += ")";
    }
    return s + " resource " + pr(r.resource, 0, false);
  }

  void decl(const Decl& d) {
    p_.mark_top();
    syntax::visit([this](const auto& x) { print(x); }, d);
  }

  void print(const EnumDecl& d) {
    doc(d.doc, 0, d.span);
    std::vector<std::pair<std::string, std::uint32_t>> items;
    for (const auto& v : d.values) items.emplace_back(v.name, Printer::begin_of(v.span));
    braced(0, "enum " + d.name.name + " ", items, Printer::begin_of(d.span), Printer::last_of(d.span));
  }

  void print(const EntityDecl& d) {
    doc(d.doc, 0, d.span);
    const auto b = Printer::begin_of(d.span);
    const std::string head = std::string(d.request_supplied ? "inline " : "") + "entity " + d.name.name;
    if (d.member_is_key.empty()) {
      p_.line(0, head + " {}", b);
      return;
    }
    p_.line(0, head + " {", b);
    std::size_t ai = 0, ki = 0;
    for (const bool is_key : d.member_is_key) {
      if (is_key) {
        const auto& k = d.keys.at(ki++);
        p_.line(2, "key (" + names_text(k, ", ") + "),", k.empty() ? Printer::kNone : Printer::begin_of(k.front().span));
      } else {
        const auto& a = d.attrs.at(ai++);
        p_.line(2, a.name.name + ": " + type_text(a.type) + ",", Printer::begin_of(a.name.span));
      }
    }
    p_.line(0, "}", Printer::last_of(d.span));
  }

  std::string params(const std::vector<Param>& ps) {
    std::string s = "(";
    for (std::size_t i = 0; i < ps.size(); ++i) s += (i ? ", " : "") + ps[i].name.name + ": " + type_text(ps[i].type);
    return s + ")";
  }

  void print(const ActionDecl& d) {
    doc(d.doc, 0, d.span);
    std::string head = "action " + d.name.name + (d.has_params ? params(d.params) : "");
    std::vector<std::string> clauses;
    if (!d.principal_types.empty()) clauses.push_back("principal " + names_text(d.principal_types, " | "));
    if (!d.resource_types.empty()) clauses.push_back("resource " + names_text(d.resource_types, " | "));
    std::string flat = head;
    for (const auto& c : clauses) flat += " " + c;
    flat += ";";
    const auto b = Printer::begin_of(d.span);
    if (flat.size() <= p_.width() || clauses.empty()) {
      p_.line(0, flat, b);
      return;
    }
    p_.line(0, head, b);
    for (const auto& c : clauses) p_.line(2, c, Printer::kNone);
    p_.append_to_last(";");
  }

  void print(const FactDecl& d) { fact(d, 0); }

  void print(const PredicateDecl& d) {
    doc(d.doc, 0, d.span);
    const std::string head = "predicate " + d.name.name + params(d.params) + " =";
    const std::string flat = head + " " + pr(d.body, 0, false) + ";";
    if (flat.size() <= p_.width()) {
      p_.line(0, flat, Printer::begin_of(d.span));
      return;
    }
    p_.line(0, head, Printer::begin_of(d.span));
    p_.expr("", d.body, 2, 2, 0, false, Printer::begin_of(d.body));
    p_.append_to_last(";");
  }

  void print(const RuleDecl& d) {
    doc(d.doc, 0, d.span);
    p_.line(0, std::string(d.effect == Effect::permit ? "permit " : "forbid ") + d.name.name, Printer::begin_of(d.span));
    if (d.principal) p_.line(2, binding("principal", *d.principal), Printer::begin_of(d.principal->span));
    if (d.action) p_.line(2, "action " + pattern(*d.action), Printer::begin_of(d.action->span));
    if (d.resource) p_.line(2, binding("resource", *d.resource), Printer::begin_of(d.resource->span));
    for (const auto& c : d.conditions)
      p_.expr(c.is_when ? "when " : "unless ", c.expr, 2, 4, 0, false, Printer::begin_of(c.expr));
    p_.append_to_last(";");
  }

  void print(const RequireDecl& d) {
    doc(d.doc, 0, d.span);
    p_.line(0, "require " + d.name.name, Printer::begin_of(d.span));
    if (d.forall_var) {
      const std::string fa = "forall " + d.forall_var->name + ": " + d.forall_type->name;
      if (d.where)
        p_.expr(fa + " where ", *d.where, 2, 4, 0, false, Printer::begin_of(d.forall_var->span));
      else
        p_.line(2, fa, Printer::begin_of(d.forall_var->span));
    }
    p_.expr("ensure ", d.ensure, 2, 4, 0, false, Printer::begin_of(d.ensure));
    p_.line(2, "message " + quote_string(d.message) + ";", Printer::begin_of(d.message_span));
  }

  void print(const TestDecl& d) {
    doc(d.doc, 0, d.span);
    p_.line(0, "test " + quote_string(d.name) + " {", Printer::begin_of(d.span));
    if (d.has_given) {
      p_.line(2, "given {", d.given.empty() ? Printer::kNone : Printer::kNone);
      for (const auto& f : d.given) fact(f, 4);
      p_.line(2, "}", Printer::kNone);
    }
    for (const auto& x : d.expects) {
      std::string s = std::string("expect ") + (x.decision == Decision::allow ? "allow " : "deny ") + request(x.request);
      if (!x.because.empty()) s += " because " + names_text(x.because, ", ");
      p_.line(2, s + ";", Printer::begin_of(x.span));
    }
    for (const auto& v : d.violations) p_.line(2, "expect violation " + v.requirement.name + ";", Printer::begin_of(v.span));
    p_.line(0, "}", Printer::last_of(d.span));
  }

  void print(const PropertyDecl& d) {
    doc(d.doc, 0, d.span);
    p_.line(0, "property " + d.name.name, Printer::begin_of(d.span));
    p_.line(2, "forall " + binding("principal", d.principal) + ", action " + pattern(d.action) + ", " +
                   binding("resource", d.resource),
            Printer::begin_of(d.principal.span));
    if (d.where) p_.expr("where ", *d.where, 2, 4, 0, false, Printer::begin_of(*d.where));
    p_.line(2, std::string("expect ") + (d.expect == Decision::allow ? "allow;" : "deny;"), Printer::kNone);
  }

 private:
  Printer& p_;
};

}  // namespace

std::string format_file(const SourceManager& sm, const File& file, const FormatOptions& opts) {
  Printer p(sm, file, opts);
  FilePrinter fp(p);
  for (const auto& d : file.decls) fp.decl(d);
  return p.finish();
}

std::string to_source(const Expr& e) { return pr(e, 0, false); }
std::string to_source(const TypeRef& t) { return type_text(t); }

}  // namespace treaty
