// The name index of a checked package (name_index.hpp says what it holds and why it walks the
// syntax tree rather than the IR).
#include "name_index.hpp"

#include <algorithm>
#include <optional>
#include <span>
#include <tuple>

#include "treaty/diagnostics.hpp"
#include "treaty/parse.hpp"
#include "treaty/syntax.hpp"

namespace treaty::cli {

namespace {

using syntax::Expr;
using EK = syntax::Expr::Kind;

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}


struct Var {
  std::string name;
  Type type;
  std::vector<std::string> keys;  ///< the declarations a use of this variable is a use of
};

struct Scope {
  std::vector<Var> vars;
  const Var* find(std::string_view name) const {
    for (auto it = vars.rbegin(); it != vars.rend(); ++it)
      if (it->name == name) return &*it;
    return nullptr;
  }
};

class Indexer {
 public:
  Indexer(SourceManager& sm, const Package& pkg, const Program& p) : sm_(sm), pkg_(pkg), p_(p) {}

  std::vector<Declared> decls;
  std::map<std::string, std::vector<NameUse>> uses;
  std::vector<TypedSpan> typed_spans;

  void run() {
    for (const auto& f : pkg_.files) {
      file_ = &f;
      for (const auto& d : f.decls) syntax::visit([&](const auto& x) { declare(x); }, d);
    }
    for (const auto& f : pkg_.files) {
      file_ = &f;
      for (const auto& d : f.decls) syntax::visit([&](const auto& x) { walk(x); }, d);
    }
    for (auto& [_, v] : uses) {
      std::sort(v.begin(), v.end(), [](const NameUse& a, const NameUse& b) {
        return std::tie(a.span.file, a.span.begin) < std::tie(b.span.file, b.span.begin);
      });
      v.erase(std::unique(v.begin(), v.end(),
                          [](const NameUse& a, const NameUse& b) {
                            return a.span.file == b.span.file && a.span.begin == b.span.begin &&
                                   a.span.end == b.span.end;
                          }),
              v.end());
    }
  }

 private:
  SourceManager& sm_;
  const Package& pkg_;
  const Program& p_;
  const syntax::File* file_ = nullptr;
  std::string in_;  ///< the declaration being walked, for Use::in

  void typed(Span span, const Type& t) {
    if (span.valid()) typed_spans.push_back({span, p_.schema.type_name(t)});
  }

  void use(const std::string& key, Span span, const char* what) {
    if (span.valid()) uses[key].push_back({span, what, in_});
  }

  /// The `///` comments on the lines right above `span` (for members, which keep no doc).
  std::string doc_before(Span span) const {
    if (!file_ || !span.valid()) return {};
    // Only for a member that starts its line: above one that shares a line with its
    // declaration (`entity P { a: T }`) stands the declaration's own doc.
    const auto lc = sm_.line_col(span.file, span.begin);
    if (!trim(sm_.text(Span{span.file, span.begin - (lc.column - 1), span.begin})).empty()) return {};
    std::uint32_t line = lc.line;
    std::vector<std::string> lines;
    for (auto it = file_->comments.rbegin(); it != file_->comments.rend(); ++it) {
      if (it->span.begin >= span.begin) continue;
      if (!it->is_doc || !it->own_line || sm_.line_col(span.file, it->span.begin).line != line - 1) break;
      std::string t = it->text.substr(3);
      if (!t.empty() && t[0] == ' ') t.erase(0, 1);
      lines.push_back(t);
      --line;
    }
    std::string out;
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) out += (out.empty() ? "" : "\n") + *it;
    return out;
  }

  void add(std::string key, std::string kind, std::string qualified, std::string bare, const syntax::Doc& doc,
           Span loc, Span text) {
    decls.push_back({std::move(key), std::move(kind), std::move(qualified), std::move(bare), doc ? *doc : "", loc,
                     text});
  }

