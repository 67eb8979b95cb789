// Live facts (data layer): what the writes since a world was sealed changed, as one immutable
// layer over it. A FactDelta is a value: each committed batch makes the next one from the last
// (FactDeltaBuilder), and readers hold the one they began with, so a decision never sees half a
// batch. docs/architecture.md ("Live facts") says how it is read and how it is reclaimed.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "treaty/convert.hpp"
#include "treaty/data/world.hpp"

namespace treaty {

/// The strings and sets of one batch's values (DeltaEntity values point into it). Shared by the
/// entities of that batch: it is freed when the last of them has been replaced or deleted and no
/// reader holds a delta that has it.
struct DeltaArena {
  std::deque<std::string> strings;
  std::vector<std::unique_ptr<SetValue>> sets;
};

/// An entity as the writes left it: an entity of the world with new attributes, a new entity, or
/// a deleted one.
struct DeltaEntity {
  TypeId type = 0;
  std::string id;
  std::vector<Value> attrs;  ///< by column; empty when deleted
  bool deleted = false;
  std::shared_ptr<const DeltaArena> arena;
};

/// The changes since a world was sealed. Entities of the world keep their ids; new entities get
/// ids from world.size() on (`end()` is the next), before any request overlay's. Immutable once
/// built; the next one shares every part a batch does not change.
class FactDelta {
 public:
  using Ptr = std::shared_ptr<const DeltaEntity>;
  /// No changes over `w` (which must outlive the delta and every one made from it).
  FactDelta(const World& w, std::size_t types);

  [[nodiscard]] const World& world() const { return *w_; }
  [[nodiscard]] EntityId base() const { return base_; }
  /// One past the last entity id the delta gives out.
  [[nodiscard]] EntityId end() const { return base_ + added_; }
  /// True when the delta holds the state of `e` (an entity of the world it changed or deleted,
  /// or an entity it added): read it with get(), not from the world.
  [[nodiscard, gnu::always_inline]] bool touched(EntityId e) const {
    if (e >= base_) return true;
    return (bits_[e >> 6] >> (e & 63)) & 1u;
  }
  /// The delta's state of `e`; null when it did not touch `e` (or `e` is no id of it).
  [[nodiscard]] const DeltaEntity* get(EntityId e) const;
  /// The live entity (type, id) of the world with the delta applied; nullopt when it is unknown
  /// or deleted.
  [[nodiscard]] std::optional<EntityId> find(TypeId type, std::string_view id) const;
  /// The id (type, id) has or had: also for a deleted entity, so a new upsert of it takes it back.
  [[nodiscard]] std::optional<EntityId> slot(TypeId type, std::string_view id) const;
  /// The live entities of type `t` whose state the delta holds, ascending.
  [[nodiscard]] const std::vector<EntityId>& of_type(TypeId t) const {
    return t < by_type_.size() ? by_type_[t] : kEmpty;
  }
  /// The delta's side of the world's index `number` (World::index_number): its live entities
  /// whose key hashes as the key (v, v2) does (v2 = v for a one-column index), a superset of those
  /// whose key equals it (the caller evaluates the condition anyway), in no particular order.
  using ProbeEntry = std::pair<std::uint64_t, EntityId>;
  [[nodiscard]] std::span<const ProbeEntry> probe(std::int32_t number, const Value& v, const Value& v2) const;
  /// The hash probe() looks a key up by.
  [[nodiscard]] static std::uint64_t key_hash(const Value& v, const Value& v2) {
    return value_hash(v) * 0x9e3779b97f4a7c15ull ^ value_hash(v2);
  }
  /// Entities the delta holds a state of (changed, added or deleted).
  [[nodiscard]] std::size_t size() const { return changed_ + added_; }
  /// Whether `e` is live: an entity of the world the delta did not delete, or one it added.
  [[nodiscard]] bool live(EntityId e) const;
  /// The type of a live entity; kNone32 otherwise.
  [[nodiscard]] TypeId type_of(EntityId e) const;
  /// The id text of `e` (also of a deleted one).
  [[nodiscard]] std::string_view id(EntityId e) const;
  /// Attribute `column` of a live entity.
  [[nodiscard]] Value attr(EntityId e, std::uint32_t column) const;
  /// Bytes held by the delta's own tables and entities (not the world's).
  [[nodiscard]] std::size_t memory_bytes() const;

