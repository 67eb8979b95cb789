// Reverse queries (docs/api.md, "Reverse queries"): every subject, resource or action for which
// decide() allows.
//
// The answer must be exact, so every candidate is confirmed by decide(); what makes a search
// fast is where the candidates come from. At load, each permit is planned once per searched side:
// a `when` condition that pins the searched variable (`p == e`, `p.a == e`, `p in e`) to an
// expression `e` over the known side and the arguments gives its candidates directly (`p.a == e`
// through a column index on `a`); an `exists t: T where ...` gives them through a join, when one
// conjunct pins `t` to the known side and another pins the searched variable to `t`; an `or`
// gives the union of its disjuncts' (each must pin). Predicates the compiler inlined are plain
// expressions here; a call it did not inline is planned in the predicate's frame, the searched
// variable passed itself or as an attribute (`approvals_to_anyone_of(assignee.account, m)`: the
// accounts the predicate pins, then the persons of each through the index on `account`). A permit that cannot be planned scans every entity of the type, which the
// stats report. A forbid can only remove entities, so forbids give no candidates.
//
// The world's indexes cover the world as loaded: every entity of a searched (or joined) type the
// live writes or the request's overlay hold is added to the candidates, so a write that changed
// an entity after the index was built is still found.
#include <algorithm>
#include <charconv>
#include <optional>

#include "treaty/data/delta.hpp"
#include "treaty/runtime.hpp"

namespace treaty {

namespace search_detail {

/// A way to produce the candidates of one frame slot (the searched side, or an `exists`
/// variable) from a frame whose known slots are set: a superset of the values that slot can have
/// when the condition it was planned from holds.
struct Gen {
  enum class Kind : std::uint8_t {
    value,    ///< slot == key
    members,  ///< slot in key
    probe,    ///< slot.attr == key: the index on (type, attr) of each of `types`
    any_of,   ///< an `or`: the union of kids'
    via,      ///< exists `slot`: kids[0] gives the variable's candidates, kids[1] the target's from each
    call,     ///< a predicate not inlined: kids[0] runs in its frame, `args` (callee slot, key) filled first
    probe_each,  ///< slot.attr == v for each entity v kids[0] gives (an argument `x.attr` of a call)
    path,     ///< slot.a1.a2... == key: `levels` probed from the last attribute back to the slot
    seeded,   ///< `exists slot` with slot = the seed entity (treaty diff): kids[0] runs with it set
  };
  Kind kind = Kind::value;
  NodeId key = 0;
  std::vector<TypeId> types;        ///< probe: the types probed; via: the variable's types
  std::vector<std::int32_t> columns;  ///< probe: the column of each of `types`, -1 when it has none
  std::uint32_t slot = 0;           ///< via: the variable
  bool target = false;              ///< probe: of the searched side (only the searched type is probed)
  std::uint32_t frame = 0;          ///< call: the predicate's frame size
  std::vector<std::pair<std::uint32_t, NodeId>> args;  ///< call: callee slot and caller expression
  /// path: per attribute, outermost first, the types of its base and their columns; the last
  /// level's base is the slot.
  struct Level {
    std::vector<TypeId> types;
    std::vector<std::int32_t> columns;
  };
  std::vector<Level> levels;
  std::vector<Gen> kids;
};

/// Plans the permits' candidate generators and collects the column indexes they probe.
class Planner {
 public:
  explicit Planner(const Program& p) : p_(p) {}

  std::vector<IndexSpec> specs;

  /// A generator for slot `target` (of types `ttypes`) implied by `n` holding, given that the
  /// slots in `bound` are known; nullopt when `n` does not pin it.
  std::optional<Gen> gen(NodeId n, std::uint32_t target, const std::vector<TypeId>& ttypes, bool is_target,
                         std::vector<std::uint32_t>& bound, int depth) {
    if (depth > kMaxDepth || ++visits_ > kMaxVisits) return std::nullopt;
    const Node& nd = p_.nodes[n];
    switch (nd.op) {
      case Op::eq:
        for (int side = 0; side < 2; ++side) {
          const NodeId a = nd.kids[side], k = nd.kids[1 - side];
          const Node& an = p_.nodes[a];
          const bool is_var = an.op == Op::var && an.slot == target;
          const bool is_attr = an.op == Op::attr && !an.kids.empty() && p_.nodes[an.kids[0]].op == Op::var &&
                               p_.nodes[an.kids[0]].slot == target;
          if (!is_var && !is_attr) {
            if (auto g = path(a, k, target, ttypes, is_target, bound)) return g;
            continue;
          }
          if (!free_of(k, bound)) continue;
          Gen g;
          g.key = k;
          if (is_var) return g;
          g.kind = Gen::Kind::probe;
          g.types = ttypes;
          g.target = is_target;
          for (TypeId t : ttypes) {
            const int col = p_.schema.entities[t].column(an.a);
            g.columns.push_back(col);
            if (col >= 0) add_spec(IndexSpec::on(t, static_cast<std::uint32_t>(col)));
          }
          return g;
        }
        return std::nullopt;
      case Op::in: {
        const Node& an = p_.nodes[nd.kids[0]];
        if (an.op != Op::var || an.slot != target || !free_of(nd.kids[1], bound)) return std::nullopt;
        Gen g;
        g.kind = Gen::Kind::members;
        g.key = nd.kids[1];
        return g;
      }
      case Op::and_: {
        // Every conjunct holds: any one that pins will do; the cheapest is taken.
        std::optional<Gen> best;
        for (NodeId k : nd.kids) {
          auto g = gen(k, target, ttypes, is_target, bound, depth + 1);
          if (g && (!best || rank(*g) < rank(*best))) best = std::move(g);
        }
        return best;
      }
      case Op::or_: {
        Gen g;
        g.kind = Gen::Kind::any_of;
        for (NodeId k : nd.kids) {
          auto kg = gen(k, target, ttypes, is_target, bound, depth + 1);
          if (!kg) return std::nullopt;
          g.kids.push_back(std::move(*kg));
        }
        return g;
      }
      case Op::exists_type: {
        // Directly (a conjunct pins the target without the variable), or through the variable:
        // whichever is likely narrower. `g.person == m and g.account == t.grantee` joins through
        // m's few role assignments where a pin of t.grantee alone would take every trust of it.
        const NodeId body = nd.kids[0];
        auto direct = gen(body, target, ttypes, is_target, bound, depth + 1);
        const std::vector<TypeId> vtypes(nd.types.begin(), nd.types.end());
        auto var = gen(body, nd.slot, vtypes, false, bound, depth + 1);
        if (!var) return direct;
        bound.push_back(nd.slot);
        auto then = gen(body, target, ttypes, is_target, bound, depth + 1);
        bound.pop_back();
        if (!then) return direct;
        Gen g;
        g.kind = Gen::Kind::via;
        g.slot = nd.slot;
        g.types = vtypes;
        g.kids.push_back(std::move(*var));
        g.kids.push_back(std::move(*then));
        if (direct && rank(*direct) <= rank(g)) return direct;
        return g;
      }
      case Op::call: return call(nd, target, ttypes, is_target, bound, depth);
      default: return std::nullopt;
    }
  }