  // --- declarations ------------------------------------------------------------------------------
  void declare(const syntax::EnumDecl& d) {
    add("enum:" + d.name.name, "enum", d.name.name, d.name.name, d.doc, d.name.span, d.span);
    for (const auto& v : d.values)
      add("value:" + d.name.name + "." + v.name, "enum value", d.name.name + "." + v.name, v.name, doc_before(v.span),
          v.span, v.span);
  }
  void declare(const syntax::EntityDecl& d) {
    add("entity:" + d.name.name, "entity type", d.name.name, d.name.name, d.doc, d.name.span, d.span);
    for (const auto& a : d.attrs)
      add("attr:" + d.name.name + "." + a.name.name, "attribute", d.name.name + "." + a.name.name, a.name.name,
          doc_before(a.name.span), a.name.span, Span::cover(a.name.span, a.type.span));
  }
  void declare(const syntax::ActionDecl& d) {
    add("action:" + d.name.name, "action", d.name.name, d.name.name, d.doc, d.name.span, d.span);
    for (const auto& prm : d.params)
      add("param:" + d.name.name + "." + prm.name.name, "action parameter", d.name.name + "." + prm.name.name,
          prm.name.name, std::nullopt, prm.name.span, Span::cover(prm.name.span, prm.type.span));
  }
  void declare(const syntax::FactDecl&) {}
  void declare(const syntax::PredicateDecl& d) {
    add("predicate:" + d.name.name, "predicate", d.name.name, d.name.name, d.doc, d.name.span, d.span);
    for (const auto& prm : d.params)
      add("pparam:" + d.name.name + "." + prm.name.name, "predicate parameter", d.name.name + "." + prm.name.name,
          prm.name.name, std::nullopt, prm.name.span, Span::cover(prm.name.span, prm.type.span));
  }
  void declare(const syntax::RuleDecl& d) {
    add("rule:" + d.name.name, d.effect == syntax::Effect::permit ? "rule (permit)" : "rule (forbid)", d.name.name,
        d.name.name, d.doc, d.name.span, d.span);
  }
  void declare(const syntax::RequireDecl& d) {
    add("requirement:" + d.name.name, "requirement", d.name.name, d.name.name, d.doc, d.name.span, d.span);
  }
  void declare(const syntax::PropertyDecl& d) {
    add("property:" + d.name.name, "property", d.name.name, d.name.name, d.doc, d.name.span, d.span);
  }
  void declare(const syntax::TestDecl& d) {
    add("test:" + d.name, "test", d.name, d.name, d.doc, d.name_span, d.span);
  }

  // --- types -------------------------------------------------------------------------------------
  std::optional<Type> type_ref(const syntax::TypeRef& t, const char* what) {
    if (t.kind != syntax::TypeRef::Kind::named) {
      if (t.args.empty()) return std::nullopt;
      auto inner = type_ref(t.args[0], what);
      if (!inner) return std::nullopt;
      return t.kind == syntax::TypeRef::Kind::set ? inner->as_set() : inner->as_optional();
    }
    if (t.name == "Bool") return Type::boolean();
    if (t.name == "Int") return Type::integer();
    if (t.name == "String") return Type::string();
    if (auto e = p_.schema.find_enum(t.name)) {
      use("enum:" + t.name, t.span, what);
      return Type::enumeration(*e);
    }
    if (auto e = p_.schema.find_entity(t.name)) {
      use("entity:" + t.name, t.span, what);
      return Type::entity({*e});
    }
    return std::nullopt;
  }

  std::vector<TypeId> all_entities() const {
    std::vector<TypeId> all;
    for (TypeId t = 0; t < p_.schema.entities.size(); ++t) all.push_back(t);
    return all;
  }

