// Live facts: batches of writes, validated whole and committed under revisions (treaty/live.hpp).
#include "treaty/live.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "treaty/convert.hpp"
#include "treaty/data/delta.hpp"
#include "treaty/data/index.hpp"

namespace treaty {

struct LiveFacts::RefIndexes {
  const World* world = nullptr;
  std::map<std::pair<TypeId, std::uint32_t>, std::unique_ptr<EntityIndex>> by_column;
};

LiveFacts::LiveFacts(std::shared_ptr<const Engine> base, std::uint64_t revision, LiveOptions o)
    : o_(o), base_revision_(revision) {
  // The base engine decides with an empty delta at `revision`, so every engine this hands out
  // has the same shape (and revision() says where it is).
  const auto& w = base->program().world();
  auto empty = std::make_shared<const FactDelta>(w, base->program().schema.entities.size());
  base_ = base->with_facts(empty, revision);
  staged_ = base_;
  current_ = base_;
  published_.store(revision, std::memory_order_release);
}

LiveFacts::~LiveFacts() = default;

std::shared_ptr<const Engine> LiveFacts::current() const {
  std::lock_guard lock(pub_m_);
  return current_;
}


std::shared_ptr<const Engine> LiveFacts::at_least(std::uint64_t r, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(pub_m_);
  if (!pub_cv_.wait_for(lock, timeout, [&] { return current_->revision() >= r; })) return nullptr;
  return current_;
}

LiveFacts::Counters LiveFacts::counters() const {
  std::lock_guard lock(pub_m_);
  return counters_;
}

std::size_t LiveFacts::delta_size() const {
  const auto c = current();
  return c->facts() ? c->facts()->size() : 0;
}

std::vector<std::pair<std::uint64_t, std::string>> LiveFacts::history_since(std::uint64_t r) const {
  std::lock_guard lock(write_m_);
  std::vector<std::pair<std::uint64_t, std::string>> out;
  for (const auto& h : history_)
    if (h.first > r) out.push_back(h);
  return out;
}

namespace {

/// "at entities[3].attrs.x: ..." from the loader, as the batch names it: "upsert[3].attrs.x: ...".
std::string batch_path(std::string m) {
  if (m.rfind("at entities[", 0) == 0) m = "upsert[" + m.substr(12);
  return m;
}
}  // namespace

std::shared_ptr<const Engine> LiveFacts::prepare(const Engine& over, const nlohmann::json& batch,
                                                 std::uint64_t revision, WriteResult& r,
                                                 bool allow_requirements, bool any_size) const {
  const Program& p = over.program();
  const Schema& s = p.schema;
  auto fail = [&](std::string code, std::string message) {
    r.errors.push_back({std::move(code), std::move(message)});
    return nullptr;
  };
  if (!batch.is_object()) return fail("batch", "a batch is a JSON object with \"upsert\" and/or \"delete\" arrays");
  for (auto it = batch.begin(); it != batch.end(); ++it)
    if (it.key() != "upsert" && it.key() != "delete")
      return fail("batch", "unknown field \"" + it.key() + "\" in a batch (it has \"upsert\" and \"delete\")");
  static const nlohmann::json kNone = nlohmann::json::array();
  const auto up = batch.find("upsert");
  const auto del = batch.find("delete");
  const nlohmann::json& ups = up == batch.end() ? kNone : *up;
  const nlohmann::json& dels = del == batch.end() ? kNone : *del;
  if (!ups.is_array()) return fail("batch", "\"upsert\" must be an array of entities");
  if (!dels.is_array()) return fail("batch", "\"delete\" must be an array of {\"type\", \"id\"}");
  if (!any_size && ups.size() + dels.size() > o_.max_batch)
    return fail("batch", "a batch may write at most " + std::to_string(o_.max_batch) + " entities; this one has " +
                             std::to_string(ups.size() + dels.size()));
  if (ups.empty() && dels.empty()) {
    if (allow_requirements) return over.with_facts(over.facts_shared(), revision);  // follow(): the revision moves
    return fail("batch", "the batch is empty");
  }
  r.upserts = ups.size();
  r.deletes = dels.size();

  const FactDelta& prev = *over.facts();
  FactDeltaBuilder b(s, prev);
  if (!dels.empty()) {
    // The world's reference columns, indexed the first time a delete needs them (the world is
    // immutable: an index built here is read by this writer only).
    if (!ref_indexes_ || ref_indexes_->world != &prev.world()) {
      ref_indexes_ = std::make_shared<RefIndexes>();
      ref_indexes_->world = &prev.world();
    }
    auto* ri = ref_indexes_.get();
    b.set_ref_index([ri](TypeId t, std::uint32_t c) -> const EntityIndex* {
      auto& slot = ri->by_column[{t, c}];
      if (!slot) slot = build_entity_index(*ri->world, IndexSpec::on(t, c));
      return slot.get();
    });
  }
  Diagnostics d;
  {
    EntityLoader loader(s, nullptr, b, d);
    for (std::size_t i = 0; i < ups.size(); ++i) loader.add_json(ups[i], i, kNoFile);
    loader.finish();
  }
  for (std::size_t i = 0; i < dels.size(); ++i) {
    const auto& x = dels[i];
    const std::string at = "delete[" + std::to_string(i) + "]";
    if (!x.is_object() || !x.contains("type") || !x["type"].is_string() || !x.contains("id") || !x["id"].is_string() ||
        x.size() != 2) {
      r.errors.push_back({"batch", at + ": a delete is {\"type\": \"...\", \"id\": \"...\"}"});
      continue;
    }
    const auto t = s.find_entity(x["type"].get_ref<const std::string&>());
    if (!t) {
      r.errors.push_back({"E0301", at + ".type: unknown entity type `" + x["type"].get<std::string>() + "`"});
      continue;
    }
    std::string err;
    if (!b.remove(*t, x["id"].get_ref<const std::string&>(), err)) r.errors.push_back({"reference", at + ": " + err});
  }
  for (const auto& diag : d.all())
    if (diag.severity == Severity::error) r.errors.push_back({std::string(diag.code()), batch_path(diag.message)});
  // Facts written in the policy's source come back with it on every load: a write may not change them.
  const World& w = p.world();
  for (const auto& t : b.touched())
    if (t.entity < w.size() && w.span(t.entity).valid())
      r.errors.push_back({"batch", "entity `" + s.entities[t.type].name + "::" + quote_string(w.id(t.entity)) +
                                       "` is a fact of the policy's source; change it there"});
  if (!r.errors.empty()) return nullptr;
  Diagnostics fd;
  std::shared_ptr<FactDelta> next = b.finish(fd);
  for (const auto& diag : fd.all()) r.errors.push_back({"reference", diag.message});
  if (!next) return nullptr;
  std::vector<Engine::WriteTouch> touched;
  touched.reserve(b.touched().size());
  for (const auto& t : b.touched()) touched.push_back({t.entity, t.type, t.existed, t.deleted});
  std::shared_ptr<const FactDelta> frozen = std::move(next);
  for (auto& [code, message] : over.write_violations(frozen, touched)) {
    if (allow_requirements && code == "requirement") r.violations.push_back({code, std::move(message)});
    else r.errors.push_back({code, std::move(message)});
  }
  if (!r.errors.empty()) return nullptr;
  return over.with_facts(frozen, revision);
}

WriteResult LiveFacts::write(const nlohmann::json& batch, std::string_view text) {
  return apply(batch, 0, journal_ != nullptr, Mode::write, nullptr, text);
}

WriteResult LiveFacts::replay(const nlohmann::json& batch, std::uint64_t revision) {
  return apply(batch, revision, false, Mode::replay);
}

WriteResult LiveFacts::follow(const nlohmann::json& batch, std::uint64_t revision,
                              const std::function<void(const Engine&, const WriteResult&)>& before_publish) {
  return apply(batch, revision, false, Mode::follow, before_publish ? &before_publish : nullptr);
}

std::shared_ptr<const Engine> LiveFacts::check(const nlohmann::json& batch, WriteResult& r) const {
  std::lock_guard lock(write_m_);
  return prepare(*staged_, batch, staged_->revision() + 1, r);
}

WriteResult LiveFacts::apply(const nlohmann::json& batch, std::uint64_t want_revision, bool journal, Mode mode,
                             const std::function<void(const Engine&, const WriteResult&)>* before_publish,
                             std::string_view given) {
  WriteResult r;
  std::shared_ptr<const Engine> next;
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(write_m_);
    if (failed_) {
      r.unavailable = true;
      r.errors.push_back({"unavailable", "the write-ahead log failed; the server takes no writes until it restarts"});
      return r;
    }
    std::uint64_t rev = staged_->revision() + 1;
    if (mode == Mode::follow) {
      if (want_revision <= staged_->revision()) {
        r.errors.push_back({"batch", "the feed's next revision " + std::to_string(want_revision) +
                                         " is not above the facts' revision " + std::to_string(staged_->revision())});
        return r;
      }
      rev = want_revision;
      following_ = true;
    } else if (want_revision != 0 && want_revision != rev) {
      r.errors.push_back({"batch", "the log's next batch is revision " + std::to_string(want_revision) +
                                       " but the state is at revision " + std::to_string(rev - 1)});
      return r;
    }
    next = prepare(*staged_, batch, rev, r, mode == Mode::follow);
    if (!next) {
      std::lock_guard pub(pub_m_);
      ++counters_.rejected;
      return r;
    }
    std::string text = given.empty() ? batch.dump() : std::string(given);  // the bytes as received
    if (journal) ticket = journal_->enqueue(rev, text);
    trim_history();
    history_.emplace_back(rev, std::move(text));
    staged_ = next;
    r.revision = rev;
  }
  if (journal) {
    std::string error;
    if (!journal_->wait_durable(ticket, error)) {
      // Nothing after this batch can be acknowledged either: go back to what is durable.
      std::lock_guard lock(write_m_);
      failed_ = true;
      {
        std::lock_guard pub(pub_m_);
        staged_ = current_;
      }
      r = WriteResult{};
      r.unavailable = true;
      r.errors.push_back({"unavailable", "the batch could not be written to the log: " + error});
      return r;
    }
  }
  r.ok = true;
  if (before_publish) (*before_publish)(*next, r);
  std::lock_guard pub(pub_m_);
  ++counters_.batches;
  counters_.upserts += r.upserts;
  counters_.deletes += r.deletes;
  // Publish in revision order: a batch made durable before an earlier one waits for it.
  if (next->revision() > current_->revision()) durable_.push_back(next);
  bool moved = true;
  while (moved) {
    moved = false;
    for (auto it = durable_.begin(); it != durable_.end(); ++it)
      if ((*it)->revision() == current_->revision() + 1 || mode == Mode::follow) {
        current_ = *it;
        published_.store(current_->revision(), std::memory_order_release);
        durable_.erase(it);
        moved = true;
        break;
      }
  }
  pub_cv_.notify_all();
  return r;
}

