// Private to compiler/: the pieces of the checker shared between its source files.
#pragma once

#include <string>
#include <vector>

#include "treaty/check.hpp"

namespace treaty::detail {

/// Creates the entities of every fact (so references resolve whatever the order), then fills
/// their attributes and checks references and keys.
void build_world(Program& p, SourceManager& sm, const std::vector<const syntax::FactDecl*>& facts,
                 const std::vector<std::string>& data_files,
                 const std::vector<std::pair<std::string, std::string>>& data_texts, std::size_t max_facts,
                 Diagnostics& d);

/// Resolves entity references against a world, interning into it.
class WorldResolver : public ConstantResolver {
 public:
  explicit WorldResolver(World& w) : w_(w) {}
  std::optional<EntityId> find(TypeId type, std::string_view id) const override { return w_.find(type, id); }
  const std::string* intern(std::string_view s) override { return w_.intern(s); }
  Value make_set(std::vector<Value> items) override { return w_.make_set(std::move(items)); }

 private:
  World& w_;
};

}  // namespace treaty::detail
