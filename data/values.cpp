// Values, the world of facts, and schema lookups.
#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "hash.hpp"
#include "treaty/data/world.hpp"
#include "treaty/program.hpp"

namespace treaty {

namespace {
int tag_rank(Tag t) { return static_cast<int>(t); }

int compare(const Value& a, const Value& b) {
  if (a.tag != b.tag) return tag_rank(a.tag) < tag_rank(b.tag) ? -1 : 1;
  switch (a.tag) {
    case Tag::none: return 0;
    case Tag::bool_:
    case Tag::int_:
    case Tag::entity: return a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
    case Tag::enum_:
      if (a.aux != b.aux) return a.aux < b.aux ? -1 : 1;
      return a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
    case Tag::str:
      if (a.s == b.s) return 0;
      return a.s->compare(*b.s) < 0 ? -1 : (*a.s == *b.s ? 0 : 1);
    case Tag::set: {
      if (a.set == b.set) return 0;
      const auto& x = a.set->items;
      const auto& y = b.set->items;
      for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
        if (int c = compare(x[i], y[i])) return c;
      return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
    case Tag::enum_set:
      if (a.aux != b.aux) return a.aux < b.aux ? -1 : 1;
      return a.bits < b.bits ? -1 : (a.bits > b.bits ? 1 : 0);
  }
  return 0;
}
}  // namespace

bool value_less(const Value& a, const Value& b) { return compare(a, b) < 0; }

bool value_equal(const Value& a, const Value& b) {
  if (a.tag != b.tag) return false;
  switch (a.tag) {
    case Tag::none: return true;
    case Tag::bool_:
    case Tag::int_:
    case Tag::entity: return a.i == b.i;
    case Tag::enum_: return a.aux == b.aux && a.i == b.i;
    case Tag::str: return a.s == b.s || *a.s == *b.s;
    case Tag::set: return compare(a, b) == 0;
    case Tag::enum_set: return a.aux == b.aux && a.bits == b.bits;
  }
  return false;
}

std::size_t value_hash(const Value& v) {
  std::size_t h = static_cast<std::size_t>(v.tag) * 0x9e3779b97f4a7c15ull;
  switch (v.tag) {
    case Tag::none: return h;
    case Tag::str: return h ^ std::hash<std::string_view>{}(*v.s);
    case Tag::set: {
      for (const auto& x : v.set->items) h = h * 31 + value_hash(x);
      return h;
    }
    case Tag::enum_: return h ^ (static_cast<std::size_t>(v.aux) << 32) ^ static_cast<std::size_t>(v.i);
    case Tag::enum_set: return (h ^ (static_cast<std::size_t>(v.aux) << 32)) * 31 + static_cast<std::size_t>(v.bits);
    default: return h ^ std::hash<std::int64_t>{}(v.i);
  }
}

bool set_contains(const SetValue& s, const Value& v) {
  if (v.is_none()) return false;
  // Sets of roles, options and modules are small: a linear scan beats the binary search.
  if (s.items.size() <= 8) {
    for (const auto& x : s.items)
      if (value_equal(x, v)) return true;
    return false;
  }
  auto it = std::lower_bound(s.items.begin(), s.items.end(), v, value_less);
  return it != s.items.end() && value_equal(*it, v);
}

std::size_t set_size(const Value& s) {
  if (s.tag == Tag::enum_set) return static_cast<std::size_t>(__builtin_popcountll(s.bits));
  return s.tag == Tag::set ? s.set->items.size() : 0;
}

std::optional<Value> normalize_set(std::vector<Value>& items) {
  std::sort(items.begin(), items.end(), value_less);
  items.erase(std::unique(items.begin(), items.end(), value_equal), items.end());
  if (items.empty() || items.front().tag != Tag::enum_) return std::nullopt;
  std::uint64_t mask = 0;
  const std::uint32_t e = items.front().aux;
  for (const auto& x : items) {
    if (x.tag != Tag::enum_ || x.aux != e || x.i < 0 || x.i >= 64) return std::nullopt;
    mask |= std::uint64_t{1} << x.i;
  }
  return Value::enum_set(e, mask);
}

// ---------------------------------------------------------------------------------------------
namespace {
constexpr std::size_t kBigBlock = std::size_t{4} << 20;
constexpr std::size_t kHugePage = std::size_t{2} << 20;
}  // namespace

void* big_allocate(std::size_t bytes) {
#ifdef __linux__
  if (bytes >= kBigBlock) {
    // Map one huge page more than needed and trim both ends, so the block starts on a 2 MiB
    // boundary and every page of it can be a huge page.
    const std::size_t len = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* raw = mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (base + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > base) munmap(raw, aligned - base);
    const std::uintptr_t tail = aligned + len, end = base + len + kHugePage;
    if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
    madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);  // advice only: ignore failure
    return reinterpret_cast<void*>(aligned);
  }
#endif
  return ::operator new(bytes);
}

void big_deallocate(void* p, std::size_t bytes) noexcept {
#ifdef __linux__
  if (bytes >= kBigBlock) {
    munmap(p, (bytes + kHugePage - 1) / kHugePage * kHugePage);
    return;
  }
#endif
  ::operator delete(p);
}

const std::vector<EntityId> World::kEmpty;

namespace {
using detail::mix32;
std::uint32_t text_hash(std::string_view s) { return mix32(std::hash<std::string_view>{}(s)); }
std::uint32_t entity_hash(TypeId type, std::string_view id) {
  return mix32(std::hash<std::string_view>{}(id) ^ (static_cast<std::uint64_t>(type) * 0x9e3779b97f4a7c15ull));
}

/// The slot holding an item equal to the key (`eq(item)`), or the empty slot where it would go.
template <typename Slots, typename Eq>
std::size_t find_slot(const Slots& slots, std::uint32_t h, Eq&& eq) {
  const std::size_t mask = slots.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const HashSlot& sl = slots[i];
    if (sl.item == kNone32 || (sl.hash == h && eq(sl.item))) return i;
  }
}

/// Makes room for one more item: doubles the table (at least 16 slots) when it would pass 3/4.
template <typename Slots>
void grow_for(Slots& slots, std::size_t count) {
  if ((count + 1) * 4 <= slots.size() * 3) return;
  Slots bigger(std::max<std::size_t>(16, slots.size() * 2));
  const std::size_t mask = bigger.size() - 1;
  for (const HashSlot& sl : slots) {
    if (sl.item == kNone32) continue;
    std::size_t i = sl.hash & mask;
    while (bigger[i].item != kNone32) i = (i + 1) & mask;
    bigger[i] = sl;
  }
  slots.swap(bigger);
}
}  // namespace

