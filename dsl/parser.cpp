// The parser driver: runs the PEGTL grammar one declaration at a time (so one bad declaration
// does not hide the errors of the next ones), then converts the parse tree into syntax::File.
#include <charconv>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "internal/grammar.hpp"
#include "treaty/parse.hpp"

namespace treaty {
namespace {

namespace p = tao::pegtl;
namespace g = dsl::internal::grammar;
using namespace syntax;

/// The parse tree's node, made cheap to create and to ask about. PEGTL allocates a node for every
/// *attempt* at a stored rule, so most nodes are freed at once when an alternative fails: they
/// come from a per-thread free list instead of malloc. And `is_type<R>()` compares one pointer
/// (the address of a variable per rule) instead of demangled rule names, which share a long
/// prefix and made the converter's dispatch chains a run of memcmp calls. Together this takes a
/// third off the time to check 100,000 rules (3.3 s to 2.4 s).
template <typename Rule>
inline const char rule_tag = 0;

struct Node : p::parse_tree::basic_node<Node> {
  const char* tag = nullptr;

  template <typename Rule, typename ParseInput, typename... States>
  void start(const ParseInput& in, States&&... st) {
    p::parse_tree::basic_node<Node>::template start<Rule>(in, st...);
    tag = &rule_tag<Rule>;
  }
  template <typename U>
  [[nodiscard]] bool is_type() const noexcept {
    return tag == &rule_tag<U>;
  }

  static void* operator new(std::size_t size) {
    if (size != sizeof(Node)) return ::operator new(size);
    auto& fl = free_list();
    if (fl.empty()) return ::operator new(size);
    void* ptr = fl.back();
    fl.pop_back();
    return ptr;
  }
  static void operator delete(void* ptr, std::size_t size) noexcept {
    auto& fl = free_list();
    // Keeps up to 4,096 nodes (a few hundred kilobytes) for reuse; beyond that, back to malloc.
    if (size == sizeof(Node) && fl.size() < 4096) {
      fl.push_back(ptr);
      return;
    }
    ::operator delete(ptr);
  }

