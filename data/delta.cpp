// Live facts: the delta over a sealed world and the builder of the next one (treaty/data/delta.hpp).
#include "treaty/data/delta.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace treaty {

const std::vector<EntityId> FactDelta::kEmpty;

FactDelta::FactDelta(const World& w, std::size_t types)
    : w_(&w), base_(static_cast<EntityId>(w.size())), bits_((w.size() + 63) / 64, 0), by_type_(types) {
  for (std::size_t k = 0; k < w.index_count(); ++k)
    probes_.push_back({w.index(static_cast<std::int32_t>(k)).spec(), std::vector<std::shared_ptr<const Bucket>>(
                                                                         std::size_t{1} << kProbeBucketBits)});
}

std::span<const FactDelta::ProbeEntry> FactDelta::probe(std::int32_t number, const Value& v, const Value& v2) const {
  if (number < 0 || static_cast<std::size_t>(number) >= probes_.size()) return {};
  const std::uint64_t h = key_hash(v, v2);
  const auto& b = probes_[static_cast<std::size_t>(number)].buckets[h >> (64 - kProbeBucketBits)];
  if (!b) return {};
  const auto lo = std::lower_bound(b->begin(), b->end(), ProbeEntry{h, 0});
  auto hi = lo;
  while (hi != b->end() && hi->first == h) ++hi;
  return {lo, hi};
}

std::string FactDelta::key(TypeId type, std::string_view id) {
  std::string k(sizeof type, '\0');
  std::memcpy(k.data(), &type, sizeof type);
  k.append(id);
  return k;
}

const DeltaEntity* FactDelta::get(EntityId e) const {
  if (e >= end() || (e < base_ && !touched(e))) return nullptr;
  return at(e);
}

