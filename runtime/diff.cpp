// `treaty diff`: the decisions that differ between two versions of a package (treaty/diff.hpp).
//
// 1. Rules are compared structurally: each rule's typed IR is hash-consed into one table shared
//    by both programs (names, not ids: attributes, types, enum values, entities and predicates by
//    name, parameter slots by parameter name), so a rule is unchanged exactly when its IR is.
// 2. Facts are compared entity by entity, by type name and id, attribute by attribute name. The
//    entities that differ, and those that refer to them through up to D attributes (D the longest
//    attribute path a rule reads), are "touched": any read of a differing fact goes through one.
// 3. A rule is relevant to an action when it changed, or reads a type with a touched entity. For
//    each action (and enum value, and pair of principal and resource types) with a relevant rule,
//    the candidates are:
//    - for a changed rule (or one the next point cannot drive), every entity of one side with
//      the other side from the rule's reverse-query plan (a permit's own; for a forbid, the
//      plans of the permits, since a forbid changes a decision only where a permit allows), in
//      both versions: the requests the rule can decide in either;
//    - for a rule that reads touched facts, the side entities whose conditions can differ through
//      each touched entity of each `exists` over its type (Engine::plan_seeded), and touched
//      entities of the request's own types, with the other side from the plans as above.
//    Each candidate is checked on the relevant rules in both versions (the others hold or fail
//    alike in both), and decided in both when one of them differs.
#include "treaty/diff.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "treaty/data/world.hpp"

namespace treaty {

namespace {

constexpr std::uint32_t kMissing = kNone32;

// ---------------------------------------------------------------------------------------------
// Structural comparison of rules
// ---------------------------------------------------------------------------------------------

/// Hash-consing of IR nodes across programs: two nodes get the same id exactly when they mean
/// the same (by names), so two rules are unchanged exactly when their ids are equal.
class Canon {
 public:
  std::uint32_t rule(const Program& p, std::uint32_t ri) {
    Memo& m = memo(p);
    const RuleInfo& r = p.rules[ri];
    std::string key = r.forbid ? "forbid" : "permit";
    auto names = [&](const auto& ids, auto name_of) {
      std::vector<std::string> v;
      for (auto id : ids) v.push_back(name_of(id));
      std::sort(v.begin(), v.end());
      std::string out = "[";
      for (const auto& n : v) out += n + ",";
      return out + "]";
    };
    auto type_name = [&](TypeId t) { return t < p.schema.entities.size() ? p.schema.entities[t].name : "?"; };
    key += r.any_action ? "|any" : "|" + names(r.actions, [&](std::uint32_t a) {
      return a < p.schema.actions.size() ? p.schema.actions[a].name : "?";
    });
    key += "|" + names(r.principals, type_name) + "|" + names(r.resources, type_name);
    for (const auto& c : r.conditions)
      key += (c.is_when ? "|w" : "|u") + std::to_string(node(p, m, c.expr, false));
    return intern(key);
  }

 private:
  struct Memo {
    std::vector<std::uint32_t> rule_ctx, pred_ctx;  ///< by node: its id in a rule's frame, a predicate's
    std::vector<std::uint32_t> preds;
    std::vector<char> busy;
  };

  Memo& memo(const Program& p) {
    auto& m = memos_[&p];
    if (m.rule_ctx.empty() && !p.nodes.empty()) {
      m.rule_ctx.assign(p.nodes.size(), kNone32);
      m.pred_ctx.assign(p.nodes.size(), kNone32);
      m.preds.assign(p.predicates.size(), kNone32);
      m.busy.assign(p.predicates.size(), 0);
    }
    return m;
  }

  std::uint32_t intern(const std::string& key) {
    auto [it, fresh] = table_.try_emplace(key, static_cast<std::uint32_t>(table_.size()));
    return it->second;
  }

  /// A slot by meaning: in a rule's frame, 0 and 1 are the sides, then the parameters (by name),
  /// then locals; in a predicate's, its own numbering.
  static std::string slot(const Program& p, std::uint32_t s, bool in_pred) {
    if (in_pred || s < 2) return std::to_string(s);
    const std::size_t params = p.param_names.size();
    if (s - 2 < params) return "p:" + p.param_names[s - 2];
    return "l" + std::to_string(s - 2 - params);
  }

  std::string types(const Program& p, const SmallIds<TypeId, 2>& ts) {
    std::vector<std::string> v;
    for (TypeId t : ts) v.push_back(t < p.schema.entities.size() ? p.schema.entities[t].name : "?");
    std::sort(v.begin(), v.end());
    std::string out;
    for (const auto& n : v) out += n + ",";
    return out;
  }

  std::uint32_t pred(const Program& p, Memo& m, std::uint32_t pid) {
    if (pid >= p.predicates.size()) return intern("nopred");
    if (m.preds[pid] != kNone32) return m.preds[pid];
    if (m.busy[pid]) return intern("recursive:" + std::to_string(reinterpret_cast<std::uintptr_t>(&p)) + ":" +
                                   std::to_string(pid));  // never equal to anything else
    m.busy[pid] = 1;
    const auto& pr = p.predicates[pid];
    std::string key = "pred|" + pr.name;
    for (const auto& prm : pr.params) key += "|" + p.schema.type_name(prm.type);
    key += "|" + std::to_string(node(p, m, pr.body, true));
    m.busy[pid] = 0;
    return m.preds[pid] = intern(key);
  }