 private:
  struct FreeList {
    std::vector<void*> items;
    FreeList() { items.reserve(4096); }
    ~FreeList() {
      for (void* ptr : items) ::operator delete(ptr);
    }
    FreeList(const FreeList&) = delete;
    FreeList& operator=(const FreeList&) = delete;
  };
  static std::vector<void*>& free_list() {
    thread_local FreeList fl;
    return fl.items;
  }
};

thread_local std::size_t t_depth = 0;
thread_local std::size_t t_limit = 128;

std::string encode_id(DiagId id) { return std::to_string(static_cast<int>(id)); }

struct DepthGuard {
  DepthGuard() { ++t_depth; }
  ~DepthGuard() { --t_depth; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;
};

/// PEGTL control: bounds the nesting depth of the recursive rules and raises registered errors.
/// Depth is counted in match() because the parse tree's control wrapper does not forward
/// start()/success() of rules it does not store.
template <typename Rule>
struct control : p::normal<Rule> {
  template <p::apply_mode A, p::rewind_mode M, template <typename...> class Action,
            template <typename...> class Control, typename Input, typename... States>
  [[nodiscard]] static bool match(Input& in, States&&... st) {
    if constexpr (g::counts_depth<Rule>) {
      const DepthGuard guard;
      if (t_depth > t_limit) throw p::parse_error(encode_id(DiagId::nesting_too_deep), in);
      return p::normal<Rule>::template match<A, M, Action, Control>(in, st...);
    } else {
      return p::normal<Rule>::template match<A, M, Action, Control>(in, st...);
    }
  }
  template <typename Input, typename... States>
  [[noreturn]] static void raise(const Input& in, States&&... /*unused*/) {
    throw p::parse_error(encode_id(g::error_id<Rule>), in);
  }
};

bool is_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/// The span of the token at `off` (a word, or one character; empty at end of file).
Span token_span(FileId file, std::string_view text, std::size_t off) {
  if (off >= text.size()) return Span{file, static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(text.size())};
  std::size_t e = off;
  while (e < text.size() && is_ident_char(text[e])) ++e;
  if (e == off) {
    // one UTF-8 character
    e = off + 1;
    while (e < text.size() && (static_cast<unsigned char>(text[e]) & 0xC0) == 0x80) ++e;
  }
  return Span{file, static_cast<std::uint32_t>(off), static_cast<std::uint32_t>(e)};
}

std::string found_text(std::string_view text, Span s) {
  if (s.begin >= text.size()) return "end of file";
  const auto tok = text.substr(s.begin, s.end - s.begin);
  if (tok == "\n" || tok == "\r") return "end of line";
  return "`" + std::string(tok) + "`";
}

bool starts_declaration(std::string_view line) {
  static constexpr std::string_view kws[] = {"enum", "entity", "action", "predicate", "permit", "forbid",
                                             "require", "test", "property"};
  if (line.substr(0, 3) == "///") return true;
  if (line.substr(0, 7) == "inline " || line.substr(0, 7) == "inline\t") {  // `inline entity`
    line.remove_prefix(std::min(line.size(), line.find_first_not_of(" \t", 6)));
  }
  for (auto kw : kws) {
    if (line.substr(0, kw.size()) == kw && (line.size() == kw.size() || !is_ident_char(line[kw.size()]))) return true;
  }
  // A fact: `Type::"id"` at the start of the line.
  std::size_t i = 0;
  while (i < line.size() && is_ident_char(line[i])) ++i;
  if (i == 0) return false;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return line.substr(i, 2) == "::";
}

/// The first line start after `off` that begins a declaration (or the end of the text).
std::size_t recovery_point(std::string_view text, std::size_t off) {
  std::size_t i = text.find('\n', off);
  while (i != std::string_view::npos) {
    const std::size_t ls = i + 1;
    if (ls >= text.size()) break;
    if (starts_declaration(text.substr(ls))) return ls;
    i = text.find('\n', ls);
  }
  return text.size();
}

class Converter {
 public:
  Converter(FileId file, const char* base, Diagnostics& diags) : file_(file), base_(base), diags_(diags) {}

  Span span(const Node& n) const {
    return Span{file_, static_cast<std::uint32_t>(n.m_begin.data - base_), static_cast<std::uint32_t>(n.m_end.data - base_)};
  }

  Ident ident(const Node& n) const { return Ident{n.string(), span(n)}; }

  std::string string_value(const Node& n) {
    std::string out;
    if (!unescape_string(n.string_view(), out)) diags_.add(DiagId::bad_unicode_scalar, span(n));
    return out;
  }

  TypeRef type(const Node& n) {
    // type_expr: [set_type | named_type, optional_mark?]
    TypeRef base;
    const Node& b = *n.children.at(0);
    if (b.is_type<g::set_type>()) {
      base.kind = TypeRef::Kind::set;
      base.args.push_back(type(*b.children.at(0)));
    } else {
      base.kind = TypeRef::Kind::named;
      base.name = b.string();
    }
    base.span = span(b);
    if (n.children.size() > 1) {
      TypeRef opt;
      opt.kind = TypeRef::Kind::optional;
      opt.args.push_back(std::move(base));
      opt.span = span(n);
      return opt;
    }
    return base;
  }

