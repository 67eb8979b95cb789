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
#include "treaty/data/search_plan.hpp"
#include "treaty/runtime.hpp"

namespace treaty {

namespace search_detail {

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
  std::vector<std::array<search_detail::SidePlan, 2>> rules;  ///< by rule; no generator for forbids
};

struct Engine::SeedPlan {
  std::uint32_t rule = 0;
  int side = 0;
  search_detail::Gen gen;
  std::string how;
};

void Engine::plan_searches() {
  auto plans = std::make_shared<SearchPlans>();
  std::vector<IndexSpec> specs;
  plans->rules = search_detail::plan_permits(*p_, specs);
  if (limits_.search_indexes)
    for (const auto& s : specs) p_->world().build_index(s);
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
  std::vector<std::size_t> gated;  // of res.stats.rules: permits that apply to all or none
  for (std::size_t i = nforbid; i < rules.size(); ++i) {
    const auto& plan = search_plans_->rules[rules[i]][static_cast<std::size_t>(side)];
    SearchRuleStats st;
    st.rule = rules[i];
    st.how = plan.how;
    if (!plan.gen && plan.independent) {
      gated.push_back(res.stats.rules.size());
    } else if (!plan.gen) {
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
  if (!gated.empty() && !scan) {
    // Whether each gated permit applies is the same for every entity of the type: one decision,
    // traced, on any one of them tells. One that applies (or a decision that fails) scans.
    std::optional<EntityId> any;
    for (EntityId e : p.world().of_type(type))
      if (type_in(e, overlay) == type) {
        any = e;
        break;
      }
    if (!any && eval_delta_)
      for (EntityId e : eval_delta_->of_type(type))
        if (type_in(e, overlay) == type) {
          any = e;
          break;
        }
    if (!any && overlay)
      for (std::size_t i = 0; i < overlay->entities().size() && !any; ++i)
        if (overlay->entities()[i].type == type) any = overlay->base() + static_cast<EntityId>(i);
    if (any) {
      Request q;
      q.action = action;
      q.args = args;
      q.overlay = overlay;
      (side == 0 ? q.resource : q.principal) = known;
      (side == 0 ? q.principal : q.resource) = *any;
      std::vector<RuleOutcome> outcomes;
      const Decision d = decide_traced(q, outcomes);
      ++res.stats.decides;
      for (std::size_t g : gated) {
        auto& st = res.stats.rules[g];
        const auto o = std::find_if(outcomes.begin(), outcomes.end(), [&](const RuleOutcome& x) { return x.rule == st.rule; });
        if (!d.errors.empty() || o == outcomes.end() || o->applied) st.scan = scan = true;
      }
    }
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
  // A full page goes on to the next allowed candidate, where the cursor points: a cursor is given
  // only when there is more to answer, so no page after the first is empty.
  for (auto it = std::lower_bound(cands.begin(), cands.end(), from); it != cands.end(); ++it) {
    (side == 0 ? r.principal : r.resource) = *it;
    ++res.stats.decides;
    if (!decide(r, false).allow) continue;
    if (limit != 0 && res.entities.size() == limit) {
      res.cursor = make_cursor(revision_, *it, question);
      break;
    }
    res.entities.push_back(*it);
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
  auto plan = std::make_shared<SeedPlan>();
  std::vector<IndexSpec> specs;
  auto g = search_detail::plan_seeded(*p_, rule, site, side, plan->how, specs);
  if (!g) return nullptr;
  plan->rule = rule;
  plan->side = side;
  plan->gen = std::move(*g);
  for (const auto& s : specs) p_->world().build_index(s);
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
