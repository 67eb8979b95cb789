// treaty verify: random worlds and requests against each property, with shrinking.
#include "treaty/verify.hpp"

#include "treaty/data/world.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>

namespace treaty {

namespace {

/// A generated value. References point at entities of the generated world by index.
struct GVal {
  enum class K : std::uint8_t { none, boolean, integer, string, enumeration, ref, set };
  K k = K::none;
  std::int64_t i = 0;       ///< boolean, integer, enum value index, ref target
  std::uint32_t enum_id = 0;
  std::string s;
  std::vector<GVal> items;  ///< set
  bool operator==(const GVal& o) const {
    return k == o.k && i == o.i && enum_id == o.enum_id && s == o.s && items == o.items;
  }
  bool operator<(const GVal& o) const {
    return std::tie(k, i, enum_id, s, items) < std::tie(o.k, o.i, o.enum_id, o.s, o.items);
  }
};

struct GEntity {
  TypeId type = 0;
  std::string id;
  std::vector<GVal> attrs;
  bool alive = true;
};

struct GWorld {
  std::vector<GEntity> ents;
};

struct GRequest {
  std::size_t principal = 0, resource = 0;
  std::uint32_t action = 0;
  std::vector<GVal> args;
};

std::uint64_t fnv(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string lower_snake(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      if (i) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

class Verifier {
 public:
  Verifier(const Engine& e, const SourceManager& sm, const VerifyOptions& o) : e_(e), p_(e.program()), sm_(sm), o_(o) {}

  PropertyResult run(const PropertyInfo& prop, std::uint64_t seed, std::size_t index) {
    PropertyResult res;
    res.name = prop.name;
    res.span = prop.span;
    rng_.seed(seed ^ fnv(prop.name));
    std::map<std::uint32_t, std::uint64_t> discard_by_req;
    for (std::uint64_t run = 0; run < o_.runs; ++run) {
      const std::uint32_t size =
          1 + static_cast<std::uint32_t>((static_cast<std::uint64_t>(o_.max_size - 1) * run) / std::max<std::uint64_t>(1, o_.runs - 1));
      GWorld w = generate(size);
      repair_keys(w);
      // Requirements: remove the entities that violate a `forall` requirement (a few times), or
      // discard the world when a global one fails.
      bool valid = false;
      for (int attempt = 0; attempt < 8; ++attempt) {
        Overlay ov(p_);
        std::vector<EntityId> ids;
        materialize(w, ov, ids);
        auto v = e_.first_violation(&ov);
        if (!v) {
          valid = true;
          break;
        }
        ++discard_by_req[v->requirement];
        if (!v->entity) break;
        const auto idx = index_of(ids, *v->entity);
        if (idx >= w.ents.size()) break;
        kill(w, idx);
      }
      if (o_.progress) o_.progress(index, run + 1);
      if (!valid) {
        ++res.discarded_worlds;
        continue;
      }
      ++res.worlds;
      // One overlay per world; each request only checks the `where` and decides.
      Overlay ov(p_);
      std::vector<EntityId> ids;
      materialize(w, ov, ids);
      const std::uint64_t quota = (run + 1) * o_.requests_per_world;
      for (std::uint32_t q = 0; q < o_.requests_per_world * 4 && res.requests < quota; ++q) {
        auto req = gen_request(w, prop);
        if (!req) break;
        const int outcome = decide_in(ov, ids, *req, prop);
        if (outcome < 0) continue;  // the `where` does not hold
        ++res.requests;
        if (outcome == 1) {
          res.passed = false;
          res.counterexample = shrink(w, *req, prop);
          return res;
        }
      }
    }
    if (res.worlds == 0 || res.discarded_worlds * 10 > o_.runs * 9) {
      std::uint32_t worst = 0;
      std::uint64_t most = 0;
      for (const auto& [r, n] : discard_by_req)
        if (n > most) {
          most = n;
          worst = r;
        }
      if (!p_.requirements.empty())
        res.warning = "generation is nearly hopeless: " + std::to_string(res.discarded_worlds) + " of " +
                      std::to_string(o_.runs) + " worlds violated a requirement, most often `" +
                      p_.requirements[worst].name + "`; the property was checked on " +
                      std::to_string(res.worlds) + " worlds only";
    }
    if (res.requests == 0 && res.warning.empty())
      res.warning = "no generated request satisfied the property's `forall ... where`; nothing was checked";
    return res;
  }

  /// The property over the program's own world: every principal, resource and argument it
  /// ranges over, for each of its actions. Arguments of a type that cannot be listed (Int,
  /// String, sets) leave their action unchecked, with a warning.
  PropertyResult run_on_facts(const PropertyInfo& prop) {
    PropertyResult res;
    res.name = prop.name;
    res.span = prop.span;
    res.worlds = 1;
    const World& w = p_.world();
    auto entities_of = [&](const std::vector<TypeId>& types) {
      std::vector<EntityId> out;
      for (TypeId t : types)
        for (EntityId e : w.of_type(t)) out.push_back(e);
      return out;
    };
    std::vector<std::string> skipped;
    std::uint64_t tried = 0;  // requests formed, in the property's scope or not
    for (std::uint32_t a : prop.actions) {
      const auto& act = p_.schema.actions[a];
      const auto ps = entities_of(endpoint_types(prop.principals, act.principals));
      const auto rs = entities_of(endpoint_types(prop.resources, act.resources));
      // The values each parameter takes.
      std::vector<std::vector<Value>> domains;
      std::string unlisted;
      for (const auto& prm : act.params) {
        std::vector<Value> d;
        const Type& t = prm.type;
        if (t.optional) d.push_back(Value::none());
        if (t.set) unlisted = prm.name;
        else if (t.base == Base::bool_) d.insert(d.end(), {Value::boolean(false), Value::boolean(true)});
        else if (t.base == Base::enum_)
          for (std::uint32_t i = 0; i < p_.schema.enums[t.enum_id].values.size(); ++i) d.push_back(Value::enumv(t.enum_id, i));
        else if (t.base == Base::entity)
          for (EntityId e : entities_of(t.entities)) d.push_back(Value::entity(e));
        else unlisted = prm.name;
        if (!unlisted.empty()) break;
        domains.push_back(std::move(d));
      }
      if (!unlisted.empty()) {
        skipped.push_back("`" + act.name + "` (its parameter `" + unlisted + "` has values that cannot be listed)");
        continue;
      }
      std::vector<std::size_t> at(domains.size(), 0);
      bool empty_domain = false;
      for (const auto& d : domains) empty_domain = empty_domain || d.empty();
      if (empty_domain) continue;
      for (EntityId pe : ps)
        for (EntityId re : rs) {
          std::fill(at.begin(), at.end(), 0);
          for (bool more = true; more;) {
            Request r;
            r.principal = pe;
            r.resource = re;
            r.action = a;
            for (std::size_t i = 0; i < domains.size(); ++i) r.args.push_back(domains[i][at[i]]);
            if (++tried > o_.max_requests) {
              res.warning = "stopped after " + std::to_string(o_.max_requests) +
                            " requests: the check is not exhaustive (--max-requests)";
              return res;
            }
            if (e_.property_applies(prop, r)) {
              ++res.requests;
              const Decision d = e_.decide(r, false);
              if (d.allow != prop.expect_allow) {
                res.passed = false;
                Counterexample cx;
                cx.test_block = render_fact_test(r, prop);
                const Decision explained = e_.decide(r, true);
                cx.explanation = e_.explain(explained, r, &sm_);
                if (o_.pictures) cx.picture = picture_of(explained, r, prop);
                cx.entities = w.size();
                res.counterexample = std::move(cx);
                return res;
              }
            }
            // The next combination of arguments.
            more = false;
            for (std::size_t i = 0; i < at.size(); ++i) {
              if (++at[i] < domains[i].size()) {
                more = true;
                break;
              }
              at[i] = 0;
            }
          }
        }
    }
    if (!skipped.empty()) {
      res.warning = "not checked for ";
      for (std::size_t i = 0; i < skipped.size(); ++i) res.warning += (i ? ", " : "") + skipped[i];
    }
    if (res.requests == 0 && res.warning.empty())
      res.warning = "no request over the package's facts satisfies the property's `forall ... where`; nothing was checked";
    return res;
  }

 private:
  /// A counterexample over the package's facts: the expectation alone, no `given`.
  std::string render_fact_test(const Request& r, const PropertyInfo& prop) const {
    const World& w = p_.world();
    auto ref = [&](EntityId e) { return p_.schema.entities[w.entity(e).type].name + "::" + quote_string(w.id(e)); };
    const auto& act = p_.schema.actions[r.action];
    std::string action = act.name;
    if (!act.params.empty()) {
      std::string args;
      for (std::size_t i = 0; i < act.params.size() && i < r.args.size(); ++i) {
        const Value& v = r.args[i];
        if (v.is_none()) continue;
        args += (args.empty() ? "" : ", ") + act.params[i].name + ": " +
                (v.tag == Tag::entity ? quote_string(w.id(static_cast<EntityId>(v.i))) : format_value(p_.schema, w, v));
      }
      action += "(" + args + ")";
    }
    return "test \"counterexample to " + prop.name + " (over the package's facts)\" {\n  expect " +
           (prop.expect_allow ? "allow" : "deny") + " principal " + ref(r.principal) + " action " + action +
           " resource " + ref(r.resource) + ";\n}\n";
  }

  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }
  bool coin(int one_in = 2) { return uniform(0, static_cast<std::uint64_t>(one_in - 1)) == 0; }

  std::vector<std::size_t> alive_of(const GWorld& w, const std::vector<TypeId>& types) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < w.ents.size(); ++i)
      if (w.ents[i].alive && std::find(types.begin(), types.end(), w.ents[i].type) != types.end()) out.push_back(i);
    return out;
  }

