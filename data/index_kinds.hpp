// The builders of the index kinds, one per file (data/index_KIND.cpp); build_entity_index
// (data/index.cpp) picks one by IndexSpec::kind.
#pragma once

#include <memory>

#include "treaty/data/index.hpp"
#include "treaty/data/world.hpp"

namespace treaty::detail {
std::unique_ptr<EntityIndex> build_column_index(const World& w, const IndexSpec& s);
std::unique_ptr<EntityIndex> build_pair_index(const World& w, const IndexSpec& s);
}  // namespace treaty::detail
