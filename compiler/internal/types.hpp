// Private to compiler/: the relations between static types that every pass of the checker asks
// (can two values be equal, may one stand for another) and the quoting of names in messages.
// They depend on the types and the schema only, never on the checker's state.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "treaty/program.hpp"

namespace treaty::detail {

/// A type as messages quote it: `Set<Role>`, `Person | Employee`.
[[nodiscard]] std::string type_text(const Schema& s, const Type& t);

/// Do two sorted sets of entity types share a type?
[[nodiscard]] bool entity_overlap(std::span<const TypeId> a, std::span<const TypeId> b);
/// Is every type of sorted `a` in sorted `b`?
[[nodiscard]] bool entity_subset(std::span<const TypeId> a, std::span<const TypeId> b);

/// Can values of these types ever be equal?
[[nodiscard]] bool comparable(const Type& a, const Type& b);

/// May a value of type `v` stand where `target` is expected? (Optionality is not checked:
/// evaluation is total and `none` flows through as `none`.)
[[nodiscard]] bool assignable(const Type& v, const Type& target);

/// `Bool`, not a set of them.
[[nodiscard]] inline bool is_bool(const Type& t) { return t.base == Base::bool_ && !t.set; }

}  // namespace treaty::detail