  GVal random_scalar(const Type& t, const GWorld& w) {
    GVal v;
    switch (t.base) {
      case Base::bool_:
        v.k = GVal::K::boolean;
        v.i = coin();
        break;
      case Base::int_:
        v.k = GVal::K::integer;
        v.i = static_cast<std::int64_t>(uniform(0, 4)) - 1;
        break;
      case Base::string: {
        static const char* pool[] = {"", "a", "b"};
        v.k = GVal::K::string;
        v.s = pool[uniform(0, 2)];
        break;
      }
      case Base::enum_:
        v.k = GVal::K::enumeration;
        v.enum_id = t.enum_id;
        v.i = static_cast<std::int64_t>(uniform(0, p_.schema.enums[t.enum_id].values.size() - 1));
        break;
      case Base::entity: {
        auto cands = alive_of(w, t.entities);
        if (cands.empty()) return GVal{};
        v.k = GVal::K::ref;
        v.i = static_cast<std::int64_t>(cands[uniform(0, cands.size() - 1)]);
        break;
      }
      default: break;
    }
    return v;
  }

  GVal random_value(const Type& t, const GWorld& w) {
    if (t.optional && coin(4)) return GVal{};
    if (!t.set) return random_scalar(t, w);
    GVal s;
    s.k = GVal::K::set;
    const auto n = uniform(0, 3);
    for (std::uint64_t i = 0; i < n; ++i) {
      GVal x = random_scalar(t.element(), w);
      if (x.k != GVal::K::none && std::find(s.items.begin(), s.items.end(), x) == s.items.end()) s.items.push_back(x);
    }
    std::sort(s.items.begin(), s.items.end());
    return s;
  }

