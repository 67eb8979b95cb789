// IndexKind::column: the entities of a type by the value of one column (`x.a == key`).
#include "index_kinds.hpp"
#include "index_table.hpp"

namespace treaty::detail {
namespace {

class ColumnIndex final : public EntityIndex {
 public:
  ColumnIndex(const World& w, const IndexSpec& s) : EntityIndex(s), world_size_(w.size()) {
    table_.build(w.of_type(s.type), [&](EntityId e) { return w.attr(e, s.column); });
    bool entity_keys = true;
    table_.for_each_key([&](const Value& k) { entity_keys = entity_keys && k.tag == Tag::entity; });
    if (entity_keys && table_.keys() > 0) {
      referenced_.assign((world_size_ + 63) / 64, 0);
      table_.for_each_key([&](const Value& k) {
        if (static_cast<std::uint64_t>(k.i) < world_size_)
          referenced_[static_cast<std::size_t>(k.i) / 64] |= std::uint64_t{1} << (k.i % 64);
      });
    }
  }

  EntityRange probe(const Value& v, const Value&) const override {
    if (!referenced_.empty() && v.tag == Tag::entity) {
      const auto e = static_cast<std::uint64_t>(v.i);
      if (e >= world_size_ || !((referenced_[e / 64] >> (e % 64)) & 1u)) return EntityRange{};
    }
    return table_.find(v);
  }

  std::size_t memory_bytes() const override {
    return table_.memory_bytes() + referenced_.capacity() * sizeof(std::uint64_t);
  }

 private:
  KeyTable table_;
  std::size_t world_size_;
  /// For a column of entity references: one bit per entity of the world, set when some key refers
  /// to it. Small enough to stay in cache, it answers most probes that find nothing ("does this
  /// person hold any role assignment?") without touching the table.
  std::vector<std::uint64_t> referenced_;
};

}  // namespace

std::unique_ptr<EntityIndex> build_column_index(const World& w, const IndexSpec& s) {
  return std::make_unique<ColumnIndex>(w, s);
}

}  // namespace treaty::detail