  /// `x.a1.a2... == key` with `x` the target: the entities whose a_n is the key, then those whose
  /// a_(n-1) is one of them, and so on back to the target (each level through a column index).
  std::optional<Gen> path(NodeId a, NodeId k, std::uint32_t target, const std::vector<TypeId>& ttypes, bool is_target,
                          std::vector<std::uint32_t>& bound) {
    Gen g;
    g.kind = Gen::Kind::path;
    g.key = k;
    g.target = is_target;
    for (NodeId n = a;;) {
      const Node& nd = p_.nodes[n];
      if (g.levels.size() > 4 || nd.op != Op::attr || nd.kids.empty()) return std::nullopt;
      const Node& base = p_.nodes[nd.kids[0]];
      const bool last = base.op == Op::var && base.slot == target;
      Gen::Level level;
      level.types = last ? ttypes : std::vector<TypeId>(nd.types.begin(), nd.types.end());
      if (level.types.empty()) return std::nullopt;
      for (TypeId t : level.types) {
        const int col = p_.schema.entities[t].column(nd.a);
        level.columns.push_back(col);
        if (col >= 0) add_spec(IndexSpec::on(t, static_cast<std::uint32_t>(col)));
      }
      g.levels.push_back(std::move(level));
      if (last) break;
      n = nd.kids[0];
    }
    if (g.levels.size() < 2 || !free_of(k, bound)) return std::nullopt;
    return g;
  }

  /// A call of a predicate that was not inlined: planned in the predicate's own frame, where its
  /// parameters whose arguments are known are bound. The searched variable is passed itself
  /// (`f(p, ...)`), or as an attribute (`f(p.account, ...)`: the predicate's parameter is then
  /// planned, and each entity it gives is probed back through the attribute).
  std::optional<Gen> call(const Node& nd, std::uint32_t target, const std::vector<TypeId>& ttypes, bool is_target,
                          std::vector<std::uint32_t>& bound, int depth) {
    if (nd.a >= p_.predicates.size()) return std::nullopt;
    const PredicateInfo& pred = p_.predicates[nd.a];
    Gen g;
    g.kind = Gen::Kind::call;
    g.frame = std::max<std::uint32_t>(pred.frame, 1);
    std::vector<std::uint32_t> inner;
    std::optional<std::uint32_t> as_var, as_attr;
    for (std::uint32_t i = 0; i < nd.kids.size() && i < pred.params.size(); ++i) {
      const NodeId k = nd.kids[i];
      const Node& kn = p_.nodes[k];
      if (free_of(k, bound)) {
        inner.push_back(i);
        g.args.emplace_back(i, k);
      } else if (kn.op == Op::var && kn.slot == target) {
        as_var = as_var.value_or(i);
      } else if (kn.op == Op::attr && !kn.kids.empty() && p_.nodes[kn.kids[0]].op == Op::var &&
                 p_.nodes[kn.kids[0]].slot == target && pred.params[i].type.base == Base::entity &&
                 !pred.params[i].type.set) {
        as_attr = as_attr.value_or(i);
      }
    }
    if (as_var) {
      if (auto body = gen(pred.body, *as_var, ttypes, is_target, inner, depth + 1)) {
        g.kids.push_back(std::move(*body));
        return g;
      }
    }
    if (!as_attr) return std::nullopt;
    const Node& an = p_.nodes[nd.kids[*as_attr]];
    auto body = gen(pred.body, *as_attr, pred.params[*as_attr].type.entities, false, inner, depth + 1);
    if (!body) return std::nullopt;
    g.kids.push_back(std::move(*body));
    Gen each;
    each.kind = Gen::Kind::probe_each;
    each.types = ttypes;
    each.target = is_target;
    for (TypeId t : ttypes) {
      const int col = p_.schema.entities[t].column(an.a);
      each.columns.push_back(col);
      if (col >= 0) add_spec(IndexSpec::on(t, static_cast<std::uint32_t>(col)));
    }
    each.kids.push_back(std::move(g));
    return each;
  }

  /// Planning for treaty diff: the `exists` node `site` takes the seed entity (a fact that differs
  /// between two versions). differs() gives a superset of the values of `target` for which the
  /// value of `n` can differ between the versions through the seed being the site's variable.
  /// Its argument: if `n` differs, it holds in one version, so a plan of `n` holding (gen())
  /// will do, run in both; and a difference of `and`, `or` or `not` is a difference of a child
  /// that holds the site, of an `exists` one of its body for some variable, and of the site
  /// itself one of its body with the seed, which then holds in one version.
  void set_site(NodeId site) {
    site_ = site;
    holds_site_.assign(p_.nodes.size(), 0);
    pred_site_.assign(p_.predicates.size(), 0);
  }

