// Private to compiler/: the checker, one class whose passes are defined one file each, and the
// pieces of it shared with the world builder and the dumps.
//
//   collect.cpp       declarations by name, duplicates, the "did you mean" of unknown names
//   schema.cpp        enums, entity types with their attributes and keys, actions; type names
//   world.cpp         the facts of the package and its data (build_world), enum values they use
//   lower.cpp         expressions typed and lowered to the IR, calls inlined; predicates
//   rules.cpp         rules: their action patterns, bindings and conditions (properties share them)
//   requirements.cpp  requirements and their interpolated messages
//   tests.cpp         tests (`given` facts, expectations) and properties
//   indexes.cpp       the hash-index probe of each `exists`, the program's index list, rules by action
//   lints.cpp         warnings W06xx
//   check.cpp         the passes in order, and check_package
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "treaty/check.hpp"
#include "treaty/data/world.hpp"
#include "types.hpp"

namespace treaty::detail {

/// Creates the entities of every fact (so references resolve whatever the order), then fills
/// their attributes and checks references and keys.
void build_world(Program& p, SourceManager& sm, const std::vector<const syntax::FactDecl*>& facts,
                 const std::vector<std::string>& data_files,
                 const std::vector<std::pair<std::string, std::string>>& data_texts, std::size_t max_facts,
                 Diagnostics& d);

/// Resolves entity references against a world, interning into it.
class WorldResolver : public ConstantResolver {
 public:
  explicit WorldResolver(World& w) : w_(w) {}
  std::optional<EntityId> find(TypeId type, std::string_view id) const override { return w_.find(type, id); }
  const std::string* intern(std::string_view s) override { return w_.intern(s); }
  Value make_set(std::vector<Value> items) override { return w_.make_set(std::move(items)); }

 private:
  World& w_;
};

/// The name an `exists` gives its variable, read from its source text (`exists t: T where ...`,
/// `exists t in S where ...`); empty when the text does not say (a span from a bundle). The IR
/// keeps slots, not names, so the lint and the dump read it back from the source.
inline std::string_view exists_binder(std::string_view text) {
  if (text.rfind("exists ", 0) != 0) return {};
  std::size_t e = 7;
  while (e < text.size() && (std::isalnum(static_cast<unsigned char>(text[e])) || text[e] == '_')) ++e;
  return text.substr(7, e - 7);
}

using syntax::Expr;
using EK = syntax::Expr::Kind;

/// A name in scope and its frame slot.
struct Var {
  std::string name;
  std::uint32_t slot;
  Type type;
};

/// The names in scope while an expression is lowered; slots are allocated upward and `max` is
/// the frame the expression needs.
struct Scope {
  std::vector<Var> vars;
  std::uint32_t next = 0;
  std::uint32_t max = 0;
  const Var* find(std::string_view name) const {
    for (auto it = vars.rbegin(); it != vars.rend(); ++it)
      if (it->name == name) return &*it;
    return nullptr;
  }
  std::uint32_t push(std::string name, Type t) {
    const std::uint32_t s = next++;
    max = std::max(max, next);
    vars.push_back({std::move(name), s, std::move(t)});
    return s;
  }
  void push_at(std::string name, std::uint32_t slot, Type t) { vars.push_back({std::move(name), slot, std::move(t)}); }
  void pop() {
    vars.pop_back();
    --next;
  }
};

/// A lowered expression: its node and its type.
struct Typed {
  NodeId id;
  Type type;
};

/// Checks a package into `p`: one instance per check, its passes run once each, in order
/// (check.cpp). Every problem goes to `d`.
class Checker {
 public:
  Checker(SourceManager& sm, const Package& pkg, Diagnostics& d, const CheckOptions& opts, Program& p)
      : sm_(sm), pkg_(pkg), d_(d), opts_(opts), p_(p) {}

  // The passes, in the order they run.
  void collect();         ///< collect.cpp
  void build_schema();    ///< schema.cpp
  void load_facts();      ///< world.cpp
  void lower_all();       ///< lower.cpp
  void choose_indexes();  ///< indexes.cpp
  void lint();            ///< lints.cpp

 private:
  // collect.cpp (remember is used there only, and defined there)
  template <typename D>
  void remember(std::map<std::string, const D*>& m, const D& decl, const char* what);
  void check_type_name(const syntax::Ident& n);
  void type_clash(const syntax::Ident& n, const syntax::Ident& other);
  std::vector<std::string> type_names() const;
  void unknown(DiagId id, Span span, const std::string& message, std::string_view name,
               const std::vector<std::string>& candidates);

  // schema.cpp
  std::optional<Type> resolve_named(const std::string& name, Span span);
  std::optional<Type> resolve_type(const syntax::TypeRef& t);
  std::optional<std::vector<TypeId>> resolve_entity_types(const std::vector<syntax::Ident>& names);
  std::optional<std::vector<TypeId>> resolve_entity_type_list(std::span<const syntax::Ident> names);
  std::uint32_t attr_name_id(const std::string& name);
  std::uint32_t param_name_id(const std::string& name);
  std::vector<TypeId> all_entities() const;

  // world.cpp
  void mark_fact_enum_usage();
  void mark_value(const Value& v);