  Expr expr(const Node& n) {
    Expr e;
    e.span = span(n);
    if (n.is_type<g::ident>()) {
      e.kind = Expr::Kind::name;
      e.name = n.string();
      e.name_span = e.span;
    } else if (n.is_type<g::int_lit>()) {
      e.kind = Expr::Kind::int_lit;
      const auto sv = n.string_view();
      auto [ptr, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), e.int_value);
      if (ec != std::errc() || ptr != sv.data() + sv.size()) diags_.add(DiagId::int_out_of_range, e.span);
    } else if (n.is_type<g::string_lit>()) {
      e.kind = Expr::Kind::string_lit;
      e.set_str(string_value(n));
    } else if (n.is_type<g::kw_true>() || n.is_type<g::kw_false>()) {
      e.kind = Expr::Kind::bool_lit;
      e.bool_value = n.is_type<g::kw_true>();
    } else if (n.is_type<g::kw_none>()) {
      e.kind = Expr::Kind::none_lit;
    } else if (n.is_type<g::entity_ref>()) {
      e.kind = Expr::Kind::entity_ref;
      e.name = n.children.at(0)->string();
      e.name_span = span(*n.children.at(0));
      e.set_str(string_value(*n.children.at(1)));
    } else if (n.is_type<g::call>()) {
      e.kind = Expr::Kind::call;
      e.name = n.children.at(0)->string();
      e.name_span = span(*n.children.at(0));
      for (const auto& a : n.children.at(1)->children) e.kids.push_back(expr(*a));
    } else if (n.is_type<g::postfix>()) {
      Expr cur = expr(*n.children.at(0));
      for (std::size_t i = 1; i < n.children.size(); ++i) {
        const Node& m = *n.children[i];
        Expr next;
        next.name = m.children.at(0)->string();
        next.name_span = span(*m.children.at(0));
        next.span = Span{file_, cur.span.begin, span(m).end};
        next.kids.push_back(std::move(cur));
        if (m.children.size() > 1) {
          next.kind = Expr::Kind::method;
          for (const auto& a : m.children[1]->children) next.kids.push_back(expr(*a));
        } else {
          next.kind = Expr::Kind::attr;
        }
        cur = std::move(next);
      }
      return cur;
    } else if (n.is_type<g::cmp_expr>()) {
      const Node& tail = *n.children.at(1);
      e.kids.push_back(expr(*n.children.at(0)));
      if (tail.is_type<g::cmp_tail_op>()) {
        e.kind = Expr::Kind::cmp;
        const auto op = tail.children.at(0)->string_view();
        e.op = op == "==" ? CmpOp::eq : op == "!=" ? CmpOp::ne : op == "<=" ? CmpOp::le : op == ">=" ? CmpOp::ge
             : op == "<" ? CmpOp::lt : CmpOp::gt;
        e.name_span = span(*tail.children.at(0));
        e.kids.push_back(expr(*tail.children.at(1)));
      } else if (tail.is_type<g::cmp_tail_in>()) {
        e.kind = Expr::Kind::in;
        e.kids.push_back(expr(*tail.children.at(0)));
      } else {
        e.kind = Expr::Kind::is;
        e.name = tail.children.at(0)->string();
        e.name_span = span(*tail.children.at(0));
      }
    } else if (n.is_type<g::not_app>()) {
      e.kind = Expr::Kind::not_;
      e.kids.push_back(expr(*n.children.at(0)));
    } else if (n.is_type<g::and_expr>() || n.is_type<g::or_expr>()) {
      e.kind = n.is_type<g::and_expr>() ? Expr::Kind::and_ : Expr::Kind::or_;
      for (const auto& k : n.children) e.kids.push_back(expr(*k));
    } else if (n.is_type<g::set_lit>()) {
      e.kind = Expr::Kind::set_lit;
      for (const auto& k : n.children) e.kids.push_back(expr(*k));
    } else if (n.is_type<g::exists_expr>()) {
      e.set_var(ident(*n.children.at(0)));
      const Node& dom = *n.children.at(1);
      if (dom.is_type<g::exists_type>()) {
        e.kind = Expr::Kind::exists;
        e.name = dom.children.at(0)->string();
        e.name_span = span(*dom.children.at(0));
      } else {
        e.kind = Expr::Kind::exists_in;
        e.kids.push_back(expr(*dom.children.at(0)));
      }
      e.kids.push_back(expr(*n.children.at(2)));
    } else {
      // The grammar and this converter disagree: report rather than crash.
      diags_.add(DiagId::unexpected_input, e.span, "internal: unexpected parse node `" + std::string(n.type) + "`");
    }
    // Folded nodes (comparisons, chains, `not`, `exists`) end where their last operand ends: the
    // parse tree's own end for them may run past it.
    if (n.is_type<g::cmp_expr>() || n.is_type<g::and_expr>() || n.is_type<g::or_expr>() || n.is_type<g::not_app>() ||
        n.is_type<g::exists_expr>()) {
      if (!e.kids.empty()) e.span.end = e.kids.back().span.end;
      if (e.kind == Expr::Kind::is) e.span.end = e.name_span.end;
      if (!e.kids.empty() && n.is_type<g::cmp_expr>()) e.span.begin = e.kids.front().span.begin;
      // A last operand in parentheses ends at its `)`, which its own span leaves out.
      int open = 0;
      bool in_string = false;
      for (auto i = e.span.begin; i < e.span.end; ++i) {
        if (in_string) {
          if (base_[i] == '\\') ++i;
          else if (base_[i] == '"') in_string = false;
        } else if (base_[i] == '"') {
          in_string = true;
        } else {
          open += base_[i] == '(' ? 1 : base_[i] == ')' ? -1 : 0;
        }
      }
      for (auto i = e.span.end; open > 0 && base_[i] != '\0'; ++i) {
        if (base_[i] == ')') {
          --open;
          e.span.end = i + 1;
        } else if (base_[i] != ' ' && base_[i] != '\n' && base_[i] != '\t' && base_[i] != '\r') {
          break;
        }
      }
    }
    return e;
  }