  /// Whether `n` reaches the site (through predicate calls too).
  bool reaches_site(NodeId n) {
    if (n >= p_.nodes.size()) return false;
    auto& memo = holds_site_[n];
    if (memo != 0) return memo == 2;
    memo = 1;
    const Node& nd = p_.nodes[n];
    bool r = n == site_;
    for (NodeId k : nd.kids) r = reaches_site(k) || r;
    if (nd.op == Op::call && nd.a < p_.predicates.size()) {
      auto& pm = pred_site_[nd.a];
      if (pm == 0) {
        pm = 1;
        pm = reaches_site(p_.predicates[nd.a].body) ? 2 : 1;
      }
      r = r || pm == 2;
    }
    memo = r ? 2 : 1;
    return r;
  }

  std::optional<Gen> differs(NodeId n, std::uint32_t target, const std::vector<TypeId>& ttypes, bool is_target,
                             std::vector<std::uint32_t>& bound, int depth) {
    if (depth > kMaxDepth || ++visits_ > kMaxVisits || !reaches_site(n)) return std::nullopt;
    const Node& nd = p_.nodes[n];
    std::optional<Gen> holds = gen(n, target, ttypes, is_target, bound, depth + 1);
    std::optional<Gen> g;
    switch (nd.op) {
      case Op::exists_type: {
        if (n == site_) {
          bound.push_back(nd.slot);
          auto body = gen(nd.kids[0], target, ttypes, is_target, bound, depth + 1);
          bound.pop_back();
          if (body) {
            g.emplace();
            g->kind = Gen::Kind::seeded;
            g->slot = nd.slot;
            g->kids.push_back(std::move(*body));
          }
          break;
        }
        // The variable's values whose body can differ, then the target from the body holding.
        const std::vector<TypeId> vtypes(nd.types.begin(), nd.types.end());
        auto var = differs(nd.kids[0], nd.slot, vtypes, false, bound, depth + 1);
        if (!var) break;
        bound.push_back(nd.slot);
        auto then = gen(nd.kids[0], target, ttypes, is_target, bound, depth + 1);
        bound.pop_back();
        if (!then) break;
        g.emplace();
        g->kind = Gen::Kind::via;
        g->slot = nd.slot;
        g->types = vtypes;
        g->kids.push_back(std::move(*var));
        g->kids.push_back(std::move(*then));
        break;
      }
      case Op::and_:
      case Op::or_:
      case Op::not_: {
        Gen u;
        u.kind = Gen::Kind::any_of;
        bool ok = true;
        for (NodeId k : nd.kids) {
          if (!reaches_site(k)) continue;
          auto kg = differs(k, target, ttypes, is_target, bound, depth + 1);
          if (!kg) {
            ok = false;
            break;
          }
          u.kids.push_back(std::move(*kg));
        }
        if (ok && !u.kids.empty()) {
          if (u.kids.size() == 1) g = std::move(u.kids[0]);
          else g = std::move(u);
        }
        break;
      }
      case Op::call: g = differs_call(nd, target, ttypes, is_target, bound, depth); break;
      default: break;
    }
    // A plan through the seed is preferred: the seed pins it to the entities the changed fact
    // reaches, where a plan of `n` holding finds every entity it holds for.
    if (g) return g;
    return holds;
  }

  /// differs() through a predicate that was not inlined, planned in its frame as call() plans.
  std::optional<Gen> differs_call(const Node& nd, std::uint32_t target, const std::vector<TypeId>& ttypes,
                                  bool is_target, std::vector<std::uint32_t>& bound, int depth) {
    if (nd.a >= p_.predicates.size()) return std::nullopt;
    const PredicateInfo& pred = p_.predicates[nd.a];
    Gen g;
    g.kind = Gen::Kind::call;
    g.frame = std::max<std::uint32_t>(pred.frame, 1);
    std::vector<std::uint32_t> inner;
    std::optional<std::uint32_t> as_var, as_attr;
    for (std::uint32_t i = 0; i < nd.kids.size() && i < pred.params.size(); ++i) {
      const NodeId k = nd.kids[i];
      const Node& kn = p_.nodes[k];
      // An argument that reaches the site is evaluated in the caller's frame: not planned here.
      if (reaches_site(k)) return std::nullopt;
      if (free_of(k, bound)) {
        inner.push_back(i);
        g.args.emplace_back(i, k);
      } else if (kn.op == Op::var && kn.slot == target) {
        as_var = as_var.value_or(i);
      } else if (kn.op == Op::attr && !kn.kids.empty() && p_.nodes[kn.kids[0]].op == Op::var &&
                 p_.nodes[kn.kids[0]].slot == target && pred.params[i].type.base == Base::entity &&
                 !pred.params[i].type.set) {
        as_attr = as_attr.value_or(i);
      }
    }
    if (as_var) {
      if (auto body = differs(pred.body, *as_var, ttypes, is_target, inner, depth + 1)) {
        g.kids.push_back(std::move(*body));
        return g;
      }
    }
    if (!as_attr) return std::nullopt;
    const Node& an = p_.nodes[nd.kids[*as_attr]];
    auto body = differs(pred.body, *as_attr, pred.params[*as_attr].type.entities, false, inner, depth + 1);
    if (!body) return std::nullopt;
    g.kids.push_back(std::move(*body));
    Gen each;
    each.kind = Gen::Kind::probe_each;
    each.types = ttypes;
    each.target = is_target;
    for (TypeId t : ttypes) {
      const int col = p_.schema.entities[t].column(an.a);
      each.columns.push_back(col);
      if (col >= 0) add_spec(IndexSpec::on(t, static_cast<std::uint32_t>(col)));
    }
    each.kids.push_back(std::move(g));
    return each;
  }