  static bool required_ref(const Type& t) { return t.base == Base::entity && !t.optional && !t.set; }

  GWorld generate(std::uint32_t size) {
    const auto& ents = p_.schema.entities;
    std::vector<std::uint64_t> count(ents.size());
    for (auto& c : count) c = uniform(0, size);
    // A type whose required reference has no possible target cannot have entities.
    for (bool changed = true; changed;) {
      changed = false;
      for (TypeId t = 0; t < ents.size(); ++t) {
        if (!count[t]) continue;
        for (const auto& a : ents[t].attrs) {
          if (!required_ref(a.type)) continue;
          bool any = false;
          for (auto target : a.type.entities) any = any || count[target] > 0;
          if (!any) {
            count[t] = 0;
            changed = true;
            break;
          }
        }
      }
    }
    GWorld w;
    for (TypeId t = 0; t < ents.size(); ++t)
      for (std::uint64_t k = 1; k <= count[t]; ++k) {
        GEntity g;
        g.type = t;
        g.id = "v_" + lower_snake(ents[t].name) + "_" + std::to_string(k);
        g.attrs.resize(ents[t].attrs.size());
        w.ents.push_back(std::move(g));
      }
    for (auto& g : w.ents)
      for (std::size_t c = 0; c < g.attrs.size(); ++c) g.attrs[c] = random_value(ents[g.type].attrs[c].type, w);
    return w;
  }

