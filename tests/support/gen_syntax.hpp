// RapidCheck generators of syntax trees (not necessarily well-typed): every node kind the parser
// can produce, with the shapes the parser produces (and/or chains of two or more, never empty
// names, strings of valid UTF-8 text).
#pragma once

#include <rapidcheck.h>

#include "treaty/syntax.hpp"

namespace treaty::testing::gen {

using namespace treaty::syntax;

inline rc::Gen<std::string> name() {
  return rc::gen::element<std::string>("a", "b", "p", "r", "t", "x", "manager", "assignee", "Role", "Person",
                                        "Account", "Trust", "Set", "kind", "roles", "account", "has_role",
                                        "is_empty", "contains_any", "specialist", "_x9", "keys", "inx", "nothing");
}

inline rc::Gen<std::string> text() {
  return rc::gen::map(rc::gen::container<std::vector<std::string>>(
                          rc::gen::element<std::string>("a", "Z", " ", "\"", "\\", "\n", "\t", "é", "😀", "/", "*",
                                                        "{", "}", "//", "::", "\x01", "\x7f")),
                      [](const std::vector<std::string>& parts) {
                        std::string s;
                        for (const auto& p : parts) s += p;
                        return s;
                      });
}

inline Ident ident(std::string n) { return Ident{std::move(n), {}}; }

inline rc::Gen<Expr> expr(int depth);

inline Expr leaf(Expr::Kind k) {
  Expr e;
  e.kind = k;
  return e;
}

inline rc::Gen<Expr> leaf_expr() {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::arbitrary<bool>(), [](bool b) { Expr e = leaf(Expr::Kind::bool_lit); e.bool_value = b; return e; }),
      rc::gen::map(rc::gen::arbitrary<std::int64_t>(), [](std::int64_t v) { Expr e = leaf(Expr::Kind::int_lit); e.int_value = v; return e; }),
      rc::gen::map(text(), [](std::string s) { Expr e = leaf(Expr::Kind::string_lit); e.set_str(std::move(s)); return e; }),
      rc::gen::just(leaf(Expr::Kind::none_lit)),
      rc::gen::map(name(), [](std::string n) { Expr e = leaf(Expr::Kind::name); e.name = std::move(n); return e; }),
      rc::gen::map(rc::gen::pair(name(), text()), [](std::pair<std::string, std::string> p) {
        Expr e = leaf(Expr::Kind::entity_ref);
        e.name = std::move(p.first);
        e.set_str(std::move(p.second));
        return e;
      }));
}

inline rc::Gen<std::vector<Expr>> kids(int depth, int lo, int hi) {
  return rc::gen::mapcat(rc::gen::inRange(lo, hi + 1), [depth](int n) {
    return rc::gen::container<std::vector<Expr>>(static_cast<std::size_t>(n), expr(depth - 1));
  });
}

