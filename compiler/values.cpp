// Values, the world of facts, and schema lookups.
#include <algorithm>
#include <cstring>

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

// ---------------------------------------------------------------------------------------------
const std::vector<EntityId> World::kEmpty;

const std::string* World::intern(std::string_view s) {
  if (auto it = strings_.find(s); it != strings_.end()) return it->second;
  string_store_.push_back(std::make_unique<std::string>(s));
  const std::string* p = string_store_.back().get();
  strings_.emplace(std::string_view(*p), p);
  return p;
}

const SetValue* World::make_set(std::vector<Value> items) {
  std::sort(items.begin(), items.end(), value_less);
  items.erase(std::unique(items.begin(), items.end(), value_equal), items.end());
  auto set = std::make_unique<SetValue>();
  set->items = std::move(items);
  sets_.push_back(std::move(set));
  return sets_.back().get();
}

namespace {
std::string lookup_key(TypeId type, std::string_view id) {
  std::string k(sizeof type, '\0');
  std::memcpy(k.data(), &type, sizeof type);
  k.append(id);
  return k;
}
}  // namespace

std::optional<EntityId> World::find(TypeId type, std::string_view id) const {
  auto it = lookup_.find(lookup_key(type, id));
  if (it == lookup_.end()) return std::nullopt;
  return it->second;
}

const std::vector<EntityId>& World::of_type(TypeId t) const { return t < by_type_.size() ? by_type_[t] : kEmpty; }

std::optional<EntityId> World::add(TypeId type, std::string_view id, std::uint32_t ncols, Span span) {
  auto key = lookup_key(type, id);
  if (lookup_.count(key)) return std::nullopt;
  const auto e = static_cast<EntityId>(entities_.size());
  const std::string* idp = intern(id);
  // Keys live in string_store_ too, so the string_view stays valid as the map grows.
  const std::string* kp = intern(key);
  lookup_.emplace(std::string_view(*kp), e);
  EntityRecord r;
  r.type = type;
  r.id = idp;
  r.first_attr = static_cast<std::uint32_t>(attrs_.size());
  r.span = span;
  entities_.push_back(r);
  attrs_.resize(attrs_.size() + ncols);
  if (by_type_.size() <= type) by_type_.resize(type + 1);
  by_type_[type].push_back(e);
  return e;
}

void World::build_index(TypeId type, std::uint32_t column) {
  const std::uint64_t k = (static_cast<std::uint64_t>(type) << 32) | column;
  Index idx;
  for (EntityId e : of_type(type)) idx[attr(e, column)].push_back(e);
  indexes_[k] = std::move(idx);
}

bool World::has_index(TypeId type, std::uint32_t column) const {
  return indexes_.count((static_cast<std::uint64_t>(type) << 32) | column) > 0;
}

const std::vector<EntityId>* World::probe(TypeId type, std::uint32_t column, const Value& v) const {
  auto it = indexes_.find((static_cast<std::uint64_t>(type) << 32) | column);
  if (it == indexes_.end()) return nullptr;
  auto jt = it->second.find(v);
  return jt == it->second.end() ? &kEmpty : &jt->second;
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
      const auto& r = world.entity(static_cast<EntityId>(v.i));
      return schema.entities.at(r.type).name + "::\"" + *r.id + "\"";
    }
    case Tag::set: {
      std::string s = "{";
      for (std::size_t i = 0; i < v.set->items.size(); ++i) {
        if (i) s += ", ";
        s += format_value(schema, world, v.set->items[i]);
      }
      return s + "}";
    }
  }
  return "?";
}

}  // namespace treaty