  /// Kills an entity and, transitively, everything that cannot exist without it.
  void kill(GWorld& w, std::size_t idx) {
    std::vector<std::size_t> todo = {idx};
    while (!todo.empty()) {
      const auto x = todo.back();
      todo.pop_back();
      if (!w.ents[x].alive) continue;
      w.ents[x].alive = false;
      for (std::size_t j = 0; j < w.ents.size(); ++j) {
        auto& g = w.ents[j];
        if (!g.alive) continue;
        const auto& attrs = p_.schema.entities[g.type].attrs;
        for (std::size_t c = 0; c < g.attrs.size(); ++c) {
          auto& v = g.attrs[c];
          if (v.k == GVal::K::ref && v.i == static_cast<std::int64_t>(x)) {
            if (attrs[c].type.optional) v = GVal{};
            else todo.push_back(j);
          } else if (v.k == GVal::K::set) {
            std::erase_if(v.items, [&](const GVal& it) { return it.k == GVal::K::ref && it.i == static_cast<std::int64_t>(x); });
          }
        }
      }
    }
  }

  bool keys_hold(const GWorld& w) const {
    for (TypeId t = 0; t < p_.schema.entities.size(); ++t)
      for (const auto& key : p_.schema.entities[t].keys) {
        std::set<std::vector<GVal>> seen;
        for (const auto& g : w.ents) {
          if (!g.alive || g.type != t) continue;
          std::vector<GVal> k;
          for (auto c : key) k.push_back(g.attrs[c]);
          if (!seen.insert(k).second) return false;
        }
      }
    return true;
  }

  void repair_keys(GWorld& w) {
    for (TypeId t = 0; t < p_.schema.entities.size(); ++t)
      for (const auto& key : p_.schema.entities[t].keys) {
        std::set<std::vector<GVal>> seen;
        for (std::size_t i = 0; i < w.ents.size(); ++i) {
          auto& g = w.ents[i];
          if (!g.alive || g.type != t) continue;
          bool placed = false;
          for (int attempt = 0; attempt < 12 && !placed; ++attempt) {
            std::vector<GVal> k;
            for (auto c : key) k.push_back(g.attrs[c]);
            if (seen.insert(k).second) {
              placed = true;
            } else {
              for (auto c : key) g.attrs[c] = random_value(p_.schema.entities[t].attrs[c].type, w);
            }
          }
          if (!placed) kill(w, i);
        }
      }
  }

  static std::size_t index_of(const std::vector<EntityId>& ids, EntityId e) {
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == e) return i;
    return ids.size();
  }

  Value to_value(const GVal& v, Overlay& ov, const std::vector<EntityId>& ids) const {
    switch (v.k) {
      case GVal::K::none: return Value::none();
      case GVal::K::boolean: return Value::boolean(v.i != 0);
      case GVal::K::integer: return Value::integer(v.i);
      case GVal::K::string: return Value::str(ov.intern(v.s));
      case GVal::K::enumeration: return Value::enumv(v.enum_id, static_cast<std::uint32_t>(v.i));
      case GVal::K::ref:
        return ids[static_cast<std::size_t>(v.i)] == kNone32 ? Value::none() : Value::entity(ids[static_cast<std::size_t>(v.i)]);
      case GVal::K::set: {
        std::vector<Value> items;
        for (const auto& x : v.items) {
          Value y = to_value(x, ov, ids);
          if (!y.is_none()) items.push_back(y);
        }
        return ov.make_set(std::move(items));
      }
    }
    return Value::none();
  }

  /// Builds the overlay of a generated world; ids[i] is entity i's id (kNone32 when dead).
  void materialize(const GWorld& w, Overlay& ov, std::vector<EntityId>& ids) const {
    ids.assign(w.ents.size(), kNone32);
    for (std::size_t i = 0; i < w.ents.size(); ++i)
      if (w.ents[i].alive) ids[i] = ov.add(w.ents[i].type, w.ents[i].id).value_or(kNone32);
    for (std::size_t i = 0; i < w.ents.size(); ++i) {
      if (ids[i] == kNone32) continue;
      for (std::size_t c = 0; c < w.ents[i].attrs.size(); ++c)
        ov.attr(ids[i], static_cast<std::uint32_t>(c)) = to_value(w.ents[i].attrs[c], ov, ids);
    }
  }