  std::uint32_t node(const Program& p, Memo& m, NodeId n, bool in_pred) {
    if (n >= p.nodes.size()) return intern("bad");
    auto& slot_memo = in_pred ? m.pred_ctx : m.rule_ctx;
    if (slot_memo[n] != kNone32) return slot_memo[n];
    const Node& nd = p.nodes[n];
    std::string key = std::to_string(static_cast<int>(nd.op)) + "|";
    switch (nd.op) {
      case Op::lit: key += std::to_string(static_cast<int>(nd.value.tag)) + ":" + format_value(p.schema, p.world(), nd.value); break;
      case Op::var: key += slot(p, nd.slot, in_pred); break;
      case Op::attr:
        key += (nd.a < p.schema.attr_names.size() ? p.schema.attr_names[nd.a] : "?") + ":" + types(p, nd.types);
        break;
      case Op::call: key += std::to_string(pred(p, m, nd.a)); break;
      case Op::is: key += types(p, nd.types); break;
      case Op::exists_type: key += slot(p, nd.slot, in_pred) + ":" + types(p, nd.types); break;
      case Op::exists_set: key += slot(p, nd.slot, in_pred); break;
      default: break;
    }
    // exists_type keeps its body first; its probe keys (kids[1], [2]) are how it is evaluated,
    // implied by the body.
    const std::size_t nkids = nd.op == Op::exists_type ? std::min<std::size_t>(1, nd.kids.size()) : nd.kids.size();
    for (std::size_t i = 0; i < nkids; ++i) key += "," + std::to_string(node(p, m, nd.kids[i], in_pred));
    return slot_memo[n] = intern(key);
  }