  std::vector<Param> params(const Node& n) {
    std::vector<Param> out;
    for (const auto& c : n.children) out.push_back(Param{ident(*c->children.at(0)), type(*c->children.at(1))});
    return out;
  }

  Binding binding(const Node& n) {
    Binding b;
    b.span = span(n);
    b.var = ident(*n.children.at(0));
    for (std::size_t i = 1; i < n.children.size(); ++i) b.types.push_back(ident(*n.children[i]));
    return b;
  }

  ActionPattern pattern(const Node& n) {
    ActionPattern a;
    a.span = span(n);
    if (n.is_type<g::kw_any>()) {
      a.kind = ActionPattern::Kind::any;
    } else if (n.is_type<g::action_set>()) {
      a.kind = ActionPattern::Kind::set;
      for (const auto& c : n.children) a.names.push_back(ident(*c));
    } else {
      a.kind = ActionPattern::Kind::one;
      a.names.push_back(ident(*n.children.at(0)));
      if (n.children.size() > 1) {
        a.has_parens = true;
        for (const auto& c : n.children[1]->children) a.constraints.push_back(expr(*c));
      }
    }
    return a;
  }

  FactDecl fact(const Node& n) {
    FactDecl f;
    f.span = span(n);
    const Node& ref = *n.children.at(0);
    f.type = ident(*ref.children.at(0));
    f.id = string_value(*ref.children.at(1));
    f.id_span = span(*ref.children.at(1));
    for (std::size_t i = 1; i < n.children.size(); ++i) {
      const Node& fi = *n.children[i];
      f.fields.push_back(FieldInit{ident(*fi.children.at(0)), expr(*fi.children.at(1))});
    }
    return f;
  }

  Decision decision(const Node& n) { return n.is_type<g::kw_allow>() ? Decision::allow : Decision::deny; }

  Expectation expectation(const Node& n) {
    Expectation x;
    x.span = span(n);
    x.decision = decision(*n.children.at(0));
    x.request.principal = expr(*n.children.at(1)->children.at(0));
    const Node& act = *n.children.at(2);
    x.request.action = ident(*act.children.at(0));
    if (act.children.size() > 1) {
      x.request.has_parens = true;
      for (const auto& a : act.children[1]->children)
        x.request.args.push_back(ActionArg{ident(*a->children.at(0)), expr(*a->children.at(1))});
    }
    x.request.resource = expr(*n.children.at(3)->children.at(0));
    if (n.children.size() > 4)
      for (const auto& r : n.children[4]->children) x.because.push_back(ident(*r));
    return x;
  }