  /// Whether `n` reads only slots of `bound` (and its own `exists` variables).
  bool reads_only(NodeId n, std::vector<std::uint32_t>& bound) { return free_of(n, bound); }

  /// How costly a generator is likely to be, to choose between conjuncts.
  static int rank(const Gen& g) {
    switch (g.kind) {
      case Gen::Kind::value: return 0;
      case Gen::Kind::members: return 1;
      case Gen::Kind::probe: return 2;
      case Gen::Kind::any_of: {
        int r = 1;
        for (const auto& k : g.kids) r += rank(k);
        return r;
      }
      case Gen::Kind::via: return 5 + rank(g.kids[0]) + rank(g.kids[1]);
      case Gen::Kind::call: return rank(g.kids[0]);
      case Gen::Kind::probe_each: return 3 + rank(g.kids[0]);
      case Gen::Kind::path: return 2 + 2 * static_cast<int>(g.levels.size());
      case Gen::Kind::seeded: return rank(g.kids[0]);
    }
    return 100;
  }

  void reset() { visits_ = 0; }

 private:
  static constexpr int kMaxDepth = 32;
  /// A condition whose planning visits more nodes than this scans: the IR is a DAG, and a plan of
  /// nested `exists` visits their bodies a few times over.
  static constexpr std::size_t kMaxVisits = 200'000;

  /// Whether `n` reads only slots of `bound` (and its own `exists` variables).
  bool free_of(NodeId n, std::vector<std::uint32_t>& bound) {
    if (++visits_ > kMaxVisits) return false;
    const Node& nd = p_.nodes[n];
    if (nd.op == Op::var) return std::find(bound.begin(), bound.end(), nd.slot) != bound.end();
    const bool binds = nd.op == Op::exists_type || nd.op == Op::exists_set;
    if (binds) bound.push_back(nd.slot);
    bool ok = true;
    for (NodeId k : nd.kids)
      if (!free_of(k, bound)) {
        ok = false;
        break;
      }
    if (binds) bound.pop_back();
    return ok;
  }

  void add_spec(const IndexSpec& s) {
    if (std::find(specs.begin(), specs.end(), s) == specs.end()) specs.push_back(s);
  }

  const Program& p_;
  std::size_t visits_ = 0;
  NodeId site_ = kNone32;
  std::vector<std::uint8_t> holds_site_, pred_site_;  ///< reaches_site: 0 unknown, 1 no, 2 yes
};

/// What a generator does, for `--explain`.
std::string describe(const Program& p, const Gen& g) {
  switch (g.kind) {
    case Gen::Kind::value: return "an entity the condition names";
    case Gen::Kind::members: return "the members of a set";
    case Gen::Kind::probe: {
      std::string out;
      for (std::size_t i = 0; i < g.types.size(); ++i) {
        if (g.columns[i] < 0) continue;
        const auto& et = p.schema.entities[g.types[i]];
        out += (out.empty() ? "index " : ", index ") + et.name + "." + et.attrs[static_cast<std::size_t>(g.columns[i])].name;
      }
      return out.empty() ? "no entity (no such attribute)" : out;
    }
    case Gen::Kind::any_of: {
      std::string out = "(";
      for (std::size_t i = 0; i < g.kids.size(); ++i) out += (i ? " | " : "") + describe(p, g.kids[i]);
      return out + ")";
    }
    case Gen::Kind::via: {
      std::string names;
      for (TypeId t : g.types) names += (names.empty() ? "" : "|") + p.schema.entities[t].name;
      return "exists " + names + " by " + describe(p, g.kids[0]) + ", then " + describe(p, g.kids[1]);
    }
    case Gen::Kind::call: return "a predicate's " + describe(p, g.kids[0]);
    case Gen::Kind::seeded: return "the changed fact, then " + describe(p, g.kids[0]);
    case Gen::Kind::path: {
      std::string out = "path";
      for (const auto& level : g.levels) {
        Gen probe;
        probe.kind = Gen::Kind::probe;
        probe.types = level.types;
        probe.columns = level.columns;
        out += " " + describe(p, probe) + ";";
      }
      out.pop_back();
      return out;
    }
    case Gen::Kind::probe_each: {
      Gen probe = g;
      probe.kind = Gen::Kind::probe;
      return describe(p, probe) + " of each of " + describe(p, g.kids[0]);
    }
  }
  return "";
}

/// Runs generators of one search: appends candidates (unsorted, possibly repeated, possibly of
/// other types or deleted: the caller filters) to `out`.
class Runner {
 public:
  using Eval = std::function<bool(NodeId, Value*, const std::function<void(const Value&)>&)>;
  Runner(const Program& p, const FactDelta* d, const Overlay* o, TypeId searched, Eval eval,
         std::function<TypeId(EntityId)> type_in)
      : p_(p), d_(d), o_(o), searched_(searched), eval_(std::move(eval)), type_in_(std::move(type_in)) {}

  bool failed = false;
  EntityId seed = kNone32;  ///< the entity a Gen::Kind::seeded sets (treaty diff)