const std::string* World::intern(std::string_view s) {
  const std::uint32_t h = text_hash(s);
  grow_for(string_slots_, string_store_.size());
  HashSlot& slot = string_slots_[find_slot(string_slots_, h, [&](std::uint32_t k) { return string_store_[k] == s; })];
  if (slot.item != kNone32) return &string_store_[slot.item];
  slot = {static_cast<std::uint32_t>(string_store_.size()), h};
  return &string_store_.emplace_back(s);
}

Value World::make_set(std::vector<Value> items) {
  if (auto m = normalize_set(items)) return *m;
  // Equal sets are shared: people of one account mostly belong to the same few teams.
  std::size_t hv = items.size();
  for (const auto& x : items) hv = hv * 31 + value_hash(x);
  const std::uint32_t h = mix32(hv);
  grow_for(set_slots_, sets_.size());
  HashSlot& slot = set_slots_[find_slot(set_slots_, h, [&](std::uint32_t k) {
    const auto& y = sets_[k]->items;
    return y.size() == items.size() && std::equal(y.begin(), y.end(), items.begin(), value_equal);
  })];
  if (slot.item == kNone32) {
    slot = {static_cast<std::uint32_t>(sets_.size()), h};
    items.shrink_to_fit();
    sets_.push_back(std::make_unique<SetValue>(SetValue{std::move(items)}));
  }
  return Value::setv(sets_[slot.item].get());
}

