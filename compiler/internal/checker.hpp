// Private to compiler/: the pieces of the checker shared between its source files.
#pragma once

#include <cctype>
#include <string>
#include <string_view>
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

/// The name an `exists` gives its variable, read from its source text (`exists t: T where ...`,
/// `exists t in S where ...`); empty when the text does not say (a span from a bundle). The IR
/// keeps slots, not names, so the lint and the dump read it back from the source.
inline std::string_view exists_binder(std::string_view text) {
  if (text.rfind("exists ", 0) != 0) return {};
  std::size_t e = 7;
  while (e < text.size() && (std::isalnum(static_cast<unsigned char>(text[e])) || text[e] == '_')) ++e;
  return text.substr(7, e - 7);
}

}  // namespace treaty::detail