inline rc::Gen<Expr> expr(int depth) {
  if (depth <= 0) return leaf_expr();
  auto node = [](Expr::Kind k) {
    return [k](std::vector<Expr> ks) {
      Expr e = leaf(k);
      e.kids = std::move(ks);
      return e;
    };
  };
  auto named = [](Expr::Kind k) {
    return [k](std::pair<std::string, std::vector<Expr>> p) {
      Expr e = leaf(k);
      e.name = std::move(p.first);
      e.kids = std::move(p.second);
      return e;
    };
  };
  return rc::gen::weightedOneOf<Expr>({
      {6, leaf_expr()},
      {1, rc::gen::map(kids(depth, 0, 3), node(Expr::Kind::set_lit))},
      {2, rc::gen::map(rc::gen::pair(name(), kids(depth, 1, 1)), named(Expr::Kind::attr))},
      {1, rc::gen::map(rc::gen::pair(name(), kids(depth, 0, 3)), named(Expr::Kind::call))},
      {1, rc::gen::map(rc::gen::pair(name(), kids(depth, 1, 3)), named(Expr::Kind::method))},
      {1, rc::gen::map(kids(depth, 1, 1), node(Expr::Kind::not_))},
      {2, rc::gen::map(kids(depth, 2, 4), node(Expr::Kind::and_))},
      {2, rc::gen::map(kids(depth, 2, 4), node(Expr::Kind::or_))},
      {2, rc::gen::map(rc::gen::pair(rc::gen::inRange(0, 6), kids(depth, 2, 2)),
                       [](std::pair<int, std::vector<Expr>> p) {
                         Expr e = leaf(Expr::Kind::cmp);
                         e.op = static_cast<CmpOp>(p.first);
                         e.kids = std::move(p.second);
                         return e;
                       })},
      {1, rc::gen::map(kids(depth, 2, 2), node(Expr::Kind::in))},
      {1, rc::gen::map(rc::gen::pair(name(), kids(depth, 1, 1)), named(Expr::Kind::is))},
      {1, rc::gen::map(rc::gen::tuple(name(), name(), kids(depth, 1, 1)),
                       [](std::tuple<std::string, std::string, std::vector<Expr>> t) {
                         Expr e = leaf(Expr::Kind::exists);
                         e.set_var(ident(std::get<0>(t)));
                         e.name = std::get<1>(t);
                         e.kids = std::move(std::get<2>(t));
                         return e;
                       })},
      {1, rc::gen::map(rc::gen::pair(name(), kids(depth, 2, 2)), [](std::pair<std::string, std::vector<Expr>> p) {
         Expr e = leaf(Expr::Kind::exists_in);
         e.set_var(ident(p.first));
         e.kids = std::move(p.second);
         return e;
       })},
  });
}

inline rc::Gen<TypeRef> type(int depth) {
  auto named = rc::gen::map(rc::gen::element<std::string>("Bool", "Int", "String", "Role", "Person"), [](std::string n) {
    TypeRef t;
    t.name = std::move(n);
    return t;
  });
  if (depth <= 0) return named;
  return rc::gen::oneOf(named, rc::gen::map(type(depth - 1), [](TypeRef inner) {
                          TypeRef t;
                          t.kind = TypeRef::Kind::set;
                          t.args.push_back(std::move(inner));
                          return t;
                        }),
                        rc::gen::map(named, [](TypeRef inner) {
                          TypeRef t;
                          t.kind = TypeRef::Kind::optional;
                          t.args.push_back(std::move(inner));
                          return t;
                        }));
}

inline rc::Gen<std::vector<Ident>> idents(int lo, int hi) {
  return rc::gen::mapcat(rc::gen::inRange(lo, hi + 1), [](int n) {
    return rc::gen::container<std::vector<Ident>>(static_cast<std::size_t>(n), rc::gen::map(name(), ident));
  });
}

inline rc::Gen<Doc> doc() {
  return rc::gen::oneOf(rc::gen::just(Doc{}),
                        rc::gen::map(rc::gen::element<std::string>("A doc.", "Two\nlines", "x `y` z", "gap\n\nhere"),
                                     [](std::string s) { return Doc{std::move(s)}; }));
}

inline rc::Gen<Binding> binding() {
  return rc::gen::map(rc::gen::pair(rc::gen::maybe(rc::gen::map(name(), ident)), idents(0, 3)),
                      [](std::pair<rc::Maybe<Ident>, std::vector<Ident>> p) {
                        Binding b;
                        if (p.first) b.var = *p.first;
                        b.types = std::move(p.second);
                        if (!b.var) b.types.clear();  // `principal: T` is not in the language
                        return b;
                      });
}

inline rc::Gen<ActionPattern> pattern() {
  return rc::gen::oneOf(rc::gen::just(ActionPattern{}),
                        rc::gen::map(idents(1, 3), [](std::vector<Ident> v) {
                          ActionPattern a;
                          a.kind = ActionPattern::Kind::set;
                          a.names = std::move(v);
                          return a;
                        }),
                        rc::gen::map(rc::gen::tuple(name(), rc::gen::arbitrary<bool>(), kids(2, 0, 2)),
                                     [](std::tuple<std::string, bool, std::vector<Expr>> t) {
                                       ActionPattern a;
                                       a.kind = ActionPattern::Kind::one;
                                       a.names.push_back(ident(std::get<0>(t)));
                                       a.has_parens = std::get<1>(t) || !std::get<2>(t).empty();
                                       a.constraints = std::move(std::get<2>(t));
                                       return a;
                                     }));
}

