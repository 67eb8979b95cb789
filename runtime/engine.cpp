// The evaluator and decisions (LANGUAGE.md sections 6 and 7).
#include <algorithm>
#include <array>
#include <boost/container/small_vector.hpp>
#include <nlohmann/json.hpp>
#include <exception>
#include <span>
#include <unordered_map>

#include "treaty/convert.hpp"
#include "treaty/data/delta.hpp"
#include "treaty/runtime.hpp"
#include "internal/code.hpp"

namespace treaty {

namespace {

using Frame = boost::container::small_vector<Value, 24>;

struct LimitExceeded {};

/// Starts loading the attributes of `e` (of type `t`) when it is an entity of the world, so the
/// miss overlaps with other work instead of stalling the first read.
void prefetch_row(const World& w, EntityId e, TypeId t) {
  if (e < w.size() && w.in_type(e, t)) __builtin_prefetch(w.row_address(e, t));
}

/// `==` (value_equal), without a call for the values compared as one word: entities, enums,
/// Booleans, integers, enum sets.
inline bool equal(const Value& a, const Value& b) {
  if (a.tag != b.tag) return false;
  if (a.tag == Tag::str || a.tag == Tag::set || a.tag == Tag::none) return value_equal(a, b);
  return a.i == b.i && (a.aux == b.aux || (a.tag != Tag::enum_ && a.tag != Tag::enum_set));
}

/// Where a recording evaluator keeps the reads of the `exists` candidate that got furthest.
struct Closest {
  std::vector<FactRead> reads;
  bool tie = false;
};
struct NoClosest {};

/// Walks the IR. One Evaluator per decision; it holds no state shared between threads. With
/// `kRecord` (Engine::decision_facts only; decisions use the other instance, which has no trace
/// to test) every attribute read is appended to `*rec`, except the reads of `exists` candidates
/// that did not hold: of an `exists` that held for none, only the candidate that read the most
/// (when exactly one did), marked `near`.
template <bool kRecord>
class BasicEvaluator {
 public:
  using Ins = Engine::Code::Ins;
  BasicEvaluator(const Program& p, const Engine::Code& code, const FactDelta* d, const Overlay* ov,
                 std::uint64_t max_steps)
      : p_(p), c_(code), w_(p.world()), d_(d), ov_(ov), max_(max_steps) {}

  std::vector<FactRead>* rec = nullptr;  ///< kRecord: where reads go

  bool truth(NodeId n, Value* f) {
    const Value v = eval(n, f);
    return v.tag == Tag::bool_ && v.i != 0;
  }

  NodeId kid(const Ins& n, std::size_t i) const { return c_.kids[n.kids + i]; }
  std::span<const std::uint32_t> kids(const Ins& n) const { return {c_.kids.data() + n.kids, n.nkids}; }
  std::span<const TypeId> types(const Ins& n) const { return {c_.types.data() + n.types, n.ntypes}; }

  /// The value of a kid. Leaves (literals, variables, and attributes of variables: most
  /// operands) are read here instead of through a recursive eval, so they cost no call and no
  /// dispatch; they count as evaluation steps all the same.
  [[gnu::always_inline]] Value operand(NodeId id, Value* f) {
    const Ins& n = c_.ins[id];
    if (n.op == Op::var || n.op == Op::lit) {
      if (++steps_ > max_) throw LimitExceeded{};
      return n.op == Op::var ? f[n.slot] : c_.values[n.a];
    }
    if (n.op == Op::attr && n.var >= 0) {
      if ((steps_ += 2) > max_) throw LimitExceeded{};
      return read_attr(n, f[n.var]);
    }
    return eval(id, f);
  }

  [[gnu::always_inline]] Value read_attr(const Ins& n, const Value& b) const {
    if (b.tag != Tag::entity) return Value::none();
    const auto e = static_cast<EntityId>(b.i);
    // The column the checker resolved for a single static type, located at load; the read still
    // checks the entity's type, so a crafted bundle cannot make it read another entity's row.
    Value v;
    if (!(n.index >= 0 && (!d_ || !d_->touched(e)) && w_.read(c_.columns[static_cast<std::size_t>(n.index)], e, v)))
      v = attr(e, n.a);
    if constexpr (kRecord) {
      FactRead fr;
      fr.entity = e;
      fr.attr = n.a;
      fr.value = v;
      rec->push_back(fr);
    }
    return v;
  }

  /// The body of an `exists` for the candidate bound in its slot; recording, the reads of a
  /// candidate that fails are taken back (the one that got furthest is kept aside in `best`).
  template <typename Best>
  bool candidate(NodeId body, Value* f, Best& best) {
    if constexpr (!kRecord) {
      (void)best;
      return truth(body, f);
    } else {
      const std::size_t mark = rec->size();
      if (truth(body, f)) return true;
      const std::size_t got = rec->size() - mark;
      if (got > best.reads.size()) {
        best.reads.assign(rec->begin() + static_cast<std::ptrdiff_t>(mark), rec->end());
        best.tie = false;
      } else if (got == best.reads.size() && got > 0) {
        best.tie = true;
      }
      rec->resize(mark);
      return false;
    }
  }
  /// After an `exists` held for none: the closest candidate's reads, when one got furthest.
  template <typename Best>
  void keep_closest(Best& best) {
    if constexpr (kRecord) {
      if (best.tie) return;
      for (auto& fr : best.reads) {
        fr.near = true;
        rec->push_back(fr);
      }
    } else {
      (void)best;
    }
  }

  Value eval(NodeId id, Value* f) {
    if (++steps_ > max_) throw LimitExceeded{};
    const Ins& n = c_.ins[id];
    switch (n.op) {
      case Op::lit: return c_.values[n.a];
      case Op::var: return f[n.slot];
      case Op::attr: return read_attr(n, operand(kid(n, 0), f));
      case Op::call: return Value::boolean(call(n, f));
      case Op::contains_any:
      case Op::contains_all: {
        const Value a = operand(kid(n, 0), f), b = operand(kid(n, 1), f);
        if (!a.is_set() || !b.is_set()) return Value::boolean(false);
        if (a.tag == Tag::enum_set && b.tag == Tag::enum_set) {
          const bool same = a.aux == b.aux;
          if (n.op == Op::contains_all) return Value::boolean(same && (b.bits & ~a.bits) == 0);
          return Value::boolean(same && (a.bits & b.bits) != 0);
        }
        if (n.op == Op::contains_all)
          return Value::boolean(!set_any(b, [&](const Value& x) { return !set_contains(a, x); }));
        return Value::boolean(set_any(b, [&](const Value& x) { return set_contains(a, x); }));
      }
      case Op::is_empty: {
        const Value a = operand(kid(n, 0), f);
        return Value::boolean(set_size(a) == 0);
      }
      case Op::not_: return Value::boolean(!truth(kid(n, 0), f));
      case Op::and_:
        for (NodeId k : kids(n))
          if (!truth(k, f)) return Value::boolean(false);
        return Value::boolean(true);
      case Op::or_:
        for (NodeId k : kids(n))
          if (truth(k, f)) return Value::boolean(true);
        return Value::boolean(false);
      case Op::eq:
      case Op::ne: {
        const Value a = operand(kid(n, 0), f), b = operand(kid(n, 1), f);
        const bool eq = equal(a, b);
        return Value::boolean(n.op == Op::eq ? eq : !eq);
      }
      case Op::lt:
      case Op::le:
      case Op::gt:
      case Op::ge: {
        const Value a = operand(kid(n, 0), f), b = operand(kid(n, 1), f);
        if (a.tag != b.tag || a.is_none()) return Value::boolean(false);
        int c;
        if (a.tag == Tag::int_) c = a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
        else if (a.tag == Tag::str) c = a.s->compare(*b.s) < 0 ? -1 : (*a.s == *b.s ? 0 : 1);
        else return Value::boolean(false);
        switch (n.op) {
          case Op::lt: return Value::boolean(c < 0);
          case Op::le: return Value::boolean(c <= 0);
          case Op::gt: return Value::boolean(c > 0);
          default: return Value::boolean(c >= 0);
        }
      }
      case Op::in: {
        const Value a = operand(kid(n, 0), f), s = operand(kid(n, 1), f);
        return Value::boolean(set_contains(s, a));
      }
      case Op::is: {
        const Value a = operand(kid(n, 0), f);
        if (a.tag != Tag::entity) return Value::boolean(false);
        const TypeId t = type_of(static_cast<EntityId>(a.i));
        const auto ts = types(n);
        return Value::boolean(std::binary_search(ts.begin(), ts.end(), t));
      }
      case Op::exists_type: return Value::boolean(exists_type(n, f));
      case Op::exists_set: {
        const Value s = operand(kid(n, 0), f);
        std::conditional_t<kRecord, Closest, NoClosest> best;
        const bool held = set_any(s, [&](const Value& x) {
          if (++steps_ > max_) throw LimitExceeded{};
          f[n.slot] = x;
          return candidate(kid(n, 1), f, best);
        });
        if (!held) keep_closest(best);
        return Value::boolean(held);
      }
      case Op::make_set: return make_set(n, f);
    }
    return Value::none();
  }