  std::vector<TypeId> endpoint_types(const std::vector<TypeId>& prop_types, const std::vector<TypeId>& accepted) const {
    std::vector<TypeId> out;
    for (auto t : prop_types)
      if (accepted.empty() || std::binary_search(accepted.begin(), accepted.end(), t)) out.push_back(t);
    return out;
  }

  static void refs_of(const GEntity& g, std::set<std::int64_t>& out) {
    for (const auto& v : g.attrs) {
      if (v.k == GVal::K::ref) out.insert(v.i);
      for (const auto& it : v.items)
        if (it.k == GVal::K::ref) out.insert(it.i);
    }
  }

  /// Candidates related to `x` through the facts: one hop (one refers to the other, or both refer
  /// to one entity) or two (some fact, such as a trust, refers to what each of them refers to).
  std::pair<std::vector<std::size_t>, std::vector<std::size_t>> related(const GWorld& w, std::size_t x,
                                                                        const std::vector<std::size_t>& cands) const {
    std::vector<std::set<std::int64_t>> near(w.ents.size());
    for (std::size_t i = 0; i < w.ents.size(); ++i) {
      if (!w.ents[i].alive) continue;
      refs_of(w.ents[i], near[i]);
      near[i].insert(static_cast<std::int64_t>(i));
    }
    auto meets = [](const std::set<std::int64_t>& a, const std::set<std::int64_t>& b) {
      for (auto v : a)
        if (b.count(v)) return true;
      return false;
    };
    std::vector<std::size_t> one, two;
    for (auto c : cands) {
      if (c == x) continue;
      if (meets(near[x], near[c])) {
        one.push_back(c);
        continue;
      }
      for (std::size_t l = 0; l < w.ents.size(); ++l)
        if (w.ents[l].alive && l != x && l != c && meets(near[l], near[x]) && meets(near[l], near[c])) {
          two.push_back(c);
          break;
        }
    }
    return {one, two};
  }

  std::optional<GRequest> gen_request(const GWorld& w, const PropertyInfo& prop) {
    if (prop.actions.empty()) return std::nullopt;
    GRequest r;
    r.action = prop.actions[uniform(0, prop.actions.size() - 1)];
    const auto& act = p_.schema.actions[r.action];
    const auto ps = alive_of(w, endpoint_types(prop.principals, act.principals));
    const auto rs = alive_of(w, endpoint_types(prop.resources, act.resources));
    if (ps.empty() || rs.empty()) return std::nullopt;
    r.principal = ps[uniform(0, ps.size() - 1)];
    // Bias toward the interesting region: entities linked through the facts.
    const auto [one, two] = related(w, r.principal, rs);
    const auto pick = uniform(0, 3);
    if (pick <= 1 && !two.empty()) r.resource = two[uniform(0, two.size() - 1)];
    else if (pick <= 2 && !one.empty()) r.resource = one[uniform(0, one.size() - 1)];
    else r.resource = rs[uniform(0, rs.size() - 1)];
    for (const auto& prm : act.params) {
      GVal v = random_value(prm.type, w);
      if (prm.type.base == Base::entity && !prm.type.set && !prm.type.optional && v.k == GVal::K::none) return std::nullopt;
      r.args.push_back(v);
    }
    return r;
  }

  /// Decides `q` in a world already materialized into `ov` and known valid: -1 when the request
  /// is out of the property's scope, 0 when the decision is as expected, 1 for a counterexample.
  /// The picture of a counterexample's decision: the facts it read, over its whole world.
  Graph picture_of(const Decision& d, const Request& r, const PropertyInfo& prop) const {
    DecisionGraphOptions go;
    go.whole_overlay = true;
    go.title = "property " + prop.name + ": expected " + (prop.expect_allow ? "allow" : "deny") + ", got " +
               (d.allow ? "allow" : "deny");
    return decision_graph(e_, d, r, &sm_, go);
  }