std::optional<EntityId> World::find(TypeId type, std::string_view id) const {
  if (entity_slots_.empty()) return std::nullopt;
  const std::size_t i = find_slot(entity_slots_, entity_hash(type, id), [&](std::uint32_t e) {
    return entities_[e].type == type && this->id(e) == id;
  });
  if (entity_slots_[i].item == kNone32) return std::nullopt;
  return entity_slots_[i].item;
}

const std::vector<EntityId>& World::of_type(TypeId t) const { return t < by_type_.size() ? by_type_[t] : kEmpty; }

bool World::claim_entity_slot(TypeId type, std::string_view id, EntityId e) {
  const std::uint32_t h = entity_hash(type, id);
  grow_for(entity_slots_, e);
  const std::size_t i = find_slot(entity_slots_, h, [&](std::uint32_t o) {
    return entities_[o].type == type && this->id(o) == id;
  });
  if (entity_slots_[i].item != kNone32) return false;
  entity_slots_[i] = {e, h};
  return true;
}

std::optional<EntityId> World::add(TypeId type, std::string_view id, std::uint32_t ncols, Span span) {
  if (ids_.size() + id.size() > 0xffffffffu || entities_.size() >= 0xfffffffeu)
    throw std::length_error("the world's entity ids exceed 4 GiB");
  const auto e = static_cast<EntityId>(entities_.size());
  if (!claim_entity_slot(type, id, e)) return std::nullopt;
  unseal();  // no longer known to be grouped by type
  EntityRecord r;
  r.type = type;
  r.first_attr = static_cast<std::uint32_t>(attrs_.size());
  r.id_off = static_cast<std::uint32_t>(ids_.size());
  r.id_len = static_cast<std::uint32_t>(id.size());
  ids_.append(id);
  entities_.push_back(r);
  if (span.valid()) {
    spans_.resize(e + 1);
    spans_[e] = span;
  }
  attrs_.resize(attrs_.size() + ncols);
  if (by_type_.size() <= type) by_type_.resize(type + 1);
  by_type_[type].push_back(e);
  return e;
}

void World::group_by_type(const std::vector<std::vector<ColumnKind>>& kinds_by_type) {
  unseal();
  const std::size_t n = entities_.size();
  std::vector<EntityId> new_id(n);
  std::vector<EntityId> order;  // old ids in new order
  order.reserve(n);
  for (TypeId t = 0; t < by_type_.size(); ++t)
    for (EntityId e : by_type_[t]) {
      new_id[e] = static_cast<EntityId>(order.size());
      order.push_back(e);
    }
  bool identity = true;
  for (std::size_t i = 0; i < n && identity; ++i) identity = order[i] == i;
  if (!identity) {
    auto remap = [&](Value& v) {
      if (v.tag == Tag::entity) v.i = new_id[static_cast<std::size_t>(v.i)];
    };
    BigVector<EntityRecord> records(n);
    BigVector<Value> attrs(attrs_.size());
    std::vector<Span> spans;
    std::uint32_t next_attr = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const EntityRecord& old = entities_[order[i]];
      const std::uint32_t ncols = order[i] + 1 < n ? entities_[order[i] + 1].first_attr - old.first_attr
                                                   : static_cast<std::uint32_t>(attrs_.size()) - old.first_attr;
      records[i] = old;
      records[i].first_attr = next_attr;
      for (std::uint32_t c = 0; c < ncols; ++c) {
        attrs[next_attr + c] = attrs_[old.first_attr + c];
        remap(attrs[next_attr + c]);
      }
      next_attr += ncols;
      const Span sp = span(order[i]);
      if (sp.valid()) {
        spans.resize(i + 1);
        spans[i] = sp;
      }
    }
    entities_.swap(records);
    attrs_.swap(attrs);
    spans_.swap(spans);
    for (auto& ids : by_type_)
      for (auto& e : ids) e = new_id[e];
    // Sets of entities: new ids, sorted again; rehash them all (a bijection keeps them distinct).
    set_slots_.assign(set_slots_.size(), HashSlot{});
    for (std::uint32_t k = 0; k < sets_.size(); ++k) {
      auto& items = sets_[k]->items;
      for (auto& x : items) remap(x);
      std::sort(items.begin(), items.end(), value_less);
      std::size_t hv = items.size();
      for (const auto& x : items) hv = hv * 31 + value_hash(x);
      const std::uint32_t h = mix32(hv);
      set_slots_[find_slot(set_slots_, h, [](std::uint32_t) { return false; })] = {k, h};
    }
    entity_slots_.assign(entity_slots_.size(), HashSlot{});
    for (EntityId e = 0; e < n; ++e) claim_entity_slot(entities_[e].type, id(e), e);
  }
  if (compute_type_ranges(kinds_by_type, attrs_.size())) seal();
}

