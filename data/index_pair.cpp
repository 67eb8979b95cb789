// IndexKind::pair: the entities of a type by the values of two columns at once, for `exists`
// bodies that fix both (`t.grantor == c and t.grantee == p` finds the one trust of the pair).
#include "index_kinds.hpp"
#include "index_table.hpp"

namespace treaty::detail {
namespace {

/// The key of a pair: 64 bits of the pair's hash, as an int value. Pairs whose hashes collide
/// share a run, so a probe answers a superset (callers test the attributes themselves).
Value pair_key(const Value& a, const Value& b) {
  std::uint64_t h = value_hash(a) * 0x9e3779b97f4a7c15ull ^ value_hash(b);
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return Value::integer(static_cast<std::int64_t>(h));
}
/// The filter bit of a pair key: a slice of the pair's hash (the table's slot comes from all of
/// it, remixed).
std::size_t filter_bit(const Value& key, std::size_t bits) {
  return static_cast<std::size_t>(static_cast<std::uint64_t>(key.i) >> 20) & (bits - 1);
}

class PairIndex final : public EntityIndex {
 public:
  PairIndex(const World& w, const IndexSpec& s) : EntityIndex(s) {
    const auto c2 = static_cast<std::uint32_t>(s.column2);
    table_.build(w.of_type(s.type), [&](EntityId e) { return pair_key(w.attr(e, s.column), w.attr(e, c2)); });
    std::size_t bits = 64;
    while (bits < table_.keys() * 4) bits *= 2;
    filter_.assign(bits / 64, 0);
    table_.for_each_key([&](const Value& k) {
      const std::size_t b = filter_bit(k, bits);
      filter_[b / 64] |= std::uint64_t{1} << (b % 64);
    });
  }

  EntityRange probe(const Value& v, const Value& v2) const override {
    const Value key = pair_key(v, v2);
    const std::size_t b = filter_bit(key, filter_.size() * 64);
    if (!((filter_[b / 64] >> (b % 64)) & 1u)) return EntityRange{};
    return table_.find(key);
  }

  std::size_t memory_bytes() const override {
    return table_.memory_bytes() + filter_.capacity() * sizeof(std::uint64_t);
  }

 private:
  KeyTable table_;
  /// A one-bit-per-key filter of the pairs' hashes, 4 to 8 bits per key (a power of two), so most
  /// probes for a pair that holds no entity (an untrusted pair of accounts) end in cache; a larger
  /// filter misses less often but crowds the cache more (16 bits per key measured slower at the
  /// median).
  std::vector<std::uint64_t> filter_;
};

}  // namespace

std::unique_ptr<EntityIndex> build_pair_index(const World& w, const IndexSpec& s) {
  return std::make_unique<PairIndex>(w, s);
}

}  // namespace treaty::detail
