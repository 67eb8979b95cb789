// Text dumps of the syntax tree, the checked program, its IR and its index choices
// (include/treaty/dump.hpp): what `treaty check --dump=STAGE` prints and tests/golden/dump pins.
#include "treaty/dump.hpp"

#include <span>
#include <algorithm>
#include <cctype>
#include <functional>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "internal/checker.hpp"
#include "treaty/format.hpp"
#include "treaty/parse.hpp"

namespace treaty {

std::optional<DumpStage> find_dump_stage(std::string_view name) {
  for (const auto& s : kDumpStages)
    if (s.name == name) return s;
  return std::nullopt;
}

namespace {

/// The source a node was lowered from. The root of an inlined predicate body carries the call's
/// span (for explanations); its own text is the predicate's body.
Span own_span(const Program& p, NodeId id) {
  const Node& n = p.nodes[id];
  if (n.inlined != kNone32 && n.inlined < p.predicates.size()) return p.nodes[p.predicates[n.inlined].body].span;
  return n.span;
}


// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------
/// `path:line` of a span's start, the path as the SourceManager holds it.
std::string loc(const SourceManager& sm, Span s) {
  if (!s.valid() || s.file >= sm.size()) return "<no location>";
  return sm.file(s.file).path + ":" + std::to_string(sm.line_col(s.file, s.begin).line);
}

/// `path:line:column` of a span's start.
std::string loc_col(const SourceManager& sm, Span s) {
  if (!s.valid() || s.file >= sm.size()) return "<no location>";
  const LineCol lc = sm.line_col(s.file, s.begin);
  return sm.file(s.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column);
}

/// Source text on one line: comments dropped, each run of whitespace one space; cut after
/// `max` bytes (at a character boundary) with ` ...`.
std::string one_line(std::string_view text, std::size_t max = std::string::npos) {
  std::string out;
  bool space = false;
  auto put = [&](char c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      return;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {  // a string literal, escapes included, as written
      if (space) out += ' ';
      space = false;
      out += c;
      for (++i; i < text.size(); ++i) {
        out += text[i];
        if (text[i] == '\\' && i + 1 < text.size()) out += text[++i];
        else if (text[i] == '"') break;
      }
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i < text.size() && text[i] != '\n') ++i;
      put(' ');
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      const auto end = text.find("*/", i + 2);
      i = end == std::string_view::npos ? text.size() : end + 1;
      put(' ');
    } else {
      put(c);
    }
  }
  if (out.size() > max) {
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
    out = out.substr(0, cut) + " ...";
  }
  return out;
}

bool is_identifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

/// Each line of `text` (newline-terminated) prefixed by `pad`.
std::string indent_text(std::string_view text, std::string_view pad) {
  std::string out;
  std::size_t s = 0;
  while (s < text.size()) {
    auto e = text.find('\n', s);
    if (e == std::string_view::npos) e = text.size();
    const auto line = text.substr(s, e - s);
    if (!line.empty()) out.append(pad).append(line);
    out += '\n';
    s = e + 1;
  }
  return out;
}

/// Reads a Program for the dumps: names of types, attributes, values and entities.
class View {
 public:
  View(const SourceManager& s, const Program& p) : sm(s), prog(p) {}