  std::unordered_map<std::string, std::uint32_t> table_;
  std::map<const Program*, Memo> memos_;
};

// ---------------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------------

/// Whether value `a` of program `pa` means the same as `b` of `pb`; `map` takes `pa`'s entity
/// ids to `pb`'s.
bool same_value(const Value& a, const Program& pa, const Value& b, const Program& pb, const std::vector<EntityId>& map) {
  auto enum_name = [](const Program& p, TypeId e, std::uint64_t i) -> std::string {
    if (e >= p.schema.enums.size() || i >= p.schema.enums[e].values.size()) return "?";
    return p.schema.enums[e].name + "." + p.schema.enums[e].values[i];
  };
  if (a.tag == Tag::enum_set || b.tag == Tag::enum_set || a.tag == Tag::set || b.tag == Tag::set) {
    std::vector<Value> xa, xb;
    (void)set_any(a, [&](const Value& x) { xa.push_back(x); return false; });
    (void)set_any(b, [&](const Value& x) { xb.push_back(x); return false; });
    if (!a.is_set() || !b.is_set() || xa.size() != xb.size()) return false;
    std::vector<char> used(xb.size(), 0);
    for (const auto& x : xa) {
      bool found = false;
      for (std::size_t j = 0; j < xb.size() && !found; ++j)
        if (!used[j] && same_value(x, pa, xb[j], pb, map)) used[j] = 1, found = true;
      if (!found) return false;
    }
    return true;
  }
  if (a.tag != b.tag) return false;
  switch (a.tag) {
    case Tag::none: return true;
    case Tag::bool_:
    case Tag::int_: return a.i == b.i;
    case Tag::str: return *a.s == *b.s;
    case Tag::enum_: return enum_name(pa, a.aux, static_cast<std::uint64_t>(a.i)) == enum_name(pb, b.aux, static_cast<std::uint64_t>(b.i));
    case Tag::entity: {
      const auto x = static_cast<std::size_t>(a.i);
      return x < map.size() && map[x] == static_cast<EntityId>(b.i);
    }
    default: return false;
  }
}

struct Version {
  const Engine* e = nullptr;
  const Program* p = nullptr;
  const World* w = nullptr;
  std::vector<TypeId> type_to_other;       ///< by type: the other version's type of that name
  std::vector<EntityId> to_other;          ///< by entity: the other version's entity, or kMissing
  std::vector<char> touched;               ///< by entity
  std::vector<char> type_touched;          ///< by type: holds a touched entity
  std::vector<std::uint32_t> rule_status;  ///< by rule: its index in the rule list, by name
};

/// Whether entity `e` of `v` refers to a touched entity through one attribute (or set element).
bool refers_to_touched(const Version& v, EntityId e, TypeId t, const std::vector<std::uint32_t>& cols) {
  for (auto c : cols) {
    const Value x = v.w->attr(e, c);
    if (x.tag == Tag::entity) {
      if (static_cast<std::size_t>(x.i) < v.touched.size() && v.touched[static_cast<std::size_t>(x.i)]) return true;
    } else if (x.tag == Tag::set &&
               set_any(x, [&](const Value& y) {
                 return y.tag == Tag::entity && static_cast<std::size_t>(y.i) < v.touched.size() &&
                        v.touched[static_cast<std::size_t>(y.i)];
               })) {
      return true;
    }
  }
  (void)t;
  return false;
}

/// The longest chain of attribute reads (`a.b.c` is 3) in the rules and predicates of `p`.
std::size_t longest_path(const Program& p) {
  std::vector<std::uint32_t> depth(p.nodes.size(), 0);
  std::size_t best = 1;
  for (std::size_t n = 0; n < p.nodes.size(); ++n) {
    const Node& nd = p.nodes[n];
    if (nd.op != Op::attr || nd.kids.empty()) continue;
    const NodeId k = nd.kids[0];
    // Children precede their parents in the node array.
    depth[n] = 1 + (k < n ? depth[k] : 0);
    best = std::max<std::size_t>(best, depth[n]);
  }
  return best;
}

/// What the rules of a program read, found once per rule: the entity types whose attributes or
/// entities its conditions (and the predicates they call) may read, its `exists` nodes over
/// each type, and whether a literal names a touched entity.
struct RuleReads {
  std::vector<char> types;               ///< by type
  std::vector<std::pair<NodeId, std::vector<TypeId>>> sites;  ///< exists_type nodes and their types
  bool literal_touched = false;
};

RuleReads rule_reads(const Version& v, std::uint32_t ri) {
  const Program& p = *v.p;
  RuleReads out;
  out.types.assign(p.schema.entities.size(), 0);
  std::vector<char> seen(p.nodes.size(), 0), seen_pred(p.predicates.size(), 0);
  std::vector<NodeId> todo;
  for (const auto& c : p.rules[ri].conditions) todo.push_back(c.expr);
  auto mark_value = [&](const Value& x) {
    auto one = [&](const Value& y) {
      if (y.tag != Tag::entity) return false;
      const auto e = static_cast<std::size_t>(y.i);
      if (e < v.touched.size() && v.touched[e]) out.literal_touched = true;
      if (e < p.world().size()) out.types[p.world().type_of(static_cast<EntityId>(e))] = 1;
      return false;
    };
    if (x.is_set()) (void)set_any(x, one);
    else one(x);
  };
  while (!todo.empty()) {
    const NodeId n = todo.back();
    todo.pop_back();
    if (n >= p.nodes.size() || seen[n]) continue;
    seen[n] = 1;
    const Node& nd = p.nodes[n];
    switch (nd.op) {
      case Op::exists_type:
        for (TypeId t : nd.types) out.types[t] = 1;
        out.sites.emplace_back(n, std::vector<TypeId>(nd.types.begin(), nd.types.end()));
        break;
      case Op::attr:
        if (!nd.types.empty()) {
          for (TypeId t : nd.types) out.types[t] = 1;
        } else {
          for (TypeId t = 0; t < p.schema.entities.size(); ++t)
            if (p.schema.entities[t].column(nd.a) >= 0) out.types[t] = 1;
        }
        break;
      case Op::lit: mark_value(nd.value); break;
      case Op::call:
        if (nd.a < seen_pred.size() && !seen_pred[nd.a]) {
          seen_pred[nd.a] = 1;
          todo.push_back(p.predicates[nd.a].body);
        }
        break;
      default: break;
    }
    for (NodeId k : nd.kids) todo.push_back(k);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

std::uint64_t fnv(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  // A final mix, so the sum of many is well spread.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

std::string hex16(std::uint64_t x) {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, x >>= 4) s[static_cast<std::size_t>(i)] = digits[x & 15];
  return s;
}

class Differ {
 public:
  Differ(const Engine& a, const Engine& b, const DiffOptions& opts) : opts_(opts) {
    v_[0].e = &a;
    v_[1].e = &b;
    for (auto& v : v_) {
      v.p = &v.e->program();
      v.w = &v.p->world();
    }
  }

  DiffReport run() {
    report_.brute_force = opts_.brute_force;
    map_types();
    compare_rules();
    compare_facts();
    for (int i = 0; i < 2; ++i) {
      reads_[i].reserve(v_[i].p->rules.size());
      for (std::uint32_t r = 0; r < v_[i].p->rules.size(); ++r) reads_[i].push_back(rule_reads(v_[i], r));
    }
    // Every action, by name, in the order of the old version then the new one's additions.
    std::vector<std::string> actions;
    for (const auto& v : v_)
      for (const auto& a : v.p->schema.actions)
        if (std::find(actions.begin(), actions.end(), a.name) == actions.end()) actions.push_back(a.name);
    for (const auto& a : actions) diff_action(a);
    finish();
    return std::move(report_);
  }

 private:
  // --- names across the versions -------------------------------------------------------------

  void map_types() {
    for (int i = 0; i < 2; ++i) {
      const auto& mine = v_[i].p->schema;
      const auto& other = v_[1 - i].p->schema;
      v_[i].type_to_other.assign(mine.entities.size(), kMissing);
      for (TypeId t = 0; t < mine.entities.size(); ++t)
        if (auto o = other.find_entity(mine.entities[t].name)) v_[i].type_to_other[t] = *o;
    }
  }

  void compare_rules() {
    Canon canon;
    std::map<std::string, std::uint32_t> ids[2];
    for (int i = 0; i < 2; ++i)
      for (std::uint32_t r = 0; r < v_[i].p->rules.size(); ++r) ids[i][v_[i].p->rules[r].name] = canon.rule(*v_[i].p, r);
    for (int i = 0; i < 2; ++i) {
      changed_[i].assign(v_[i].p->rules.size(), 0);
      for (std::uint32_t r = 0; r < v_[i].p->rules.size(); ++r) {
        const auto& name = v_[i].p->rules[r].name;
        auto it = ids[1 - i].find(name);
        const bool same = it != ids[1 - i].end() && it->second == ids[i][name];
        changed_[i][r] = !same;
        if (same) continue;
        if (it == ids[1 - i].end())
          report_.rules.push_back({name, i == 0 ? "removed" : "added", v_[i].p->rules[r].forbid});
        else if (i == 1)
          report_.rules.push_back({name, "modified", v_[i].p->rules[r].forbid});
      }
    }
    std::sort(report_.rules.begin(), report_.rules.end(),
              [](const DiffRuleChange& x, const DiffRuleChange& y) { return x.rule < y.rule; });
  }

  void compare_facts() {
    for (int i = 0; i < 2; ++i) {
      v_[i].to_other.assign(v_[i].w->size(), kMissing);
      v_[i].touched.assign(v_[i].w->size(), 0);
    }
    // Entities by (type name, id).
    for (int i = 0; i < 2; ++i) {
      const Version& v = v_[i];
      const Version& o = v_[1 - i];
      for (TypeId t = 0; t < v.p->schema.entities.size(); ++t) {
        const TypeId ot = v.type_to_other[t];
        for (EntityId e : v.w->of_type(t)) {
          if (ot == kMissing) continue;
          // The common case, the same facts loaded the same way: the same id.
          if (e < o.w->size() && o.w->type_of(e) == ot && o.w->id(e) == v.w->id(e)) {
            v_[i].to_other[e] = e;
            continue;
          }
          if (auto x = o.w->find(ot, v.w->id(e))) v_[i].to_other[e] = *x;
        }
      }
    }
    // Entities in one version only, and those whose attributes differ.
    for (int i = 0; i < 2; ++i)
      for (EntityId e = 0; e < v_[i].w->size(); ++e)
        if (v_[i].to_other[e] == kMissing) {
          v_[i].touched[e] = 1;
          ++(i == 0 ? report_.facts_removed : report_.facts_added);
        }
    const Version& a = v_[0];
    const Version& b = v_[1];
    for (TypeId t = 0; t < a.p->schema.entities.size(); ++t) {
      const TypeId bt = a.type_to_other[t];
      if (bt == kMissing) continue;
      const auto& ea = a.p->schema.entities[t];
      const auto& eb = b.p->schema.entities[bt];
      // Columns by name; an attribute of one version only makes every entity of the type differ.
      std::vector<std::pair<std::uint32_t, std::uint32_t>> cols;
      bool all_differ = ea.attrs.size() != eb.attrs.size();
      for (std::uint32_t c = 0; c < ea.attrs.size() && !all_differ; ++c) {
        const int bc = eb.column_named(ea.attrs[c].name);
        if (bc < 0) all_differ = true;
        else cols.emplace_back(c, static_cast<std::uint32_t>(bc));
      }
      for (EntityId e : a.w->of_type(t)) {
        const EntityId x = a.to_other[e];
        if (x == kMissing) continue;
        bool differs = all_differ;
        for (std::size_t k = 0; k < cols.size() && !differs; ++k)
          differs = !same_value(a.w->attr(e, cols[k].first), *a.p, b.w->attr(x, cols[k].second), *b.p, a.to_other);
        if (differs) {
          v_[0].touched[e] = 1;
          v_[1].touched[x] = 1;
          ++report_.facts_modified;
        }
      }
    }
    if (report_.facts_added + report_.facts_removed + report_.facts_modified == 0) {
      for (auto& v : v_) v.type_touched.assign(v.p->schema.entities.size(), 0);
      return;
    }
    // Touched: the entities that differ and those that refer to one through up to D attributes.
    const std::size_t depth = std::max(longest_path(*v_[0].p), longest_path(*v_[1].p));
    for (std::size_t round = 0; round < depth; ++round) {
      bool grew = false;
      for (auto& v : v_) {
        std::vector<EntityId> add;
        for (TypeId t = 0; t < v.p->schema.entities.size(); ++t) {
          std::vector<std::uint32_t> cols;
          const auto& et = v.p->schema.entities[t];
          for (std::uint32_t c = 0; c < et.attrs.size(); ++c)
            if (et.attrs[c].type.base == Base::entity) cols.push_back(c);
          if (cols.empty()) continue;
          for (EntityId e : v.w->of_type(t))
            if (!v.touched[e] && refers_to_touched(v, e, t, cols)) add.push_back(e);
        }
        for (EntityId e : add) v.touched[e] = 1;
        grew |= !add.empty();
      }
      // The same entities in both versions.
      for (int i = 0; i < 2; ++i)
        for (EntityId e = 0; e < v_[i].w->size(); ++e)
          if (v_[i].touched[e] && v_[i].to_other[e] != kMissing && !v_[1 - i].touched[v_[i].to_other[e]]) {
            v_[1 - i].touched[v_[i].to_other[e]] = 1;
            grew = true;
          }
      if (!grew) break;
    }
    for (auto& v : v_) {
      v.type_touched.assign(v.p->schema.entities.size(), 0);
      for (EntityId e = 0; e < v.w->size(); ++e)
        if (v.touched[e]) v.type_touched[v.w->type_of(e)] = 1;
    }
  }

  // --- one action ------------------------------------------------------------------------------

  /// A request of one action, value and pair of types, as each version forms it.
  struct Form {
    bool ok = false;
    std::uint32_t action = 0;
    std::vector<Value> args;
    TypeId pt = 0, rt = 0;
    std::vector<std::uint32_t> rules;
    std::uint32_t nforbid = 0;
  };

  /// Canonical entity ids: the old version's, then the new version's entities it lacks.
  EntityId canon_of(int i, EntityId e) const {
    if (i == 0) return e;
    const EntityId o = v_[1].to_other[e];
    return o != kMissing ? o : static_cast<EntityId>(v_[0].w->size()) + e;
  }
  EntityId in_version(int i, EntityId c) const {
    const EntityId n0 = static_cast<EntityId>(v_[0].w->size());
    if (i == 0) return c < n0 ? c : kMissing;
    return c < n0 ? v_[0].to_other[c] : c - n0;
  }
  DiffEntity name_of(EntityId c) const {
    const int i = c < v_[0].w->size() ? 0 : 1;
    const EntityId e = in_version(i, c);
    const Version& v = v_[i];
    return {v.p->schema.entities[v.w->type_of(e)].name, std::string(v.w->id(e))};
  }

  /// The canonical entities of type name `type` in either version.
  std::vector<EntityId> all_of(const std::string& type) const {
    std::vector<EntityId> out;
    for (int i = 0; i < 2; ++i) {
      auto t = v_[i].p->schema.find_entity(type);
      if (!t) continue;
      for (EntityId e : v_[i].w->of_type(*t))
        if (i == 0 || v_[1].to_other[e] == kMissing) out.push_back(canon_of(i, e));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void diff_action(const std::string& name) {
    // The modes: no arguments (or optional ones only), or each value of a single enum parameter.
    struct Mode {
      std::string param, value;
    };
    std::vector<Mode> modes;
    bool enumerable = false;
    for (const auto& v : v_) {
      auto a = v.p->schema.find_action(name);
      if (!a) continue;
      const auto& act = v.p->schema.actions[*a];
      const bool all_optional =
          std::all_of(act.params.begin(), act.params.end(), [](const ParamInfo& prm) { return prm.type.optional; });
      if (act.params.size() == 1 && act.params[0].type.base == Base::enum_ && !act.params[0].type.set) {
        enumerable = true;
        for (const auto& val : v.p->schema.enums[act.params[0].type.enum_id].values) {
          Mode m{act.params[0].name, val};
          if (std::none_of(modes.begin(), modes.end(),
                           [&](const Mode& x) { return x.param == m.param && x.value == m.value; }))
            modes.push_back(m);
        }
      } else if (all_optional) {
        enumerable = true;
        if (std::none_of(modes.begin(), modes.end(), [](const Mode& x) { return x.param.empty(); })) modes.push_back({});
      }
    }
    if (!enumerable) {
      report_.skipped.push_back(name);
      return;
    }
    // The pairs of types, by name, either version accepts.
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const auto& v : v_) {
      auto a = v.p->schema.find_action(name);
      if (!a) continue;
      const auto& act = v.p->schema.actions[*a];
      auto list = [&](const std::vector<TypeId>& ts) {
        std::vector<std::string> out;
        if (ts.empty())
          for (const auto& et : v.p->schema.entities) out.push_back(et.name);
        else
          for (TypeId t : ts) out.push_back(v.p->schema.entities[t].name);
        return out;
      };
      for (const auto& pt : list(act.principals))
        for (const auto& rt : list(act.resources))
          if (std::find(pairs.begin(), pairs.end(), std::make_pair(pt, rt)) == pairs.end()) pairs.emplace_back(pt, rt);
    }
    for (const auto& m : modes)
      for (const auto& [pt, rt] : pairs) diff_case(name, m.param, m.value, pt, rt);
  }

  Form form(int i, const std::string& action, const std::string& param, const std::string& value,
            const std::string& pt, const std::string& rt) const {
    Form f;
    const Program& p = *v_[i].p;
    auto a = p.schema.find_action(action);
    auto ptid = p.schema.find_entity(pt);
    auto rtid = p.schema.find_entity(rt);
    if (!a || !ptid || !rtid) return f;
    const auto& act = p.schema.actions[*a];
    auto takes = [](const std::vector<TypeId>& l, TypeId t) { return l.empty() || std::binary_search(l.begin(), l.end(), t); };
    if (!takes(act.principals, *ptid) || !takes(act.resources, *rtid)) return f;
    f.args.assign(act.params.size(), Value::none());
    if (param.empty()) {
      if (!std::all_of(act.params.begin(), act.params.end(), [](const ParamInfo& prm) { return prm.type.optional; }))
        return f;
    } else {
      if (act.params.size() != 1 || act.params[0].name != param || act.params[0].type.base != Base::enum_ ||
          act.params[0].type.set)
        return f;
      const auto& values = p.schema.enums[act.params[0].type.enum_id].values;
      auto it = std::find(values.begin(), values.end(), value);
      if (it == values.end()) return f;
      f.args[0] = Value::enumv(act.params[0].type.enum_id, static_cast<std::uint32_t>(it - values.begin()));
    }
    f.ok = true;
    f.action = *a;
    f.pt = *ptid;
    f.rt = *rtid;
    f.nforbid = v_[i].e->request_rules(*a, *ptid, *rtid, f.rules);
    return f;
  }

  /// Whether rule `r` of version `i` is relevant: changed, or reading a touched type.
  bool relevant(int i, std::uint32_t r) const {
    if (changed_[i][r]) return true;
    const auto& rd = reads_[i][r];
    for (TypeId t = 0; t < rd.types.size(); ++t)
      if (rd.types[t] && v_[i].type_touched[t]) return true;
    return false;
  }

  void diff_case(const std::string& action, const std::string& param, const std::string& value, const std::string& pt,
                 const std::string& rt) {
    Form f[2] = {form(0, action, param, value, pt, rt), form(1, action, param, value, pt, rt)};
    if (!f[0].ok && !f[1].ok) return;
    DiffActionStats st;
    st.action = action;
    st.param = param;
    st.value = value;
    st.principal_type = pt;
    st.resource_type = rt;
    Case c{f[0], f[1], {}, {}, &st};
    if (opts_.brute_force) {
      const auto ps = all_of(pt), rs = all_of(rt);
      st.how.push_back("every request decided in both versions (brute force)");
      for (EntityId p : ps)
        for (EntityId r : rs) check(c, p, r, false);
      report_.actions.push_back(std::move(st));
      return;
    }
    // The relevant rules, by name, and how each is driven.
    std::vector<std::pair<int, std::uint32_t>> full;
    std::set<std::string> names, seeded;
    for (int i = 0; i < 2; ++i) {
      if (!f[i].ok) continue;
      for (std::uint32_t r : f[i].rules) {
        if (!relevant(i, r)) continue;
        names.insert(v_[i].p->rules[r].name);
        const bool changed = changed_[i][r] || !f[1 - i].ok;
        if (changed || reads_[i][r].literal_touched) full.emplace_back(i, r);
        else seeded.insert(v_[i].p->rules[r].name);
      }
    }
    // A rule driven in full in one version is in the other too.
    for (const auto& [i, r] : full) seeded.erase(v_[i].p->rules[r].name);
    // A request whose side is a touched entity may differ under any rule (it may exist in one
    // version only, or a rule read it): such entities are seeds of their side.
    std::vector<EntityId> side_seeds[2];
    for (int i = 0; i < 2; ++i) {
      if (!f[i].ok) continue;
      for (int s = 0; s < 2; ++s) {
        const TypeId t = s == 0 ? f[i].pt : f[i].rt;
        if (!v_[i].type_touched[t]) continue;
        for (EntityId e : v_[i].w->of_type(t))
          if (v_[i].touched[e]) side_seeds[s].push_back(canon_of(i, e));
      }
    }
    if (full.empty() && seeded.empty() && side_seeds[0].empty() && side_seeds[1].empty()) return;
    // The relevant rules each version's request meets (a rule of the other types is not one).
    for (int i = 0; i < 2; ++i)
      for (const auto& rn : names)
        if (f[i].ok)
          if (auto r = v_[i].p->find_rule(rn))
            if (std::find(f[i].rules.begin(), f[i].rules.end(), *r) != f[i].rules.end()) c.relevant[i].push_back(*r);
    c.names.assign(names.begin(), names.end());

    // Seeds from the facts: (side, entity) pairs whose other side comes from the plans.
    std::vector<std::pair<EntityId, EntityId>> extra;  // (principal, resource), canonical
    for (int s = 0; s < 2; ++s) {
      for (EntityId e : side_seeds[s]) other_side(c, s, e, {}, extra, /*all_permits=*/true);
      if (!side_seeds[s].empty())
        st.how.push_back(std::to_string(side_seeds[s].size()) + " changed or touched " + (s == 0 ? pt : rt) +
                         " entities as the " + (s == 0 ? "principal" : "resource") + ", the other side from the permits' plans");
    }
    for (const auto& name : seeded) {
      if (seed_rule(c, name, extra)) continue;
      // No seeded plan: the rule is driven in full, in both versions.
      for (int i = 0; i < 2; ++i)
        for (std::uint32_t r : c.relevant[i])
          if (v_[i].p->rules[r].name == name) full.emplace_back(i, r);
    }
    if (full.empty()) {
      std::sort(extra.begin(), extra.end());
      extra.erase(std::unique(extra.begin(), extra.end()), extra.end());
      for (const auto& [p, r] : extra) check(c, p, r, true);
      report_.actions.push_back(std::move(st));
      return;
    }
    enumerate(c, full, extra, pt, rt);
    report_.actions.push_back(std::move(st));
  }

  struct Case {
    Form f0, f1;
    std::vector<std::uint32_t> relevant[2];
    std::vector<std::string> names;
    DiffActionStats* st;
    const Form& f(int i) const { return i == 0 ? f0 : f1; }
  };

  /// Appends the requests with side `s` = canonical `e` whose other side one of `rules` (or, with
  /// `all_permits`, any permit) can allow, in either version. False when a plan had to scan.
  bool other_side(Case& c, int s, EntityId e, const std::vector<std::pair<int, std::uint32_t>>& rules,
                  std::vector<std::pair<EntityId, EntityId>>& out, bool all_permits) {
    const int searched = 1 - s;
    std::vector<EntityId> found;
    bool scanned = false;
    for (int i = 0; i < 2 && !scanned; ++i) {
      const Form& f = c.f(i);
      const EntityId known = in_version(i, e);
      if (!f.ok || known == kMissing) continue;
      const TypeId type = searched == 0 ? f.pt : f.rt;
      auto run_permits = [&] {
        for (std::size_t k = f.nforbid; k < f.rules.size() && !scanned; ++k) {
          std::vector<EntityId> got;
          if (!c_engine(i).rule_candidates(f.rules[k], searched, type, known, f.action, f.args, got)) scanned = true;
          for (EntityId x : got) found.push_back(canon_of(i, x));
        }
      };
      if (all_permits) {
        run_permits();
        continue;
      }
      bool permits_done = false;
      for (const auto& [vi, r] : rules) {
        // A rule drives the candidates of the versions where it may hold; a forbid changes a
        // decision only where some permit allows, in either version.
        const bool forbid = v_[vi].p->rules[r].forbid;
        if (forbid) {
          if (permits_done || !may_hold_either(c, vi, r, searched, e)) continue;
          run_permits();
          permits_done = true;
          continue;
        }
        if (vi != i || !c_engine(i).rule_may_hold(r, searched, known, f.action, f.args)) continue;
        std::vector<EntityId> got;
        if (!c_engine(i).rule_candidates(r, searched, type, known, f.action, f.args, got)) scanned = true;
        for (EntityId x : got) found.push_back(canon_of(i, x));
      }
    }
    if (scanned) {
      found = all_of(searched == 0 ? c.st->principal_type : c.st->resource_type);
      c.st->scan = true;
    }
    for (EntityId x : found) out.push_back(s == 0 ? std::make_pair(e, x) : std::make_pair(x, e));
    return !scanned;
  }

  /// Whether forbid `r` of version `vi` may hold for side `1 - searched` = `e` in either version
  /// (by its name there).
  bool may_hold_either(Case& c, int vi, std::uint32_t r, int searched, EntityId e) {
    for (int i = 0; i < 2; ++i) {
      const Form& f = c.f(i);
      const EntityId known = in_version(i, e);
      if (!f.ok || known == kMissing) continue;
      std::optional<std::uint32_t> rule = r;
      if (i != vi) rule = v_[i].p->find_rule(v_[vi].p->rules[r].name);
      if (rule && c_engine(i).rule_may_hold(*rule, searched, known, f.action, f.args)) return true;
    }
    return false;
  }

  const Engine& c_engine(int i) const { return *v_[i].e; }

  /// Seeds of a rule that reads touched facts: for each `exists` over a touched type, the side
  /// entities its conditions can differ for, through each touched entity of that type, in both
  /// versions; then the other side from the plans. False when some site has no seeded plan.
  bool seed_rule(Case& c, const std::string& name, std::vector<std::pair<EntityId, EntityId>>& extra) {
    struct Run {
      int vi;
      std::uint32_t rule;
    };
    // The rule in each version whose request meets it: each has its own sites, run over its
    // version's touched entities.
    std::vector<Run> runs;
    std::vector<std::pair<int, std::uint32_t>> both;
    for (int i = 0; i < 2; ++i)
      for (std::uint32_t r : c.relevant[i])
        if (v_[i].p->rules[r].name == name) {
          runs.push_back({i, r});
          both.emplace_back(i, r);
        }
    std::vector<EntityId> seeds[2];
    std::size_t touched_used = 0;
    for (const auto& run : runs) {
      const Version& v = v_[run.vi];
      const Form& f = c.f(run.vi);
      for (const auto& [site, types] : reads_[run.vi][run.rule].sites) {
        bool any = false;
        for (TypeId t : types) any = any || v.type_touched[t];
        if (!any) continue;
        std::shared_ptr<const Engine::SeedPlan> plan;
        int side = 0;
        for (; side < 2 && !plan; ++side) plan = v.e->plan_seeded(run.rule, site, side);
        --side;
        if (!plan) return false;
        const TypeId type = side == 0 ? f.pt : f.rt;
        for (TypeId t : types) {
          if (!v.type_touched[t]) continue;
          for (EntityId x : v.w->of_type(t)) {
            if (!v.touched[x]) continue;
            ++touched_used;
            std::vector<EntityId> got;
            if (!v.e->run_seeded(*plan, type, x, f.action, f.args, got)) return false;
            for (EntityId g : got)
              if (g < v.w->size() && v.w->type_of(g) == type) seeds[side].push_back(canon_of(run.vi, g));
          }
        }
        if (c.st->how.size() < 12)
          c.st->how.push_back("`" + name + "` reads changed facts: " + std::string(side == 0 ? "principals" : "resources") +
                              " by " + v.e->seeded_plan_text(*plan));
      }
    }
    (void)touched_used;
    for (int s = 0; s < 2; ++s) {
      std::sort(seeds[s].begin(), seeds[s].end());
      seeds[s].erase(std::unique(seeds[s].begin(), seeds[s].end()), seeds[s].end());
      // The rule in both versions: a permit's plans, or the permits' for a forbid.
      for (EntityId e : seeds[s]) other_side_any(c, s, e, both, extra);
    }
    return true;
  }

  /// other_side() without the may-hold filter for the version a rule is not in.
  void other_side_any(Case& c, int s, EntityId e, const std::vector<std::pair<int, std::uint32_t>>& rules,
                      std::vector<std::pair<EntityId, EntityId>>& out) {
    (void)other_side(c, s, e, rules, out, false);
  }

  /// Every entity of one side, with the other side from the plans of `full`'s rules; the extra
  /// requests are merged at their entity of that side.
  void enumerate(Case& c, const std::vector<std::pair<int, std::uint32_t>>& full,
                 std::vector<std::pair<EntityId, EntityId>>& extra, const std::string& pt, const std::string& rt) {
    // The side searched: the one every rule has a plan for (a forbid: every permit), else the
    // one fewer rules scan.
    // Between sides every rule has a plan for, the one whose other side the rules' own
    // conditions filter (rule_may_hold) before any plan runs: "every specialist, then the
    // analysts by the plan" rather than "every analyst, then the persons of the trusting accounts".
    int best = 1, best_missing = 1 << 30;
    std::size_t best_filters = 0;
    for (int searched : {1, 0}) {
      int missing = 0;
      std::size_t filters = 0;
      for (const auto& [i, r] : full) filters += c_engine(i).rule_filters(r, searched);
      for (const auto& [i, r] : full) {
        const Form& f = c.f(i);
        if (v_[i].p->rules[r].forbid) {
          for (int j = 0; j < 2; ++j)
            for (std::size_t k = c.f(j).nforbid; c.f(j).ok && k < c.f(j).rules.size(); ++k)
              missing += !c_engine(j).rule_has_plan(c.f(j).rules[k], searched);
        } else {
          missing += !c_engine(i).rule_has_plan(r, searched);
        }
        (void)f;
      }
      if (missing < best_missing || (missing == best_missing && filters > best_filters))
        best = searched, best_missing = missing, best_filters = filters;
    }
    const int searched = best, known_side = 1 - best;
    for (const auto& [i, r] : full) {
      const auto& rule = v_[i].p->rules[r];
      if (c.st->how.size() < 12)
        c.st->how.push_back("`" + rule.name + "` " + (changed_[i][r]                   ? "changed"
                                  : reads_[i][r].literal_touched ? "reads a changed literal"
                                                                 : "reads changed facts no seeded plan reaches") + ": every " +
                            (known_side == 0 ? pt : rt) + ", then the " + (searched == 0 ? "principals" : "resources") +
                            " by " +
                            (rule.forbid ? std::string("the permits' plans (a forbid)") : c_engine(i).rule_plan(r, searched)));
    }
    std::sort(extra.begin(), extra.end(), [&](const auto& x, const auto& y) {
      const EntityId kx = known_side == 0 ? x.first : x.second, ky = known_side == 0 ? y.first : y.second;
      return kx < ky;
    });
    std::size_t next = 0;
    std::vector<std::pair<EntityId, EntityId>> local;
    for (EntityId k : all_of(known_side == 0 ? pt : rt)) {
      local.clear();
      (void)other_side(c, known_side, k, full, local, false);
      auto key = [&](const std::pair<EntityId, EntityId>& x) { return known_side == 0 ? x.first : x.second; };
      while (next < extra.size() && key(extra[next]) < k) {
        check(c, extra[next].first, extra[next].second, true);  // not of this type's list: decided alone
        ++next;
      }
      while (next < extra.size() && key(extra[next]) == k) local.push_back(extra[next++]);
      std::sort(local.begin(), local.end());
      local.erase(std::unique(local.begin(), local.end()), local.end());
      for (const auto& [p, r] : local) check(c, p, r, true);
    }
    for (; next < extra.size(); ++next) check(c, extra[next].first, extra[next].second, true);
  }

  // --- deciding a candidate --------------------------------------------------------------------

  /// Decides canonical (p, r) in both versions and records a difference. With `filter`, the
  /// relevant rules are evaluated first: when each holds alike in both, so does the decision.
  void check(Case& c, EntityId p, EntityId r, bool filter) {
    ++c.st->candidates;
    Request req[2];
    bool valid[2];
    for (int i = 0; i < 2; ++i) {
      const Form& f = c.f(i);
      const EntityId pe = in_version(i, p), re = in_version(i, r);
      valid[i] = f.ok && pe != kMissing && re != kMissing && v_[i].w->in_type(pe, f.pt) && v_[i].w->in_type(re, f.rt);
      if (valid[i]) req[i] = Request{pe, f.action, f.args, re, nullptr};
    }
    if (filter && valid[0] && valid[1]) {
      bool same = true;
      for (const auto& name : c.names) {
        // A decision is a function of which rules hold and whether each is a permit or a
        // forbid: a rule that turned from one into the other changes it wherever it holds.
        std::optional<bool> h[2];
        bool forbid[2] = {false, false};
        for (int i = 0; i < 2; ++i) {
          h[i] = false;
          auto it = std::find_if(c.relevant[i].begin(), c.relevant[i].end(),
                                 [&](std::uint32_t x) { return v_[i].p->rules[x].name == name; });
          if (it != c.relevant[i].end()) {
            h[i] = c_engine(i).rule_holds(*it, req[i]);
            forbid[i] = v_[i].p->rules[*it].forbid;
          }
        }
        if (!h[0] || !h[1] || *h[0] != *h[1] || (*h[0] && forbid[0] != forbid[1])) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    bool allow[2] = {false, false};
    for (int i = 0; i < 2; ++i)
      if (valid[i]) {
        ++c.st->decisions;
        allow[i] = c_engine(i).decide(req[i], false).allow;
      }
    if (allow[0] == allow[1]) return;
    DiffOutcome out[2];
    for (int i = 0; i < 2; ++i) {
      out[i].missing = !valid[i];
      if (!valid[i]) continue;
      const Decision d = c_engine(i).decide(req[i], true);
      out[i].allow = d.allow;
      out[i].error = !d.errors.empty();
      for (auto ri : d.determining) out[i].rules.push_back(v_[i].p->rules[ri].name);
      std::sort(out[i].rules.begin(), out[i].rules.end());
    }
    record(c, p, r, out[0], out[1]);
  }

  void record(Case& c, EntityId p, EntityId r, const DiffOutcome& before, const DiffOutcome& after) {
    std::string key = c.st->action + "\x1f" + c.st->param + "\x1f" + c.st->value + "\x1f" + (before.allow ? "1" : "0") +
                      (before.error ? "e" : "") + (before.missing ? "m" : "") + "\x1f";
    for (const auto& n : before.rules) key += n + ",";
    key += std::string("\x1f") + (after.allow ? "1" : "0") + (after.error ? "e" : "") + (after.missing ? "m" : "") + "\x1f";
    for (const auto& n : after.rules) key += n + ",";
    auto [it, fresh] = groups_.try_emplace(key);
    Acc& g = it->second;
    if (fresh) {
      g.group.action = c.st->action;
      g.group.param = c.st->param;
      g.group.value = c.st->value;
      g.group.before = before;
      g.group.after = after;
    }
    const DiffEntity pn = name_of(p), rn = name_of(r);
    ++g.group.count;
    g.sum += fnv(pn.type + "::" + pn.id + "\x1f" + rn.type + "::" + rn.id);
    if (g.group.examples.size() < opts_.examples) g.group.examples.emplace_back(pn, rn);
    ++report_.changed;
    ++(after.allow ? report_.gained : report_.lost);
  }

  void finish() {
    // Each version's rule may add the same line: keep the first of each.
    for (auto& st : report_.actions) {
      std::vector<std::string> unique;
      for (auto& h : st.how)
        if (std::find(unique.begin(), unique.end(), h) == unique.end()) unique.push_back(std::move(h));
      st.how = std::move(unique);
    }
    for (auto& [key, acc] : groups_) {
      acc.group.digest = hex16(acc.sum);
      report_.groups.push_back(std::move(acc.group));
    }
    std::stable_sort(report_.groups.begin(), report_.groups.end(), [](const DiffGroup& a, const DiffGroup& b) {
      if (a.action != b.action) return a.action < b.action;
      if (a.value != b.value) return a.value < b.value;
      return a.count > b.count;
    });
  }

  struct Acc {
    DiffGroup group;
    std::uint64_t sum = 0;
  };

  DiffOptions opts_;
  Version v_[2];
  std::vector<char> changed_[2];
  std::vector<RuleReads> reads_[2];
  std::map<std::string, Acc> groups_;
  DiffReport report_;
};

}  // namespace

DiffReport diff(const Engine& before, const Engine& after, const DiffOptions& opts) {
  return Differ(before, after, opts).run();
}

}  // namespace treaty