  void run(const Gen& g, Value* f, std::vector<EntityId>& out) {
    switch (g.kind) {
      case Gen::Kind::seeded: {
        const Value saved = f[g.slot];
        f[g.slot] = Value::entity(seed);
        run(g.kids[0], f, out);
        f[g.slot] = saved;
        return;
      }
      case Gen::Kind::value:
        failed |= !eval_(g.key, f, [&](const Value& v) {
          if (v.tag == Tag::entity) out.push_back(static_cast<EntityId>(v.i));
        });
        return;
      case Gen::Kind::members:
        failed |= !eval_(g.key, f, [&](const Value& v) {
          (void)set_any(v, [&](const Value& x) {
            if (x.tag == Tag::entity) out.push_back(static_cast<EntityId>(x.i));
            return false;
          });
        });
        return;
      case Gen::Kind::probe:
        failed |= !eval_(g.key, f, [&](const Value& v) { probe(g, v, out); });
        return;
      case Gen::Kind::any_of:
        for (const auto& k : g.kids) run(k, f, out);
        return;
      case Gen::Kind::call: {
        std::vector<Value> callee(g.frame, Value::none());
        for (const auto& arg : g.args) {
          // Not a structured binding: clang 14 cannot capture one in the lambda.
          const auto slot = arg.first;
          if (slot < callee.size()) failed |= !eval_(arg.second, f, [&](const Value& v) { callee[slot] = v; });
        }
        run(g.kids[0], callee.data(), out);
        return;
      }
      case Gen::Kind::path:
        failed |= !eval_(g.key, f, [&](const Value& v) {
          // A none on the way (`x.a` none, so `x.a.b` none) equals a none key: every entity.
          if (v.is_none()) {
            scan(searched_, out);
            return;
          }
          std::vector<EntityId> cur;
          for (std::size_t i = 0; i < g.levels.size(); ++i) {
            Gen level;
            level.types = g.levels[i].types;
            level.columns = g.levels[i].columns;
            level.target = g.target && i + 1 == g.levels.size();
            std::vector<EntityId> next;
            if (i == 0) {
              probe(level, v, next);
            } else {
              for (EntityId x : cur) probe(level, Value::entity(x), next);
            }
            // An intermediate entity the live writes or the overlay hold is no index's.
            if (i + 1 < g.levels.size())
              for (TypeId t : level.types) add_unindexed(t, next);
            std::sort(next.begin(), next.end());
            next.erase(std::unique(next.begin(), next.end()), next.end());
            cur = std::move(next);
          }
          out.insert(out.end(), cur.begin(), cur.end());
        });
        return;
      case Gen::Kind::probe_each: {
        std::vector<EntityId> keys;
        run(g.kids[0], f, keys);
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        for (EntityId k : keys) probe(g, Value::entity(k), out);
        return;
      }
      case Gen::Kind::via: {
        std::vector<EntityId> vars;
        run(g.kids[0], f, vars);
        for (TypeId t : g.types) add_unindexed(t, vars);
        std::sort(vars.begin(), vars.end());
        vars.erase(std::unique(vars.begin(), vars.end()), vars.end());
        const Value saved = f[g.slot];
        for (EntityId e : vars) {
          if (std::find(g.types.begin(), g.types.end(), type_in_(e)) == g.types.end()) continue;
          f[g.slot] = Value::entity(e);
          run(g.kids[1], f, out);
        }
        f[g.slot] = saved;
        return;
      }
    }
  }

  /// The entities of g's types whose attribute (g.columns) equals `v`.
  void probe(const Gen& g, const Value& v, std::vector<EntityId>& out) {
    for (std::size_t i = 0; i < g.types.size(); ++i) {
      const TypeId t = g.types[i];
      if (g.target && t != searched_) continue;
      // A type without `a` reads none for it: `x.a == none` holds for all of its entities. (The
      // column indexes keep none as a key, so a type with `a` is probed for none as for any key.)
      if (g.columns[i] < 0) {
        if (v.is_none()) scan(t, out);
        continue;
      }
      const auto range = p_.world().probe(IndexSpec::on(t, static_cast<std::uint32_t>(g.columns[i])), v, v);
      if (!range) {
        // Not built (EngineLimits::search_indexes off): the search scans its type once, rather
        // than this type at every probe of a join.
        failed = true;
        continue;
      }
      out.insert(out.end(), range->begin(), range->end());
    }
  }

  /// Entities of `t` no index of the world covers: the live writes' and the overlay's.
  void add_unindexed(TypeId t, std::vector<EntityId>& out) const {
    if (d_) out.insert(out.end(), d_->of_type(t).begin(), d_->of_type(t).end());
    if (!o_) return;
    for (std::size_t i = 0; i < o_->entities().size(); ++i)
      if (o_->entities()[i].type == t) out.push_back(o_->base() + static_cast<EntityId>(i));
  }

 private:
  void scan(TypeId t, std::vector<EntityId>& out) const {
    const auto& all = p_.world().of_type(t);
    out.insert(out.end(), all.begin(), all.end());
  }