  [[nodiscard]] std::string type(const Type& t) const { return prog.schema.type_name(t); }
  template <typename Ids>  // a std::vector or the IR's SmallIds
  [[nodiscard]] std::string entities(const Ids& ids) const {
    if (ids.empty()) return "any";
    return prog.schema.type_name(Type::entity(std::vector<TypeId>(ids.begin(), ids.end())));
  }
  [[nodiscard]] std::string actions(bool any, std::span<const std::uint32_t> ids) const {
    if (any) return "any";
    if (ids.size() == 1) return prog.schema.actions.at(ids[0]).name;
    std::string s = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + prog.schema.actions.at(ids[i]).name;
    return s + "}";
  }
  [[nodiscard]] std::string params(const std::vector<ParamInfo>& ps) const {
    std::string s = "(";
    for (std::size_t i = 0; i < ps.size(); ++i) s += (i ? ", " : "") + ps[i].name + ": " + type(ps[i].type);
    return s + ")";
  }
  [[nodiscard]] std::string attr_name(std::int64_t id) const {
    return id >= 0 && static_cast<std::size_t>(id) < prog.schema.attr_names.size()
               ? prog.schema.attr_names[static_cast<std::size_t>(id)]
               : "#" + std::to_string(id);
  }
  [[nodiscard]] std::string column_name(TypeId t, std::int64_t column) const {
    const auto& attrs = prog.schema.entities.at(t).attrs;
    return column >= 0 && static_cast<std::size_t>(column) < attrs.size() ? attrs[static_cast<std::size_t>(column)].name
                                                                           : "#" + std::to_string(column);
  }
  /// `Type.column` or `Type.(column, column2)`.
  [[nodiscard]] std::string index(const IndexSpec& s) const {
    const std::string t = prog.schema.entities.at(s.type).name;
    if (s.column2 < 0) return t + "." + column_name(s.type, s.column);
    return t + ".(" + column_name(s.type, s.column) + ", " + column_name(s.type, s.column2) + ")";
  }
  /// A value as the language writes it; strings and ids quoted with escapes.
  [[nodiscard]] std::string value(const Value& v) const {
    switch (v.tag) {
      case Tag::str: return quote_string(*v.s);
      case Tag::entity: {
        if (v.i < 0 || static_cast<std::size_t>(v.i) >= prog.world().size()) return "<entity not in the world>";
        const auto e = static_cast<EntityId>(v.i);
        return prog.schema.entities.at(prog.world().type_of(e)).name + "::" + quote_string(prog.world().id(e));
      }
      case Tag::set:
      case Tag::enum_set: {
        std::string s = "{";
        bool first = true;
        set_any(v, [&](const Value& x) {
          s += (first ? "" : ", ") + value(x);
          first = false;
          return false;
        });
        return s + "}";
      }
      default: return format_value(prog.schema, prog.world(), v);
    }
  }
  /// The source text a span covers, on one line.
  [[nodiscard]] std::string source(Span s, std::size_t max = std::string::npos) const {
    if (!s.valid() || s.file >= sm.size()) return "";
    return one_line(sm.text(s), max);
  }
  [[nodiscard]] std::string at(Span s) const { return "(" + loc(sm, s) + ")"; }

  const SourceManager& sm;
  const Program& prog;
};

/// `1 thing`, `2 things`.
std::string count(std::size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// ---------------------------------------------------------------------------------------------
// syntax
// ---------------------------------------------------------------------------------------------
/// How the syntax dump names a declaration: its name, `Type::"id"` for a fact, the quoted
/// name of a test.
std::string decl_name(const syntax::Decl& d) {
  return syntax::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, syntax::FactDecl>) return x.type.name + "::" + quote_string(x.id);
        else if constexpr (std::is_same_v<T, syntax::TestDecl>) return quote_string(x.name);
        else return x.name.name;
      },
      d);
}

}  // namespace