bool World::compute_type_ranges(const std::vector<std::vector<ColumnKind>>& kinds_by_type, std::size_t nattrs) {
  type_first_.clear();
  type_attr_base_.clear();
  type_ncols_.clear();
  const std::size_t type_count = kinds_by_type.size();
  // Usable only when entities are contiguous by type, in type order, with contiguous attributes.
  std::vector<EntityId> first(type_count + 1, 0);
  std::vector<std::uint32_t> base(type_count + 1, 0), ncols(type_count + 1, 0), kind_base(type_count + 1, 0);
  std::size_t e = 0;
  std::uint64_t a = 0;
  for (TypeId t = 0; t < type_count; ++t) {
    first[t] = static_cast<EntityId>(e);
    base[t] = static_cast<std::uint32_t>(a);
    ncols[t] = static_cast<std::uint32_t>(kinds_by_type[t].size());
    kind_base[t + 1] = kind_base[t] + ncols[t];
    for (; e < entities_.size() && entities_[e].type == t; ++e) {
      if (entities_[e].first_attr != a) return false;
      a += ncols[t];
    }
  }
  if (e != entities_.size() || a != nattrs) return false;
  first[type_count] = static_cast<EntityId>(e);
  type_first_ = std::move(first);
  type_attr_base_ = std::move(base);
  type_ncols_ = std::move(ncols);
  type_kind_base_ = std::move(kind_base);
  kinds_.clear();
  for (const auto& ks : kinds_by_type) kinds_.insert(kinds_.end(), ks.begin(), ks.end());
  return true;
}

std::uint64_t World::encode(const Value& v, const ColumnKind& k) {
  if (v.tag == k.tag && v.aux == k.aux && (v.bits & kAsideBit) == 0 && v.tag != Tag::none) return v.bits;
  if (v.is_none()) return kAsideBit;  // aside_[0]
  if (aside_.empty()) aside_.push_back(Value::none());
  aside_.push_back(v);
  return kAsideBit | (aside_.size() - 1);
}

void World::seal() {
  if (aside_.empty()) aside_.push_back(Value::none());
  cells_.resize(attrs_.size());
  for_each_cell([&](std::uint32_t i, TypeId t, std::uint32_t c) {
    cells_[i] = encode(attrs_[i], kinds_[type_kind_base_[t] + c]);
  });
  BigVector<Value>().swap(attrs_);
}

void World::unseal() {
  if (!sealed()) return;
  BigVector<Value> attrs(cells_.size());
  for_each_cell([&](std::uint32_t i, TypeId t, std::uint32_t c) { attrs[i] = sealed_attr(i, t, c); });
  attrs_.swap(attrs);
  BigVector<std::uint64_t>().swap(cells_);
  aside_.clear();
  type_first_.clear();
}

std::vector<std::vector<ColumnKind>> column_kinds(const Schema& s) {
  std::vector<std::vector<ColumnKind>> out;
  for (const auto& et : s.entities) {
    auto& ks = out.emplace_back();
    for (const auto& a : et.attrs) {
      ColumnKind k;
      const Type& ty = a.type;
      if (ty.set) {
        k.tag = ty.base == Base::enum_ ? Tag::enum_set : Tag::set;
        if (ty.base == Base::enum_) k.aux = ty.enum_id;
      } else {
        switch (ty.base) {
          case Base::bool_: k.tag = Tag::bool_; break;
          case Base::int_: k.tag = Tag::int_; break;
          case Base::string: k.tag = Tag::str; break;
          case Base::enum_: k.tag = Tag::enum_; k.aux = ty.enum_id; break;
          case Base::entity: k.tag = Tag::entity; break;
          default: break;
        }
      }
      ks.push_back(k);
    }
  }
  return out;
}