void LiveFacts::trim_history() {
  const std::uint64_t keep_after = hold_ ? std::min(*hold_, revision()) : revision();
  std::size_t n = 0;
  while (n < history_.size() && history_[n].first <= keep_after) ++n;
  history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(n));
}

std::shared_ptr<const Engine> LiveFacts::begin_rebase() {
  std::lock_guard lock(write_m_);
  auto e = current();
  hold_ = e->revision();
  trim_history();
  return e;
}

void LiveFacts::cancel_rebase() {
  std::lock_guard lock(write_m_);
  hold_.reset();
  trim_history();
}

bool LiveFacts::rebase(std::shared_ptr<const Engine> fresh, std::uint64_t at, std::string& error) {
  std::lock_guard lock(write_m_);
  const std::uint64_t kept_after = history_.empty() ? staged_->revision() : history_.front().first - 1;
  if (net_ && at == 0) return rebase_net(std::move(fresh), error);
  if (at < kept_after) {
    hold_.reset();
    error = "the batches after revision " + std::to_string(at) + " are no longer kept";
    return false;
  }
  const auto& w = fresh->program().world();
  auto empty = std::make_shared<const FactDelta>(w, fresh->program().schema.entities.size());
  std::shared_ptr<const Engine> base = fresh->with_facts(empty, at), top = base;
  std::vector<std::pair<std::uint64_t, std::string>> keep;
  for (const auto& [rev, text] : history_) {
    if (rev <= at) continue;
    WriteResult r;
    auto next = prepare(*top, nlohmann::json::parse(text), rev, r, following_);
    if (!next) {
      error = "batch of revision " + std::to_string(rev) + " no longer applies: " +
              (r.errors.empty() ? std::string("?") : r.errors.front().message);
      hold_.reset();
      return false;
    }
    top = next;
    keep.emplace_back(rev, text);
  }
  install_rebase(std::move(base), std::move(top), at, std::move(keep));
  trim_history();
  return true;
}