  std::vector<TypeId> entity_types(const std::vector<syntax::Ident>& names, const char* what) {
    return entity_type_list(names, what);
  }
  std::vector<TypeId> entity_type_list(std::span<const syntax::Ident> names, const char* what) {
    std::vector<TypeId> out;
    for (const auto& n : names) {
      use("entity:" + n.name, n.span, what);
      if (auto t = p_.schema.find_entity(n.name)) out.push_back(*t);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  // --- expressions: typed as the checker types them -----------------------------------------------
  static bool unbound(const Expr& e, const Scope& sc) { return e.kind == EK::name && !sc.find(e.name); }

  void enum_value(TypeId en, const std::string& value, Span span) {
    const auto& info = p_.schema.enums[en];
    if (std::find(info.values.begin(), info.values.end(), value) != info.values.end())
      use("value:" + info.name + "." + value, span, "value");
  }

  std::optional<Type> expr(const Expr& e, Scope& sc, const Type* expected) {
    switch (e.kind) {
      case EK::bool_lit: return Type::boolean();
      case EK::int_lit: return Type::integer();
      case EK::string_lit: return Type::string();
      case EK::none_lit: return Type::none_type();
      case EK::set_lit: {
        std::optional<Type> elem;
        if (expected && expected->set) elem = expected->element();
        for (const auto& k : e.kids) {
          auto t = expr(k, sc, elem ? &*elem : nullptr);
          if (t && !elem) elem = t->as_optional(false);
        }
        if (!elem) {
          Type t = Type::of(Base::empty_set);
          t.set = true;
          return t;
        }
        return elem->as_set();
      }
      case EK::entity_ref: {
        use("entity:" + e.name, e.name_span, "reference");
        if (auto t = p_.schema.find_entity(e.name)) return Type::entity({*t});
        return std::nullopt;
      }
      case EK::name: {
        if (const Var* v = sc.find(e.name)) {
          for (const auto& k : v->keys) use(k, e.span, "read");
          typed(e.span, v->type);
          return v->type;
        }
        if (expected && expected->base == Base::enum_) {
          enum_value(expected->enum_id, e.name, e.span);
          return *expected;
        }
        return std::nullopt;
      }
      case EK::attr: return attribute(e, sc);
      case EK::call: {
        use("predicate:" + e.name, e.name_span, "call");
        const PredicateInfo* pred = nullptr;
        for (const auto& pi : p_.predicates)
          if (pi.name == e.name) pred = &pi;
        for (std::size_t i = 0; i < e.kids.size(); ++i)
          (void)expr(e.kids[i], sc, pred && i < pred->params.size() ? &pred->params[i].type : nullptr);
        return Type::boolean();
      }
      case EK::method: {
        auto recv = expr(e.kids[0], sc, nullptr);
        for (std::size_t i = 1; i < e.kids.size(); ++i) (void)expr(e.kids[i], sc, recv ? &*recv : nullptr);
        return Type::boolean();
      }
      case EK::not_:
      case EK::and_:
      case EK::or_:
        for (const auto& k : e.kids) (void)expr(k, sc, nullptr);
        return Type::boolean();
      case EK::cmp: operands(e.kids[0], e.kids[1], sc, false); return Type::boolean();
      case EK::in: operands(e.kids[0], e.kids[1], sc, true); return Type::boolean();
      case EK::is:
        (void)expr(e.kids[0], sc, nullptr);
        use("entity:" + e.name, e.name_span, "`is` test");
        return Type::boolean();
      case EK::exists: {
        auto types = entity_types({syntax::Ident{e.name, e.name_span}}, "`exists`");
        sc.vars.push_back({e.var().name, Type::entity(types), {}});
        (void)expr(e.kids[0], sc, nullptr);
        sc.vars.pop_back();
        return Type::boolean();
      }
      case EK::exists_in: {
        auto s = expr(e.kids[0], sc, nullptr);
        sc.vars.push_back({e.var().name, s ? s->element() : Type::none_type(), {}});
        (void)expr(e.kids[1], sc, nullptr);
        sc.vars.pop_back();
        return Type::boolean();
      }
    }
    return std::nullopt;
  }

  /// Two operands where either may be a bare enum value whose type the other gives (the
  /// checker's operand_pair).
  void operands(const Expr& l, const Expr& r, Scope& sc, bool right_is_set) {
    if (unbound(l, sc) && !unbound(r, sc)) {
      auto rt = expr(r, sc, nullptr);
      if (!rt) return;
      Type want = right_is_set ? rt->element() : *rt;
      (void)expr(l, sc, &want);
      return;
    }
    auto lt = expr(l, sc, nullptr);
    if (!lt) return;
    Type want = right_is_set ? lt->as_set() : *lt;
    (void)expr(r, sc, &want);
  }

  std::optional<Type> attribute(const Expr& e, Scope& sc) {
    const Expr& base = e.kids[0];
    if (unbound(base, sc)) {
      if (auto en = p_.schema.find_enum(base.name)) {
        use("enum:" + base.name, base.span, "qualified value");
        enum_value(*en, e.name, e.name_span);
        return Type::enumeration(*en);
      }
    }
    auto b = expr(base, sc, nullptr);
    if (!b || b->base != Base::entity || b->set || b->entities.empty()) return std::nullopt;
    std::optional<Type> result;
    for (TypeId t : b->entities) {
      const auto& et = p_.schema.entities[t];
      const int col = et.column_named(e.name);
      if (col < 0) continue;
      use("attr:" + et.name + "." + e.name, e.name_span, "read");
      const Type& at = et.attrs[static_cast<std::size_t>(col)].type;
      if (!result) result = at;
      else if (at.optional) result->optional = true;
    }
    if (result && b->optional && !result->set) result->optional = true;
    if (result) typed(e.name_span, *result);
    return result;
  }

  /// A constant written in a fact, a `given` fact or a request argument, of type `t`.
  void constant(const Expr& e, const Type& t) {
    if (e.kind == EK::set_lit) {
      for (const auto& k : e.kids) constant(k, t.element());
      return;
    }
    if (e.kind == EK::entity_ref) {
      use("entity:" + e.name, e.name_span, "reference");
      return;
    }
    if (t.base != Base::enum_) return;
    const std::string& en = p_.schema.enums[t.enum_id].name;
    if (e.kind == EK::name) {
      enum_value(t.enum_id, e.name, e.span);
    } else if (e.kind == EK::attr && e.kids[0].kind == EK::name && e.kids[0].name == en) {
      use("enum:" + en, e.kids[0].span, "qualified value");
      enum_value(t.enum_id, e.name, e.name_span);
    }
  }

  void fact(const syntax::FactDecl& f, const char* what, const char* set) {
    use("entity:" + f.type.name, f.type.span, what);
    auto t = p_.schema.find_entity(f.type.name);
    if (!t) return;
    const auto& et = p_.schema.entities[*t];
    for (const auto& fi : f.fields) {
      const int col = et.column_named(fi.name.name);
      if (col < 0) continue;
      use("attr:" + et.name + "." + fi.name.name, fi.name.span, set);
      constant(fi.value, et.attrs[static_cast<std::size_t>(col)].type);
    }
  }

  // --- rules and properties ----------------------------------------------------------------------
  std::vector<TypeId> binding_types(const std::optional<syntax::Binding>& b, const std::vector<std::uint32_t>& actions,
                                    bool principal) {
    if (b && !b->types.empty()) return entity_type_list({b->types.data(), b->types.size()}, "binding");
    std::vector<TypeId> u;
    for (auto a : actions) {
      const auto& acc = principal ? p_.schema.actions[a].principals : p_.schema.actions[a].resources;
      if (acc.empty()) return all_entities();
      u.insert(u.end(), acc.begin(), acc.end());
    }
    if (actions.empty()) return all_entities();
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
    return u;
  }

  /// The actions of a pattern (every action for `any`), recording the names' uses.
  std::vector<std::uint32_t> pattern(const std::optional<syntax::ActionPattern>& pat, bool& any) {
    std::vector<std::uint32_t> out;
    any = !pat || pat->kind == syntax::ActionPattern::Kind::any;
    if (any) {
      for (std::uint32_t i = 0; i < p_.schema.actions.size(); ++i) out.push_back(i);
      return out;
    }
    for (const auto& n : pat->names) {
      use("action:" + n.name, n.span, "action pattern");
      if (auto a = p_.schema.find_action(n.name)) out.push_back(*a);
    }
    return out;
  }

  /// The scope of a rule or property: principal, resource and the parameters every action has.
  Scope head(const std::optional<syntax::Binding>& pb, const std::optional<syntax::Binding>& rb,
             const std::optional<syntax::ActionPattern>& pat) {
    bool any = false;
    auto actions = pattern(pat, any);
    Scope sc;
    sc.vars.push_back({pb && pb->var ? pb->var->name : "principal", Type::entity(binding_types(pb, actions, true)), {}});
    sc.vars.push_back({rb && rb->var ? rb->var->name : "resource", Type::entity(binding_types(rb, actions, false)), {}});
    if (!any && !actions.empty()) {
      for (const auto& prm : p_.schema.actions[actions[0]].params) {
        bool everywhere = true;
        for (std::size_t i = 1; i < actions.size(); ++i) {
          bool has = false;
          for (const auto& q : p_.schema.actions[actions[i]].params)
            if (q.name == prm.name && q.type == prm.type) has = true;
          everywhere = everywhere && has;
        }
        if (!everywhere) continue;
        Var v{prm.name, prm.type, {}};
        for (auto a : actions) v.keys.push_back("param:" + p_.schema.actions[a].name + "." + prm.name);
        sc.vars.push_back(std::move(v));
      }
    }
    if (pat)
      for (const auto& c : pat->constraints) (void)expr(c, sc, nullptr);
    return sc;
  }

  // --- walking each declaration ------------------------------------------------------------------
  void walk(const syntax::EnumDecl&) {}
  void walk(const syntax::EntityDecl& d) {
    in_ = "entity " + tick(d.name.name);
    for (const auto& a : d.attrs) (void)type_ref(a.type, "attribute type");
    for (const auto& k : d.keys)
      for (const auto& a : k) use("attr:" + d.name.name + "." + a.name, a.span, "key");
  }
  void walk(const syntax::ActionDecl& d) {
    in_ = "action " + tick(d.name.name);
    for (const auto& prm : d.params) (void)type_ref(prm.type, "parameter type");
    (void)entity_types(d.principal_types, "principal type");
    (void)entity_types(d.resource_types, "resource type");
  }
  void walk(const syntax::FactDecl& f) {
    in_ = f.type.name + "::" + quote_string(f.id);
    fact(f, "fact", "set");
  }
  void walk(const syntax::PredicateDecl& d) {
    in_ = "predicate " + tick(d.name.name);
    Scope sc;
    for (const auto& prm : d.params) {
      auto t = type_ref(prm.type, "parameter type");
      sc.vars.push_back({prm.name.name, t ? *t : Type::none_type(), {"pparam:" + d.name.name + "." + prm.name.name}});
    }
    (void)expr(d.body, sc, nullptr);
  }
  void walk(const syntax::RuleDecl& r) {
    in_ = "rule " + tick(r.name.name);
    Scope sc = head(r.principal, r.resource, r.action);
    for (const auto& c : r.conditions) (void)expr(c.expr, sc, nullptr);
  }
  void walk(const syntax::RequireDecl& rq) {
    in_ = "requirement " + tick(rq.name.name);
    Scope sc;
    if (rq.forall_type) {
      auto t = entity_types({*rq.forall_type}, "`forall`");
      sc.vars.push_back({rq.forall_var ? rq.forall_var->name : "", Type::entity(t), {}});
    }
    if (rq.where) (void)expr(*rq.where, sc, nullptr);
    (void)expr(rq.ensure, sc, nullptr);
    message(rq, sc);
  }
  /// The `{expr}` parts of a requirement's message, when the literal has no escapes (so offsets
  /// in the message are offsets in the source).
  void message(const syntax::RequireDecl& rq, Scope& sc) {
    if (!rq.message_span.valid() || sm_.text(rq.message_span) != "\"" + rq.message + "\"") return;
    const std::string& msg = rq.message;
    for (std::size_t i = msg.find('{'); i != std::string::npos; i = msg.find('{', i + 1)) {
      const auto close = msg.find('}', i);
      if (close == std::string::npos) return;
      const FileId fid = sm_.add("<message>", msg.substr(i + 1, close - i - 1));
      Expr e;
      Diagnostics local;
      if (!parse_expression(sm_, fid, e, local)) return;
      shift(e, rq.message_span.file, rq.message_span.begin + 1 + static_cast<std::uint32_t>(i) + 1);
      (void)expr(e, sc, nullptr);
      i = close;
    }
  }
  static void shift(Expr& e, FileId file, std::uint32_t base) {
    syntax::Ident* var = e.var_if();
    for (Span* s : {&e.span, &e.name_span, var ? &var->span : nullptr})
      if (s && s->valid()) *s = Span{file, s->begin + base, s->end + base};
    for (auto& k : e.kids) shift(k, file, base);
  }
  void walk(const syntax::PropertyDecl& pp) {
    in_ = "property " + tick(pp.name.name);
    std::optional<syntax::ActionPattern> pat = pp.action;
    Scope sc = head(pp.principal, pp.resource, pat);
    if (pp.where) (void)expr(*pp.where, sc, nullptr);
  }
  void walk(const syntax::TestDecl& t) {
    in_ = "test " + quote_string(t.name);
    for (const auto& g : t.given) fact(g, "`given` fact", "set by `given` fact");
    for (const auto& ex : t.expects) {
      for (const auto* ref : {&ex.request.principal, &ex.request.resource})
        use("entity:" + ref->name, ref->name_span, "request");
      use("action:" + ex.request.action.name, ex.request.action.span, "request");
      if (auto a = p_.schema.find_action(ex.request.action.name)) {
        const auto& act = p_.schema.actions[*a];
        for (const auto& arg : ex.request.args)
          for (const auto& prm : act.params)
            if (prm.name == arg.name.name) {
              use("param:" + act.name + "." + prm.name, arg.name.span, "request argument");
              constant(arg.value, prm.type);
            }
      }
      for (const auto& b : ex.because) use("rule:" + b.name, b.span, "`because`");
    }
  }
};

}  // namespace

NameIndex index_names(SourceManager& sm, const Package& pkg, const Program& p) {
  Indexer ix(sm, pkg, p);
  ix.run();
  NameIndex out;
  out.decls = std::move(ix.decls);
  out.uses = std::move(ix.uses);
  out.types = std::move(ix.typed_spans);
  return out;
}

}  // namespace treaty::cli