std::size_t World::memory_bytes() const {
  std::size_t n = entities_.capacity() * sizeof(EntityRecord) + attrs_.capacity() * sizeof(Value) +
                  cells_.capacity() * sizeof(std::uint64_t) + aside_.capacity() * sizeof(Value) + ids_.capacity() +
                  (entity_slots_.size() + string_slots_.size() + set_slots_.size()) * sizeof(HashSlot) +
                  spans_.capacity() * sizeof(Span);
  for (const auto& str : string_store_) n += sizeof(std::string) + (str.capacity() > 15 ? str.capacity() + 1 : 0);
  for (const auto& set : sets_) n += sizeof(void*) + sizeof(SetValue) + set->items.capacity() * sizeof(Value);
  for (const auto& t : by_type_) n += t.capacity() * sizeof(EntityId);
  for (const auto& idx : indexes_) n += idx->memory_bytes();
  return n;
}

// ---------------------------------------------------------------------------------------------
namespace {
template <typename V>
std::optional<std::uint32_t> find_named(const V& v, std::string_view name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i].name == name) return static_cast<std::uint32_t>(i);
  return std::nullopt;
}
}  // namespace

std::optional<TypeId> Schema::find_entity(std::string_view name) const { return find_named(entities, name); }
std::optional<TypeId> Schema::find_enum(std::string_view name) const { return find_named(enums, name); }
std::optional<std::uint32_t> Schema::find_action(std::string_view name) const { return find_named(actions, name); }
std::optional<std::uint32_t> Schema::find_attr_name(std::string_view name) const {
  for (std::size_t i = 0; i < attr_names.size(); ++i)
    if (attr_names[i] == name) return static_cast<std::uint32_t>(i);
  return std::nullopt;
}

std::string Schema::type_name(const Type& t) const {
  std::string s;
  switch (t.base) {
    case Base::bool_: s = "Bool"; break;
    case Base::int_: s = "Int"; break;
    case Base::string: s = "String"; break;
    case Base::enum_: s = enums.at(t.enum_id).name; break;
    case Base::entity:
      if (t.entities.size() == entities.size() && entities.size() > 1) {
        s = "any entity";
      } else {
        for (std::size_t i = 0; i < t.entities.size(); ++i) {
          if (i) s += " | ";
          s += entities.at(t.entities[i]).name;
        }
      }
      break;
    case Base::none: return "none";
    case Base::empty_set: return "Set<?>";
  }
  if (t.set) s = "Set<" + s + ">";
  if (t.optional) s += (t.base == Base::entity && t.entities.size() > 1) ? " (optional)" : "?";
  return s;
}

Program::Program() : world_(std::make_unique<World>()) {}
Program::~Program() = default;
Program::Program(Program&&) noexcept = default;
Program& Program::operator=(Program&&) noexcept = default;

std::optional<std::uint32_t> Program::find_rule(std::string_view name) const {
  for (std::size_t i = 0; i < rules.size(); ++i)
    if (rules[i].name == name) return static_cast<std::uint32_t>(i);
  return std::nullopt;
}

std::string format_value(const Schema& schema, const World& world, const Value& v) {
  switch (v.tag) {
    case Tag::none: return "none";
    case Tag::bool_: return v.i ? "true" : "false";
    case Tag::int_: return std::to_string(v.i);
    case Tag::str: return "\"" + *v.s + "\"";
    case Tag::enum_: return schema.enums.at(v.aux).values.at(static_cast<std::size_t>(v.i));
    case Tag::entity: {
      if (static_cast<std::size_t>(v.i) >= world.size()) return "<inline entity>";
      const auto e = static_cast<EntityId>(v.i);
      return schema.entities.at(world.entity(e).type).name + "::\"" + std::string(world.id(e)) + "\"";
    }
    case Tag::set:
    case Tag::enum_set: {
      std::string s = "{";
      bool first = true;
      set_any(v, [&](const Value& x) {
        if (!first) s += ", ";
        first = false;
        s += format_value(schema, world, x);
        return false;
      });
      return s + "}";
    }
  }
  return "?";
}

}  // namespace treaty
