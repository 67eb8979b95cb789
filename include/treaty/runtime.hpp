// The runtime: decisions with explanations over a checked (or loaded) program.
//
// An Engine owns one Program and its indexes. decide() is const and touches no shared mutable
// state, so any number of threads may decide concurrently on one Engine. Everything a request
// brings (inline entities, their strings and sets) lives in the request's Overlay.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "treaty/convert.hpp"
#include "treaty/diagnostics.hpp"
#include "treaty/program.hpp"

namespace treaty {

class Engine;
class FactDelta;  // live facts: the data layer's delta over the world (treaty/data/delta.hpp)

/// Entities that exist for one request (or one test) only. Their ids follow the world's.
class Overlay {
 public:
  struct Entity {
    TypeId type = 0;
    const std::string* id = nullptr;
    std::vector<Value> attrs;
    Span span;
  };

  /// An overlay over the world of `p` as it is now: its entities' ids follow the world's last.
  explicit Overlay(const Program& p);
  /// An overlay over the facts engine `e` decides on: the world and the live writes it holds.
  explicit Overlay(const Engine& e);
  Overlay(const Overlay&) = delete;
  Overlay& operator=(const Overlay&) = delete;

  /// Adds facts written in source (a test's `given`): all are created first so they may refer to
  /// each other. Problems are reported to `diags`; returns false on any.
  bool add_facts(const std::vector<FactSpec>& facts, Diagnostics& diags);
  /// Adds JSON entities (`[{"type":..,"id":..,"attrs":{..}}]`): a request's inline entities,
  /// through EntityLoader. Returns false with the first problem in `error`.
  bool add_json(const nlohmann::json& entities, std::string& error);

  [[nodiscard]] std::optional<EntityId> find(TypeId type, std::string_view id) const;
  [[nodiscard]] const Entity* get(EntityId e) const {
    return e >= base_ && e - base_ < entities_.size() ? &entities_[e - base_] : nullptr;
  }
  [[nodiscard]] const std::vector<Entity>& entities() const { return entities_; }
  [[nodiscard]] bool empty() const { return entities_.empty(); }
  /// The id of the overlay's first entity.
  [[nodiscard]] EntityId base() const { return base_; }
  /// Adds an entity with every attribute none (to be set with attr()); nullopt if it exists
  /// (in the overlay or the world).
  std::optional<EntityId> add(TypeId type, std::string_view id, Span span = {});
  /// An attribute of an entity of this overlay.
  Value& attr(EntityId e, std::uint32_t column) {
    return entities_[e - base_].attrs[column];
  }

  const std::string* intern(std::string_view s);
  Value make_set(std::vector<Value> items);

 private:
  const Program* p_;
  const FactDelta* d_ = nullptr;  ///< the live writes under the overlay, if any
  EntityId base_;  ///< the world's (or the delta's) next id: the first id of the overlay
  std::vector<Entity> entities_;
  std::deque<std::string> strings_;
  std::vector<std::unique_ptr<SetValue>> sets_;
};

/// Resolves entity ids in an overlay and then the world, and keeps new strings and sets in the
/// overlay (for converting request arguments and inline entities).
class OverlayResolver : public ConstantResolver {
 public:
  explicit OverlayResolver(Overlay& o) : o_(o) {}
  std::optional<EntityId> find(TypeId type, std::string_view id) const override { return o_.find(type, id); }
  const std::string* intern(std::string_view s) override { return o_.intern(s); }
  Value make_set(std::vector<Value> items) override { return o_.make_set(std::move(items)); }

 private:
  Overlay& o_;
};

/// A resolved request: every entity exists and the action accepts its types.
struct Request {
  EntityId principal = 0;
  std::uint32_t action = 0;
  std::vector<Value> args;  ///< by the action's parameter index
  EntityId resource = 0;
  const Overlay* overlay = nullptr;
};

/// Where a failing condition failed inside a predicate it calls: the predicate and the conjunct
/// of its body (or the disjunct, under `unless`) that decided.
struct MissWithin {
  std::uint32_t predicate = 0;
  Span conjunct;
};

struct Miss {
  std::uint32_t rule = 0;
  Span condition;  ///< the first condition that failed, narrowed to the conjunct that did
  bool unless = false;
  std::vector<MissWithin> within;  ///< when that conjunct is a predicate call: inside it, outermost first
};

/// A short list of rule indexes: up to four inline, more on the heap. A plain decision names one
/// or two rules, so it allocates nothing. (Our own type, so the contract pulls in no Boost.)
class RuleList {
 public:
  RuleList() = default;
  RuleList(const RuleList& o) { append(o.data(), o.size_); }
  RuleList(RuleList&& o) noexcept : size_(o.size_), inline_(o.inline_), heap_(std::move(o.heap_)), cap_(o.cap_) {
    o.size_ = 0;
    o.cap_ = kInline;
  }
  RuleList& operator=(const RuleList& o) {
    if (this != &o) {
      size_ = 0;
      append(o.data(), o.size_);
    }
    return *this;
  }
  RuleList& operator=(RuleList&& o) noexcept {
    if (this != &o) {
      size_ = o.size_;
      inline_ = o.inline_;
      heap_ = std::move(o.heap_);
      cap_ = o.cap_;
      o.size_ = 0;
      o.cap_ = kInline;
    }
    return *this;
  }
  ~RuleList() = default;

