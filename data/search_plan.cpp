// The planning of reverse queries (treaty/data/search_plan.hpp): a `when` condition that pins the
// searched variable (`p == e`, `p.a == e`, `p in e`) to an expression `e` over the known side and
// the arguments gives its candidates directly (`p.a == e` through a column index on `a`); an
// `exists t: T where ...` gives them through a join, when one conjunct pins `t` to the known side
// and another pins the searched variable to `t`; an `or` gives the union of its disjuncts' (each
// must pin). Predicates the compiler inlined are plain expressions here; a call it did not inline
// is planned in the predicate's frame. A permit that cannot be planned scans every entity of the
// type, unless no condition reads the searched side at all (it then applies to all or to none).
//
// treaty diff's seeded plans (plan_seeded) start instead from a fact that differs between two
// versions, the variable of one `exists` node (the site): Planner::differs.
#include "treaty/data/search_plan.hpp"

#include <algorithm>

namespace treaty::search_detail {

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
  /// planned, and each entity it gives is probed back through the attribute). With `seeded`, the
  /// body is planned by differs() instead of gen() (treaty diff), and an argument that reaches
  /// the site, evaluated in the caller's frame, is not planned.
  std::optional<Gen> call(const Node& nd, std::uint32_t target, const std::vector<TypeId>& ttypes, bool is_target,
                          std::vector<std::uint32_t>& bound, int depth, bool seeded = false) {
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
      if (seeded && reaches_site(k)) return std::nullopt;
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
    auto plan_body = [&](std::uint32_t slot, const std::vector<TypeId>& types, bool of_target) {
      return seeded ? differs(pred.body, slot, types, of_target, inner, depth + 1)
                    : gen(pred.body, slot, types, of_target, inner, depth + 1);
    };
    if (as_var) {
      if (auto body = plan_body(*as_var, ttypes, is_target)) {
        g.kids.push_back(std::move(*body));
        return g;
      }
    }
    if (!as_attr) return std::nullopt;
    const Node& an = p_.nodes[nd.kids[*as_attr]];
    auto body = plan_body(*as_attr, pred.params[*as_attr].type.entities, false);
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

  /// Whether `n` reaches the site (through predicate calls too); set_site() first.
  bool reaches_site(NodeId n) {
    if (n >= holds_site_.size()) return false;
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
    holds_site_[n] = r ? 2 : 1;
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
        // Directly: the target's values for which the body can differ for some value of the
        // variable, planned without it (`exists g: RoleAssignment where g.account == a and
        // role_shared(a, ...)` takes `a` from the seed's grantor, where the variable would first
        // be every assignment of the role). Or through the variable: its values whose body can
        // differ, then the target from the body holding. Whichever is likely narrower.
        auto direct = differs(nd.kids[0], target, ttypes, is_target, bound, depth + 1);
        const std::vector<TypeId> vtypes(nd.types.begin(), nd.types.end());
        auto var = differs(nd.kids[0], nd.slot, vtypes, false, bound, depth + 1);
        std::optional<Gen> then;
        if (var) {
          bound.push_back(nd.slot);
          then = gen(nd.kids[0], target, ttypes, is_target, bound, depth + 1);
          bound.pop_back();
        }
        if (var && then) {
          g.emplace();
          g->kind = Gen::Kind::via;
          g->slot = nd.slot;
          g->types = vtypes;
          g->kids.push_back(std::move(*var));
          g->kids.push_back(std::move(*then));
        }
        if (direct && (!g || seeded_rank(*direct) <= seeded_rank(*g))) g = std::move(direct);
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
      case Op::call: g = call(nd, target, ttypes, is_target, bound, depth, true); break;
      default: break;
    }
    // A plan through the seed is preferred: the seed pins it to the entities the changed fact
    // reaches, where a plan of `n` holding finds every entity it holds for.
    if (g && (pinned(*g) || !holds || rank(*g) <= rank(*holds))) return g;
    return holds ? holds : g;
  }

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

  /// Whether a generator's values all come from the seed (treaty diff): a few entities, where
  /// one that plans some condition holding gives every entity it holds for.
  static bool pinned(const Gen& g) {
    switch (g.kind) {
      case Gen::Kind::seeded: return true;
      case Gen::Kind::any_of:
        return !g.kids.empty() && std::all_of(g.kids.begin(), g.kids.end(), [](const Gen& k) { return pinned(k); });
      case Gen::Kind::via:
      case Gen::Kind::call:
      case Gen::Kind::probe_each: return !g.kids.empty() && pinned(g.kids[0]);
      default: return false;
    }
  }
  /// rank() for seeded plans: a plan pinned to the seed first.
  static int seeded_rank(const Gen& g) { return (pinned(g) ? 0 : 1000) + rank(g); }