void LiveFacts::install_rebase(std::shared_ptr<const Engine> base, std::shared_ptr<const Engine> top,
                               std::uint64_t base_revision, std::vector<std::pair<std::uint64_t, std::string>> history) {
  {
    std::lock_guard pub(pub_m_);
    current_ = top;
    published_.store(current_->revision(), std::memory_order_release);
    durable_.clear();
  }
  base_ = std::move(base);
  base_revision_ = base_revision;
  staged_ = std::move(top);
  ref_indexes_.reset();  // of the old world
  history_ = std::move(history);
  hold_.reset();
}

bool LiveFacts::rebase_net(std::shared_ptr<const Engine> fresh, std::string& error) {
  // Under write_m_ (rebase()): staged_ holds every batch validated so far, acknowledged or not.
  const std::uint64_t rev = staged_->revision();
  const auto& w = fresh->program().world();
  auto empty = std::make_shared<const FactDelta>(w, fresh->program().schema.entities.size());
  std::shared_ptr<const Engine> base = fresh->with_facts(empty, 0), top;
  nlohmann::json batch = staged_->facts() ? net_batch(*staged_) : nlohmann::json::object();
  // The deletes an earlier rebase found done already are still the writes' (a later world may
  // have the entity again), unless a write since touched the entity: its state is in the batch.
  if (!absent_deletes_.empty()) {
    std::set<std::pair<std::string, std::string>> written;
    for (const char* k : {"upsert", "delete"})
      if (auto it = batch.find(k); it != batch.end())
        for (const auto& x : *it) written.emplace(x["type"].get<std::string>(), x["id"].get<std::string>());
    for (const auto& [type, id] : absent_deletes_)
      if (!written.count({type, id})) batch["delete"].push_back({{"type", type}, {"id", id}});
  }
  std::vector<std::pair<std::string, std::string>> absent;
  for (const auto& x : drop_absent_deletes(*base, batch)) absent.emplace_back(x["type"], x["id"]);
  if (batch.empty()) {
    top = fresh->with_facts(empty, rev);
  } else {
    WriteResult r;
    // The writes' net state is as large as the entities they touched: no client's batch, so
    // --max-batch does not bound it.
    top = prepare(*base, batch, rev, r, following_, true);
    if (!top) {
      error = "the writes no longer apply: " + (r.errors.empty() ? std::string("?") : r.errors.front().message);
      hold_.reset();
      return false;
    }
  }
  install_rebase(std::move(base), std::move(top), 0, {});
  absent_deletes_ = std::move(absent);
  return true;
}

