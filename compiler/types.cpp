// The type relations the checker's passes share (compiler/internal/types.hpp).
#include "internal/types.hpp"
#include "treaty/diagnostics.hpp"

#include <algorithm>

namespace treaty::detail {


std::string type_text(const Schema& s, const Type& t) { return tick(s.type_name(t)); }

bool entity_overlap(std::span<const TypeId> a, std::span<const TypeId> b) {
  for (TypeId x : a)
    if (std::binary_search(b.begin(), b.end(), x)) return true;
  return false;
}

bool entity_subset(std::span<const TypeId> a, std::span<const TypeId> b) {
  for (TypeId x : a)
    if (!std::binary_search(b.begin(), b.end(), x)) return false;
  return true;
}

bool comparable(const Type& a, const Type& b) {
  if (a.base == Base::none || b.base == Base::none) return true;
  if (a.base == Base::empty_set) return b.set || b.base == Base::empty_set;
  if (b.base == Base::empty_set) return a.set;
  if (a.set != b.set || a.base != b.base) return false;
  if (a.base == Base::enum_) return a.enum_id == b.enum_id;
  if (a.base == Base::entity) return entity_overlap(a.entities, b.entities);
  return true;
}

bool assignable(const Type& v, const Type& target) {
  if (v.base == Base::none) return true;
  if (v.base == Base::empty_set) return target.set;
  if (v.set != target.set || v.base != target.base) return false;
  if (v.base == Base::enum_) return v.enum_id == target.enum_id;
  if (v.base == Base::entity) return entity_subset(v.entities, target.entities);
  return true;
}

}  // namespace treaty::detail