  // lower.cpp
  void reserve_ir();
  NodeId node(Op op, Span span);
  NodeId lit(Value v, Span span);
  std::optional<Typed> expect_bool(const Expr& e, Scope& sc, const char* what);
  std::optional<Typed> enum_value(TypeId en, const std::string& value, Span span, Span whole);
  std::optional<Typed> expr(const Expr& e, Scope& sc, const Type* expected);
  std::optional<Typed> lower(const Expr& e, Scope& sc, const Type* expected);
  std::optional<Typed> set_literal(const Expr& e, Scope& sc, const Type* expected);
  std::optional<Typed> attribute(const Expr& e, Scope& sc);
  std::optional<Typed> call(const Expr& e, Scope& sc);
  std::vector<std::uint32_t> callees_first() const;
  std::size_t subtree_size(NodeId n, std::size_t cap) const;
  NodeId clone_inlined(NodeId n, const std::vector<NodeId>& args, std::uint32_t nparams, std::uint32_t base);
  std::optional<Typed> method(const Expr& e, Scope& sc);
  bool operand_pair(const Expr& l, const Expr& r, Scope& sc, std::optional<Typed>& lt, std::optional<Typed>& rt,
                    bool right_is_set);
  std::optional<Typed> comparison(const Expr& e, Scope& sc);
  std::optional<Typed> membership(const Expr& e, Scope& sc);
  bool bind_check(const syntax::Ident& var, Scope& sc);
  std::optional<Typed> exists_type(const Expr& e, Scope& sc);
  std::optional<Typed> exists_in(const Expr& e, Scope& sc);
  void check_predicates();
  std::string tn(const Type& t) const { return type_text(p_.schema, t); }
  bool is_unbound_name(const Expr& e, const Scope& sc) const { return e.kind == EK::name && !sc.find(e.name); }

  // rules.cpp
  std::vector<std::uint32_t> pattern_actions(const syntax::ActionPattern& pat, bool& ok);
  void bind_params(const std::vector<std::uint32_t>& actions, Scope& sc, std::vector<std::string>& partial);
  std::vector<TypeId> binding_types(const std::optional<syntax::Binding>& b, const std::vector<std::uint32_t>& actions,
                                    bool principal, bool& ok);
  bool action_constraints(const syntax::ActionPattern& pat, Scope& sc, std::vector<ConditionInfo>& out,
                          const std::vector<std::string>& /*partial*/);
  void check_rules();

  // requirements.cpp
  void check_requirements();
  bool interpolation(const std::string& msg, Span span, Scope& sc,
                     std::vector<std::pair<std::string, NodeId>>& parts);

  // tests.cpp
  bool request(const syntax::RequestSyntax& rs, RequestSpec& out, Span span,
               const std::set<std::pair<TypeId, std::string>>& given,
               std::vector<std::pair<std::uint32_t, Constant>>* arg_constants = nullptr);
  void check_tests();
  void check_properties();

  // indexes.cpp
  bool uses_slot(NodeId n, std::uint32_t slot) const;
  void choose_probe(NodeId ex, TypeId type, std::uint32_t slot);
  void index_rules();

  // lints.cpp
  std::optional<bool> constant_of(NodeId n) const;
  std::string accepted_clause(std::uint32_t a, bool principal) const;
  std::string accepts_text(std::uint32_t a, bool principal) const;
  void never_applies_lint(const RuleInfo& r, const syntax::RuleDecl& decl);
  void scan_lint();
  void search_scan_lint();
  void lints();

  // What the checker reads and writes.
  SourceManager& sm_;
  const Package& pkg_;
  Diagnostics& d_;
  const CheckOptions& opts_;
  Program& p_;
  // The declarations by name and in source order (collect; facts: world).
  std::map<std::string, const syntax::EnumDecl*> enum_decls_;
  std::map<std::string, const syntax::EntityDecl*> entity_decls_;
  std::map<std::string, const syntax::ActionDecl*> action_decls_;
  std::map<std::string, const syntax::PredicateDecl*> predicate_decls_;
  std::map<std::string, const syntax::RuleDecl*> rule_decls_;
  std::map<std::string, const syntax::RequireDecl*> require_decls_;
  std::map<std::string, const syntax::PropertyDecl*> property_decls_;
  std::vector<const syntax::RuleDecl*> rule_order_;
  std::vector<const syntax::RequireDecl*> require_order_;
  std::vector<const syntax::TestDecl*> test_order_;
  std::vector<const syntax::PropertyDecl*> property_order_;
  std::vector<const syntax::FactDecl*> fact_decls_;
  // What lowering learns and the lints read: the predicates and their calls, the enum values
  // used (facts mark theirs in the world pass), the rules that checked without errors.
  std::map<std::string, std::uint32_t> pred_index_;
  std::vector<std::set<std::uint32_t>> pred_calls_;
  std::vector<bool> pred_used_;
  std::vector<bool> pred_lowered_;  ///< body lowered (so calls to it may be inlined)
  std::optional<std::uint32_t> current_predicate_;
  std::vector<std::vector<bool>> enum_used_;
  std::vector<bool> rule_ok_;
  bool has_cycle_ = false;
};

}  // namespace treaty::detail