std::string dump_syntax(const SourceManager& sm, const Package& pkg) {
  std::string out;
  for (const auto& f : pkg.files) {
    const std::string path = f.file < sm.size() ? sm.file(f.file).path : "<memory>";
    out += "file " + path + ": " + count(f.decls.size(), "declaration") + "\n";
    for (const auto& d : f.decls) {
      out += "  " + loc_col(sm, syntax::decl_span(d)) + ": " + syntax::decl_kind(d) + " " + decl_name(d) + "\n";
      // The formatter on this declaration alone, without the file's text: no comments but its doc.
      syntax::File one;
      one.decls.push_back(d);
      out += indent_text(format_file(sm, one), "    ");
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// checked
// ---------------------------------------------------------------------------------------------
std::string dump_checked(const SourceManager& sm, const Program& p) {
  const View v(sm, p);
  const auto& s = p.schema;
  std::string out = "enums\n";
  for (const auto& e : s.enums) {
    out += "  enum " + e.name + " " + v.at(e.span) + " {";
    for (std::size_t i = 0; i < e.values.size(); ++i) out += (i ? ", " : " ") + e.values[i];
    out += e.values.empty() ? "}\n" : " }\n";
  }
  out += "entities\n";
  for (TypeId t = 0; t < s.entities.size(); ++t) {
    const auto& et = s.entities[t];
    out += std::string("  ") + (et.request_supplied ? "inline entity " : "entity ") + et.name + " " + v.at(et.span) + "\n";
    for (std::size_t c = 0; c < et.attrs.size(); ++c)
      out += "    column " + std::to_string(c) + " " + et.attrs[c].name + ": " + v.type(et.attrs[c].type) + "\n";
    for (const auto& key : et.keys) {
      out += "    key (";
      for (std::size_t i = 0; i < key.size(); ++i) out += (i ? ", " : "") + v.column_name(t, key[i]);
      out += ")\n";
    }
  }
  out += "actions\n";
  for (const auto& a : s.actions)
    out += "  action " + a.name + (a.params.empty() ? "" : v.params(a.params)) + " " + v.at(a.span) + " principal " + v.entities(a.principals) +
           " resource " + v.entities(a.resources) + "\n";
  out += "action parameters (slot 2 + id)\n";
  for (std::size_t i = 0; i < p.param_names.size(); ++i)
    out += "  " + std::to_string(i) + " " + p.param_names[i] + "\n";
  out += "facts: " + std::to_string(p.world().size()) + "\n";
  for (TypeId t = 0; t < s.entities.size(); ++t)
    out += "  " + s.entities[t].name + ": " + std::to_string(p.world().of_type(t).size()) + "\n";
  out += "predicates\n";
  for (const auto& pr : p.predicates)
    out += "  predicate " + pr.name + v.params(pr.params) + " " + v.at(pr.span) + " frame " + std::to_string(pr.frame) +
           "\n";
  out += "rules (action constraints count as `when` conditions)\n";
  for (const auto& r : p.rules) {
    std::size_t whens = 0, unlesses = 0;
    for (const auto& c : r.conditions) (c.is_when ? whens : unlesses)++;
    out += std::string("  ") + (r.forbid ? "forbid " : "permit ") + r.name + " " + v.at(r.span) + " principal " +
           v.entities(r.principals) + " action " + v.actions(r.any_action, r.actions) + " resource " +
           v.entities(r.resources) + "\n";
    out += "    " + std::to_string(whens) + " when, " + std::to_string(unlesses) + " unless; frame " +
           std::to_string(r.frame) + "\n";
  }
  out += "rules by action\n";
  for (std::size_t a = 0; a < p.rules_by_action.size() && a < s.actions.size(); ++a) {
    out += "  " + s.actions[a].name + ":";
    for (auto ri : p.rules_by_action[a]) out += " " + p.rules.at(ri).name;
    out += "\n";
  }
  out += "requirements\n";
  for (const auto& rq : p.requirements) {
    std::size_t exprs = 0;
    for (const auto& part : rq.message_parts) exprs += part.second != kNone32 ? 1 : 0;
    out += "  require " + rq.name + " " + v.at(rq.span) +
           (rq.forall_type ? " forall " + s.entities.at(*rq.forall_type).name : std::string()) +
           (rq.where ? " where" : "") + " ensure; message with " + count(exprs, "expression") + "; frame " +
           std::to_string(rq.frame) + "\n";
  }
  out += "tests\n";
  for (const auto& t : p.tests) {
    out += "  test " + quote_string(t.name) + " " + v.at(t.span) + ": " + std::to_string(t.given.size()) + " given, " +
           count(t.expects.size(), "expectation") + ", " + count(t.violations.size(), "expected violation") + "\n";
    for (const auto& g : t.given) out += "    given " + g.type + "::" + quote_string(g.id) + "\n";
    for (const auto& ex : t.expects) {
      const auto& rq = ex.request;
      const auto& act = s.actions.at(rq.action);
      std::string args;
      for (const auto& [idx, c] : ex.arg_constants)
        args += (args.empty() ? "" : ", ") + act.params.at(idx).name + ": " + constant_source(c);
      out += std::string("    expect ") + (ex.allow ? "allow" : "deny") + " principal " +
             s.entities.at(rq.principal_type).name + "::" + quote_string(rq.principal_id) + " action " + act.name +
             (args.empty() ? "" : "(" + args + ")") + " resource " + s.entities.at(rq.resource_type).name +
             "::" + quote_string(rq.resource_id);
      for (std::size_t i = 0; i < ex.because.size(); ++i) out += (i ? ", " : " because ") + ex.because[i];
      out += "\n";
    }
    for (const auto& [name, span] : t.violations) out += "    expect violation " + name + "\n";
  }
  out += "properties\n";
  for (const auto& pp : p.properties)
    out += "  property " + pp.name + " " + v.at(pp.span) + " principal " + v.entities(pp.principals) + " action " +
           v.actions(false, pp.actions) + " resource " + v.entities(pp.resources) + (pp.where ? " where" : "") +
           " expect " + (pp.expect_allow ? "allow" : "deny") + "; " + count(pp.action_constraints.size(), "action constraint") +
           "; frame " + std::to_string(pp.frame) + "\n";
  return out;
}

// ---------------------------------------------------------------------------------------------
// ir
// ---------------------------------------------------------------------------------------------
namespace {

/// Most node lines one expression prints. The IR is a DAG: a predicate's argument is shared by
/// every use of the parameter it replaced, and printing it as a tree repeats it, which crafted
/// input could make exponential. Past the budget an expression ends with an `elided` line.
constexpr std::size_t kLineBudget = 20'000;

class IrPrinter {
 public:
  explicit IrPrinter(const View& v) : v_(v), p_(v.prog) {}

  /// `label (node ...` lines of the tree under `id`, at `indent`.
  std::string tree(NodeId id, std::size_t indent, const std::string& label) {
    lines_.clear();
    budget_ = kLineBudget;
    node(id, indent, label);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    if (budget_ == 0) out += std::string(indent, ' ') + "(elided: the expression prints as more than " +
                             std::to_string(kLineBudget) + " lines)\n";
    return out;
  }

  /// The name an `exists` gives its variable (see detail::exists_binder).
  std::string binder(NodeId id) const {
    return std::string(detail::exists_binder(v_.source(own_span(p_, id), 200)));
  }

  /// The index spec an `exists_type` probes, or nullopt for a scan.
  std::optional<IndexSpec> probe(const Node& n) const {
    if (n.op != Op::exists_type || n.probe_attr < 0 || n.types.empty()) return std::nullopt;
    const auto& et = p_.schema.entities.at(n.types[0]);
    const int col = et.column(static_cast<std::uint32_t>(n.probe_attr));
    const int col2 = n.probe_attr2 >= 0 ? et.column(static_cast<std::uint32_t>(n.probe_attr2)) : -1;
    if (col < 0 || (n.probe_attr2 >= 0 && col2 < 0)) return std::nullopt;
    return IndexSpec::on(n.types[0], static_cast<std::uint32_t>(col), col2);
  }

 private:
  std::string head(NodeId id) const {
    const Node& n = p_.nodes[id];
    switch (n.op) {
      case Op::lit: return "lit " + v_.value(n.value);
      case Op::var: {
        const std::string name = v_.source(n.span, 200);
        return "var " + (is_identifier(name) ? name + " " : std::string()) + "@" + std::to_string(n.slot);
      }
      case Op::attr: {
        std::string s = "attr " + v_.attr_name(n.a);
        if (n.types.size() == 1)
          s += " [" + p_.schema.entities.at(n.types[0]).name + " column " + std::to_string(n.slot) + "]";
        return s;
      }
      case Op::call:
        return "call " + (n.a < p_.predicates.size() ? p_.predicates[n.a].name : "#" + std::to_string(n.a));
      case Op::contains_any: return "contains_any";
      case Op::contains_all: return "contains_all";
      case Op::is_empty: return "is_empty";
      case Op::not_: return "not";
      case Op::and_: return "and";
      case Op::or_: return "or";
      case Op::eq: return "eq";
      case Op::ne: return "ne";
      case Op::lt: return "lt";
      case Op::le: return "le";
      case Op::gt: return "gt";
      case Op::ge: return "ge";
      case Op::in: return "in";
      case Op::is: return "is " + v_.entities(n.types);
      case Op::exists_type: {
        const std::string b = binder(id);
        std::string s = "exists " + (b.empty() ? "" : b + " ") + "@" + std::to_string(n.slot) + ": " +
                        v_.entities(n.types);
        if (auto spec = probe(n)) s += " probe " + v_.index(*spec);
        else s += " scan";
        return s;
      }
      case Op::exists_set: {
        const std::string b = binder(id);
        return "exists " + (b.empty() ? "" : b + " ") + "@" + std::to_string(n.slot) + " in set";
      }
      case Op::make_set: return "make_set";
    }
    return "?";
  }

  static const char* label_of(Op op, std::size_t kid) {
    if (op == Op::exists_type) return kid == 0 ? "where " : kid == 1 ? "key " : "key2 ";
    if (op == Op::exists_set) return kid == 0 ? "in " : "where ";
    return "";
  }

  void node(NodeId id, std::size_t indent, const std::string& label) {
    if (budget_ == 0) return;
    --budget_;
    const Node& n = p_.nodes[id];
    std::string line = std::string(indent, ' ') + label + "(" + head(id);
    if (id < p_.node_types.size()) line += " : " + v_.type(p_.node_types[id]);
    lines_.push_back(std::move(line));
    for (std::size_t k = 0; k < n.kids.size(); ++k) node(n.kids[k], indent + 2, label_of(n.op, k));
    if (budget_ > 0) lines_.back() += ")";
  }

  const View& v_;
  const Program& p_;
  std::vector<std::string> lines_;
  std::size_t budget_ = 0;
};

}  // namespace

std::string dump_ir(const SourceManager& sm, const Program& p) {
  const View v(sm, p);
  IrPrinter ir(v);
  std::string out;
  for (const auto& pr : p.predicates) {
    out += "predicate " + pr.name + v.params(pr.params) + " " + v.at(pr.span) + "\n";
    out += "  frame " + std::to_string(pr.frame) + "\n";
    out += ir.tree(pr.body, 2, "body ");
  }
  for (const auto& r : p.rules) {
    out += std::string(r.forbid ? "forbid " : "permit ") + r.name + " " + v.at(r.span) + " principal " +
           v.entities(r.principals) + " action " + v.actions(r.any_action, r.actions) + " resource " +
           v.entities(r.resources) + "\n";
    out += "  frame " + std::to_string(r.frame) + "\n";
    for (const auto& c : r.conditions) out += ir.tree(c.expr, 2, c.is_when ? "when " : "unless ");
  }
  for (const auto& rq : p.requirements) {
    out += "require " + rq.name + " " + v.at(rq.span) +
           (rq.forall_type ? " forall " + p.schema.entities.at(*rq.forall_type).name : std::string()) + "\n";
    out += "  frame " + std::to_string(rq.frame) + "\n";
    if (rq.where) out += ir.tree(*rq.where, 2, "where ");
    out += ir.tree(rq.ensure, 2, "ensure ");
    out += "  message\n";
    for (const auto& [text, node] : rq.message_parts) {
      if (!text.empty()) out += "    text " + quote_string(text) + "\n";
      if (node != kNone32) out += ir.tree(node, 4, "value ");
    }
  }
  for (const auto& pp : p.properties) {
    out += "property " + pp.name + " " + v.at(pp.span) + " principal " + v.entities(pp.principals) + " action " +
           v.actions(false, pp.actions) + " resource " + v.entities(pp.resources) + " expect " +
           (pp.expect_allow ? "allow" : "deny") + "\n";
    out += "  frame " + std::to_string(pp.frame) + "\n";
    for (const auto& c : pp.action_constraints) out += ir.tree(c.expr, 2, "constraint ");
    if (pp.where) out += ir.tree(*pp.where, 2, "where ");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// indexes
// ---------------------------------------------------------------------------------------------
namespace {

/// The `exists` nodes and non-inlined calls under some roots, in evaluation order (children in
/// order; an `exists_type`'s probe keys, copies of parts of its body, are not walked again).
struct ExistsWalk {
  const Program& p;
  std::vector<NodeId> found;
  std::size_t budget = kLineBudget;
  void walk(NodeId id) {
    if (budget == 0) return;
    --budget;
    const Node& n = p.nodes[id];
    if (n.op == Op::exists_type || n.op == Op::exists_set || n.op == Op::call) found.push_back(id);
    const std::size_t kids = n.op == Op::exists_type ? std::min<std::size_t>(1, n.kids.size()) : n.kids.size();
    for (std::size_t k = 0; k < kids; ++k) walk(n.kids[k]);
  }
};

}  // namespace

std::string dump_indexes(const SourceManager& sm, const Program& p) {
  const View v(sm, p);
  IrPrinter ir(v);
  struct Decl {
    std::string header;
    std::vector<NodeId> roots;
  };
  std::vector<Decl> decls;
  for (const auto& pr : p.predicates)
    decls.push_back({"predicate " + pr.name + " " + v.at(pr.span), {pr.body}});
  for (const auto& r : p.rules) {
    Decl d{std::string(r.forbid ? "forbid " : "permit ") + r.name + " " + v.at(r.span), {}};
    for (const auto& c : r.conditions) d.roots.push_back(c.expr);
    decls.push_back(std::move(d));
  }
  for (const auto& rq : p.requirements) {
    Decl d{"require " + rq.name + " " + v.at(rq.span), {}};
    if (rq.where) d.roots.push_back(*rq.where);
    d.roots.push_back(rq.ensure);
    for (const auto& part : rq.message_parts)
      if (part.second != kNone32) d.roots.push_back(part.second);
    decls.push_back(std::move(d));
  }

  std::vector<std::vector<NodeId>> found(decls.size());
  for (std::size_t i = 0; i < decls.size(); ++i) {
    ExistsWalk w{p, {}};
    for (NodeId r : decls[i].roots) w.walk(r);
    found[i] = std::move(w.found);
  }
  // A call that was not inlined matters here only when the predicate it evaluates (or one that
  // predicate calls) has an `exists`. Predicates come first in `decls`, in Program order; a clean
  // program has no call cycles, and `state` guards against one anyway.
  std::vector<int> state(p.predicates.size(), 0);  // 0 unknown, 1 visiting, 2 no exists, 3 exists
  std::function<bool(std::uint32_t)> reaches_exists = [&](std::uint32_t pid) {
    if (pid >= p.predicates.size()) return false;
    if (state[pid] != 0) return state[pid] == 3;
    state[pid] = 1;
    bool any = false;
    for (NodeId id : found[pid]) {
      const Node& n = p.nodes[id];
      if (n.op != Op::call || reaches_exists(n.a)) any = true;
    }
    state[pid] = any ? 3 : 2;
    return any;
  };
  std::vector<std::pair<std::string, std::vector<NodeId>>> listed;
  std::vector<std::size_t> uses(p.indexes.size(), 0);
  for (std::size_t i = 0; i < decls.size(); ++i) {
    std::vector<NodeId> shown;
    for (NodeId id : found[i]) {
      const Node& n = p.nodes[id];
      if (n.op == Op::call && !reaches_exists(n.a)) continue;
      shown.push_back(id);
      if (auto spec = ir.probe(n)) {
        const auto it = std::find(p.indexes.begin(), p.indexes.end(), *spec);
        if (it != p.indexes.end()) ++uses[static_cast<std::size_t>(it - p.indexes.begin())];
      }
    }
    if (!shown.empty()) listed.emplace_back(decls[i].header, std::move(shown));
  }

  std::vector<std::size_t> order(p.indexes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto key = [&](std::size_t i) {
    const IndexSpec& s = p.indexes[i];
    return std::make_tuple(p.schema.entities.at(s.type).name, v.column_name(s.type, s.column),
                           s.column2 < 0 ? std::string() : v.column_name(s.type, s.column2));
  };
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
  std::string out = "indexes: " + std::to_string(p.indexes.size()) + "\n";
  for (std::size_t i : order)
    out += "  " + v.index(p.indexes[i]) + ": probed by " + std::to_string(uses[i]) + " exists below\n";

  for (const auto& [header, shown] : listed) {
    out += header + "\n";
    for (NodeId id : shown) {
      const Node& n = p.nodes[id];
      if (n.op == Op::call) {
        out += "  call " + (n.a < p.predicates.size() ? p.predicates[n.a].name : "#" + std::to_string(n.a)) + " " +
               v.at(n.span) + ": not inlined; its `exists` are listed under the predicate\n";
        continue;
      }
      out += "  " + v.source(own_span(p, id), 120) + " " + v.at(own_span(p, id)) + "\n";
      if (n.op == Op::exists_set) {
        out += "    iterate the set " + (n.kids.empty() ? std::string() : v.source(p.nodes[n.kids[0]].span, 80)) + "\n";
      } else if (auto spec = ir.probe(n)) {
        const bool built = std::find(p.indexes.begin(), p.indexes.end(), *spec) != p.indexes.end();
        std::string keys = n.kids.size() > 1 ? v.source(p.nodes[n.kids[1]].span, 80) : "";
        if (spec->column2 >= 0 && n.kids.size() > 2) keys = "(" + keys + ", " + v.source(p.nodes[n.kids[2]].span, 80) + ")";
        out += "    probe " + v.index(*spec) + " with " + keys +
               (built ? "" : " (not among the indexes: the runtime scans)") + "\n";
      } else {
        out += "    scan " + v.entities(n.types) + "\n";
      }
    }
  }
  return out;
}

}  // namespace treaty