inline rc::Gen<FactDecl> fact() {
  return rc::gen::map(rc::gen::tuple(doc(), name(), text(), rc::gen::container<std::vector<std::pair<std::string, Expr>>>(
                                                               rc::gen::pair(name(), expr(2)))),
                      [](std::tuple<Doc, std::string, std::string, std::vector<std::pair<std::string, Expr>>> t) {
                        FactDecl f;
                        f.doc = std::get<0>(t);
                        f.type = ident(std::get<1>(t));
                        f.id = std::get<2>(t);
                        for (auto& [n, v] : std::get<3>(t)) f.fields.push_back(FieldInit{ident(n), v});
                        return f;
                      });
}

inline rc::Gen<Decl> decl() {
  using rc::gen::map;
  return rc::gen::oneOf(
      map(rc::gen::tuple(doc(), name(), idents(0, 4)), [](std::tuple<Doc, std::string, std::vector<Ident>> t) {
        EnumDecl d;
        d.doc = std::get<0>(t);
        d.name = ident(std::get<1>(t));
        d.values = std::get<2>(t);
        return Decl{d};
      }),
      map(rc::gen::tuple(doc(), name(), rc::gen::container<std::vector<std::pair<std::string, TypeRef>>>(rc::gen::pair(name(), type(2))),
                         idents(0, 2)),
          [](std::tuple<Doc, std::string, std::vector<std::pair<std::string, TypeRef>>, std::vector<Ident>> t) {
            EntityDecl d;
            d.doc = std::get<0>(t);
            d.name = ident(std::get<1>(t));
            for (auto& [n, ty] : std::get<2>(t)) {
              d.attrs.push_back(AttrDecl{ident(n), ty});
              d.member_is_key.push_back(false);
            }
            if (!std::get<3>(t).empty()) {
              d.keys.push_back(std::get<3>(t));
              d.member_is_key.push_back(true);
            }
            return Decl{d};
          }),
      map(rc::gen::tuple(doc(), name(), rc::gen::arbitrary<bool>(),
                         rc::gen::container<std::vector<std::pair<std::string, TypeRef>>>(rc::gen::pair(name(), type(1))),
                         idents(0, 2), idents(0, 3)),
          [](std::tuple<Doc, std::string, bool, std::vector<std::pair<std::string, TypeRef>>, std::vector<Ident>, std::vector<Ident>> t) {
            ActionDecl d;
            d.doc = std::get<0>(t);
            d.name = ident(std::get<1>(t));
            for (auto& [n, ty] : std::get<3>(t)) d.params.push_back(Param{ident(n), ty});
            d.has_params = std::get<2>(t) || !d.params.empty();
            d.principal_types = std::get<4>(t);
            d.resource_types = std::get<5>(t);
            return Decl{d};
          }),
      map(fact(), [](FactDecl f) { return Decl{f}; }),
      map(rc::gen::tuple(doc(), name(), rc::gen::container<std::vector<std::pair<std::string, TypeRef>>>(rc::gen::pair(name(), type(1))),
                         expr(4)),
          [](std::tuple<Doc, std::string, std::vector<std::pair<std::string, TypeRef>>, Expr> t) {
            PredicateDecl d;
            d.doc = std::get<0>(t);
            d.name = ident(std::get<1>(t));
            for (auto& [n, ty] : std::get<2>(t)) d.params.push_back(Param{ident(n), ty});
            d.body = std::get<3>(t);
            return Decl{d};
          }),
      map(rc::gen::tuple(doc(), rc::gen::arbitrary<bool>(), name(), rc::gen::maybe(binding()), rc::gen::maybe(pattern()),
                         rc::gen::maybe(binding()),
                         rc::gen::container<std::vector<std::pair<bool, Expr>>>(rc::gen::pair(rc::gen::arbitrary<bool>(), expr(4)))),
          [](std::tuple<Doc, bool, std::string, rc::Maybe<Binding>, rc::Maybe<ActionPattern>, rc::Maybe<Binding>,
                        std::vector<std::pair<bool, Expr>>> t) {
            RuleDecl d;
            d.doc = std::get<0>(t);
            d.effect = std::get<1>(t) ? Effect::permit : Effect::forbid;
            d.name = ident(std::get<2>(t));
            if (std::get<3>(t)) d.principal = *std::get<3>(t);
            if (std::get<4>(t)) d.action = *std::get<4>(t);
            if (std::get<5>(t)) d.resource = *std::get<5>(t);
            for (auto& [w, e] : std::get<6>(t)) d.conditions.push_back(Condition{w, e});
            return Decl{d};
          }),
      map(rc::gen::tuple(doc(), name(), rc::gen::maybe(rc::gen::pair(name(), name())), rc::gen::maybe(expr(3)), expr(3), text()),
          [](std::tuple<Doc, std::string, rc::Maybe<std::pair<std::string, std::string>>, rc::Maybe<Expr>, Expr, std::string> t) {
            RequireDecl d;
            d.doc = std::get<0>(t);
            d.name = ident(std::get<1>(t));
            if (std::get<2>(t)) {
              d.forall_var = ident(std::get<2>(t)->first);
              d.forall_type = ident(std::get<2>(t)->second);
              if (std::get<3>(t)) d.where = *std::get<3>(t);
            }
            d.ensure = std::get<4>(t);
            d.message = std::get<5>(t);
            return Decl{d};
          }),
      map(rc::gen::tuple(doc(), text(), rc::gen::arbitrary<bool>(), rc::gen::container<std::vector<FactDecl>>(fact()),
                         rc::gen::container<std::vector<std::tuple<bool, std::string, std::string, std::vector<std::pair<std::string, Expr>>, std::vector<Ident>>>>(
                             rc::gen::tuple(rc::gen::arbitrary<bool>(), name(), text(),
                                            rc::gen::container<std::vector<std::pair<std::string, Expr>>>(rc::gen::pair(name(), leaf_expr())),
                                            idents(0, 2)))),
          [](auto t) {
            TestDecl d;
            d.doc = std::get<0>(t);
            d.name = std::get<1>(t);
            d.given = std::get<3>(t);
            d.has_given = std::get<2>(t) || !d.given.empty();
            for (auto& [allow, act, id, args, because] : std::get<4>(t)) {
              Expectation x;
              x.decision = allow ? Decision::allow : Decision::deny;
              x.request.principal = leaf(Expr::Kind::entity_ref);
              x.request.principal.name = "Person";
              x.request.principal.set_str(id);
              x.request.action = ident(act);
              for (auto& [n, v] : args) x.request.args.push_back(ActionArg{ident(n), v});
              x.request.has_parens = !x.request.args.empty();
              x.request.resource = x.request.principal;
              x.because = because;
              d.expects.push_back(std::move(x));
            }
            return Decl{d};
          }),
      map(rc::gen::tuple(doc(), name(), binding(), pattern(), binding(), rc::gen::maybe(expr(3)), rc::gen::arbitrary<bool>()),
          [](std::tuple<Doc, std::string, Binding, ActionPattern, Binding, rc::Maybe<Expr>, bool> t) {
            PropertyDecl d;
            d.doc = std::get<0>(t);
            d.name = ident(std::get<1>(t));
            d.principal = std::get<2>(t);
            if (!d.principal.var) d.principal.var = ident("p");
            d.action = std::get<3>(t);
            d.resource = std::get<4>(t);
            if (!d.resource.var) d.resource.var = ident("r");
            if (std::get<5>(t)) d.where = *std::get<5>(t);
            d.expect = std::get<6>(t) ? Decision::allow : Decision::deny;
            return Decl{d};
          }));
}

/// A file of up to a few dozen declarations. Every nested list grows with RapidCheck's size, so
/// the size is capped: uncapped, the largest files reach megabytes and test nothing more.
inline rc::Gen<File> file() {
  return rc::gen::withSize([](int size) {
    return rc::gen::resize(std::min(size, 24), rc::gen::map(rc::gen::container<std::vector<Decl>>(decl()),
                                                            [](std::vector<Decl> ds) {
                                                              File f;
                                                              f.decls.assign(std::make_move_iterator(ds.begin()), std::make_move_iterator(ds.end()));
                                                              return f;
                                                            }));
  });
}

}  // namespace treaty::testing::gen