  const Program& p_;
  const FactDelta* d_;
  const Overlay* o_;
  TypeId searched_;
  Eval eval_;
  std::function<TypeId(EntityId)> type_in_;
};

constexpr std::string_view kCursorPrefix = "q1.";

/// A cursor: "q1.<revision>.<next entity id>.<query hash>". The hash ties it to the question
/// asked, so a cursor passed to another query is refused rather than starting it mid-way.
std::string make_cursor(std::uint64_t revision, EntityId next, std::uint32_t query) {
  return std::string(kCursorPrefix) + std::to_string(revision) + "." + std::to_string(next) + "." +
         std::to_string(query);
}

/// Parses a cursor; false when it is not one make_cursor made.
bool parse_cursor(std::string_view c, std::uint64_t& revision, EntityId& next, std::uint32_t& query) {
  if (!c.starts_with(kCursorPrefix)) return false;
  c.remove_prefix(kCursorPrefix.size());
  auto number = [&](auto& out, bool last) {
    const auto dot = last ? c.size() : c.find('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    const auto r = std::from_chars(c.data(), c.data() + dot, out);
    if (r.ec != std::errc() || r.ptr != c.data() + dot) return false;
    c.remove_prefix(last ? dot : dot + 1);
    return true;
  };
  return number(revision, false) && number(next, false) && number(query, true);
}

/// The hash of a query's question (its side, type, action, arguments and known entity).
std::uint32_t query_hash(int side, TypeId type, std::uint32_t action, const std::vector<Value>& args, EntityId known) {
  std::size_t h = static_cast<std::size_t>(side) * 1000003u ^ type;
  for (std::size_t x : {std::size_t{action}, std::size_t{known}}) h = h * 1000003u ^ x;
  for (const auto& v : args) h = h * 1000003u ^ value_hash(v);
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

}  // namespace search_detail

struct Engine::SearchPlans {
  struct Side {
    std::optional<search_detail::Gen> gen;
    std::string how;  ///< what drives it, or why it scans
    /// The conditions (by index) that read neither this side nor anything but the other side
    /// and the arguments: rule_may_hold() evaluates them with the other side alone. Forbids too.
    std::vector<std::uint32_t> known_only;
  };
  std::vector<std::array<Side, 2>> rules;  ///< by rule; no `gen` for forbids
  std::vector<std::uint32_t> params;       ///< the slots of every action's parameters
};

struct Engine::SeedPlan {
  std::uint32_t rule = 0;
  int side = 0;
  search_detail::Gen gen;
  std::string how;
};

void Engine::plan_searches() {
  using search_detail::Planner;
  const Program& p = *p_;
  auto plans = std::make_shared<SearchPlans>();
  plans->rules.resize(p.rules.size());
  // Slots every request fills: the action's parameters (2 + parameter-name id).
  std::vector<std::uint32_t> params;
  for (const auto& a : p.schema.actions)
    for (auto id : a.param_ids) params.push_back(2 + id);
  std::sort(params.begin(), params.end());
  params.erase(std::unique(params.begin(), params.end()), params.end());
  std::vector<TypeId> all_types(p.schema.entities.size());
  for (TypeId t = 0; t < all_types.size(); ++t) all_types[t] = t;
  Planner planner(p);
  plans->params = params;
  for (std::uint32_t ri = 0; ri < p.rules.size(); ++ri) {
    const RuleInfo& rule = p.rules[ri];
    for (int side = 0; side < 2; ++side) {
      std::vector<std::uint32_t> known = params;
      known.push_back(side == 0 ? 1u : 0u);
      auto& out = plans->rules[ri][static_cast<std::size_t>(side)];
      for (std::uint32_t ci = 0; ci < rule.conditions.size(); ++ci) {
        planner.reset();
        if (planner.reads_only(rule.conditions[ci].expr, known)) out.known_only.push_back(ci);
      }
    }
    if (rule.forbid) continue;
    for (int side = 0; side < 2; ++side) {
      const auto& declared = side == 0 ? rule.principals : rule.resources;
      const std::vector<TypeId> types =
          declared.empty() ? all_types : std::vector<TypeId>(declared.begin(), declared.end());
      std::vector<std::uint32_t> bound = params;
      bound.push_back(side == 0 ? 1u : 0u);
      auto& out = plans->rules[ri][static_cast<std::size_t>(side)];
      for (const auto& c : rule.conditions) {
        if (!c.is_when) continue;
        planner.reset();
        auto g = planner.gen(c.expr, static_cast<std::uint32_t>(side), types, true, bound, 0);
        if (g && (!out.gen || Planner::rank(*g) < Planner::rank(*out.gen))) out.gen = std::move(g);
      }
      out.how = out.gen ? search_detail::describe(p, *out.gen)
                        : std::string("scan: no `when` condition pins the ") + (side == 0 ? "principal" : "resource") +
                              " with `==` or `in` to the " + (side == 0 ? "resource" : "principal") +
                              " and the arguments";
    }
  }
  if (limits_.search_indexes)
    for (const auto& s : planner.specs) p_->world().build_index(s);
  search_plans_ = std::move(plans);
}

SearchResult Engine::search(int side, EntityId known, TypeId type, std::uint32_t action, std::vector<Value> args,
                            std::size_t limit, std::string_view cursor, const Overlay* overlay) const {
  using namespace search_detail;
  const Program& p = *p_;
  SearchResult res;
  const char* role = side == 0 ? "principal" : "resource";
  if (action >= p.schema.actions.size()) {
    res.error = "unknown action";
    return res;
  }
  const auto& act = p.schema.actions[action];
  if (type >= p.schema.entities.size()) {
    res.error = "unknown entity type";
    return res;
  }
  const auto& accepted = side == 0 ? act.principals : act.resources;
  if (!accepted.empty() && !std::binary_search(accepted.begin(), accepted.end(), type)) {
    res.error = "action `" + act.name + "` does not accept " + std::string(indefinite_article(p.schema.entities[type].name)) +
                " `" + p.schema.entities[type].name + "` as its " + role;
    return res;
  }
  const TypeId known_type = type_in(known, overlay);
  const auto& known_accepted = side == 0 ? act.resources : act.principals;
  if (known_type == kNone32 ||
      (!known_accepted.empty() && !std::binary_search(known_accepted.begin(), known_accepted.end(), known_type))) {
    res.error = std::string("the ") + (side == 0 ? "resource" : "principal") +
                " is unknown or not accepted by action `" + act.name + "`";
    return res;
  }
  args.resize(act.params.size());
  const std::uint32_t question = query_hash(side, type, action, args, known);
  EntityId from = 0;
  if (!cursor.empty()) {
    std::uint64_t rev = 0;
    std::uint32_t asked = 0;
    if (!parse_cursor(cursor, rev, from, asked)) {
      res.error = "the cursor `" + std::string(cursor) + "` is not one a search gave out";
      return res;
    }
    if (rev != revision_) {
      // Ids of the live writes' entities, and what is allowed, may differ at another revision:
      // resuming could skip or repeat results.
      res.error = "the cursor belongs to revision " + std::to_string(rev) + " of the facts, and these are at revision " +
                  std::to_string(revision_) + ": start the search again";
      return res;
    }
    if (asked != question) {
      res.error = "the cursor belongs to another query: pass it with the query whose page gave it";
      return res;
    }
  }
  std::vector<std::uint32_t> rules;
  const std::uint32_t nforbid =
      rules_for(action, side == 0 ? type : known_type, side == 0 ? known_type : type, rules);

  std::vector<Value> frame(std::max<std::size_t>(max_frame_, 2), Value::none());
  frame[side == 0 ? 1 : 0] = Value::entity(known);
  for (std::size_t j = 0; j < act.params.size(); ++j)
    if (2 + act.param_ids[j] < frame.size()) frame[2 + act.param_ids[j]] = args[j];

  Runner runner(
      p, eval_delta_, overlay, type,
      [&](NodeId n, Value* f, const std::function<void(const Value&)>& use) { return eval_with(n, f, overlay, use); },
      [&](EntityId e) { return type_in(e, overlay); });
  std::vector<EntityId> cands;
  bool scan = false;
  for (std::size_t i = nforbid; i < rules.size(); ++i) {
    const auto& plan = search_plans_->rules[rules[i]][static_cast<std::size_t>(side)];
    SearchRuleStats st;
    st.rule = rules[i];
    st.how = plan.how;
    if (!plan.gen) {
      st.scan = scan = true;
    } else if (!scan) {
      const std::size_t before = cands.size();
      runner.failed = false;
      runner.run(*plan.gen, frame.data(), cands);
      st.candidates = cands.size() - before;
      if (runner.failed) {
        st.scan = scan = true;
        st.how = "scan: " + plan.how + " probes an index that is not built, or a key could not be evaluated";
      }
    }
    res.stats.rules.push_back(std::move(st));
  }
  if (scan) {
    cands.clear();
    for_each_entity(type, [&](EntityId e) { cands.push_back(e); });
  } else if (eval_delta_) {
    cands.insert(cands.end(), eval_delta_->of_type(type).begin(), eval_delta_->of_type(type).end());
  }
  if (overlay)
    for (std::size_t i = 0; i < overlay->entities().size(); ++i)
      if (overlay->entities()[i].type == type) cands.push_back(overlay->base() + static_cast<EntityId>(i));
  std::sort(cands.begin(), cands.end());
  cands.erase(std::unique(cands.begin(), cands.end()), cands.end());
  // Probes and joins may give deleted entities and entities of other types: only live ones of
  // the type are answers.
  std::erase_if(cands, [&](EntityId e) { return type_in(e, overlay) != type; });
  res.stats.candidates = cands.size();
  res.stats.scan = scan;

  Request r;
  r.action = action;
  r.args = std::move(args);
  r.overlay = overlay;
  (side == 0 ? r.resource : r.principal) = known;
  for (auto it = std::lower_bound(cands.begin(), cands.end(), from); it != cands.end(); ++it) {
    if (limit != 0 && res.entities.size() == limit) {
      res.cursor = make_cursor(revision_, *it, question);
      break;
    }
    (side == 0 ? r.principal : r.resource) = *it;
    ++res.stats.decides;
    if (decide(r, false).allow) res.entities.push_back(*it);
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// The primitives of treaty diff (runtime/diff.cpp)
// ---------------------------------------------------------------------------------------------

namespace {
/// A frame for `action`'s request with one side known and the other none.
std::vector<Value> side_frame(const Program& p, std::size_t size, int side, EntityId known, std::uint32_t action,
                              const std::vector<Value>& args) {
  std::vector<Value> frame(std::max<std::size_t>(size, 2), Value::none());
  if (side >= 0) frame[side == 0 ? 1 : 0] = Value::entity(known);
  if (action < p.schema.actions.size()) {
    const auto& act = p.schema.actions[action];
    for (std::size_t j = 0; j < act.params.size() && j < args.size(); ++j)
      if (2 + act.param_ids[j] < frame.size()) frame[2 + act.param_ids[j]] = args[j];
  }
  return frame;
}
}  // namespace

bool Engine::rule_candidates(std::uint32_t rule, int side, TypeId type, EntityId known, std::uint32_t action,
                             const std::vector<Value>& args, std::vector<EntityId>& out) const {
  using namespace search_detail;
  if (rule >= search_plans_->rules.size() || (side != 0 && side != 1)) return false;
  const auto& plan = search_plans_->rules[rule][static_cast<std::size_t>(side)];
  if (!plan.gen) return false;
  auto frame = side_frame(*p_, max_frame_, side, known, action, args);
  Runner runner(
      *p_, eval_delta_, nullptr, type,
      [&](NodeId n, Value* f, const std::function<void(const Value&)>& use) { return eval_with(n, f, nullptr, use); },
      [&](EntityId e) { return type_in(e, nullptr); });
  runner.run(*plan.gen, frame.data(), out);
  if (eval_delta_) out.insert(out.end(), eval_delta_->of_type(type).begin(), eval_delta_->of_type(type).end());
  return !runner.failed;
}

bool Engine::rule_has_plan(std::uint32_t rule, int side) const {
  return rule < search_plans_->rules.size() && (side == 0 || side == 1) &&
         search_plans_->rules[rule][static_cast<std::size_t>(side)].gen.has_value();
}

std::size_t Engine::rule_filters(std::uint32_t rule, int side) const {
  if (rule >= search_plans_->rules.size() || (side != 0 && side != 1)) return 0;
  return search_plans_->rules[rule][static_cast<std::size_t>(side)].known_only.size();
}

const std::string& Engine::rule_plan(std::uint32_t rule, int side) const {
  static const std::string none = "no plan: a forbid, or no such rule";
  if (rule >= search_plans_->rules.size() || (side != 0 && side != 1)) return none;
  const auto& plan = search_plans_->rules[rule][static_cast<std::size_t>(side)];
  return plan.gen || !p_->rules[rule].forbid ? plan.how : none;
}

bool Engine::rule_may_hold(std::uint32_t rule, int side, EntityId known, std::uint32_t action,
                           const std::vector<Value>& args) const noexcept {
  try {
    if (rule >= search_plans_->rules.size() || (side != 0 && side != 1)) return true;
    const auto& plan = search_plans_->rules[rule][static_cast<std::size_t>(side)];
    if (plan.known_only.empty()) return true;
    auto frame = side_frame(*p_, max_frame_, side, known, action, args);
    const RuleInfo& r = p_->rules[rule];
    for (std::uint32_t ci : plan.known_only) {
      const auto& c = r.conditions[ci];
      bool truth = false;
      if (!eval_with(c.expr, frame.data(), nullptr, [&](const Value& v) { truth = v.tag == Tag::bool_ && v.i != 0; }))
        return true;  // a failed evaluation rules nothing out
      if (truth != c.is_when) return false;
    }
    return true;
  } catch (...) {
    return true;
  }
}

std::shared_ptr<const Engine::SeedPlan> Engine::plan_seeded(std::uint32_t rule, NodeId site, int side) const {
  using namespace search_detail;
  const Program& p = *p_;
  if (rule >= p.rules.size() || site >= p.nodes.size() || (side != 0 && side != 1)) return nullptr;
  const RuleInfo& r = p.rules[rule];
  std::vector<TypeId> types;
  const auto& declared = side == 0 ? r.principals : r.resources;
  if (declared.empty()) {
    for (TypeId t = 0; t < p.schema.entities.size(); ++t) types.push_back(t);
  } else {
    types.assign(declared.begin(), declared.end());
  }
  Planner planner(p);
  planner.set_site(site);
  auto plan = std::make_shared<SeedPlan>();
  plan->rule = rule;
  plan->side = side;
  plan->gen.kind = Gen::Kind::any_of;
  for (const auto& c : r.conditions) {
    if (!planner.reaches_site(c.expr)) continue;
    planner.reset();
    std::vector<std::uint32_t> bound = search_plans_->params;
    auto g = planner.differs(c.expr, static_cast<std::uint32_t>(side), types, true, bound, 0);
    if (!g) return nullptr;
    if (!plan->how.empty()) plan->how += "; ";
    plan->how += describe(p, *g);
    plan->gen.kids.push_back(std::move(*g));
  }
  if (plan->gen.kids.empty()) return nullptr;
  for (const auto& s : planner.specs) p_->world().build_index(s);
  return plan;
}

const std::string& Engine::seeded_plan_text(const SeedPlan& plan) const { return plan.how; }

bool Engine::run_seeded(const SeedPlan& plan, TypeId type, EntityId seed, std::uint32_t action,
                        const std::vector<Value>& args, std::vector<EntityId>& out) const {
  using namespace search_detail;
  auto frame = side_frame(*p_, max_frame_, -1, 0, action, args);
  Runner runner(
      *p_, eval_delta_, nullptr, type,
      [&](NodeId n, Value* f, const std::function<void(const Value&)>& use) { return eval_with(n, f, nullptr, use); },
      [&](EntityId e) { return type_in(e, nullptr); });
  runner.seed = seed;
  runner.run(plan.gen, frame.data(), out);
  if (eval_delta_) out.insert(out.end(), eval_delta_->of_type(type).begin(), eval_delta_->of_type(type).end());
  return !runner.failed;
}

SearchResult Engine::search_subjects(TypeId principal_type, std::uint32_t action, std::vector<Value> args,
                                     EntityId resource, std::size_t limit, std::string_view cursor,
                                     const Overlay* overlay) const {
  return search(0, resource, principal_type, action, std::move(args), limit, cursor, overlay);
}

SearchResult Engine::search_resources(EntityId principal, std::uint32_t action, std::vector<Value> args,
                                      TypeId resource_type, std::size_t limit, std::string_view cursor,
                                      const Overlay* overlay) const {
  return search(1, principal, resource_type, action, std::move(args), limit, cursor, overlay);
}

ActionSearchResult Engine::search_actions(EntityId principal, EntityId resource, const Overlay* overlay) const {
  const Program& p = *p_;
  ActionSearchResult res;
  const TypeId pt = type_in(principal, overlay), rt = type_in(resource, overlay);
  if (pt == kNone32 || rt == kNone32) {
    res.error = pt == kNone32 ? "unknown principal" : "unknown resource";
    return res;
  }
  Request r;
  r.principal = principal;
  r.resource = resource;
  r.overlay = overlay;
  for (std::uint32_t a = 0; a < p.schema.actions.size(); ++a) {
    const auto& act = p.schema.actions[a];
    auto takes = [](const auto& list, TypeId t) { return list.empty() || std::binary_search(list.begin(), list.end(), t); };
    if (!takes(act.principals, pt) || !takes(act.resources, rt)) continue;
    r.action = a;
    r.args.assign(act.params.size(), Value::none());
    auto ask = [&] {
      ++res.stats.decides;
      return decide(r, false).allow;
    };
    if (act.params.empty()) {
      if (ask()) res.actions.push_back({a, std::nullopt});
      continue;
    }
    const Type& t = act.params[0].type;
    if (act.params.size() == 1 && t.base == Base::enum_ && !t.set) {
      for (std::uint32_t v = 0; v < p.schema.enums[t.enum_id].values.size(); ++v) {
        r.args[0] = Value::enumv(t.enum_id, v);
        if (ask()) res.actions.push_back({a, v});
      }
      continue;
    }
    const bool all_optional =
        std::all_of(act.params.begin(), act.params.end(), [](const auto& prm) { return prm.type.optional; });
    if (all_optional) {
      if (ask()) res.actions.push_back({a, std::nullopt});
    } else {
      res.skipped.push_back(a);
    }
  }
  res.stats.candidates = res.stats.decides;
  return res;
}

}  // namespace treaty