  std::optional<Decl> declaration(const Node& n) {
    const auto& k = n.children;
    if (n.is_type<g::enum_decl>()) {
      EnumDecl d;
      d.name = ident(*k.at(0));
      for (std::size_t i = 1; i < k.size(); ++i) d.values.push_back(ident(*k[i]));
      d.span = span(n);
      return d;
    }
    if (n.is_type<g::entity_decl>()) {
      EntityDecl d;
      std::size_t first = 0;
      if (k.at(0)->is_type<g::inline_mark>()) {
        d.request_supplied = true;
        first = 1;
      }
      d.name = ident(*k.at(first));
      for (std::size_t i = first + 1; i < k.size(); ++i) {
        const Node& m = *k[i];
        if (m.is_type<g::key_decl>()) {
          std::vector<Ident> key;
          for (const auto& c : m.children) key.push_back(ident(*c));
          d.keys.push_back(std::move(key));
          d.member_is_key.push_back(true);
        } else {
          d.attrs.push_back(AttrDecl{ident(*m.children.at(0)), type(*m.children.at(1))});
          d.member_is_key.push_back(false);
        }
      }
      d.span = span(n);
      return d;
    }
    if (n.is_type<g::action_decl>()) {
      ActionDecl d;
      d.name = ident(*k.at(0));
      for (std::size_t i = 1; i < k.size(); ++i) {
        const Node& c = *k[i];
        if (c.is_type<g::params>()) {
          d.has_params = true;
          d.params = params(c);
        } else if (c.is_type<g::action_principal>()) {
          for (const auto& t : c.children) d.principal_types.push_back(ident(*t));
        } else {
          for (const auto& t : c.children) d.resource_types.push_back(ident(*t));
        }
      }
      d.span = span(n);
      return d;
    }
    if (n.is_type<g::fact_decl>()) return fact(n);
    if (n.is_type<g::predicate_decl>()) {
      PredicateDecl d;
      d.name = ident(*k.at(0));
      d.params = params(*k.at(1));
      d.body = expr(*k.at(2));
      d.span = span(n);
      return d;
    }
    if (n.is_type<g::rule_decl>()) {
      RuleDecl d;
      d.effect = k.at(0)->is_type<g::kw_permit>() ? Effect::permit : Effect::forbid;
      d.name = ident(*k.at(1));
      for (std::size_t i = 2; i < k.size(); ++i) {
        const Node& c = *k[i];
        if (c.is_type<g::rule_principal>() || c.is_type<g::rule_resource>()) {
          Binding b;
          b.span = span(c);
          if (!c.children.empty()) b = binding(*c.children[0]);
          b.span = span(c);
          (c.is_type<g::rule_principal>() ? d.principal : d.resource) = std::move(b);
        } else if (c.is_type<g::rule_action>()) {
          d.action = pattern(*c.children.at(0));
        } else {
          d.conditions.push_back(Condition{c.is_type<g::when_clause>(), expr(*c.children.at(0))});
        }
      }
      d.span = span(n);
      return d;
    }
    if (n.is_type<g::require_decl>()) {
      RequireDecl d;
      d.name = ident(*k.at(0));
      std::size_t i = 1;
      if (k.at(i)->is_type<g::require_forall>()) {
        const Node& f = *k[i];
        d.forall_var = ident(*f.children.at(0));
        d.forall_type = ident(*f.children.at(1));
        if (f.children.size() > 2) d.where = expr(*f.children[2]->children.at(0));
        ++i;
      }
      d.ensure = expr(*k.at(i)->children.at(0));
      const Node& msg = *k.at(i + 1)->children.at(0);
      d.message = string_value(msg);
      d.message_span = span(msg);
      d.span = span(n);
      return d;
    }
    if (n.is_type<g::test_decl>()) {
      TestDecl d;
      d.name = string_value(*k.at(0));
      d.name_span = span(*k.at(0));
      for (std::size_t i = 1; i < k.size(); ++i) {
        const Node& c = *k[i];
        if (c.is_type<g::given_block>()) {
          d.has_given = true;
          for (const auto& f : c.children) d.given.push_back(fact(*f));
        } else if (c.is_type<g::expect_violation>()) {
          d.violations.push_back(ViolationExpectation{ident(*c.children.at(0)), span(c)});
        } else {
          d.expects.push_back(expectation(c));
        }
      }
      d.span = span(n);
      return d;
    }
    if (n.is_type<g::property_decl>()) {
      PropertyDecl d;
      d.name = ident(*k.at(0));
      const Node& fa_p = *k.at(1);
      d.principal = binding(*fa_p.children.at(0));
      d.action = pattern(*k.at(2)->children.at(0));
      d.resource = binding(*k.at(3)->children.at(0));
      std::size_t i = 4;
      if (k.at(i)->is_type<g::prop_where>()) {
        d.where = expr(*k[i]->children.at(0));
        ++i;
      }
      d.expect = decision(*k.at(i)->children.at(0));
      d.span = span(n);
      return d;
    }
    diags_.add(DiagId::unexpected_input, span(n), "internal: unexpected declaration node `" + std::string(n.type) + "`");
    return std::nullopt;
  }

