// The table every index kind keeps its keys in: an open-addressing hash table of distinct keys
// (at most 3/4 full), each with the run of its entities. A key held by one entity keeps that
// entity in the slot itself, so most probes touch one cache line.
#pragma once

#include <cstdint>
#include <vector>

#include "hash.hpp"
#include "treaty/data/index.hpp"
#include "treaty/data/world.hpp"

namespace treaty::detail {

class KeyTable {
 public:
  /// Builds the table of `ents` by key(e), in two passes: the distinct keys and their counts,
  /// then each key's run of entities in entity order.
  template <typename KeyOf>
  void build(const std::vector<EntityId>& ents, KeyOf key) {
    std::size_t keys = 0;
    slots_.assign(16, Slot{});
    for (EntityId e : ents) {
      if ((keys + 1) * 4 > slots_.size() * 3) grow();
      const Value k = key(e);
      Slot& sl = slots_[slot_of(k)];
      if (sl.count == 0) {
        sl.key = k;
        ++keys;
      }
      ++sl.count;
    }
    keys_ = keys;
    std::size_t total = 0;
    for (auto& sl : slots_)
      if (sl.count > 1) {
        sl.begin = static_cast<std::uint32_t>(total);
        total += sl.count;
      }
    entities_.resize(total);
    std::vector<std::uint32_t> filled(slots_.size(), 0);
    for (EntityId e : ents) {
      const std::size_t i = slot_of(key(e));
      Slot& sl = slots_[i];
      if (sl.count == 1) sl.begin = e;
      else entities_[sl.begin + filled[i]++] = e;
    }
  }

  /// The run of key `v` (empty when absent).
  [[nodiscard]] EntityRange find(const Value& v) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = mix32(value_hash(v)) & mask;; i = (i + 1) & mask) {
      const Slot& sl = slots_[i];
      if (sl.count == 0) return EntityRange{};
      if (!same_key(sl.key, v)) continue;
      if (sl.count == 1) return EntityRange{&sl.begin, 1};
      return EntityRange{entities_.data() + sl.begin, sl.count};
    }
  }

  /// Calls f(key) for each distinct key.
  template <typename F>
  void for_each_key(F&& f) const {
    for (const auto& sl : slots_)
      if (sl.count) f(sl.key);
  }
  [[nodiscard]] std::size_t keys() const noexcept { return keys_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return slots_.capacity() * sizeof(Slot) + entities_.capacity() * sizeof(EntityId);
  }

 private:
  struct Slot {
    Value key;
    std::uint32_t begin = 0;  ///< offset into entities_, or the entity itself when count == 1
    std::uint32_t count = 0;  ///< 0: empty slot
  };
  static bool same_key(const Value& a, const Value& b) {
    return a.tag == b.tag && (a.tag == Tag::none || value_equal(a, b));
  }
  [[nodiscard]] std::size_t slot_of(const Value& k) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = mix32(value_hash(k)) & mask;; i = (i + 1) & mask)
      if (slots_[i].count == 0 || same_key(slots_[i].key, k)) return i;
  }
  void grow() {
    BigVector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const auto& sl : old)
      if (sl.count) slots_[slot_of(sl.key)] = sl;
  }

  BigVector<Slot> slots_;
  BigVector<EntityId> entities_;
  std::size_t keys_ = 0;
};

}  // namespace treaty::detail