  int decide_in(Overlay& ov, const std::vector<EntityId>& ids, const GRequest& q, const PropertyInfo& prop,
                std::string* explanation = nullptr, std::optional<Graph>* picture = nullptr) const {
    Request r;
    r.principal = ids[q.principal];
    r.resource = ids[q.resource];
    r.action = q.action;
    r.overlay = &ov;
    for (const auto& a : q.args) {
      if (a.k == GVal::K::ref && ids[static_cast<std::size_t>(a.i)] == kNone32) return -1;
      r.args.push_back(to_value(a, ov, ids));
    }
    if (!e_.property_applies(prop, r)) return -1;
    const Decision d = e_.decide(r, explanation != nullptr);
    if (explanation) *explanation = e_.explain(d, r, &sm_);
    if (picture) *picture = picture_of(d, r, prop);
    return d.allow != prop.expect_allow ? 1 : 0;
  }

  /// decide_in() on a world that is first checked (principal and resource alive, keys, requirements)
  /// and materialized; -1 also when the world is invalid.
  int evaluate(const GWorld& w, const GRequest& q, const PropertyInfo& prop, std::string* explanation = nullptr,
               std::optional<Graph>* picture = nullptr) const {
    if (!w.ents[q.principal].alive || !w.ents[q.resource].alive || !keys_hold(w)) return -1;
    Overlay ov(p_);
    std::vector<EntityId> ids;
    materialize(w, ov, ids);
    if (e_.first_violation(&ov)) return -1;
    return decide_in(ov, ids, q, prop, explanation, picture);
  }

  /// Simpler versions of a value, simplest first. References move to earlier entities of an
  /// allowed type.
  std::vector<GVal> simpler(const GVal& v, const Type& t, std::size_t self, const GWorld& w) const {
    std::vector<GVal> out;
    if (v.k == GVal::K::none) return out;
    if (t.optional) out.push_back(GVal{});
    switch (v.k) {
      case GVal::K::boolean:
        if (v.i) out.push_back(GVal{GVal::K::boolean, 0, 0, {}, {}});
        break;
      case GVal::K::integer:
        if (v.i != 0) out.push_back(GVal{GVal::K::integer, 0, 0, {}, {}});
        break;
      case GVal::K::string:
        if (!v.s.empty()) out.push_back(GVal{GVal::K::string, 0, 0, "", {}});
        break;
      case GVal::K::enumeration:
        if (v.i != 0) out.push_back(GVal{GVal::K::enumeration, 0, v.enum_id, {}, {}});
        break;
      case GVal::K::ref:
        for (std::int64_t j = 0; j < v.i; ++j) {
          const auto& target = w.ents[static_cast<std::size_t>(j)];
          if (static_cast<std::size_t>(j) == self || !target.alive ||
              std::find(t.entities.begin(), t.entities.end(), target.type) == t.entities.end())
            continue;
          GVal r = v;
          r.i = j;
          out.push_back(r);
        }
        break;
      case GVal::K::set:
        for (std::size_t i = 0; i < v.items.size(); ++i) {
          GVal s = v;
          s.items.erase(s.items.begin() + static_cast<std::ptrdiff_t>(i));
          out.push_back(s);
        }
        break;
      default: break;
    }
    return out;
  }

  Counterexample shrink(GWorld w, GRequest q, const PropertyInfo& prop) {
    Counterexample cx;
    std::size_t budget = 4000;
    auto still_fails = [&](const GWorld& cand_w, const GRequest& cand_q) {
      if (budget == 0) return false;
      --budget;
      return evaluate(cand_w, cand_q, prop) == 1;
    };
    for (bool progress = true; progress && budget > 0;) {
      progress = false;
      // Remove entities (and whatever depends on them).
      for (std::size_t i = 0; i < w.ents.size(); ++i) {
        if (!w.ents[i].alive || i == q.principal || i == q.resource) continue;
        GWorld c = w;
        kill(c, i);
        if (still_fails(c, q)) {
          w = std::move(c);
          progress = true;
          ++cx.shrink_steps;
        }
      }
      // Simplify attribute values.
      for (std::size_t i = 0; i < w.ents.size(); ++i) {
        if (!w.ents[i].alive) continue;
        const auto& attrs = p_.schema.entities[w.ents[i].type].attrs;
        for (std::size_t a = 0; a < w.ents[i].attrs.size(); ++a)
          for (const auto& s : simpler(w.ents[i].attrs[a], attrs[a].type, i, w)) {
            if (s.k == GVal::K::ref && !w.ents[static_cast<std::size_t>(s.i)].alive) continue;
            GWorld c = w;
            c.ents[i].attrs[a] = s;
            if (still_fails(c, q)) {
              w = std::move(c);
              progress = true;
              ++cx.shrink_steps;
              break;
            }
          }
      }
      // Simplify arguments.
      const auto& params = p_.schema.actions[q.action].params;
      for (std::size_t a = 0; a < q.args.size(); ++a)
        for (const auto& s : simpler(q.args[a], params[a].type, w.ents.size(), w)) {
          if (s.k == GVal::K::ref && !w.ents[static_cast<std::size_t>(s.i)].alive) continue;
          GRequest c = q;
          c.args[a] = s;
          if (still_fails(w, c)) {
            q = std::move(c);
            progress = true;
            ++cx.shrink_steps;
            break;
          }
        }
    }
    evaluate(w, q, prop, &cx.explanation, o_.pictures ? &cx.picture : nullptr);
    cx.test_block = render_test(w, q, prop);
    for (const auto& g : w.ents) cx.entities += g.alive;
    return cx;
  }

