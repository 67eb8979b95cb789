// Index specs to indexes, and the world's list of built indexes.
#include <stdexcept>

#include "index_kinds.hpp"

namespace treaty {

std::unique_ptr<EntityIndex> build_entity_index(const World& w, const IndexSpec& s) {
  switch (s.kind) {
    case IndexKind::column: return detail::build_column_index(w, s);
    case IndexKind::pair:
      if (s.column2 < 0) throw std::invalid_argument("a pair index needs a second column");
      return detail::build_pair_index(w, s);
  }
  throw std::invalid_argument("unknown index kind");
}

void World::build_index(const IndexSpec& s) {
  if (has_index(s)) return;
  indexes_.push_back(build_entity_index(*this, s));
}

std::int32_t World::index_number(const IndexSpec& s) const {
  for (std::size_t i = 0; i < indexes_.size(); ++i)
    if (indexes_[i]->spec() == s) return static_cast<std::int32_t>(i);
  return -1;
}

std::optional<EntityRange> World::probe(const IndexSpec& s, const Value& v, const Value& v2) const {
  const std::int32_t n = index_number(s);
  if (n < 0) return std::nullopt;
  return index(n).probe(v, v2);
}

}  // namespace treaty