 private:
  FileId file_;
  const char* base_;
  Diagnostics& diags_;
};

void report_parse_error(const p::parse_error& e, FileId id, std::string_view text, std::size_t base_off,
                        Diagnostics& diags) {
  const auto& pos = e.positions().front();
  const std::size_t off = base_off + pos.byte;
  int code = 0;
  const auto msg = e.message();
  std::from_chars(msg.data(), msg.data() + msg.size(), code);
  const auto did = static_cast<DiagId>(code);
  Span s = token_span(id, text, off);
  std::string message(diag_info(did).message);
  if (did == DiagId::keyword_as_name)
    message = "expected a name, found the reserved keyword " + found_text(text, s);
  else if (did != DiagId::nesting_too_deep && did != DiagId::unterminated_block_comment &&
           did != DiagId::bad_unicode_scalar)
    message += ", found " + found_text(text, s);
  diags.add(did, s, std::move(message));
}

/// Attaches `///` comments that directly precede each declaration as its documentation.
class DocAttacher {
 public:
  DocAttacher(const std::vector<Comment>& comments, std::string_view text) : comments_(comments), text_(text) {}

  Doc doc_before(std::uint32_t offset) const {
    // Find the last comment that ends at or before `offset`.
    std::size_t i = 0;
    while (i < comments_.size() && comments_[i].span.end <= offset) ++i;
    std::vector<const Comment*> docs;
    std::uint32_t next = offset;
    while (i > 0) {
      const Comment& c = comments_[i - 1];
      if (!c.is_doc || !blank(c.span.end, next)) break;
      docs.push_back(&c);
      next = c.span.begin;
      --i;
    }
    if (docs.empty()) return std::nullopt;
    std::string out;
    for (auto it = docs.rbegin(); it != docs.rend(); ++it) {
      std::string_view t = (*it)->text;
      t.remove_prefix(3);
      if (!t.empty() && t.front() == ' ') t.remove_prefix(1);
      while (!t.empty() && (t.back() == '\r' || t.back() == ' ')) t.remove_suffix(1);
      if (!out.empty()) out += '\n';
      out += t;
    }
    return out;
  }

 private:
  /// Only spaces and at most one line break between `b` and `e` (a blank line ends a doc).
  bool blank(std::uint32_t b, std::uint32_t e) const {
    int newlines = 0;
    for (auto j = b; j < e; ++j) {
      if (text_[j] == '\n') ++newlines;
      else if (text_[j] != ' ' && text_[j] != '\t' && text_[j] != '\r') return false;
    }
    return newlines <= 1;
  }
  const std::vector<Comment>& comments_;
  std::string_view text_;
};

void attach_docs(Decl& d, const DocAttacher& docs) {
  visit(
      [&](auto& x) {
        x.doc = docs.doc_before(x.span.begin);
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, TestDecl>) {
          for (auto& f : x.given) f.doc = docs.doc_before(f.span.begin);
        }
      },
      d);
}

}  // namespace

