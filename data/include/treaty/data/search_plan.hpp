// How reverse queries find their candidates (docs/query.md, "How the candidates are found"): each
// permit planned once per searched side, from the IR alone. The runtime runs the plans
// (runtime/search.cpp); the compiler's lint W0610 reports the permits whose plan is a scan.
// `treaty diff` plans here too (plan_seeded): from a fact that differs between two versions to
// the entities whose decisions it can change.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "treaty/program.hpp"

namespace treaty::search_detail {

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

/// How one permit finds its candidates on one side: a generator, or a scan.
struct SidePlan {
  std::optional<Gen> gen;
  std::string how;  ///< what drives it, or why it scans
  /// No condition reads the searched side: the permit applies to every entity of the type or
  /// to none, which one decision tells (a gate, instead of a scan that could find nothing).
  bool independent = false;
  /// Some `when` condition reads the searched side (one that is only in `unless` conditions
  /// removes entities: what is left is most of the type, which a scan costs in proportion to).
  bool when_reads = false;
  /// The conditions (by index) that read neither this side nor anything but the other side and
  /// the arguments: evaluated with the other side alone, they rule a rule out before any search
  /// (Engine::rule_may_hold). Forbids too.
  std::vector<std::uint32_t> known_only;
  /// Without a generator and not independent: a search must decide every entity of the type.
  [[nodiscard]] bool scans() const { return !gen && !independent; }
};

/// The frame slots every request fills: the actions' parameters (2 + parameter-name id), sorted.
[[nodiscard]] std::vector<std::uint32_t> request_param_slots(const Program& p);

/// Plans every permit of `p` for both sides (0: the principals are searched, 1: the resources),
/// by rule (forbids get no generator, only `known_only`); `specs` receives the column indexes the
/// plans probe.
[[nodiscard]] std::vector<std::array<SidePlan, 2>> plan_permits(const Program& p, std::vector<IndexSpec>& specs);

/// A seeded plan (treaty diff) of rule `rule` for side `side`: the variable of the `exists` node
/// `site` is a fact that differs from another version's; the generator (a union, one per
/// condition that reaches the site) gives a superset of the entities of that side whose decision
/// can differ through it, run with the site's variable set to the fact (Gen::Kind::seeded), the
/// other side unknown and the arguments known. nullopt when some condition reaching the site
/// cannot be planned, or none does. `how` receives what it does; `specs` the indexes it probes.
[[nodiscard]] std::optional<Gen> plan_seeded(const Program& p, std::uint32_t rule, NodeId site, int side,
                                             std::string& how, std::vector<IndexSpec>& specs);

/// What a generator does, for `--explain`.
[[nodiscard]] std::string describe(const Program& p, const Gen& g);

}  // namespace treaty::search_detail