  // The cases below keep their locals (a predicate's frame, a vector) out of eval's own stack
  // frame, which every nested expression pays for.
  [[gnu::noinline]] bool call(const Ins& n, Value* f) {
    const auto& pred = p_.predicates[n.a];
    Frame frame(std::max<std::size_t>(pred.frame, 1));
    for (std::size_t i = 0; i < n.nkids && i < frame.size(); ++i) frame[i] = operand(kid(n, i), f);
    return truth(pred.body, frame.data());
  }

  [[gnu::noinline]] Value make_set(const Ins& n, Value* f) {
    std::vector<Value> items;
    for (NodeId k : kids(n)) {
      Value v = operand(k, f);
      if (!v.is_none()) items.push_back(v);
    }
    if (auto m = normalize_set(items)) return *m;
    sets_.push_back(std::make_unique<SetValue>(SetValue{std::move(items)}));
    return Value::setv(sets_.back().get());
  }

  TypeId type_of(EntityId e) const {
    if (e < w_.size() && (!d_ || !d_->touched(e))) return w_.type_of(e);
    if (d_ && e < d_->end()) return d_->type_of(e);
    return ov_ && ov_->get(e) ? ov_->get(e)->type : kNone32;
  }

  Value attr(EntityId e, std::uint32_t name_id) const {
    if (e < w_.size() && (!d_ || !d_->touched(e))) {
      const TypeId t = w_.type_of(e);
      const int col = p_.schema.entities[t].column(name_id);
      return col < 0 ? Value::none() : w_.attr(e, static_cast<std::uint32_t>(col));
    }
    if (d_ && e < d_->end()) {
      const DeltaEntity* de = d_->get(e);
      if (!de || de->deleted) return Value::none();
      const int col = p_.schema.entities[de->type].column(name_id);
      return col < 0 ? Value::none() : de->attrs[static_cast<std::size_t>(col)];
    }
    const Overlay::Entity* oe = ov_ ? ov_->get(e) : nullptr;
    if (!oe) return Value::none();
    const int col = p_.schema.entities[oe->type].column(name_id);
    return col < 0 ? Value::none() : oe->attrs[static_cast<std::size_t>(col)];
  }

  [[gnu::noinline]] bool exists_type(const Ins& n, Value* f) {
    std::conditional_t<kRecord, Closest, NoClosest> best;
    if (exists_type_in(n, f, best)) return true;
    keep_closest(best);
    return false;
  }

  template <typename Best>
  [[gnu::always_inline]] bool exists_type_in(const Ins& n, Value* f, Best& best) {
    std::optional<Value> key, key2;
    if (n.probe_attr >= 0) key = operand(kid(n, 1), f);
    if (n.probe_attr2 >= 0) key2 = operand(kid(n, 2), f);
    for (TypeId t : types(n)) {
      std::optional<EntityRange> range;
      if (key && n.index >= 0 && t == c_.types[n.types]) {
        range = w_.index(n.index).probe(*key, key2 ? *key2 : *key);
      } else if (key) {
        // Another type of the `exists`: its own index on the same attributes, if built.
        const auto& et = p_.schema.entities[t];
        const int col = et.column(static_cast<std::uint32_t>(n.probe_attr));
        const int col2 = key2 ? et.column(static_cast<std::uint32_t>(n.probe_attr2)) : -1;
        if (col >= 0 && col2 >= 0)
          range = w_.probe(IndexSpec::on(t, static_cast<std::uint32_t>(col), col2), *key, *key2);
        if (!range && col >= 0) range = w_.probe(IndexSpec::on(t, static_cast<std::uint32_t>(col)), *key, *key);
      }
      if (!range) {
        const auto& all = w_.of_type(t);
        range = EntityRange{all.data(), all.size()};
      }
      // The candidates' attributes are independent loads: start the first few together.
      if (range->count > 1 && w_.sealed())
        for (std::size_t i = 0; i < range->count && i < 8; ++i)
          __builtin_prefetch(w_.row_address(range->first[i], t));
      for (EntityId e : *range) {
        if (++steps_ > max_) throw LimitExceeded{};
        if (d_ && d_->touched(e)) continue;  // its state is the writes': below
        f[n.slot] = Value::entity(e);
        if (candidate(kid(n, 0), f, best)) return true;
      }
      if (d_ && key && n.index >= 0 && t == c_.types[n.types]) {
        // The delta's side of the same index: its entities whose key hashes alike.
        for (const auto& [h, e] : d_->probe(n.index, *key, key2 ? *key2 : *key)) {
          if (++steps_ > max_) throw LimitExceeded{};
          f[n.slot] = Value::entity(e);
          if (candidate(kid(n, 0), f, best)) return true;
        }
      } else if (d_) {
        for (EntityId e : d_->of_type(t)) {
          if (++steps_ > max_) throw LimitExceeded{};
          f[n.slot] = Value::entity(e);
          if (candidate(kid(n, 0), f, best)) return true;
        }
      }
      if (ov_) {
        const EntityId base = ov_->base();
        for (std::size_t i = 0; i < ov_->entities().size(); ++i) {
          if (ov_->entities()[i].type != t) continue;
          if (++steps_ > max_) throw LimitExceeded{};
          f[n.slot] = Value::entity(base + static_cast<EntityId>(i));
          if (candidate(kid(n, 0), f, best)) return true;
        }
      }
    }
    return false;
  }

 private:
  const Program& p_;
  const Engine::Code& c_;
  const World& w_;
  const FactDelta* d_;
  const Overlay* ov_;
  std::uint64_t steps_ = 0;
  std::uint64_t max_;
  std::vector<std::unique_ptr<SetValue>> sets_;
};

using Evaluator = BasicEvaluator<false>;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Overlay
// ---------------------------------------------------------------------------------------------
const std::string* Overlay::intern(std::string_view s) {
  strings_.emplace_back(s);
  return &strings_.back();
}

Value Overlay::make_set(std::vector<Value> items) {
  if (auto m = normalize_set(items)) return *m;
  sets_.push_back(std::make_unique<SetValue>(SetValue{std::move(items)}));
  return Value::setv(sets_.back().get());
}

Overlay::Overlay(const Program& p) : p_(&p), base_(static_cast<EntityId>(p.world().size())) {}
Overlay::Overlay(const Engine& e) : p_(&e.program()), d_(e.facts()), base_(e.entity_end()) {}

std::optional<EntityId> Overlay::find(TypeId type, std::string_view id) const {
  for (std::size_t i = 0; i < entities_.size(); ++i)
    if (entities_[i].type == type && *entities_[i].id == id) return static_cast<EntityId>(base_ + i);
  return d_ ? d_->find(type, id) : p_->world().find(type, id);
}

std::optional<EntityId> Overlay::add(TypeId type, std::string_view id, Span span) {
  if (find(type, id)) return std::nullopt;
  Entity e;
  e.type = type;
  e.id = intern(id);
  e.attrs.assign(p_->schema.entities[type].attrs.size(), Value::none());
  e.span = span;
  entities_.push_back(std::move(e));
  return static_cast<EntityId>(base_ + entities_.size() - 1);
}


namespace {
/// An overlay as the entity loader's store: its entities follow the world's, and references
/// resolve in the overlay and then the world.
class OverlayStore : public EntityStore {
 public:
  explicit OverlayStore(Overlay& o) : o_(o) {}
  std::optional<EntityId> find(TypeId type, std::string_view id) const override { return o_.find(type, id); }
  const std::string* intern(std::string_view s) override { return o_.intern(s); }
  Value make_set(std::vector<Value> items) override { return o_.make_set(std::move(items)); }
  std::optional<EntityId> create(TypeId type, std::string_view id, Span span) override {
    return o_.add(type, id, span);
  }
  void set_attr(EntityId e, std::uint32_t column, Value v) override { o_.attr(e, column) = v; }
  [[nodiscard]] std::size_t size() const override { return o_.base() + o_.entities().size(); }
  [[nodiscard]] std::string_view id_of(EntityId e) const override { return *o_.get(e)->id; }