bool validate_source_bytes(const SourceManager& sm, FileId id, Diagnostics& diags) {
  const std::string& t = sm.file(id).text;
  const auto* s = reinterpret_cast<const unsigned char*>(t.data());
  const std::size_t n = t.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    const auto at = Span{id, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i + 1)};
    if (c == 0) {
      diags.add(DiagId::nul_byte, at);
      return false;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else { diags.add(DiagId::invalid_utf8, at); return false; }
    if (i + len > n) { diags.add(DiagId::invalid_utf8, at); return false; }
    for (std::size_t j = 1; j < len; ++j) {
      if ((s[i + j] & 0xC0) != 0x80) { diags.add(DiagId::invalid_utf8, at); return false; }
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) { diags.add(DiagId::invalid_utf8, at); return false; }
    i += len;
  }
  return true;
}

bool is_keyword(std::string_view s) {
  p::memory_input<> in(s.data(), s.data() + s.size(), "");
  return p::parse<p::seq<g::keyword, p::eof>>(in);
}

syntax::File parse_file(const SourceManager& sm, FileId id, Diagnostics& diags, const ParseOptions& opts) {
  syntax::File out;
  out.file = id;
  const auto& src = sm.file(id);
  const std::string& text = src.text;
  if (text.size() > opts.max_file_bytes) {
    diags.add(DiagId::file_too_large, Span{id, 0, 0},
              "file is " + std::to_string(text.size()) + " bytes, more than the limit of " + std::to_string(opts.max_file_bytes));
    return out;
  }
  if (!validate_source_bytes(sm, id, diags)) return out;
  out.comments = scan_comments(sm, id);
  const DocAttacher docs(out.comments, text);
  const char* base = text.data();
  const char* end = base + text.size();
  std::size_t pos = 0;
  Converter conv(id, base, diags);
  t_limit = opts.max_depth;
  while (pos < text.size()) {
    // Skip whitespace and comments.
    try {
      p::memory_input<> in(base + pos, end, src.path);
      (void)p::parse<g::sp, p::nothing, control>(in);
      pos = static_cast<std::size_t>(in.current() - base);
    } catch (const p::parse_error& e) {
      report_parse_error(e, id, text, pos, diags);
      break;  // an unterminated comment runs to the end of the file
    }
    if (pos >= text.size()) break;
    p::memory_input<> in(base + pos, end, src.path);
    t_depth = 0;
    try {
      auto root = p::parse_tree::parse<g::one_declaration, Node, g::selector, p::nothing, control>(in);
      if (root && !root->children.empty()) {
        if (auto d = conv.declaration(*root->children.front())) {
          attach_docs(*d, docs);
          out.decls.push_back(std::move(*d));
        }
      }
      pos = static_cast<std::size_t>(in.current() - base);
    } catch (const p::parse_error& e) {
      report_parse_error(e, id, text, pos, diags);
      const std::size_t err = pos + e.positions().front().byte;
      pos = recovery_point(text, std::max(err, pos + 1) - 1);
    }
  }
  return out;
}

bool parse_expression(const SourceManager& sm, FileId id, syntax::Expr& out, Diagnostics& diags, const ParseOptions& opts) {
  const auto& src = sm.file(id);
  if (src.text.size() > opts.max_file_bytes) {
    diags.add(DiagId::file_too_large, Span{id, 0, 0});
    return false;
  }
  if (!validate_source_bytes(sm, id, diags)) return false;
  const char* base = src.text.data();
  p::memory_input<> in(base, base + src.text.size(), src.path);
  t_depth = 0;
  t_limit = opts.max_depth;
  const auto before = diags.count(Severity::error);
  try {
    auto root = p::parse_tree::parse<p::seq<g::sp, p::must<g::paren_inner>, g::sp, p::must<p::eof>>, Node,
                                     g::selector, p::nothing, control>(in);
    Converter conv(id, base, diags);
    out = conv.expr(*root->children.at(0));
  } catch (const p::parse_error& e) {
    report_parse_error(e, id, src.text, 0, diags);
    return false;
  }
  return diags.count(Severity::error) == before;
}

}  // namespace treaty

#include <tao/pegtl/contrib/analyze.hpp>

namespace treaty {
std::size_t analyze_grammar() {
  return tao::pegtl::analyze<dsl::internal::grammar::file>(-1) +
         tao::pegtl::analyze<dsl::internal::grammar::one_declaration>(-1);
}
}  // namespace treaty