std::optional<EntityId> FactDelta::slot(TypeId type, std::string_view id) const {
  if (auto e = w_->find(type, id)) return e;
  if (added_ids_.empty()) return std::nullopt;
  const auto it = added_ids_.find(key(type, id));
  if (it == added_ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<EntityId> FactDelta::find(TypeId type, std::string_view id) const {
  auto e = slot(type, id);
  if (e && !live(*e)) return std::nullopt;
  return e;
}

bool FactDelta::live(EntityId e) const {
  if (e < base_ && !touched(e)) return true;
  const DeltaEntity* d = get(e);
  return d && !d->deleted;
}

TypeId FactDelta::type_of(EntityId e) const {
  if (e < base_ && !touched(e)) return w_->type_of(e);
  const DeltaEntity* d = get(e);
  return d && !d->deleted ? d->type : kNone32;
}

std::string_view FactDelta::id(EntityId e) const {
  if (e < base_) return w_->id(e);
  const DeltaEntity* d = get(e);
  return d ? std::string_view(d->id) : std::string_view();
}

Value FactDelta::attr(EntityId e, std::uint32_t column) const {
  if (e < base_ && !touched(e)) return w_->attr(e, column);
  const DeltaEntity* d = get(e);
  return d && column < d->attrs.size() ? d->attrs[column] : Value::none();
}

std::size_t FactDelta::memory_bytes() const {
  std::size_t n = bits_.size() * 8 + chunks_.size() * 16 + added_ids_.size() * 64;
  for (const auto& v : by_type_) n += v.capacity() * sizeof(EntityId);
  for (const auto& c : chunks_) {
    if (!c) continue;
    n += sizeof(Chunk);
    for (const auto& p : c->slots)
      if (p) n += sizeof(DeltaEntity) + p->id.capacity() + p->attrs.capacity() * sizeof(Value);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// FactDeltaBuilder
// ---------------------------------------------------------------------------------------------
FactDeltaBuilder::FactDeltaBuilder(const Schema& s, const FactDelta& prev) : s_(s), prev_(prev), next_(prev.end()) {}

std::optional<EntityId> FactDeltaBuilder::find(TypeId type, std::string_view id) const {
  if (!new_ids_.empty()) {
    const auto it = new_ids_.find(FactDelta::key(type, id));
    if (it != new_ids_.end()) return it->second;
  }
  auto e = prev_.find(type, id);
  if (!e) return std::nullopt;
  const auto it = pending_.find(*e);
  if (it != pending_.end() && it->second.deleted) return std::nullopt;
  return e;
}

const std::string* FactDeltaBuilder::intern(std::string_view s) {
  arena_->strings.emplace_back(s);
  return &arena_->strings.back();
}

Value FactDeltaBuilder::make_set(std::vector<Value> items) {
  if (auto m = normalize_set(items)) return *m;
  arena_->sets.push_back(std::make_unique<SetValue>(SetValue{std::move(items)}));
  return Value::setv(arena_->sets.back().get());
}

std::optional<EntityId> FactDeltaBuilder::create(TypeId type, std::string_view id, Span) {
  const auto ncols = s_.entities[type].attrs.size();
  if (auto e = prev_.slot(type, id)) {
    if (pending_.count(*e)) return std::nullopt;  // twice in one batch
    Pending& p = pending_[*e];
    p.type = type;
    p.id = std::string(id);
    p.attrs.assign(ncols, Value::none());
    p.existed = prev_.live(*e);
    touched_.push_back({*e, type, p.existed, false});
    return e;
  }
  auto [it, fresh] = new_ids_.try_emplace(FactDelta::key(type, id), next_);
  if (!fresh) return std::nullopt;
  Pending& p = pending_[next_];
  p.type = type;
  p.id = std::string(id);
  p.attrs.assign(ncols, Value::none());
  touched_.push_back({next_, type, false, false});
  return next_++;
}

void FactDeltaBuilder::set_attr(EntityId e, std::uint32_t column, Value v) {
  auto it = pending_.find(e);
  if (it != pending_.end() && column < it->second.attrs.size()) it->second.attrs[column] = v;
}

std::size_t FactDeltaBuilder::size() const { return next_; }

std::string_view FactDeltaBuilder::id_of(EntityId e) const {
  const auto it = pending_.find(e);
  return it != pending_.end() ? std::string_view(it->second.id) : prev_.id(e);
}

bool FactDeltaBuilder::remove(TypeId type, std::string_view id, std::string& error) {
  const std::string name = "`" + s_.entities[type].name + "::" + quote_string(id) + "`";
  auto e = prev_.find(type, id);
  if (!e) {
    const auto it = new_ids_.find(FactDelta::key(type, id));
    error = it != new_ids_.end() ? "entity " + name + " is upserted and deleted in the same batch"
                                 : "no entity " + name + " to delete";
    return false;
  }
  auto it = pending_.find(*e);
  if (it != pending_.end()) {
    error = it->second.deleted ? "entity " + name + " is deleted twice in the batch"
                               : "entity " + name + " is upserted and deleted in the same batch";
    return false;
  }
  Pending& p = pending_[*e];
  p.type = type;
  p.id = std::string(id);
  p.existed = true;
  p.deleted = true;
  p.delete_index = touched_.size();
  touched_.push_back({*e, type, true, true});
  return true;
}

namespace {
bool refers_to(const Value& v, EntityId target) {
  if (v.tag == Tag::entity) return static_cast<EntityId>(v.i) == target;
  if (v.tag == Tag::set) return set_contains(v, Value::entity(target));
  return false;
}
}  // namespace

std::shared_ptr<FactDelta> FactDeltaBuilder::finish(Diagnostics& d) {
  // A delete must leave no reference to the entity: among the live entities after the batch (the
  // world's the delta does not hold, the delta's, the batch's own) none may name it.
  std::vector<EntityId> deleted;
  for (const auto& t : touched_)
    if (t.deleted) deleted.push_back(t.entity);
  if (!deleted.empty()) {
    std::sort(deleted.begin(), deleted.end());
    auto gone = [&](EntityId e) { return std::binary_search(deleted.begin(), deleted.end(), e); };
    const World& w = prev_.world();
    const auto ntypes = static_cast<TypeId>(s_.entities.size());
    std::vector<bool> deleted_type(ntypes, false);
    for (const auto& t : touched_)
      if (t.deleted) deleted_type[t.type] = true;
    auto report = [&](EntityId holder, TypeId ht, std::uint32_t col, EntityId target) {
      const auto it = pending_.find(target);
      const std::string tname = it != pending_.end() ? s_.entities[it->second.type].name + "::" + quote_string(it->second.id)
                                                     : std::string(prev_.id(target));
      d.add(DiagId::bad_data, Span{},
            "at delete[" + std::to_string(it != pending_.end() ? it->second.delete_index : 0) + "]: entity `" + tname +
                "` is still referred to by `" + s_.entities[ht].name + "::" + quote_string(id_of(holder)) + "`." +
                s_.entities[ht].attrs[col].name + "; change or delete that entity in the same batch");
    };
    std::size_t reported = 0;
    auto check_value = [&](EntityId holder, TypeId ht, std::uint32_t col, const Value& v) {
      if (reported >= 10) return;
      if (v.tag == Tag::entity && gone(static_cast<EntityId>(v.i))) {
        report(holder, ht, col, static_cast<EntityId>(v.i));
        ++reported;
      } else if (v.tag == Tag::set) {
        for (EntityId g : deleted)
          if (refers_to(v, g)) {
            report(holder, ht, col, g);
            ++reported;
            break;
          }
      }
    };
    for (TypeId ht = 0; ht < ntypes; ++ht) {
      const auto& et = s_.entities[ht];
      for (std::uint32_t c = 0; c < et.attrs.size(); ++c) {
        const Type& at = et.attrs[c].type;
        if (at.base != Base::entity) continue;
        bool can = false;
        for (TypeId u : at.entities) can = can || (u < ntypes && deleted_type[u]);
        if (!can) continue;
        // The world's entities the delta and the batch leave as they are: through an index of
        // the column when there is one (the holders of each deleted entity of the world), else
        // every entity of the type.
        const EntityIndex* idx = !at.set && ref_index_ ? ref_index_(ht, c) : nullptr;
        if (idx) {
          for (EntityId g : deleted) {
            if (g >= w.size()) continue;  // a delta entity: no world entity refers to it
            for (EntityId e : idx->probe(Value::entity(g), Value::entity(g))) {
              if (prev_.touched(e) || pending_.count(e)) continue;
              check_value(e, ht, c, w.attr(e, c));
            }
          }
        } else {
          for (EntityId e : w.of_type(ht)) {
            if (prev_.touched(e) || pending_.count(e)) continue;
            check_value(e, ht, c, w.attr(e, c));
          }
        }
        for (EntityId e : prev_.of_type(ht)) {
          if (pending_.count(e)) continue;
          check_value(e, ht, c, prev_.attr(e, c));
        }
        for (const auto& [e, p] : pending_)
          if (!p.deleted && p.type == ht) check_value(e, ht, c, p.attrs[c]);
      }
    }
    if (reported) return nullptr;
  }

  auto next = std::make_shared<FactDelta>(prev_);
  // Chunks this batch writes to are copied once (the previous delta keeps its own).
  std::vector<bool> copied;
  auto slot_of = [&](EntityId e) -> FactDelta::Ptr& {
    const std::size_t c = e >> FactDelta::kChunkBits;
    if (c >= next->chunks_.size()) next->chunks_.resize(c + 1);
    if (c >= copied.size()) copied.resize(c + 1, false);
    if (!copied[c]) {
      next->chunks_[c] = next->chunks_[c] ? std::make_shared<FactDelta::Chunk>(*next->chunks_[c])
                                          : std::make_shared<FactDelta::Chunk>();
      copied[c] = true;
    }
    // Only this builder holds the copy until it is published.
    return const_cast<FactDelta::Chunk&>(*next->chunks_[c]).slots[e & (FactDelta::kChunk - 1)];
  };
  // The live entities by type: merged once per type, so a batch costs the type's list once.
  std::unordered_map<TypeId, std::vector<EntityId>> come, gone;
  for (auto& [e, p] : pending_) {
    auto ent = std::make_shared<DeltaEntity>();
    ent->type = p.type;
    ent->id = std::move(p.id);
    ent->deleted = p.deleted;
    if (!p.deleted) {
      ent->attrs = std::move(p.attrs);
      ent->arena = arena_;
    }
    (p.deleted ? gone[p.type] : come[p.type]).push_back(e);
    if (e < next->base_) {
      if (!next->touched(e)) ++next->changed_;
      next->bits_[e >> 6] |= std::uint64_t{1} << (e & 63);
    } else {
      // New ids are given out in order but pending_ is unordered: make room up to this one.
      next->added_ = std::max<EntityId>(next->added_, e - next->base_ + 1);
      if (e >= prev_.end()) next->added_ids_[FactDelta::key(p.type, ent->id)] = e;
    }
    slot_of(e) = std::move(ent);
  }
  // The probe tables of the indexes over a type the batch wrote: each touched entity's old entry
  // out (it had one when the delta held it live), its new one in; only the buckets concerned
  // are copied.
  for (auto& table : next->probes_) {
    if (!come.count(table.spec.type) && !gone.count(table.spec.type)) continue;
    std::unordered_map<std::size_t, FactDelta::Bucket> edited;
    auto bucket = [&](std::uint64_t h) -> FactDelta::Bucket& {
      const std::size_t b = h >> (64 - FactDelta::kProbeBucketBits);
      auto [it, fresh] = edited.try_emplace(b);
      if (fresh && table.buckets[b]) it->second = *table.buckets[b];
      return it->second;
    };
    for (const auto& [e, p] : pending_) {
      if (p.type != table.spec.type) continue;
      if (const DeltaEntity* old = prev_.get(e); old && !old->deleted) {
        const std::uint64_t h = next->entity_key(table, old->attrs);
        auto& v = bucket(h);
        v.erase(std::remove(v.begin(), v.end(), FactDelta::ProbeEntry{h, e}), v.end());
      }
      if (const DeltaEntity* now = next->at(e); now && !now->deleted)
        bucket(next->entity_key(table, now->attrs)).push_back({next->entity_key(table, now->attrs), e});
    }
    for (auto& [b, v] : edited) {
      std::sort(v.begin(), v.end());
      table.buckets[b] = v.empty() ? nullptr : std::make_shared<const FactDelta::Bucket>(std::move(v));
    }
  }
  for (auto* changes : {&gone, &come})
    for (auto& [t, ids] : *changes) {
      std::sort(ids.begin(), ids.end());
      auto& list = next->by_type_[t];
      std::vector<EntityId> merged;
      merged.reserve(list.size() + ids.size());
      if (changes == &gone) {
        std::set_difference(list.begin(), list.end(), ids.begin(), ids.end(), std::back_inserter(merged));
      } else {
        std::set_union(list.begin(), list.end(), ids.begin(), ids.end(), std::back_inserter(merged));
      }
      list = std::move(merged);
    }
  return next;
}

}  // namespace treaty