 private:
  friend class FactDeltaBuilder;
  static std::string key(TypeId type, std::string_view id);
  const World* w_;
  EntityId base_;
  /// The state of every touched entity, by id, in chunks of kChunk shared between deltas: a batch
  /// copies the table of chunk pointers (one per kChunk ids) and the chunks it writes to, so its
  /// cost does not grow with the size of the delta.
  static constexpr unsigned kChunkBits = 10;
  static constexpr EntityId kChunk = EntityId{1} << kChunkBits;
  struct Chunk {
    std::array<Ptr, kChunk> slots;
  };
  [[nodiscard]] const DeltaEntity* at(EntityId e) const {
    const std::size_t c = e >> kChunkBits;
    return c < chunks_.size() && chunks_[c] ? chunks_[c]->slots[e & (kChunk - 1)].get() : nullptr;
  }
  std::vector<std::uint64_t> bits_;              ///< touched entities of the world
  std::vector<std::shared_ptr<const Chunk>> chunks_;
  std::size_t changed_ = 0;                      ///< touched entities of the world
  EntityId added_ = 0;                           ///< entities base_ .. base_ + added_ - 1
  std::unordered_map<std::string, EntityId> added_ids_;  ///< key(type, id) -> added entity
  std::vector<std::vector<EntityId>> by_type_;
  /// For each index of the world: its spec, and the delta's live entities of its type by key
  /// hash, sorted, in kProbeBuckets buckets by the hash's top bits, so a batch copies the
  /// buckets it changes only.
  static constexpr unsigned kProbeBucketBits = 8;
  using Bucket = std::vector<ProbeEntry>;
  struct ProbeTable {
    IndexSpec spec;
    std::vector<std::shared_ptr<const Bucket>> buckets;  ///< (1 << kProbeBucketBits), null when empty
  };
  std::vector<ProbeTable> probes_;
  [[nodiscard]] std::uint64_t entity_key(const ProbeTable& t, const std::vector<Value>& attrs) const {
    const Value& v = attrs[t.spec.column];
    return key_hash(v, t.spec.column2 >= 0 ? attrs[static_cast<std::size_t>(t.spec.column2)] : v);
  }
  static const std::vector<EntityId> kEmpty;
};

/// One batch of writes over a delta, through the one converter: upserts arrive as facts JSON
/// entities (EntityLoader, as a data file's), deletes by (type, id). The builder is the loader's
/// store; finish() checks what the loader cannot (deletes of unknown entities, an entity upserted
/// and deleted at once, references left to a deleted entity) and makes the next delta. Keys and
/// requirements are the engine's to check (Engine::write_violations).
class FactDeltaBuilder : public EntityStore {
 public:
  FactDeltaBuilder(const Schema& s, const FactDelta& prev);

  // EntityStore: create() of an existing entity is an upsert (its attributes start over).
  std::optional<EntityId> find(TypeId type, std::string_view id) const override;
  const std::string* intern(std::string_view s) override;
  Value make_set(std::vector<Value> items) override;
  std::optional<EntityId> create(TypeId type, std::string_view id, Span span) override;
  void set_attr(EntityId e, std::uint32_t column, Value v) override;
  [[nodiscard]] std::size_t size() const override;
  [[nodiscard]] std::string_view id_of(EntityId e) const override;

  /// Queues the delete of (type, id); false with `error` when no such live entity exists or the
  /// batch names it twice.
  bool remove(TypeId type, std::string_view id, std::string& error);
  /// Where finish() finds the world's entities whose column `column` of type `type` (a single
  /// entity reference) holds a given entity: an index over that column, or null to scan the type.
  /// Without one, checking a delete costs a scan of every column that can refer to it.
  using RefIndex = std::function<const EntityIndex*(TypeId type, std::uint32_t column)>;
  void set_ref_index(RefIndex f) { ref_index_ = std::move(f); }
  /// The next delta; diagnostics (with `at` paths "delete[i]") for references a delete would leave
  /// dangling and deletes of entities the batch also upserts. Null when there was any.
  [[nodiscard]] std::shared_ptr<FactDelta> finish(Diagnostics& d);

  /// What the batch touches, for the engine's checks: upserted (new or replaced) and deleted.
  struct Touched {
    EntityId entity;
    TypeId type;
    bool existed;  ///< an entity of the world or the delta before the batch
    bool deleted;
  };
  [[nodiscard]] const std::vector<Touched>& touched() const { return touched_; }

 private:
  struct Pending {
    TypeId type;
    std::string id;
    std::vector<Value> attrs;
    bool existed = false;
    bool deleted = false;
    std::size_t delete_index = 0;
  };
  const Schema& s_;
  const FactDelta& prev_;
  std::shared_ptr<DeltaArena> arena_ = std::make_shared<DeltaArena>();
  std::unordered_map<EntityId, Pending> pending_;
  std::unordered_map<std::string, EntityId> new_ids_;  ///< key(type, id) of entities new in this batch
  std::vector<Touched> touched_;
  EntityId next_;
  RefIndex ref_index_;
};

}  // namespace treaty