nlohmann::json LiveFacts::net_batch(const Engine& top) {
  const FactDelta& d = *top.facts();
  const Schema& s = top.program().schema;
  nlohmann::json up = nlohmann::json::array(), del = nlohmann::json::array();
  for (EntityId e = 0; e < d.end(); ++e) {
    if (!d.touched(e)) continue;
    const DeltaEntity* x = d.get(e);
    if (!x) continue;
    // A deleted entity is deleted again, also one the writes added: the next world may have it.
    if (x->deleted) del.push_back({{"type", s.entities[x->type].name}, {"id", x->id}});
    else up.push_back(entity_json(top, e));
  }
  nlohmann::json out = nlohmann::json::object();
  if (!up.empty()) out["upsert"] = std::move(up);
  if (!del.empty()) out["delete"] = std::move(del);
  return out;
}

nlohmann::json LiveFacts::drop_absent_deletes(const Engine& over, nlohmann::json& batch) {
  nlohmann::json dropped = nlohmann::json::array();
  auto it = batch.find("delete");
  if (it == batch.end()) return dropped;
  const Schema& s = over.program().schema;
  nlohmann::json kept = nlohmann::json::array();
  for (auto& x : *it) {
    const auto t = s.find_entity(x.value("type", std::string()));
    if (t && over.find(*t, x.value("id", std::string()))) kept.push_back(std::move(x));
    else dropped.push_back(std::move(x));
  }
  if (kept.empty()) batch.erase(it);
  else *it = std::move(kept);
  return dropped;
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------
namespace {
nlohmann::json value_json(const Engine& e, const Type& t, const Value& v) {
  const Schema& s = e.program().schema;
  switch (v.tag) {
    case Tag::none: return nullptr;
    case Tag::bool_: return v.i != 0;
    case Tag::int_: return v.i;
    case Tag::str: return *v.s;
    case Tag::enum_: return s.enums[v.aux].values[static_cast<std::size_t>(v.i)];
    case Tag::entity: {
      const auto id = static_cast<EntityId>(v.i);
      if (t.entities.size() == 1) return std::string(e.id_of(id));
      const TypeId et = e.type_of(id);
      return {{"type", et == kNone32 ? std::string("?") : s.entities[et].name}, {"id", std::string(e.id_of(id))}};
    }
    case Tag::enum_set: {
      nlohmann::json a = nlohmann::json::array();
      for (std::uint32_t i = 0; i < 64; ++i)
        if ((v.bits >> i) & 1u) a.push_back(s.enums[v.aux].values[i]);
      return a;
    }
    case Tag::set: {
      nlohmann::json a = nlohmann::json::array();
      const Type el = t.element();
      for (const auto& x : v.set->items) a.push_back(value_json(e, el, x));
      return a;
    }
  }
  return nullptr;
}
}  // namespace

nlohmann::json entity_json(const Engine& e, EntityId id) {
  const Schema& s = e.program().schema;
  const TypeId t = e.type_of(id);
  const auto& et = s.entities[t];
  nlohmann::json attrs = nlohmann::json::object();
  for (std::uint32_t c = 0; c < et.attrs.size(); ++c) {
    const Value v = e.attr_of(id, c);
    if (v.is_none() && et.attrs[c].type.optional) continue;
    attrs[et.attrs[c].name] = value_json(e, et.attrs[c].type, v);
  }
  return {{"type", et.name}, {"id", std::string(e.id_of(id))}, {"attrs", std::move(attrs)}};
}

nlohmann::json export_facts(const Engine& e) {
  const Program& p = e.program();
  const World& w = p.world();
  nlohmann::json out = nlohmann::json::array();
  for (TypeId t = 0; t < p.schema.entities.size(); ++t)
    e.for_each_entity(t, [&](EntityId id) {
      if (id < w.size() && w.span(id).valid() && !(e.facts() && e.facts()->touched(id))) return;
      out.push_back(entity_json(e, id));
    });
  return out;
}

}  // namespace treaty