 private:
  Overlay& o_;
};
}  // namespace

bool Overlay::add_facts(const std::vector<FactSpec>& facts, Diagnostics& diags) {
  const std::size_t errors = diags.count(Severity::error);
  OverlayStore store(*this);
  EntityLoadOptions lo;
  lo.overlay = true;
  EntityLoader loader(p_->schema, nullptr, store, diags, lo);
  for (const auto& f : facts) loader.add_fact(f);
  loader.finish();
  return diags.count(Severity::error) == errors;
}

bool Overlay::add_json(const nlohmann::json& ents, std::string& error) {
  if (!ents.is_array()) {
    error = "`entities` must be an array";
    return false;
  }
  if (ents.size() + entities_.size() > kMaxInlineEntities) {
    error = "a request may bring at most " + std::to_string(kMaxInlineEntities) + " inline entities";
    return false;
  }
  Diagnostics d;
  OverlayStore store(*this);
  EntityLoadOptions lo;
  lo.overlay = true;
  EntityLoader loader(p_->schema, nullptr, store, d, lo);
  for (std::size_t i = 0; i < ents.size(); ++i) {
    loader.add_json(ents[i], i, kNoFile);
    if (!d.empty()) break;  // one error answers a request
  }
  if (d.empty()) loader.finish();
  if (d.empty()) return true;
  error = d.all().front().message;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Engine
// ---------------------------------------------------------------------------------------------
namespace {
/// The rules of `action` that accept a principal of type `pt` and a resource of type `rt`:
/// forbids first, then permits, each in rule order; returns the number of forbids.
template <typename Out>
std::uint32_t candidate_rules(const Program& p, std::uint32_t action, TypeId pt, TypeId rt, Out& out) {
  std::uint32_t forbids = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (std::uint32_t ri : p.rules_by_action[action]) {
      const RuleInfo& rule = p.rules[ri];
      if (rule.forbid != (pass == 0) ||
          !std::binary_search(rule.principals.begin(), rule.principals.end(), pt) ||
          !std::binary_search(rule.resources.begin(), rule.resources.end(), rt))
        continue;
      out.push_back(ri);
      forbids += rule.forbid ? 1 : 0;
    }
  return forbids;
}

/// The frame every rule of `r` starts from: slots 0 and 1 the principal and the resource, then
/// the action's parameters by their global ids (a rule's other slots are written before read).
inline void fill_frame(Frame& frame, std::size_t size, const Request& r, const ActionInfo& action) {
  frame.assign(size, Value::none());
  frame[0] = Value::entity(r.principal);
  frame[1] = Value::entity(r.resource);
  for (std::size_t j = 0; j < action.params.size() && j < r.args.size(); ++j)
    if (2 + action.param_ids[j] < frame.size()) frame[2 + action.param_ids[j]] = r.args[j];
}

/// The node under `root` (itself included) whose span is `want`, not looking inside `exists`
/// bodies (whose variables the rule's frame does not bind); kNone32 when none.
NodeId node_with_span(const Program& p, NodeId root, const Span& want) {
  std::vector<NodeId> todo{root};
  while (!todo.empty()) {
    const NodeId n = todo.back();
    todo.pop_back();
    const Node& nd = p.nodes[n];
    if (nd.span.file == want.file && nd.span.begin == want.begin && nd.span.end == want.end) return n;
    if (nd.op == Op::exists_type || nd.op == Op::exists_set) continue;
    for (auto it = nd.kids.rbegin(); it != nd.kids.rend(); ++it) todo.push_back(*it);
  }
  return kNone32;
}

/// The Miss for condition `c` of rule `ri`, which failed: narrowed from the whole condition to
/// the conjunct that failed (under `unless`, the disjunct that held), and on into the body of
/// each predicate that conjunct calls, so an explanation quotes `p.level > 3` inside
/// `is_senior(p)`, not the call alone nor the whole `when A and B`.
Miss blame(Evaluator& ev, const Program& p, std::uint32_t ri, const ConditionInfo& c, Frame& frame) {
  Miss m{ri, c.span, !c.is_when, {}};
  const bool want = c.is_when;  // the value the condition needed and did not have
  const Op joint = want ? Op::and_ : Op::or_;
  // Steps from `n` down `and` chains (or `or` chains, under `unless`) to the operand that decided,
  // stopping at the root of an inlined predicate body, unless it is `n` itself and `enter`.
  auto narrow = [&](NodeId n, Value* f, bool enter) {
    for (bool first = true;; first = false) {
      const Node& nd = p.nodes[n];
      if (nd.inlined != kNone32 && !(first && enter)) return n;
      if (nd.op != joint) return n;
      NodeId next = n;
      for (NodeId k : nd.kids)
        if (ev.truth(k, f) != want) {
          next = k;
          break;
        }
      if (next == n) return n;
      n = next;
    }
  };
  Value* f = frame.data();
  NodeId at = narrow(c.expr, f, false);
  m.condition = p.nodes[at].span;
  // One frame per called predicate entered (an inlined one shares its caller's), built in place:
  // a frame is never moved, so `f` stays valid, and nothing is allocated for the list.
  std::array<Frame, 8> frames;
  std::size_t nframes = 0;
  // Predicates cannot recurse (the checker refuses cycles); the bound only guards a crafted bundle.
  for (std::size_t depth = 0; depth < 8; ++depth) {
    const Node& nd = p.nodes[at];
    if (nd.inlined != kNone32) {
      const NodeId inner = narrow(at, f, true);
      const Span body = p.nodes[p.predicates[nd.inlined].body].span;
      m.within.push_back({nd.inlined, inner == at ? body : p.nodes[inner].span});
      if (inner == at) break;
      at = inner;
    } else if (nd.op == Op::call) {
      const PredicateInfo& pred = p.predicates[nd.a];
      Frame& callee = frames[nframes++];
      callee.assign(std::max<std::size_t>(pred.frame, 1), Value::none());
      for (std::size_t i = 0; i < nd.kids.size() && i < callee.size(); ++i) callee[i] = ev.eval(nd.kids[i], f);
      f = callee.data();
      at = narrow(pred.body, f, false);
      m.within.push_back({nd.a, p.nodes[at].span});
    } else {
      break;
    }
  }
  return m;
}
}  // namespace

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

Engine::Engine(std::unique_ptr<Program> program, EngineLimits limits) : p_(std::move(program)), limits_(limits) {
  auto owned = std::make_unique<Code>();
  Code& code = *owned;  // filled below; the engine holds it const
  code_ = std::move(owned);
  for (const auto& spec : p_->indexes)
    p_->world().build_index(spec);
  code.ins.reserve(p_->nodes.size());
  for (const Node& n : p_->nodes) {
    Code::Ins& in = code.ins.emplace_back();
    in.op = n.op;
    in.slot = n.slot;
    in.a = n.a;
    if (n.op == Op::lit) {
      in.a = static_cast<std::uint32_t>(code.values.size());
      code.values.push_back(n.value);
    }
    in.probe_attr = n.probe_attr;
    in.probe_attr2 = n.probe_attr2;
    in.kids = static_cast<std::uint32_t>(code.kids.size());
    in.nkids = static_cast<std::uint32_t>(n.kids.size());
    code.kids.insert(code.kids.end(), n.kids.begin(), n.kids.end());
    in.types = static_cast<std::uint32_t>(code.types.size());
    in.ntypes = static_cast<std::uint32_t>(n.types.size());
    code.types.insert(code.types.end(), n.types.begin(), n.types.end());
    if (n.op == Op::attr) {
      if (p_->nodes[n.kids[0]].op == Op::var) in.var = static_cast<std::int32_t>(p_->nodes[n.kids[0]].slot);
      const auto ref = n.types.size() == 1 ? p_->world().column_ref(n.types[0], n.slot) : std::nullopt;
      if (ref) {
        in.index = static_cast<std::int32_t>(code.columns.size());
        code.columns.push_back(*ref);
      }
    }
    if (n.op == Op::exists_type && n.probe_attr >= 0 && !n.types.empty()) {
      const auto& et = p_->schema.entities[n.types[0]];
      const int col = et.column(static_cast<std::uint32_t>(n.probe_attr));
      const int col2 = n.probe_attr2 >= 0 ? et.column(static_cast<std::uint32_t>(n.probe_attr2)) : -1;
      if (col >= 0 && (n.probe_attr2 < 0 || col2 >= 0))
        in.index = p_->world().index_number(IndexSpec::on(n.types[0], static_cast<std::uint32_t>(col), col2));
    }
  }
  for (const auto& rule : p_->rules) {
    max_frame_ = std::max<std::size_t>(max_frame_, rule.frame);
    tests_first_.push_back(static_cast<std::uint32_t>(tests_.size()));
    for (const auto& c : rule.conditions) {
      if (!c.is_when) {
        tests_.push_back({c.expr, false});
        continue;
      }
      // Conjuncts in order, nested `and`s flattened. The IR is a DAG (children precede their
      // parents), so the walk ends; a bundle could still share one `and` under another many
      // times over, so past kMaxVisits nodes the condition stays whole.
      constexpr std::size_t kMaxVisits = 256;
      const std::size_t start = tests_.size();
      std::vector<NodeId> todo{c.expr};
      for (std::size_t visits = 0; !todo.empty() && visits < kMaxVisits; ++visits) {
        const NodeId n = todo.back();
        todo.pop_back();
        if (p_->nodes[n].op == Op::and_) todo.insert(todo.end(), p_->nodes[n].kids.rbegin(), p_->nodes[n].kids.rend());
        else tests_.push_back({n, true});
      }
      if (!todo.empty()) {
        tests_.resize(start);
        tests_.push_back({c.expr, true});
      }
    }
  }
  tests_first_.push_back(static_cast<std::uint32_t>(tests_.size()));
  for (const auto& rq : p_->requirements) {
    std::vector<TypeId> ranges, reads;
    // (node, reached through a predicate call): inside a called predicate slot 0 is the
    // predicate's first parameter, not the requirement's `forall` entity.
    std::vector<std::pair<NodeId, bool>> todo{{rq.ensure, false}};
    if (rq.where) todo.push_back({*rq.where, false});
    std::vector<bool> seen(2 * p_->nodes.size(), false), seen_pred(p_->predicates.size(), false);
    while (!todo.empty()) {
      const auto [n, inside] = todo.back();
      todo.pop_back();
      if (n >= p_->nodes.size() || seen[2 * n + inside]) continue;
      seen[2 * n + inside] = true;
      const Node& nd = p_->nodes[n];
      if (nd.op == Op::exists_type) ranges.insert(ranges.end(), nd.types.begin(), nd.types.end());
      // A read of an attribute of anything but the `forall` entity itself.
      if (nd.op == Op::attr && !nd.kids.empty()) {
        const Node& of = p_->nodes[nd.kids[0]];
        const bool own = !inside && rq.forall_type && of.op == Op::var && of.slot == 0;
        if (!own) {
          if (!nd.types.empty()) {
            reads.insert(reads.end(), nd.types.begin(), nd.types.end());
          } else {
            for (TypeId t = 0; t < p_->schema.entities.size(); ++t)
              if (p_->schema.entities[t].column(nd.a) >= 0) reads.push_back(t);
          }
        }
      }
      if (nd.op == Op::call && nd.a < seen_pred.size() && !seen_pred[nd.a]) {
        seen_pred[nd.a] = true;
        todo.push_back({p_->predicates[nd.a].body, true});
      }
      for (NodeId k : nd.kids) todo.push_back({k, inside});
    }
    for (auto* v : {&ranges, &reads}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    requirement_ranges_.push_back(std::move(ranges));
    requirement_reads_.push_back(std::move(reads));
  }
  auto keys = std::make_shared<KeyHashes>(p_->schema.entities.size());
  for (TypeId t = 0; t < p_->schema.entities.size(); ++t) {
    const auto& et = p_->schema.entities[t];
    for (const auto& key : et.keys) {
      auto& v = (*keys)[t].emplace_back();
      for (EntityId e : p_->world().of_type(t)) {
        std::size_t h = 0;
        for (auto c : key) h = h * 1000003u ^ value_hash(p_->world().attr(e, c));
        v.emplace_back(h, e);
      }
      std::sort(v.begin(), v.end());
    }
  }
  key_hashes_ = std::move(keys);
  plan_searches();
  for (const auto& action : p_->schema.actions)
    for (auto id : action.param_ids) max_frame_ = std::max<std::size_t>(max_frame_, 2 + std::size_t{id} + 1);
  const std::size_t types = p_->schema.entities.size(), actions = p_->rules_by_action.size();
  if (types == 0 || actions * types * types > (std::size_t{1} << 20)) return;
  plan_offset_.reserve(actions * types * types + 1);
  for (std::uint32_t a = 0; a < actions; ++a)
    for (TypeId pt = 0; pt < types; ++pt)
      for (TypeId rt = 0; rt < types; ++rt) {
        plan_offset_.push_back(static_cast<std::uint32_t>(plan_rules_.size()));
        plan_forbids_.push_back(candidate_rules(*p_, a, pt, rt, plan_rules_));
      }
  plan_offset_.push_back(static_cast<std::uint32_t>(plan_rules_.size()));
}

// Inlined into decide() and decide_traced(), so decide()'s copy has no trace to test: tracing
// costs the hot path nothing.
[[gnu::always_inline]] inline Decision Engine::decide_impl(const Request& r, bool explain,
                                                           std::vector<RuleOutcome>* trace) const noexcept {
  Decision d;
  try {
    const Program& p = *p_;
    Evaluator ev(p, *code_, eval_delta_, r.overlay, limits_.max_steps);
    const TypeId pt = ev.type_of(r.principal), rt = ev.type_of(r.resource);
    if (pt == kNone32 || rt == kNone32 || r.action >= p.rules_by_action.size()) {
      d.errors.push_back("invalid request: unknown entity or action");
      return d;
    }
    // Nearly every rule reads attributes of the principal and the resource: start both loads
    // now, so their cache misses overlap instead of following each other.
    prefetch_row(p.world(), r.principal, pt);
    prefetch_row(p.world(), r.resource, rt);
    RuleList permits, forbids;
    Frame frame;
    const auto& action = p.schema.actions[r.action];
    // The candidate rules, forbids first: without `explain` the first rule that applies decides.
    const std::uint32_t* list;
    std::size_t count, nforbid;
    boost::container::small_vector<std::uint32_t, 16> own;  // when there is no precomputed plan
    if (!plan_offset_.empty()) {
      const std::size_t types = p.schema.entities.size();
      const std::size_t k = (static_cast<std::size_t>(r.action) * types + pt) * types + rt;
      list = plan_rules_.data() + plan_offset_[k];
      count = plan_offset_[k + 1] - plan_offset_[k];
      nforbid = plan_forbids_[k];
    } else {
      nforbid = candidate_rules(p, r.action, pt, rt, own);
      list = own.data();
      count = own.size();
    }
    // One frame serves every rule: slots 0 and 1 and the action's parameters are the same for
    // all of them, and a rule's other slots (its `exists` variables) are written before read.
    fill_frame(frame, max_frame_, r, action);
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint32_t ri = list[i];
      const RuleInfo& rule = p.rules[ri];
      const bool forbid = i < nforbid;
      bool applies = true;
      if (!explain) {
        for (std::uint32_t k = tests_first_[ri]; k < tests_first_[ri + 1]; ++k)
          if (ev.truth(tests_[k].expr, frame.data()) != tests_[k].want) {
            applies = false;
            break;
          }
        if (!applies) continue;
        (forbid ? forbids : permits).push_back(ri);
        break;
      }
      for (const auto& c : rule.conditions) {
        if (ev.truth(c.expr, frame.data()) != c.is_when) {
          applies = false;
          if (!forbid || trace) {
            Miss m = blame(ev, p, ri, c, frame);
            if (trace) trace->push_back({ri, false, m});
            if (!forbid) d.misses.push_back(std::move(m));
          }
          break;
        }
      }
      if (!applies) continue;
      if (trace) trace->push_back({ri, true, {}});
      (forbid ? forbids : permits).push_back(ri);
      if (!explain) break;
    }
    if (!forbids.empty()) {
      d.allow = false;
      d.determining = std::move(forbids);
      d.misses.clear();
    } else if (!permits.empty()) {
      d.allow = true;
      d.determining = std::move(permits);
      d.misses.clear();
    }
  } catch (const LimitExceeded&) {
    d = Decision{};
    d.errors.push_back("evaluation limit exceeded: more than " + std::to_string(limits_.max_steps) +
                       " steps for one decision; denied");
  } catch (const std::exception& e) {
    d = Decision{};
    d.errors.push_back(std::string("internal error while deciding: ") + e.what() + "; denied");
  } catch (...) {
    d = Decision{};
    d.errors.push_back("internal error while deciding; denied");
  }
  return d;
}

Decision Engine::decide(const Request& r, bool explain) const noexcept { return decide_impl(r, explain, nullptr); }

std::optional<bool> Engine::rule_holds(std::uint32_t rule, const Request& r) const noexcept {
  try {
    const Program& p = *p_;
    if (rule >= p.rules.size() || r.action >= p.schema.actions.size()) return std::nullopt;
    Evaluator ev(p, *code_, eval_delta_, r.overlay, limits_.max_steps);
    Frame frame;
    frame.assign(max_frame_, Value::none());
    frame[0] = Value::entity(r.principal);
    frame[1] = Value::entity(r.resource);
    const auto& action = p.schema.actions[r.action];
    for (std::size_t j = 0; j < action.params.size() && j < r.args.size(); ++j)
      if (2 + action.param_ids[j] < frame.size()) frame[2 + action.param_ids[j]] = r.args[j];
    for (std::uint32_t k = tests_first_[rule]; k < tests_first_[rule + 1]; ++k)
      if (ev.truth(tests_[k].expr, frame.data()) != tests_[k].want) return false;
    return true;
  } catch (...) {
    return std::nullopt;
  }
}

bool Engine::eval_with(NodeId n, Value* frame, const Overlay* overlay,
                       const std::function<void(const Value&)>& use) const {
  try {
    Evaluator ev(*p_, *code_, eval_delta_, overlay, limits_.max_steps);
    use(ev.eval(n, frame));
    return true;
  } catch (...) {
    return false;  // a search then scans instead: a failed key cannot narrow the candidates
  }
}

std::uint32_t Engine::rules_for(std::uint32_t action, TypeId pt, TypeId rt, std::vector<std::uint32_t>& out) const {
  out.clear();
  if (action >= p_->rules_by_action.size()) return 0;
  if (!plan_offset_.empty()) {
    const std::size_t types = p_->schema.entities.size();
    const std::size_t k = (static_cast<std::size_t>(action) * types + pt) * types + rt;
    out.assign(plan_rules_.begin() + plan_offset_[k], plan_rules_.begin() + plan_offset_[k + 1]);
    return plan_forbids_[k];
  }
  return candidate_rules(*p_, action, pt, rt, out);
}

TypeId Engine::type_in(EntityId e, const Overlay* overlay) const {
  if (e < entity_end()) return type_of(e);
  const Overlay::Entity* oe = overlay ? overlay->get(e) : nullptr;
  return oe ? oe->type : kNone32;
}

Decision Engine::decide_traced(const Request& r, std::vector<RuleOutcome>& outcomes) const noexcept {
  outcomes.clear();
  return decide_impl(r, true, &outcomes);
}

DecisionFacts Engine::decision_facts(const Decision& d, const Request& r, std::size_t max_rules) const {
  DecisionFacts out;
  const Program& p = *p_;
  if (!d.errors.empty() || r.action >= p.schema.actions.size()) return out;
  std::vector<std::pair<std::uint32_t, const Miss*>> todo;
  for (auto ri : d.determining) todo.emplace_back(ri, nullptr);
  if (todo.empty())
    for (const auto& m : d.misses) todo.emplace_back(m.rule, &m);
  if (todo.size() > max_rules) {
    out.more_rules = todo.size() - max_rules;
    todo.resize(max_rules);
  }
  std::vector<FactRead> reads, failing;
  // The decision ran within the limit; evaluating its rules again (and each failed conjunct once
  // more) takes at most about twice its steps.
  const std::uint64_t budget = limits_.max_steps > UINT64_MAX / 3 ? UINT64_MAX : limits_.max_steps * 3;
  BasicEvaluator<true> ev(p, *code_, eval_delta_, r.overlay, budget);
  Frame frame;
  fill_frame(frame, max_frame_, r, p.schema.actions[r.action]);
  try {
    for (const auto& [ri, miss] : todo) {
      const RuleInfo& rule = p.rules[ri];
      RuleFacts rf;
      rf.rule = ri;
      rf.forbid = rule.forbid;
      rf.applied = miss == nullptr;
      if (miss) rf.miss = *miss;
      for (std::uint32_t ci = 0; ci < rule.conditions.size(); ++ci) {
        const ConditionInfo& c = rule.conditions[ci];
        reads.clear();
        ev.rec = &reads;
        const bool held = ev.truth(c.expr, frame.data()) == c.is_when;
        if (!held) {
          // What the conjunct that failed read (Miss::condition, and on into each inlined
          // predicate's body, which shares the rule's frame): those reads failed.
          NodeId at = miss ? node_with_span(p, c.expr, miss->condition) : kNone32;
          if (at == kNone32) at = c.expr;
          if (miss)
            for (const auto& w : miss->within) {
              if (p.nodes[at].inlined != w.predicate) break;  // a call: its body has a frame of its own
              const NodeId inner = node_with_span(p, at, w.conjunct);
              if (inner == kNone32 || inner == at) break;
              at = inner;
            }
          failing.clear();
          ev.rec = &failing;
          (void)ev.truth(at, frame.data());
          for (auto& fr : reads)
            for (const auto& g : failing)
              if (g.entity == fr.entity && g.attr == fr.attr) fr.failed = true;
        }
        for (auto& fr : reads) {
          fr.condition = ci;
          rf.reads.push_back(fr);
        }
        if (!held) break;
      }
      out.rules.push_back(std::move(rf));
    }
  } catch (...) {
    // An exceeded limit: the facts found so far (the decision itself is unaffected).
  }
  return out;
}

std::vector<Decision> Engine::decide_all(std::span<const Request> rs, bool explain) const {
  constexpr std::size_t kAhead = 4;
  const World& w = p_->world();
  auto prefetch = [&](const Request& r) {
    for (EntityId e : {r.principal, r.resource})
      if (e < w.size()) prefetch_row(w, e, w.type_of(e));
  };
  std::vector<Decision> out;
  out.reserve(rs.size());
  for (std::size_t i = 0; i < rs.size() && i < kAhead; ++i) prefetch(rs[i]);
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (i + kAhead < rs.size()) prefetch(rs[i + kAhead]);
    out.push_back(decide(rs[i], explain));
  }
  return out;
}

std::vector<std::uint32_t> Engine::allowed_values(Request r, std::uint32_t param) const {
  std::vector<std::uint32_t> out;
  const auto& action = p_->schema.actions.at(r.action);
  const Type& t = action.params.at(param).type;
  if (t.base != Base::enum_ || t.set) return out;
  r.args.resize(action.params.size());
  for (std::uint32_t v = 0; v < p_->schema.enums[t.enum_id].values.size(); ++v) {
    r.args[param] = Value::enumv(t.enum_id, v);
    if (decide(r, false).allow) out.push_back(v);
  }
  return out;
}

namespace {
/// A suggestion for an unknown id of type `t`: the closest id of that type in the world and the
/// overlay. Types with more than kMaxIdCandidates entities get none, so a stream of bad requests
/// to a server cannot make each cost a scan of the world.
constexpr std::size_t kMaxIdCandidates = 10'000;
std::string did_you_mean_id(const Program& p, const Overlay* o, TypeId t, std::string_view id) {
  const auto& of_type = p.world().of_type(t);
  if (of_type.size() > kMaxIdCandidates) return "";
  std::vector<std::string> ids;
  for (EntityId e : of_type) ids.emplace_back(p.world().id(e));
  if (o)
    for (const auto& oe : o->entities())
      if (oe.type == t && oe.id) ids.push_back(*oe.id);
  if (auto c = closest_name(id, ids))
    return "; did you mean `" + p.schema.entities[t].name + "::" + quote_string(*c) + "`?";
  return "";
}
}  // namespace

bool Engine::make_request(TypeId ptype, std::string_view pid, std::uint32_t action, std::vector<Value> args,
                          std::vector<bool> given, TypeId rtype, std::string_view rid, const Overlay* overlay,
                          Request& out, std::string& error) const {
  const Program& p = *p_;
  if (action >= p.schema.actions.size()) {
    error = "unknown action";
    return false;
  }
  const auto& act = p.schema.actions[action];
  auto resolve = [&](TypeId t, std::string_view id, const std::vector<TypeId>& accepted, const char* role,
                     EntityId& e) {
    if (!accepted.empty() && !std::binary_search(accepted.begin(), accepted.end(), t)) {
      error = "action `" + act.name + "` does not accept " + std::string(indefinite_article(p.schema.entities[t].name)) + " `" + p.schema.entities[t].name + "` as its " + role;
      return false;
    }
    auto found = overlay ? overlay->find(t, id) : find(t, id);
    if (!found) {
      error = "unknown " + std::string(role) + " `" + p.schema.entities[t].name + "::" + quote_string(id) + "`" +
              did_you_mean_id(p, overlay, t, id);
      return false;
    }
    e = *found;
    return true;
  };
  if (!resolve(ptype, pid, act.principals, "principal", out.principal)) return false;
  if (!resolve(rtype, rid, act.resources, "resource", out.resource)) return false;
  args.resize(act.params.size());
  given.resize(act.params.size(), false);
  for (std::size_t i = 0; i < act.params.size(); ++i)
    if (!given[i] && !act.params[i].type.optional) {
      error = "action `" + act.name + "` needs parameter `" + act.params[i].name + "`";
      return false;
    }
  out.action = action;
  out.args = std::move(args);
  out.overlay = overlay;
  return true;
}

bool Engine::request_from_json(const nlohmann::json& j, Overlay& overlay, Request& out, std::string& error) const {
  const Program& p = *p_;
  if (!j.is_object()) {
    error = "a request is a JSON object with \"principal\", \"action\" and \"resource\"";
    return false;
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "principal" && it.key() != "action" && it.key() != "resource" && it.key() != "entities") {
      error = "unknown field \"" + it.key() + "\" in the request";
      return false;
    }
  if (j.contains("entities")) {
    if (!overlay.add_json(j["entities"], error)) return false;
    if (!validate_overlay(overlay, error)) {
      error = "the request's entities break the policy: " + error;
      return false;
    }
  }
  OverlayResolver res(overlay);
  RequestConverter conv(p.schema, res);
  auto ref = [&](const char* field) {
    if (!j.contains(field) || !j[field].is_object() || !j[field].contains("type") || !j[field]["type"].is_string() ||
        !j[field].contains("id") || !j[field]["id"].is_string()) {
      error = std::string("\"") + field + "\" must be {\"type\": \"...\", \"id\": \"...\"}";
      return false;
    }
    for (auto it = j[field].begin(); it != j[field].end(); ++it)
      if (it.key() != "type" && it.key() != "id") {
        error = std::string(field) + ": unknown field \"" + it.key() + "\" (it has \"type\" and \"id\")";
        return false;
      }
    const auto& type = j[field]["type"].get_ref<const std::string&>();
    const auto& id = j[field]["id"].get_ref<const std::string&>();
    const bool ok = field[0] == 'p' ? conv.principal(type, id, error) : conv.resource(type, id, error);
    if (!ok) error = std::string(field) + ".type: " + error;
    return ok;
  };
  if (!ref("principal") || !ref("resource")) return false;
  if (!j.contains("action") || !j["action"].is_object() || !j["action"].contains("name") ||
      !j["action"]["name"].is_string()) {
    error = "\"action\" must be {\"name\": \"...\", \"args\": {...}}";
    return false;
  }
  for (auto it = j["action"].begin(); it != j["action"].end(); ++it)
    if (it.key() != "name" && it.key() != "args") {
      error = "action: unknown field \"" + it.key() + "\" (it has \"name\" and \"args\")";
      return false;
    }
  if (!conv.action(j["action"]["name"].get_ref<const std::string&>(), error)) return false;
  if (j["action"].contains("args")) {
    const auto& ja = j["action"]["args"];
    if (!ja.is_object()) {
      error = "action.args must be an object";
      return false;
    }
    for (auto it = ja.begin(); it != ja.end(); ++it) {
      const auto problem = conv.arg(it.key(), it.value(), error);
      if (problem == RequestConverter::ArgProblem::bad_value) error = "action.args." + it.key() + ": " + error;
      if (problem != RequestConverter::ArgProblem::none) return false;
    }
  }
  auto& parts = conv.parts();
  return make_request(parts.principal_type, parts.principal_id, parts.action, std::move(parts.args),
                      std::move(parts.given), parts.resource_type, parts.resource_id, &overlay, out, error);
}

std::string Engine::entity_name(EntityId e, const Overlay* o) const {
  if (e < p_->world().size() && (!delta_ || !delta_->touched(e)))
    return format_value(p_->schema, p_->world(), Value::entity(e));
  if (delta_ && e < delta_->end()) {
    const DeltaEntity* de = delta_->get(e);
    if (de) return p_->schema.entities[de->type].name + "::" + quote_string(de->id);
    return "<unknown entity>";
  }
  if (o && o->get(e)) return p_->schema.entities[o->get(e)->type].name + "::" + quote_string(*o->get(e)->id);
  return "<unknown entity>";
}

namespace {
/// Entities of `type` in the world and then in the overlay.
template <typename F>
void for_each_of_type(const Program& p, const FactDelta* d, const Overlay* o, TypeId type, F&& f) {
  for (EntityId e : p.world().of_type(type))
    if (!d || !d->touched(e)) f(e);
  if (d)
    for (EntityId e : d->of_type(type)) f(e);
  if (!o) return;
  const auto base = o->base();
  for (std::size_t i = 0; i < o->entities().size(); ++i)
    if (o->entities()[i].type == type) f(base + static_cast<EntityId>(i));
}
}  // namespace

std::optional<Engine::Violation> Engine::first_violation(const Overlay* overlay) const {
  const Program& p = *p_;
  try {
    for (std::uint32_t i = 0; i < p.requirements.size(); ++i) {
      const auto& rq = p.requirements[i];
      Evaluator ev(p, *code_, eval_delta_, overlay, limits_.max_steps);
      Frame frame(std::max<std::size_t>(rq.frame, 1));
      if (!rq.forall_type) {
        if (!ev.truth(rq.ensure, frame.data())) return Violation{i, std::nullopt};
        continue;
      }
      std::optional<EntityId> bad;
      for_each_of_type(p, eval_delta_, overlay, *rq.forall_type, [&](EntityId e) {
        if (bad) return;
        frame[0] = Value::entity(e);
        if (rq.where && !ev.truth(*rq.where, frame.data())) return;
        if (!ev.truth(rq.ensure, frame.data())) bad = e;
      });
      if (bad) return Violation{i, bad};
    }
  } catch (const LimitExceeded&) {
    return Violation{0, std::nullopt};  // treat a world too costly to check as invalid
  }
  return std::nullopt;
}

std::string Engine::requirement_message(const RequirementInfo& rq, const Overlay* overlay,
                                        std::optional<EntityId> subject) const {
  const Program& p = *p_;
  Evaluator ev(p, *code_, eval_delta_, overlay, UINT64_MAX);
  Frame frame(std::max<std::size_t>(rq.frame, 1));
  if (subject) frame[0] = Value::entity(*subject);
  std::string msg;
  for (const auto& [text, node] : rq.message_parts) {
    msg += text;
    if (node == kNone32) continue;
    const Value v = ev.eval(node, frame.data());
    if (v.tag == Tag::entity) {
      const auto e = static_cast<EntityId>(v.i);
      msg += e < entity_end() ? std::string(id_of(e))
             : overlay && overlay->get(e) ? *overlay->get(e)->id
                                          : entity_name(e, overlay);
    } else {
      msg += v.tag == Tag::str ? *v.s : format_value(p.schema, p.world(), v);
    }
  }
  return msg;
}

bool Engine::validate_overlay(const Overlay& o, std::string& error) const {
  auto v = overlay_violations(o, true);
  if (v.empty()) return true;
  error = std::move(v.front().message);
  return false;
}

std::vector<Engine::OverlayViolation> Engine::overlay_violations(const Overlay& o, bool first_only) const {
  const Program& p = *p_;
  std::vector<OverlayViolation> out;
  const auto base = o.base();
  auto value_of = [&](EntityId e, std::uint32_t c) {
    return e < base ? attr_of(e, c) : o.get(e)->attrs[c];
  };
  auto same_key = [&](EntityId a, EntityId b, const std::vector<std::uint32_t>& key) {
    for (auto c : key)
      if (!value_equal(value_of(a, c), value_of(b, c))) return false;
    return true;
  };
  std::vector<bool> added(p.schema.entities.size(), false);
  const auto& ents = o.entities();
  for (std::size_t i = 0; i < ents.size(); ++i) {
    const TypeId t = ents[i].type;
    added[t] = true;
    const auto& et = p.schema.entities[t];
    const EntityId self = base + static_cast<EntityId>(i);
    for (std::size_t k = 0; k < et.keys.size(); ++k) {
      const auto& key = et.keys[k];
      std::optional<EntityId> clash;
      for (std::size_t j = 0; j < i && !clash; ++j)
        if (ents[j].type == t && same_key(self, base + static_cast<EntityId>(j), key)) clash = base + static_cast<EntityId>(j);
      if (!clash && k < (*key_hashes_)[t].size()) {
        std::size_t h = 0;
        for (auto c : key) h = h * 1000003u ^ value_hash(value_of(self, c));
        const auto& v = (*key_hashes_)[t][k];
        for (auto it = std::lower_bound(v.begin(), v.end(), std::pair<std::size_t, EntityId>{h, 0});
             it != v.end() && it->first == h && !clash; ++it)
          if ((!delta_ || !delta_->touched(it->second)) && same_key(self, it->second, key)) clash = it->second;
      }
      if (!clash && delta_)
        for (EntityId w : delta_->of_type(t))
          if (same_key(self, w, key)) {
            clash = w;
            break;
          }
      if (clash) {
        std::string names;
        for (auto c : key) names += (names.empty() ? "" : ", ") + et.attrs[c].name;
        out.push_back({std::nullopt, "`" + entity_name(self, &o) + "` has the same key (" + names + ") as `" +
                                         entity_name(*clash, &o) + "`"});
        if (first_only) return out;
      }
    }
  }
  try {
    for (std::uint32_t i = 0; i < p.requirements.size(); ++i) {
      const auto& rq = p.requirements[i];
      bool full = false;
      for (TypeId t : requirement_ranges_[i]) full = full || added[t];
      if (!full && !(rq.forall_type && added[*rq.forall_type])) continue;
      Evaluator ev(p, *code_, eval_delta_, &o, limits_.max_steps);
      Frame frame(std::max<std::size_t>(rq.frame, 1));
      auto fails = [&](std::optional<EntityId> e) {
        if (e) frame[0] = Value::entity(*e);
        if (rq.where && !ev.truth(*rq.where, frame.data())) return false;
        if (ev.truth(rq.ensure, frame.data())) return false;
        out.push_back({i, requirement_message(rq, &o, e) + " (requirement `" + rq.name + "`" +
                                 (e ? ", " + entity_name(*e, &o) : std::string()) + ")"});
        return true;
      };
      bool broken = !rq.forall_type && fails(std::nullopt);
      if (rq.forall_type && full)
        for_each_of_type(p, eval_delta_, nullptr, *rq.forall_type, [&](EntityId e) {
          if (!broken) broken = fails(e);
        });
      if (rq.forall_type)
        for (std::size_t j = 0; j < ents.size() && !broken; ++j)
          if (ents[j].type == *rq.forall_type) broken = fails(base + static_cast<EntityId>(j));
      if (broken && first_only) return out;
    }
  } catch (const LimitExceeded&) {
    out.push_back({std::nullopt, "checking the requirements over the request's entities took more than the evaluation limit"});
  }
  return out;
}

bool Engine::property_applies(const PropertyInfo& prop, const Request& r) const {
  const Program& p = *p_;
  try {
    Evaluator ev(p, *code_, eval_delta_, r.overlay, limits_.max_steps);
    Frame frame(std::max<std::size_t>(prop.frame, 2), Value::none());
    frame[0] = Value::entity(r.principal);
    frame[1] = Value::entity(r.resource);
    const auto& action = p.schema.actions[r.action];
    for (std::size_t i = 0; i < action.params.size() && i < r.args.size(); ++i)
      if (2 + action.param_ids[i] < frame.size()) frame[2 + action.param_ids[i]] = r.args[i];
    for (const auto& c : prop.action_constraints)
      if (!ev.truth(c.expr, frame.data())) return false;
    return !prop.where || ev.truth(*prop.where, frame.data());
  } catch (const LimitExceeded&) {
    return false;
  }
}

void Engine::check_requirements(Diagnostics& diags) const {
  const Program& p = *p_;
  for (const auto& rq : p.requirements) {
    Evaluator ev(p, *code_, eval_delta_, nullptr, UINT64_MAX);
    Frame frame(std::max<std::size_t>(rq.frame, 1));
    auto report = [&](Span at, std::optional<EntityId> subject) {
      const std::string msg = requirement_message(rq, nullptr, subject);
      auto& d = diags.add(DiagId::requirement_violated, at.valid() ? at : rq.span,
                          msg + " (requirement `" + rq.name + "`" +
                              (subject && !at.valid() ? ", " + entity_name(*subject, nullptr) : std::string()) + ")");
      if (at.valid()) d.notes.push_back({rq.span, "required here"});
    };
    if (rq.forall_type) {
      for_each_of_type(p, eval_delta_, nullptr, *rq.forall_type, [&](EntityId e) {
        frame[0] = Value::entity(e);
        if (rq.where && !ev.truth(*rq.where, frame.data())) return;
        if (!ev.truth(rq.ensure, frame.data()))
          report(delta_ && delta_->touched(e) ? Span{} : p.world().span(e), e);
      });
    } else if (!ev.truth(rq.ensure, frame.data())) {
      report(Span{}, std::nullopt);
    }
  }
}

namespace {
std::string location(const SourceManager* sm, Span s) {
  if (!sm || !s.valid()) return "";
  const auto lc = sm->line_col(s.file, s.begin);
  return sm->file(s.file).path + ":" + std::to_string(lc.line);
}

/// The source text of `s` on one line, runs of blanks squeezed to one.
std::string one_line(const SourceManager* sm, Span s) {
  std::string out;
  if (!sm || !s.valid()) return "a condition";
  for (char ch : sm->text(s)) {
    if (ch == '\n' || ch == '\t' || ch == '\r') ch = ' ';
    if (!(ch == ' ' && !out.empty() && out.back() == ' ')) out += ch;
  }
  return out;
}
}  // namespace

std::string Engine::explain(const Decision& d, const Request& r, const SourceManager* sm) const {
  const Program& p = *p_;
  std::string out = std::string(d.allow ? "ALLOW" : "DENY") + ": " + entity_name(r.principal, r.overlay) + " " +
                    p.schema.actions[r.action].name + " " + entity_name(r.resource, r.overlay) + "\n";
  for (const auto& e : d.errors) out += "  error: " + e + "\n";
  for (auto ri : d.determining) {
    const auto& rule = p.rules[ri];
    out += std::string("  ") + (rule.forbid ? "denied by forbid `" : "allowed by permit `") + rule.name + "`";
    if (auto loc = location(sm, rule.span); !loc.empty()) out += " (" + loc + ")";
    out += "\n";
    if (!rule.doc.empty()) {
      std::string doc = rule.doc;
      for (std::size_t pos = 0; (pos = doc.find('\n', pos)) != std::string::npos; pos += 9) doc.replace(pos, 1, "\n    /// ");
      out += "    /// " + doc + "\n";
    }
  }
  if (!d.allow && d.determining.empty() && d.errors.empty()) {
    if (d.misses.empty()) out += "  no permit rule of this action applies to these types (default deny)\n";
    else out += "  no permit applied (default deny); closest misses:\n";
    for (const auto& m : d.misses) {
      out += "    permit `" + p.rules[m.rule].name + "`: ";
      const std::string squeezed = one_line(sm, m.condition);
      out += std::string(m.unless ? "`unless " : "`") + squeezed + "` " + (m.unless ? "holds" : "is false");
      if (auto loc = location(sm, m.condition); !loc.empty()) out += " (" + loc + ")";
      out += "\n";
      for (const auto& w : m.within) {
        out += "      in predicate `" + p.predicates[w.predicate].name + "`: `" + one_line(sm, w.conjunct) + "` " +
               (m.unless ? "holds" : "is false");
        if (auto loc = location(sm, w.conjunct); !loc.empty()) out += " (" + loc + ")";
        out += "\n";
      }
    }
  }
  return out;
}

nlohmann::json Engine::to_json(const Decision& d, const SourceManager* sm) const {
  const Program& p = *p_;
  nlohmann::json j;
  j["decision"] = d.allow ? "allow" : "deny";
  j["determining"] = nlohmann::json::array();
  for (auto ri : d.determining) {
    nlohmann::json r{{"rule", p.rules[ri].name}};
    if (sm && p.rules[ri].span.valid()) {
      r["file"] = sm->file(p.rules[ri].span.file).path;
      r["line"] = sm->line_col(p.rules[ri].span.file, p.rules[ri].span.begin).line;
    }
    j["determining"].push_back(r);
  }
  j["misses"] = nlohmann::json::array();
  for (const auto& m : d.misses) {
    nlohmann::json r{{"rule", p.rules[m.rule].name}};
    if (sm && m.condition.valid()) {
      r["condition"] = std::string(m.unless ? "unless " : "when ") + std::string(sm->text(m.condition));
      r["file"] = sm->file(m.condition.file).path;
      r["line"] = sm->line_col(m.condition.file, m.condition.begin).line;
    }
    if (!m.within.empty()) {
      r["within"] = nlohmann::json::array();
      for (const auto& w : m.within) {
        nlohmann::json in{{"predicate", p.predicates[w.predicate].name}};
        if (sm && w.conjunct.valid()) {
          in["condition"] = std::string(sm->text(w.conjunct));
          in["file"] = sm->file(w.conjunct.file).path;
          in["line"] = sm->line_col(w.conjunct.file, w.conjunct.begin).line;
        }
        r["within"].push_back(in);
      }
    }
    j["misses"].push_back(r);
  }
  j["errors"] = d.errors;
  return j;
}


// ---------------------------------------------------------------------------------------------
// Live facts
// ---------------------------------------------------------------------------------------------
std::shared_ptr<const Engine> Engine::with_facts(std::shared_ptr<const FactDelta> d, std::uint64_t revision) const {
  std::shared_ptr<Engine> e(new Engine(*this));
  e->delta_ = std::move(d);
  e->eval_delta_ = e->delta_ && e->delta_->size() > 0 ? e->delta_.get() : nullptr;
  e->revision_ = revision;
  return e;
}

std::optional<EntityId> Engine::find(TypeId type, std::string_view id) const {
  return eval_delta_ ? eval_delta_->find(type, id) : p_->world().find(type, id);
}

TypeId Engine::type_of(EntityId e) const {
  if (eval_delta_) return e < eval_delta_->end() ? eval_delta_->type_of(e) : kNone32;
  return e < p_->world().size() ? p_->world().type_of(e) : kNone32;
}

std::string_view Engine::id_of(EntityId e) const {
  if (eval_delta_) return eval_delta_->id(e);
  return e < p_->world().size() ? p_->world().id(e) : std::string_view();
}

Value Engine::attr_of(EntityId e, std::uint32_t column) const {
  if (eval_delta_) return eval_delta_->attr(e, column);
  return e < p_->world().size() ? p_->world().attr(e, column) : Value::none();
}

void Engine::for_each_entity(TypeId t, const std::function<void(EntityId)>& f) const {
  for_each_of_type(*p_, eval_delta_, nullptr, t, f);
}

EntityId Engine::entity_end() const {
  return delta_ ? delta_->end() : static_cast<EntityId>(p_->world().size());
}

std::vector<std::pair<std::string, std::string>> Engine::write_violations(const std::shared_ptr<const FactDelta>& next,
                                                                          const std::vector<WriteTouch>& touched,
                                                                          std::size_t max) const {
  const Program& p = *p_;
  std::vector<std::pair<std::string, std::string>> out;
  const FactDelta* d = next.get();
  const auto ntypes = p.schema.entities.size();
  // What the batch touched, by type: any write, a change or delete of an entity that existed, an
  // entity added or deleted (which changes what `exists` ranges over).
  std::vector<bool> changed(ntypes, false), ranged(ntypes, false);
  for (const auto& t : touched) {
    if (t.existed) changed[t.type] = true;
    if (!t.existed || t.deleted) ranged[t.type] = true;
  }
  auto name = [&](EntityId e) { return p.schema.entities[d->type_of(e)].name + "::" + quote_string(d->id(e)); };

  // Keys: a written entity's key against the world's (through the key hashes) and the delta's.
  for (TypeId t = 0; t < ntypes && out.size() < max; ++t) {
    const auto& et = p.schema.entities[t];
    if (et.keys.empty()) continue;
    std::vector<EntityId> written;
    for (const auto& w : touched)
      if (w.type == t && !w.deleted) written.push_back(w.entity);
    if (written.empty()) continue;
    for (std::size_t k = 0; k < et.keys.size(); ++k) {
      const auto& key = et.keys[k];
      auto hash = [&](EntityId e) {
        std::size_t h = 0;
        for (auto c : key) h = h * 1000003u ^ value_hash(d->attr(e, c));
        return h;
      };
      auto same = [&](EntityId a, EntityId b) {
        for (auto c : key)
          if (!value_equal(d->attr(a, c), d->attr(b, c))) return false;
        return true;
      };
      // The delta's live entities of the type, by key hash: built once per batch.
      std::unordered_multimap<std::size_t, EntityId> mine;
      for (EntityId e : d->of_type(t)) mine.emplace(hash(e), e);
      const auto& world_keys = (*key_hashes_)[t][k];
      for (EntityId self : written) {
        if (out.size() >= max) break;
        const std::size_t h = hash(self);
        std::optional<EntityId> clash;
        for (auto it = std::lower_bound(world_keys.begin(), world_keys.end(), std::pair<std::size_t, EntityId>{h, 0});
             it != world_keys.end() && it->first == h && !clash; ++it)
          if (it->second != self && !d->touched(it->second) && same(self, it->second)) clash = it->second;
        for (auto [it, end] = mine.equal_range(h); it != end && !clash; ++it)
          if (it->second != self && same(self, it->second)) clash = it->second;
        if (!clash) continue;
        std::string names;
        for (auto c : key) names += (names.empty() ? "" : ", ") + et.attrs[c].name;
        out.emplace_back("key", "`" + name(self) + "` has the same key (" + names + ") as `" + name(*clash) + "`");
      }
    }
  }

  // Requirements: over the written entities of its `forall` type, or in full when the batch
  // changed what its conditions read of other entities or range over.
  const std::shared_ptr<const Engine> view = with_facts(next, revision_);
  try {
    for (std::uint32_t i = 0; i < p.requirements.size() && out.size() < max; ++i) {
      const auto& rq = p.requirements[i];
      bool full = !rq.forall_type;
      for (TypeId t : requirement_ranges_[i]) full = full || ranged[t] || changed[t];
      for (TypeId t : requirement_reads_[i]) full = full || changed[t];
      Evaluator ev(p, *code_, d, nullptr, limits_.max_steps);
      Frame frame(std::max<std::size_t>(rq.frame, 1));
      auto fails = [&](std::optional<EntityId> e) {
        if (e) frame[0] = Value::entity(*e);
        if (rq.where && !ev.truth(*rq.where, frame.data())) return false;
        if (ev.truth(rq.ensure, frame.data())) return false;
        out.emplace_back("requirement", view->requirement_message(rq, nullptr, e) + " (requirement `" + rq.name + "`" +
                                            (e ? ", " + name(*e) : std::string()) + ")");
        return true;
      };
      if (!rq.forall_type) {
        fails(std::nullopt);
      } else if (full) {
        bool broken = false;
        for_each_of_type(p, d, nullptr, *rq.forall_type, [&](EntityId e) {
          if (!broken) broken = fails(e);
        });
      } else {
        for (const auto& w : touched)
          if (w.type == *rq.forall_type && !w.deleted && fails(w.entity)) break;
      }
    }
  } catch (const LimitExceeded&) {
    out.emplace_back("requirement", "checking the requirements over the batch took more than the evaluation limit");
  }
  return out;
}

}  // namespace treaty