  void reset() { visits_ = 0; }

  /// Whether `n` reads only the slots of `bound` (false as well when that is too costly to tell).
  bool reads_only(NodeId n, std::vector<std::uint32_t>& bound) {
    reset();
    return free_of(n, bound);
  }

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

std::vector<std::uint32_t> request_param_slots(const Program& p) {
  std::vector<std::uint32_t> params;
  for (const auto& a : p.schema.actions)
    for (auto id : a.param_ids) params.push_back(2 + id);
  std::sort(params.begin(), params.end());
  params.erase(std::unique(params.begin(), params.end()), params.end());
  return params;
}

namespace {
/// The types a rule's side may hold: those it declares, or every type.
std::vector<TypeId> side_types(const Program& p, const RuleInfo& rule, int side) {
  const auto& declared = side == 0 ? rule.principals : rule.resources;
  if (!declared.empty()) return {declared.begin(), declared.end()};
  std::vector<TypeId> all(p.schema.entities.size());
  for (TypeId t = 0; t < all.size(); ++t) all[t] = t;
  return all;
}
}  // namespace

std::vector<std::array<SidePlan, 2>> plan_permits(const Program& p, std::vector<IndexSpec>& specs) {
  std::vector<std::array<SidePlan, 2>> plans(p.rules.size());
  const std::vector<std::uint32_t> params = request_param_slots(p);
  Planner planner(p);
  for (std::uint32_t ri = 0; ri < p.rules.size(); ++ri) {
    const RuleInfo& rule = p.rules[ri];
    for (int side = 0; side < 2; ++side) {
      std::vector<std::uint32_t> known = params;
      known.push_back(side == 0 ? 1u : 0u);
      auto& out = plans[ri][static_cast<std::size_t>(side)];
      for (std::uint32_t ci = 0; ci < rule.conditions.size(); ++ci)
        if (planner.reads_only(rule.conditions[ci].expr, known)) out.known_only.push_back(ci);
    }
    if (rule.forbid) continue;
    for (int side = 0; side < 2; ++side) {
      const std::vector<TypeId> types = side_types(p, rule, side);
      std::vector<std::uint32_t> bound = params;
      bound.push_back(side == 0 ? 1u : 0u);
      auto& out = plans[ri][static_cast<std::size_t>(side)];
      for (const auto& c : rule.conditions) {
        if (!c.is_when) continue;
        planner.reset();
        auto g = planner.gen(c.expr, static_cast<std::uint32_t>(side), types, true, bound, 0);
        if (g && (!out.gen || Planner::rank(*g) < Planner::rank(*out.gen))) out.gen = std::move(g);
      }
      if (!out.gen) {
        out.independent = true;
        for (const auto& c : rule.conditions)
          if (!planner.reads_only(c.expr, bound)) {
            out.independent = false;
            out.when_reads = out.when_reads || c.is_when;
          }
      }
      const char* searched = side == 0 ? "principal" : "resource";
      out.how = out.gen ? describe(p, *out.gen)
                : out.independent
                    ? std::string("every entity of the type, when one decision says the permit applies: no condition "
                                  "reads the ") + searched
                    : std::string("scan: no `when` condition pins the ") + searched + " with `==` or `in` to the " +
                          (side == 0 ? "resource" : "principal") + " and the arguments";
    }
  }
  specs = std::move(planner.specs);
  return plans;
}

std::optional<Gen> plan_seeded(const Program& p, std::uint32_t rule, NodeId site, int side, std::string& how,
                               std::vector<IndexSpec>& specs) {
  how.clear();
  if (rule >= p.rules.size() || site >= p.nodes.size() || (side != 0 && side != 1)) return std::nullopt;
  const RuleInfo& r = p.rules[rule];
  const std::vector<TypeId> types = side_types(p, r, side);
  const std::vector<std::uint32_t> params = request_param_slots(p);
  Planner planner(p);
  planner.set_site(site);
  Gen all;
  all.kind = Gen::Kind::any_of;
  for (const auto& c : r.conditions) {
    if (!planner.reaches_site(c.expr)) continue;
    planner.reset();
    std::vector<std::uint32_t> bound = params;
    auto g = planner.differs(c.expr, static_cast<std::uint32_t>(side), types, true, bound, 0);
    if (!g) return std::nullopt;
    if (!how.empty()) how += "; ";
    how += describe(p, *g);
    all.kids.push_back(std::move(*g));
  }
  if (all.kids.empty()) return std::nullopt;
  specs = std::move(planner.specs);
  return all;
}

}  // namespace treaty::search_detail