  void push_back(std::uint32_t v) {
    if (size_ == cap_) reserve(cap_ * 2);
    data()[size_++] = v;
  }
  void clear() { size_ = 0; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] std::uint32_t* data() { return heap_ ? heap_.get() : inline_.data(); }
  [[nodiscard]] const std::uint32_t* data() const { return heap_ ? heap_.get() : inline_.data(); }
  [[nodiscard]] std::uint32_t operator[](std::size_t i) const { return data()[i]; }
  [[nodiscard]] const std::uint32_t* begin() const { return data(); }
  [[nodiscard]] const std::uint32_t* end() const { return data() + size_; }
  friend bool operator==(const RuleList& a, const RuleList& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  static constexpr std::size_t kInline = 4;
  void reserve(std::size_t n) {
    if (n <= cap_) return;
    auto p = std::make_unique<std::uint32_t[]>(n);
    if (size_ != 0) std::memcpy(p.get(), data(), size_ * sizeof(std::uint32_t));
    heap_ = std::move(p);
    cap_ = n;
  }
  void append(const std::uint32_t* p, std::size_t n) {
    reserve(size_ + n);
    if (n != 0) std::memcpy(data() + size_, p, n * sizeof(std::uint32_t));
    size_ += n;
  }
  std::size_t size_ = 0;
  std::array<std::uint32_t, kInline> inline_{};
  std::unique_ptr<std::uint32_t[]> heap_;
  std::size_t cap_ = kInline;
};

struct Decision {
  bool allow = false;
  /// Forbids that applied (deny) or permits (allow). Inline storage: a plain decision allocates
  /// nothing on the heap.
  RuleList determining;
  std::vector<Miss> misses;                ///< default deny: each type-matching permit's failing condition
  std::vector<std::string> errors;         ///< non-empty => deny (fail closed)
};

/// How one candidate rule (its action and types match the request) of a traced decision fared.
struct RuleOutcome {
  std::uint32_t rule = 0;
  bool applied = false;
  Miss miss;  ///< when not applied: the first condition that failed, narrowed as in Decision::misses
};

/// An attribute the evaluator read while deciding: attribute-name `attr` of `entity` was `value`.
struct FactRead {
  EntityId entity = 0;
  std::uint32_t attr = 0;  ///< global attribute-name id
  Value value;
  std::uint32_t condition = 0;  ///< index into the rule's conditions
  bool failed = false;          ///< read by the conjunct that failed (Miss::condition)
  /// Read while trying the closest candidate of an `exists` that held for none (it got furthest).
  bool near = false;
};

/// What the conditions of one rule read, evaluated again as the decision evaluated them: every
/// attribute read, in order, except those of `exists` candidates that did not hold (of an
/// `exists` that held nothing for, the one candidate that got furthest, when one did).
struct RuleFacts {
  std::uint32_t rule = 0;
  bool applied = false;
  bool forbid = false;
  std::optional<Miss> miss;  ///< not applied: the decision's miss
  std::vector<FactRead> reads;
};

/// The facts behind a decision: the rules that decided it, or (a default deny) its closest
/// misses, at most `max_rules` of them.
struct DecisionFacts {
  std::vector<RuleFacts> rules;
  std::size_t more_rules = 0;  ///< rules left out past max_rules
};

/// How one permit of a reverse query (Engine::search_subjects, search_resources) found its
/// candidates: through the entities its conditions pin the searched side to, or a scan.
struct SearchRuleStats {
  std::uint32_t rule = 0;
  bool scan = false;           ///< no condition pins the searched side: every entity of the type
  std::string how;             ///< what drives it ("index Person.account", ...) or why it scans
  std::size_t candidates = 0;  ///< candidates it gave (before deduplication)
};

/// What a reverse query cost: for `--explain`, benchmarks and tests that it is driven by indexes.
struct SearchStats {
  std::size_t candidates = 0;  ///< distinct candidates of the type (live writes' and overlay's included)
  std::size_t decides = 0;     ///< decisions made to confirm them, on this page
  bool scan = false;           ///< some permit scanned every entity of the type
  std::vector<SearchRuleStats> rules;  ///< per permit that can meet the query, in plan order
};

/// The answer of search_subjects or search_resources: exactly the entities of the type for which
/// decide() allows, ascending by id (the world's, then those the live writes added, then the
/// overlay's), from the cursor's position on and at most `limit` of them.
struct SearchResult {
  std::vector<EntityId> entities;
  /// Non-empty when more results follow the page: the next page starts at the next allowed
  /// entity (so it is never empty). Tied to the engine's revision.
  std::string cursor;
  SearchStats stats;
  std::string error;  ///< non-empty: the search was refused (a stale or malformed cursor, a type the action does not take)
};

/// One action a principal may perform on a resource (search_actions).
struct ActionMatch {
  std::uint32_t action = 0;
  std::optional<std::uint32_t> value;  ///< for an action with one enum parameter: an allowed value
  friend bool operator==(const ActionMatch&, const ActionMatch&) = default;
};

struct ActionSearchResult {
  std::vector<ActionMatch> actions;  ///< by action, then value
  /// Actions that take these types but whose parameters cannot be enumerated (a required
  /// parameter other than a single enum one): not asked.
  std::vector<std::uint32_t> skipped;
  SearchStats stats;  ///< decides: how many decisions it made
  std::string error;
};

struct EngineLimits {
  /// Evaluation steps (expression nodes plus `exists` iterations) allowed for one decision.
  std::uint64_t max_steps = 10'000'000;
  /// Build, at load, the column indexes reverse queries probe (Engine::search_*): one per
  /// attribute a permit pins the searched side or an `exists` variable with (`p.account ==
  /// r.account` indexes Person.account). Off, those permits are driven by the indexes the
  /// compiler chose only, or scan.
  bool search_indexes = true;
};

class Engine {
 public:
  explicit Engine(std::unique_ptr<Program> program, EngineLimits limits = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  [[nodiscard]] const Program& program() const { return *p_; }

  // Live facts (docs/architecture.md, "Live facts"). An engine decides over its program's world
  // with the writes of one revision on top; with_facts() makes the engine of the next revision,
  // sharing everything else with this one. Entity lookups go through the engine so they see the
  // writes.
  /// The engine over the same program with the writes `d` (made over this engine's world) at
  /// revision `revision`. Cheap: the program, the IR and the indexes are shared.
  [[nodiscard]] std::shared_ptr<const Engine> with_facts(std::shared_ptr<const FactDelta> d,
                                                          std::uint64_t revision) const;
  /// The writes this engine sees; null when none.
  [[nodiscard]] const FactDelta* facts() const { return delta_.get(); }
  [[nodiscard]] const std::shared_ptr<const FactDelta>& facts_shared() const { return delta_; }
  /// The revision of the facts: 0 for the world as loaded, then one per committed batch.
  [[nodiscard]] std::uint64_t revision() const { return revision_; }
  /// The live entity (type, id); nullopt when unknown or deleted.
  [[nodiscard]] std::optional<EntityId> find(TypeId type, std::string_view id) const;
  /// The type of a live entity, kNone32 otherwise.
  [[nodiscard]] TypeId type_of(EntityId e) const;
  /// The id text of an entity of the world or the writes.
  [[nodiscard]] std::string_view id_of(EntityId e) const;
  /// Attribute `column` of a live entity of the world or the writes.
  [[nodiscard]] Value attr_of(EntityId e, std::uint32_t column) const;
  /// Calls f(e) for every live entity of type `t`: the world's the writes left, then the writes'.
  void for_each_entity(TypeId t, const std::function<void(EntityId)>& f) const;
  /// The id the next entity of an overlay over this engine gets.
  [[nodiscard]] EntityId entity_end() const;
  /// Every `key` and every requirement a batch of writes can affect, over `next` (the delta the
  /// batch made over this engine's facts): `touched` lists what it upserted and deleted. Returns
  /// at most `max` violations, each (`key` or `requirement`, a message naming the entity and the
  /// rule broken).
  struct WriteTouch {
    EntityId entity;
    TypeId type;
    bool existed;
    bool deleted;
  };
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> write_violations(
      const std::shared_ptr<const FactDelta>& next,
                                                          const std::vector<WriteTouch>& touched,
                                                          std::size_t max = 20) const;

  /// The decision for `r`. With `explain`, every applying rule and every closest miss is
  /// collected; without, evaluation stops as soon as the answer is known. Never throws: an
  /// internal error or an exceeded limit yields deny with the reason in `errors`.
  [[nodiscard]] Decision decide(const Request& r, bool explain = true) const noexcept;
  /// decide() with `explain`, also recording in `outcomes` how every candidate rule fared,
  /// forbids included (which the decision's misses leave out): what test coverage counts.
  [[nodiscard]] Decision decide_traced(const Request& r, std::vector<RuleOutcome>& outcomes) const noexcept;
  /// decide() for each request, in order. While deciding one it starts loading the principal's
  /// and resource's attributes of a few requests ahead, so on a world larger than the cache
  /// their first misses overlap with work instead of following it: more decisions per second,
  /// the same decisions.
  [[nodiscard]] std::vector<Decision> decide_all(std::span<const Request> rs, bool explain = true) const;

  /// The values of enum parameter `param` for which `r` (with that argument replaced) is
  /// allowed: a field mask in one call.
  [[nodiscard]] std::vector<std::uint32_t> allowed_values(Request r, std::uint32_t param) const;

  // Reverse queries (docs/api.md, "Reverse queries"). Each answer is exactly the set for which
  // decide() allows: candidates come from the permits' own conditions (an equality or `in` that
  // pins the searched side to something computable from the known one, through `exists` joins
  // and inlined predicates), through the world's indexes, plus every entity of the type the live
  // writes or `overlay` hold; a permit with no such condition scans the type. Each candidate is
  // then confirmed with decide(). `limit` 0 is no limit; `cursor` is a previous page's (empty for
  // the first), refused with an error by an engine of another revision.
  /// Every principal of type `principal_type` allowed `action` (with `args`, by parameter index)
  /// on `resource`.
  [[nodiscard]] SearchResult search_subjects(TypeId principal_type, std::uint32_t action, std::vector<Value> args,
                                             EntityId resource, std::size_t limit = 0, std::string_view cursor = {},
                                             const Overlay* overlay = nullptr) const;
  /// Every resource of type `resource_type` that `principal` is allowed `action` on.
  [[nodiscard]] SearchResult search_resources(EntityId principal, std::uint32_t action, std::vector<Value> args,
                                              TypeId resource_type, std::size_t limit = 0,
                                              std::string_view cursor = {}, const Overlay* overlay = nullptr) const;
  /// Every action `principal` may perform on `resource`: an action without parameters (or with
  /// optional ones only, asked without them) when allowed, and an action with one enum parameter
  /// once per allowed value (as allowed_values()).
  [[nodiscard]] ActionSearchResult search_actions(EntityId principal, EntityId resource,
                                                  const Overlay* overlay = nullptr) const;

  // The primitives of `treaty diff` (treaty/diff.hpp): what one rule of this engine can allow,
  // found as the reverse queries above find candidates, over the engine's facts (no overlay).
  /// The rules a request of (action, principal type, resource type) meets into `out`, forbids
  /// first, each in rule order; returns the number of forbids.
  std::uint32_t request_rules(std::uint32_t action, TypeId pt, TypeId rt, std::vector<std::uint32_t>& out) const {
    return rules_for(action, pt, rt, out);
  }
  /// Appends to `out` a superset of the entities of `type` on `side` (0 principal, 1 resource)
  /// for which permit `rule` holds, the other side being `known` and the request `action` with
  /// `args` (by parameter index): unsorted, maybe repeated, deleted or of other types. False
  /// when the permit has no plan for that side (or a key failed): the caller must scan.
  bool rule_candidates(std::uint32_t rule, int side, TypeId type, EntityId known, std::uint32_t action,
                       const std::vector<Value>& args, std::vector<EntityId>& out) const;
  /// Whether rule_candidates() has a plan for `side` (never for a forbid).
  [[nodiscard]] bool rule_has_plan(std::uint32_t rule, int side) const;
  /// How many conditions of `rule` rule_may_hold() evaluates with `side` unknown (those that read
  /// only the other side and the arguments): filters on the entities of the other side.
  [[nodiscard]] std::size_t rule_filters(std::uint32_t rule, int side) const;
  /// How rule_candidates() finds the candidates of `side`, or why it cannot.
  [[nodiscard]] const std::string& rule_plan(std::uint32_t rule, int side) const;
  /// False when a condition of `rule` that reads only the other side (`known`) and the
  /// arguments rules every entity of `side` out; true otherwise (and when evaluation fails).
  [[nodiscard]] bool rule_may_hold(std::uint32_t rule, int side, EntityId known, std::uint32_t action,
                                   const std::vector<Value>& args) const noexcept;
  /// Whether every condition of `rule` holds for `r` (its action and types are taken to match);
  /// nullopt when evaluating it failed.
  [[nodiscard]] std::optional<bool> rule_holds(std::uint32_t rule, const Request& r) const noexcept;
  /// A plan of the entities of `side` for which a condition of `rule` can take another value when
  /// the variable of the `exists` node `site` (of this program's IR) is a fact that differs from
  /// another version's (data/search_plan.cpp, Planner::differs). Null when no condition reaching
  /// the site pins that side. Builds the column indexes it probes: not to be called while other
  /// threads decide on this engine.
  struct SeedPlan;
  [[nodiscard]] std::shared_ptr<const SeedPlan> plan_seeded(std::uint32_t rule, NodeId site, int side) const;
  /// Appends to `out` the candidates of a seeded plan of entities of `type` with the site's
  /// variable = `seed`; false when a key failed (the caller must scan).
  bool run_seeded(const SeedPlan& plan, TypeId type, EntityId seed, std::uint32_t action,
                  const std::vector<Value>& args, std::vector<EntityId>& out) const;
  /// What a seeded plan does, for the diff's report.
  [[nodiscard]] const std::string& seeded_plan_text(const SeedPlan& plan) const;

  /// Builds a request, resolving entities in the overlay and then the world. Returns false with
  /// a message when an entity is unknown, a type is not accepted or an argument is missing.
  bool make_request(TypeId ptype, std::string_view pid, std::uint32_t action, std::vector<Value> args,
                    std::vector<bool> given, TypeId rtype, std::string_view rid, const Overlay* overlay, Request& out,
                    std::string& error) const;

  /// Parses a JSON request (LANGUAGE.md section 10), adding its inline entities to `overlay`.
  bool request_from_json(const nlohmann::json& j, Overlay& overlay, Request& out, std::string& error) const;

  /// Evaluates every requirement over the world; each violation is an error at the offending fact.
  void check_requirements(Diagnostics& diags) const;

  struct Violation {
    std::uint32_t requirement = 0;
    std::optional<EntityId> entity;  ///< the `forall` entity that violates it
  };
  /// The first requirement violated over the world and `overlay` together, if any.
  [[nodiscard]] std::optional<Violation> first_violation(const Overlay* overlay) const;
  /// Whether the world together with `overlay` (a request's inline entities, a test's `given`)
  /// keeps every `key` and every requirement the overlay can affect: a requirement over a type
  /// the overlay adds to is checked for its new entities, and one whose conditions range over
  /// such a type (`exists x: T`) is checked again in full. Returns false with the first
  /// violation, naming the entity and the rule broken.
  [[nodiscard]] bool validate_overlay(const Overlay& overlay, std::string& error) const;
  struct OverlayViolation {
    std::optional<std::uint32_t> requirement;  ///< nullopt: a key
    std::string message;
  };
  /// Every violation validate_overlay would report (at most one per key and per requirement),
  /// or only the first with `first_only`.
  [[nodiscard]] std::vector<OverlayViolation> overlay_violations(const Overlay& overlay, bool first_only) const;
  /// The message of requirement `rq` for the `forall` entity in `frame[0]` (interpolated).
  [[nodiscard]] std::string requirement_message(const RequirementInfo& rq, const Overlay* overlay,
                                                std::optional<EntityId> subject) const;

  /// Whether `r` satisfies property `prop`'s action constraints and `where`.
  [[nodiscard]] bool property_applies(const PropertyInfo& prop, const Request& r) const;

  /// Human-readable explanation of a decision, quoting conditions from `sm` when available.
  [[nodiscard]] std::string explain(const Decision& d, const Request& r, const SourceManager* sm) const;
  /// The facts behind `d` (decided for `r` with an explanation): each rule that decided it, or
  /// each closest miss, evaluated again with every attribute read recorded (DecisionFacts).
  [[nodiscard]] DecisionFacts decision_facts(const Decision& d, const Request& r, std::size_t max_rules = 8) const;
  /// `{"decision", "determining", "misses", "errors"}` as in LANGUAGE.md section 10.
  [[nodiscard]] nlohmann::json to_json(const Decision& d, const SourceManager* sm) const;
  /// `Type::"id"` of an entity of the world or an overlay.
  [[nodiscard]] std::string entity_name(EntityId e, const Overlay* o) const;

 private:
  /// decide() and decide_traced(): `trace`, when given, receives every candidate rule's outcome.
  [[nodiscard]] Decision decide_impl(const Request& r, bool explain, std::vector<RuleOutcome>* trace) const noexcept;

  /// search_subjects (side 0) and search_resources (side 1).
  [[nodiscard]] SearchResult search(int side, EntityId known, TypeId type, std::uint32_t action,
                                    std::vector<Value> args, std::size_t limit, std::string_view cursor,
                                    const Overlay* overlay) const;
  /// Evaluates node `n` in `frame` and hands the value to `use` while it is valid (a set it makes
  /// lives as long as the evaluation); false when the evaluation failed (a limit, an error).
  bool eval_with(NodeId n, Value* frame, const Overlay* overlay, const std::function<void(const Value&)>& use) const;
  /// The rules of (action, principal type, resource type) into `out`, forbids first; returns
  /// the number of forbids.
  std::uint32_t rules_for(std::uint32_t action, TypeId pt, TypeId rt, std::vector<std::uint32_t>& out) const;
  /// The type of a live entity or one of `overlay`; kNone32 otherwise.
  [[nodiscard]] TypeId type_in(EntityId e, const Overlay* overlay) const;
  /// Plans search_plans_ and builds the indexes they probe (runtime/search.cpp).
  void plan_searches();

  Engine(const Engine&) = default;  // with_facts(): shares the program and the IR
  std::shared_ptr<Program> p_;
  std::shared_ptr<const FactDelta> delta_;
  /// delta_ when it holds any change, else null: the evaluator's test of "is there a delta"
  /// is then the same as without live facts (a server's engine has an empty delta until the
  /// first write).
  const FactDelta* eval_delta_ = nullptr;
  std::uint64_t revision_ = 0;
  EngineLimits limits_;
  /// The rules a request can meet, by (action, principal type, resource type): forbids first,
  /// then permits, each in rule order. Entry k = (action * T + principal) * T + resource spans
  /// plan_rules_[plan_offset_[k], plan_offset_[k + 1]) of which the first plan_forbids_[k] are
  /// forbids. Empty when the table would be too large; decide then filters the action's rules.
  std::vector<std::uint32_t> plan_offset_, plan_rules_, plan_forbids_;
  std::size_t max_frame_ = 2;  ///< slots of the largest rule frame (principal, resource, parameters, variables)
  /// Each rule's conditions as tests that must all hold, for decisions without an explanation:
  /// rule r's are tests_[tests_first_[r], tests_first_[r + 1]). A `when A and B` is split into
  /// its conjuncts (same order, same short circuit), so the `and` costs no dispatch.
  struct Test {
    NodeId expr = 0;
    bool want = true;  ///< false for an `unless`
  };
  std::vector<Test> tests_;
  std::vector<std::uint32_t> tests_first_;
  /// For each requirement, the entity types its conditions range over with `exists` (through
  /// predicates too): an overlay adding to one of them can change its answer for any entity.
  std::vector<std::vector<TypeId>> requirement_ranges_;
  /// For each requirement, the entity types whose attributes it reads other than its `forall`
  /// entity's own (`a.directory.kind` reads an Account's, through predicates too): a write that
  /// changes one of them can change its answer for any entity, so it is checked again in full.
  std::vector<std::vector<TypeId>> requirement_reads_;
  /// For each type with keys, and each key: (hash of the key's values, entity) of the world's
  /// entities, sorted, so an inline entity's or a write's key is checked without a scan. Shared
  /// by the engines of every revision over one world.
  using KeyHashes = std::vector<std::vector<std::vector<std::pair<std::size_t, EntityId>>>>;
  std::shared_ptr<const KeyHashes> key_hashes_;

 public:
  /// The IR as the evaluator reads it (runtime/internal/code.hpp): built once when the engine
  /// loads, an implementation detail of the evaluator.
  struct Code;
  /// How each permit's candidates are found, per searched side (runtime/search.cpp).
  struct SearchPlans;

 private:
  std::shared_ptr<const Code> code_;
  std::shared_ptr<const SearchPlans> search_plans_;
};

}  // namespace treaty