  std::string render(const GVal& v, const GWorld& w) const {
    switch (v.k) {
      case GVal::K::none: return "none";
      case GVal::K::boolean: return v.i ? "true" : "false";
      case GVal::K::integer: return std::to_string(v.i);
      case GVal::K::string: return quote_string(v.s);
      case GVal::K::enumeration: return p_.schema.enums[v.enum_id].values[static_cast<std::size_t>(v.i)];
      case GVal::K::ref: return quote_string(w.ents[static_cast<std::size_t>(v.i)].id);
      case GVal::K::set: {
        std::string s = "{";
        for (std::size_t i = 0; i < v.items.size(); ++i) s += (i ? ", " : "") + render(v.items[i], w);
        return s + "}";
      }
    }
    return "none";
  }

  std::string render_test(const GWorld& w, const GRequest& q, const PropertyInfo& prop) const {
    std::string out = "test \"counterexample to " + prop.name + "\" {\n  given {\n";
    for (const auto& g : w.ents) {
      if (!g.alive) continue;
      const auto& et = p_.schema.entities[g.type];
      std::string fields;
      for (std::size_t c = 0; c < g.attrs.size(); ++c) {
        if (g.attrs[c].k == GVal::K::none) continue;
        fields += (fields.empty() ? "" : ", ") + et.attrs[c].name + ": " + render(g.attrs[c], w);
      }
      out += "    " + et.name + "::" + quote_string(g.id) + (fields.empty() ? " {}" : " { " + fields + " }") + "\n";
    }
    out += "  }\n";
    const auto& act = p_.schema.actions[q.action];
    std::string action = act.name;
    if (!act.params.empty()) {
      std::string args;
      for (std::size_t i = 0; i < act.params.size(); ++i) {
        if (q.args[i].k == GVal::K::none) continue;
        args += (args.empty() ? "" : ", ") + act.params[i].name + ": " + render(q.args[i], w);
      }
      action += "(" + args + ")";
    }
    const auto& pe = w.ents[q.principal];
    const auto& re = w.ents[q.resource];
    out += std::string("  expect ") + (prop.expect_allow ? "allow" : "deny") + " principal " +
           p_.schema.entities[pe.type].name + "::" + quote_string(pe.id) + " action " + action + " resource " +
           p_.schema.entities[re.type].name + "::" + quote_string(re.id) + ";\n}\n";
    return out;
  }

  const Engine& e_;
  const Program& p_;
  const SourceManager& sm_;
  const VerifyOptions& o_;
  std::mt19937_64 rng_;
};

}  // namespace

VerifyReport verify(const Engine& engine, const SourceManager& sm, const VerifyOptions& opts) {
  VerifyReport report;
  report.facts = opts.facts;
  report.seed = opts.seed ? opts.seed
                          : static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) | 1;
  VerifyOptions o = opts;
  o.max_size = std::max<std::uint32_t>(o.max_size, 1);
  Verifier v(engine, sm, o);
  const auto& props = engine.program().properties;
  for (std::size_t i = 0; i < props.size(); ++i) {
    if (!o.filter.empty() && props[i].name.find(o.filter) == std::string::npos) continue;
    report.properties.push_back(o.facts ? v.run_on_facts(props[i]) : v.run(props[i], report.seed, i));
  }
  return report;
}

}  // namespace treaty
