// The binary bundle: a compiled program that loads without parsing source.
//
// Layout (little-endian):
//   "TREATYB\0"  8 bytes of magic
//   u32          format version (kVersion)
//   u64          length of the payload
//   u64          FNV-1a 64 checksum of the payload
//   payload      sources, schema, world, IR, predicates, rules, requirements, indexes
// Every count and index read from a payload is bounds-checked and the decoded program is
// validated (every node, slot, type, column and entity id in range) before it is returned.
#include <cstring>
#include <functional>
#include <stdexcept>
#include <unordered_map>

#include "treaty/data/world.hpp"
#include "treaty/program.hpp"

namespace treaty {

namespace {

constexpr char kMagic[8] = {'T', 'R', 'E', 'A', 'T', 'Y', 'B', '\0'};
constexpr std::uint32_t kVersion = 6;  // 6: index specs carry their kind
constexpr std::size_t kHeader = 8 + 4 + 8 + 8;

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

struct BadBundle : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { raw(&v, 4); }
  void i32(std::int32_t v) { raw(&v, 4); }
  void u64(std::uint64_t v) { raw(&v, 8); }
  void i64(std::int64_t v) { raw(&v, 8); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  template <typename Ids>  // a std::vector or the IR's SmallIds
  void ids(const Ids& v) {
    u32(static_cast<std::uint32_t>(v.size()));
    for (auto x : v) u32(x);
  }
  void span(Span s) {
    u32(s.file);
    u32(s.begin);
    u32(s.end);
  }
  std::string& out() { return out_; }

 private:
  void raw(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1)[0]); }
  std::uint32_t u32() { return get<std::uint32_t>(); }
  std::int32_t i32() { return get<std::int32_t>(); }
  std::uint64_t u64() { return get<std::uint64_t>(); }
  std::int64_t i64() { return get<std::int64_t>(); }
  std::string str() { return std::string(view()); }
  std::string_view view() {
    const auto n = u32();
    return take(n);
  }
  /// A count of items that each take at least `min_bytes`: refuses counts the rest cannot hold.
  std::uint32_t count(std::size_t min_bytes = 1) {
    const auto n = u32();
    if (min_bytes && n > (in_.size() - pos_) / min_bytes) throw BadBundle("a count exceeds the bundle's size");
    return n;
  }
  std::vector<std::uint32_t> ids() {
    std::vector<std::uint32_t> v(count(4));
    for (auto& x : v) x = u32();
    return v;
  }
  Span span() {
    Span s;
    s.file = u32();
    s.begin = u32();
    s.end = u32();
    return s;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  template <typename T>
  T get() {
    T v;
    std::memcpy(&v, take(sizeof(T)).data(), sizeof(T));
    return v;
  }
  std::string_view take(std::size_t n) {
    if (n > in_.size() - pos_) throw BadBundle("the bundle is truncated");
    auto s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
};

void write_type(Writer& w, const Type& t) {
  w.u8(static_cast<std::uint8_t>(t.base));
  w.u8(static_cast<std::uint8_t>(t.set | (t.optional << 1)));
  w.u32(t.enum_id);
  w.ids(t.entities);
}

Type read_type(Reader& r) {
  Type t;
  const auto b = r.u8();
  if (b > static_cast<std::uint8_t>(Base::empty_set)) throw BadBundle("unknown type tag");
  t.base = static_cast<Base>(b);
  const auto f = r.u8();
  t.set = f & 1;
  t.optional = f & 2;
  t.enum_id = r.u32();
  t.entities = r.ids();
  return t;
}

}  // namespace

/// Reads and writes the parts of a World that are private to it.
class BundleCodec {
 public:
  static void write(Writer& w, const Program& p, const SourceManager& sm) {
    // Sources: the text of every .treaty file, so explanations quote conditions; data files are
    // left empty (their spans are never quoted).
    w.u32(static_cast<std::uint32_t>(sm.size()));
    for (FileId f = 0; f < sm.size(); ++f) {
      const auto& file = sm.file(f);
      const bool keep = file.path.size() < 5 || file.path.compare(file.path.size() - 5, 5, ".json") != 0;
      w.str(file.path);
      w.str(keep ? std::string_view(file.text) : std::string_view());
    }
    const Schema& s = p.schema;
    w.u32(static_cast<std::uint32_t>(s.enums.size()));
    for (const auto& e : s.enums) {
      w.str(e.name);
      w.span(e.span);
      w.u32(static_cast<std::uint32_t>(e.values.size()));
      for (std::size_t i = 0; i < e.values.size(); ++i) {
        w.str(e.values[i]);
        w.span(i < e.value_spans.size() ? e.value_spans[i] : Span{});
      }
    }
    w.u32(static_cast<std::uint32_t>(s.attr_names.size()));
    for (const auto& n : s.attr_names) w.str(n);
    w.u32(static_cast<std::uint32_t>(s.entities.size()));
    for (const auto& e : s.entities) {
      w.str(e.name);
      w.str(e.doc);
      w.span(e.span);
      w.u32(e.request_supplied ? 1u : 0u);
      w.u32(static_cast<std::uint32_t>(e.attrs.size()));
      for (const auto& a : e.attrs) {
        w.str(a.name);
        w.u32(a.name_id);
        write_type(w, a.type);
        w.span(a.span);
      }
      w.u32(static_cast<std::uint32_t>(e.keys.size()));
      for (const auto& k : e.keys) w.ids(k);
    }
    w.u32(static_cast<std::uint32_t>(s.actions.size()));
    for (const auto& a : s.actions) {
      w.str(a.name);
      w.span(a.span);
      w.u32(static_cast<std::uint32_t>(a.params.size()));
      for (const auto& prm : a.params) {
        w.str(prm.name);
        write_type(w, prm.type);
        w.span(prm.span);
      }
      w.ids(a.param_ids);
      w.ids(a.principals);
      w.ids(a.resources);
    }
    w.u32(static_cast<std::uint32_t>(p.param_names.size()));
    for (const auto& n : p.param_names) w.str(n);

    // World: strings, sets, entities, attributes.
    const World& wd = p.world();
    std::unordered_map<const std::string*, std::uint32_t> str_index;
    w.u32(static_cast<std::uint32_t>(wd.string_store_.size()));
    for (const auto& str : wd.string_store_) {
      str_index.emplace(&str, static_cast<std::uint32_t>(str_index.size()));
      w.str(str);
    }
    std::unordered_map<const SetValue*, std::uint32_t> set_index;
    for (const auto& sp : wd.sets_) set_index.emplace(sp.get(), static_cast<std::uint32_t>(set_index.size()));
    auto value = [&](const Value& v, auto&& self) -> void {
      w.u8(static_cast<std::uint8_t>(v.tag));
      switch (v.tag) {
        case Tag::none: break;
        case Tag::bool_:
        case Tag::int_:
        case Tag::entity: w.i64(v.i); break;
        case Tag::enum_:
          w.u32(v.aux);
          w.i64(v.i);
          break;
        case Tag::str: w.u32(str_index.at(v.s)); break;
        case Tag::set: w.u32(set_index.at(v.set)); break;
        case Tag::enum_set:
          w.u32(v.aux);
          w.u64(v.bits);
          break;
      }
      (void)self;
    };
    w.u32(static_cast<std::uint32_t>(wd.sets_.size()));
    for (const auto& sp : wd.sets_) {
      w.u32(static_cast<std::uint32_t>(sp->items.size()));
      for (const auto& v : sp->items) value(v, value);
    }
    w.str(wd.ids_);
    w.u32(static_cast<std::uint32_t>(wd.entities_.size()));
    for (const auto& e : wd.entities_) {
      w.u32(e.type);
      w.u32(e.id_off);
      w.u32(e.id_len);
    }
    w.u32(static_cast<std::uint32_t>(wd.spans_.size()));
    for (const auto& sp : wd.spans_) w.span(sp);
    w.u32(static_cast<std::uint32_t>(wd.attr_total()));
    wd.for_each_attr([&](const Value& v) { value(v, value); });

    // IR.
    w.u32(static_cast<std::uint32_t>(p.nodes.size()));
    for (const auto& n : p.nodes) {
      w.u8(static_cast<std::uint8_t>(n.op));
      value(n.value, value);
      w.u32(n.slot);
      w.u32(n.a);
      w.ids(n.types);
      w.i32(n.probe_attr);
      w.i32(n.probe_attr2);
      w.u32(n.inlined);
      w.ids(n.kids);
      w.span(n.span);
    }
    w.u32(static_cast<std::uint32_t>(p.predicates.size()));
    for (const auto& pr : p.predicates) {
      w.str(pr.name);
      w.str(pr.doc);
      w.span(pr.span);
      w.u32(static_cast<std::uint32_t>(pr.params.size()));
      for (const auto& prm : pr.params) {
        w.str(prm.name);
        write_type(w, prm.type);
        w.span(prm.span);
      }
      w.u32(pr.body);
      w.u32(pr.frame);
    }
    auto conditions = [&](const std::vector<ConditionInfo>& cs) {
      w.u32(static_cast<std::uint32_t>(cs.size()));
      for (const auto& c : cs) {
        w.u8(c.is_when);
        w.u32(c.expr);
        w.span(c.span);
      }
    };
    w.u32(static_cast<std::uint32_t>(p.rules.size()));
    for (const auto& r : p.rules) {
      w.str(r.name);
      w.str(r.doc);
      w.u8(r.forbid);
      w.u8(r.any_action);
      w.ids(r.principals);
      w.ids(r.resources);
      w.ids(r.actions);
      conditions(r.conditions);
      w.u32(r.frame);
      w.span(r.span);
      w.u32(r.file_line);
    }
    w.u32(static_cast<std::uint32_t>(p.requirements.size()));
    for (const auto& rq : p.requirements) {
      w.str(rq.name);
      w.u8(rq.forall_type.has_value());
      w.u32(rq.forall_type.value_or(0));
      w.u8(rq.where.has_value());
      w.u32(rq.where.value_or(0));
      w.u32(rq.ensure);
      w.str(rq.message);
      w.u32(static_cast<std::uint32_t>(rq.message_parts.size()));
      for (const auto& [text, node] : rq.message_parts) {
        w.str(text);
        w.u32(node);
      }
      w.u32(rq.frame);
      w.span(rq.span);
    }
    w.u32(static_cast<std::uint32_t>(p.rules_by_action.size()));
    for (const auto& v : p.rules_by_action) w.ids(v);
    w.u32(static_cast<std::uint32_t>(p.indexes.size()));
    for (const auto& ix : p.indexes) {
      w.u32(ix.type);
      w.u32(ix.column);
      w.i32(ix.column2);
      w.u8(static_cast<std::uint8_t>(ix.kind));
    }
  }

  static std::unique_ptr<Program> read(Reader& r, SourceManager& sm) {
    auto p = std::make_unique<Program>();
    SourceManager fresh;
    const auto nfiles = r.count(8);
    for (std::uint32_t i = 0; i < nfiles; ++i) {
      auto path = r.str();
      auto text = r.str();
      fresh.add(std::move(path), std::move(text));
    }
    Schema& s = p->schema;
    s.enums.resize(r.count(12));
    for (auto& e : s.enums) {
      e.name = r.str();
      e.span = r.span();
      const auto n = r.count(16);
      for (std::uint32_t i = 0; i < n; ++i) {
        e.values.push_back(r.str());
        e.value_spans.push_back(r.span());
      }
    }
    s.attr_names.resize(r.count(4));
    for (auto& n : s.attr_names) n = r.str();
    s.entities.resize(r.count(28));
    for (auto& e : s.entities) {
      e.name = r.str();
      e.doc = r.str();
      e.span = r.span();
      const auto flags = r.u32();
      if (flags > 1) throw BadBundle("unknown entity type flags");
      e.request_supplied = flags == 1;
      e.attrs.resize(r.count(30));
      for (auto& a : e.attrs) {
        a.name = r.str();
        a.name_id = r.u32();
        a.type = read_type(r);
        a.span = r.span();
      }
      e.keys.resize(r.count(4));
      for (auto& k : e.keys) k = r.ids();
      e.column_of.assign(s.attr_names.size(), -1);
      for (std::size_t c = 0; c < e.attrs.size(); ++c) {
        if (e.attrs[c].name_id >= s.attr_names.size()) throw BadBundle("attribute name out of range");
        e.column_of[e.attrs[c].name_id] = static_cast<int>(c);
      }
    }
    s.actions.resize(r.count(28));
    for (auto& a : s.actions) {
      a.name = r.str();
      a.span = r.span();
      a.params.resize(r.count(26));
      for (auto& prm : a.params) {
        prm.name = r.str();
        prm.type = read_type(r);
        prm.span = r.span();
      }
      a.param_ids = r.ids();
      a.principals = r.ids();
      a.resources = r.ids();
    }
    p->param_names.resize(r.count(4));
    for (auto& n : p->param_names) n = r.str();

    World& wd = p->world();
    std::vector<const std::string*> strs(r.count(4));
    for (auto& sp : strs) sp = wd.intern(r.view());
    std::vector<Value> sets(r.count(4));
    auto value = [&](bool allow_set) {
      Value v;
      const auto tag = r.u8();
      if (tag > static_cast<std::uint8_t>(Tag::enum_set)) throw BadBundle("unknown value tag");
      v.tag = static_cast<Tag>(tag);
      switch (v.tag) {
        case Tag::none: break;
        case Tag::bool_:
        case Tag::int_:
        case Tag::entity: v.i = r.i64(); break;
        case Tag::enum_:
          v.aux = r.u32();
          v.i = r.i64();
          break;
        case Tag::str: {
          const auto i = r.u32();
          if (i >= strs.size()) throw BadBundle("string index out of range");
          v.s = strs[i];
          break;
        }
        case Tag::set: {
          const auto i = r.u32();
          if (!allow_set || i >= sets.size()) throw BadBundle("set index out of range");
          v = sets[i];
          break;
        }
        case Tag::enum_set:
          if (!allow_set) throw BadBundle("a set inside a set");
          v.aux = r.u32();
          v.bits = r.u64();
          break;
      }
      return v;
    };
    // Sets go through make_set, which sorts, shares equal sets and keeps enum sets as masks, so
    // a bundle cannot smuggle in a set in a form the evaluator does not expect.
    for (auto& set : sets) {
      std::vector<Value> items(r.count(1));
      for (auto& v : items) v = value(false);
      set = wd.make_set(std::move(items));
    }
    wd.ids_ = r.str();
    const auto nents = r.count(12);
    wd.entities_.resize(nents);
    std::uint32_t next = 0;
    for (EntityId e = 0; e < nents; ++e) {
      auto& rec = wd.entities_[e];
      rec.type = r.u32();
      if (rec.type >= s.entities.size()) throw BadBundle("entity type out of range");
      rec.id_off = r.u32();
      rec.id_len = r.u32();
      if (std::uint64_t{rec.id_off} + rec.id_len > wd.ids_.size()) throw BadBundle("entity id out of range");
      rec.first_attr = next;
      next += static_cast<std::uint32_t>(s.entities[rec.type].attrs.size());
      if (wd.by_type_.size() <= rec.type) wd.by_type_.resize(rec.type + 1);
      wd.by_type_[rec.type].push_back(e);
      if (!wd.claim_entity_slot(rec.type, wd.id(e), e)) throw BadBundle("duplicate entity");
    }
    wd.spans_.resize(r.count(12));
    if (wd.spans_.size() > nents) throw BadBundle("more entity spans than entities");
    for (auto& sp : wd.spans_) sp = r.span();
    const auto nattrs = r.count(1);
    if (next != nattrs) throw BadBundle("attribute table size mismatch");
    // Entities grouped by type (as compile writes them) load straight into sealed cells;
    // others into values.
    if (wd.compute_type_ranges(column_kinds(s), nattrs)) {
      wd.aside_.assign(1, Value::none());
      wd.cells_.resize(nattrs);
      wd.for_each_cell([&](std::uint32_t i, TypeId t, std::uint32_t c) {
        wd.cells_[i] = wd.encode(value(true), wd.kinds_[wd.type_kind_base_[t] + c]);
      });
    } else {
      wd.attrs_.resize(nattrs);
      for (auto& v : wd.attrs_) v = value(true);
    }

    p->nodes.resize(r.count(42));  // op, an empty value, slot, a, types, two probes, inlined, kids, span
    for (auto& n : p->nodes) {
      const auto op = r.u8();
      if (op > static_cast<std::uint8_t>(Op::make_set)) throw BadBundle("unknown operation");
      n.op = static_cast<Op>(op);
      n.value = value(true);
      n.slot = r.u32();
      n.a = r.u32();
      n.types = r.ids();
      n.probe_attr = r.i32();
      n.probe_attr2 = r.i32();
      n.inlined = r.u32();
      n.kids = r.ids();
      n.span = r.span();
    }
    p->predicates.resize(r.count(30));
    for (auto& pr : p->predicates) {
      pr.name = r.str();
      pr.doc = r.str();
      pr.span = r.span();
      pr.params.resize(r.count(26));
      for (auto& prm : pr.params) {
        prm.name = r.str();
        prm.type = read_type(r);
        prm.span = r.span();
      }
      pr.body = r.u32();
      pr.frame = r.u32();
    }
    auto conditions = [&](std::vector<ConditionInfo>& cs) {
      cs.resize(r.count(17));
      for (auto& c : cs) {
        c.is_when = r.u8() != 0;
        c.expr = r.u32();
        c.span = r.span();
      }
    };
    p->rules.resize(r.count(40));
    for (auto& ru : p->rules) {
      ru.name = r.str();
      ru.doc = r.str();
      ru.forbid = r.u8() != 0;
      ru.any_action = r.u8() != 0;
      ru.principals = r.ids();
      ru.resources = r.ids();
      ru.actions = r.ids();
      conditions(ru.conditions);
      ru.frame = r.u32();
      ru.span = r.span();
      ru.file_line = r.u32();
    }
    p->requirements.resize(r.count(30));
    for (auto& rq : p->requirements) {
      rq.name = r.str();
      const bool has_forall = r.u8();
      const auto ft = r.u32();
      if (has_forall) rq.forall_type = ft;
      const bool has_where = r.u8();
      const auto wn = r.u32();
      if (has_where) rq.where = wn;
      rq.ensure = r.u32();
      rq.message = r.str();
      const auto nparts = r.count(8);
      for (std::uint32_t i = 0; i < nparts; ++i) {
        auto text = r.str();
        rq.message_parts.emplace_back(std::move(text), r.u32());
      }
      rq.frame = r.u32();
      rq.span = r.span();
    }
    p->rules_by_action.resize(r.count(4));
    for (auto& v : p->rules_by_action) v = r.ids();
    p->indexes.resize(r.count(13));
    for (auto& ix : p->indexes) {
      ix.type = r.u32();
      ix.column = r.u32();
      ix.column2 = r.i32();
      const std::uint8_t kind = r.u8();
      if (kind >= kIndexKinds) throw BadBundle("unknown index kind " + std::to_string(kind));
      ix.kind = static_cast<IndexKind>(kind);
    }
    if (!r.done()) throw BadBundle("trailing bytes after the program");
    validate(*p, fresh);
    sm = std::move(fresh);
    return p;
  }

  /// Every index the runtime follows must be in range, so a crafted bundle with a valid checksum
  /// can neither crash the evaluator nor make it read the wrong data.
  static void validate(const Program& p, const SourceManager& sm) {
    const Schema& s = p.schema;
    const auto n_nodes = p.nodes.size();
    auto check = [](bool ok, const char* what) {
      if (!ok) throw BadBundle(what);
    };
    auto check_span = [&](Span sp) {
      if (!sp.valid()) return;
      check(sp.file < sm.size() && sp.begin <= sp.end, "span out of range");
      const auto& text = sm.file(sp.file).text;
      check(text.empty() || sp.end <= text.size(), "span out of range");
    };
    auto check_type = [&](const Type& t) {
      if (t.base == Base::enum_) check(t.enum_id < s.enums.size(), "enum type out of range");
      for (auto e : t.entities) check(e < s.entities.size(), "entity type out of range");
    };
    auto check_value = [&](const Value& v) {
      if (v.tag == Tag::enum_)
        check(v.aux < s.enums.size() && v.i >= 0 && static_cast<std::size_t>(v.i) < s.enums[v.aux].values.size(),
              "enum value out of range");
      if (v.tag == Tag::entity)
        check(v.i >= 0 && static_cast<std::size_t>(v.i) < p.world().size(), "entity reference out of range");
      if (v.tag == Tag::enum_set)
        check(v.bits != 0 && v.aux < s.enums.size() &&
                  (s.enums[v.aux].values.size() >= 64 || (v.bits >> s.enums[v.aux].values.size()) == 0),
              "enum set out of range");
      if (v.tag == Tag::set) {
        std::vector<Value> items = v.set->items;
        check(!normalize_set(items), "an enum set not stored as a mask");
      }
      if (v.tag == Tag::set)
        for (const auto& x : v.set->items) {
          if (x.tag == Tag::enum_)
            check(x.aux < s.enums.size() && x.i >= 0 && static_cast<std::size_t>(x.i) < s.enums[x.aux].values.size(),
                  "enum value out of range");
          if (x.tag == Tag::entity)
            check(x.i >= 0 && static_cast<std::size_t>(x.i) < p.world().size(), "entity reference out of range");
        }
    };
    for (const auto& e : s.entities) {
      for (const auto& a : e.attrs) check_type(a.type);
      for (const auto& k : e.keys)
        for (auto c : k) check(c < e.attrs.size(), "key column out of range");
    }
    for (const auto& a : s.actions) {
      check(a.param_ids.size() == a.params.size(), "action parameters mismatch");
      for (const auto& prm : a.params) check_type(prm.type);
      for (auto id : a.param_ids) check(id < p.param_names.size(), "parameter name out of range");
      for (auto t : a.principals) check(t < s.entities.size(), "principal type out of range");
      for (auto t : a.resources) check(t < s.entities.size(), "resource type out of range");
    }
    p.world().for_each_attr(check_value);
    for (const auto& sp : p.world().sets_) check_value(Value::setv(sp.get()));
    for (EntityId e = 0; e < p.world().size(); ++e) check_span(p.world().span(e));
    // Nodes: kids point to earlier nodes (the checker creates children first), so the IR is
    // acyclic and evaluation terminates.
    for (std::size_t i = 0; i < n_nodes; ++i) {
      const Node& n = p.nodes[i];
      for (auto k : n.kids) check(k < i, "node child out of range");
      for (auto t : n.types) check(t < s.entities.size(), "node type out of range");
      check_value(n.value);
      check_span(n.span);
      check(n.inlined == 0xFFFFFFFFu || n.inlined < p.predicates.size(), "inlined predicate out of range");
      const std::size_t want = [&]() -> std::size_t {
        switch (n.op) {
          case Op::lit: case Op::var: return 0;
          case Op::attr: case Op::not_: case Op::is_empty: case Op::is: return 1;
          case Op::contains_any: case Op::contains_all: case Op::eq: case Op::ne: case Op::lt: case Op::le:
          case Op::gt: case Op::ge: case Op::in: case Op::exists_set: return 2;
          case Op::exists_type: return std::size_t{1} + (n.probe_attr >= 0) + (n.probe_attr2 >= 0);
          default: return n.kids.size();
        }
      }();
      check(n.kids.size() == want, "node has the wrong number of children");
      if (n.op == Op::attr) {
        check(n.a < s.attr_names.size(), "attribute out of range");
        check(n.types.size() != 1 || s.entities[n.types[0]].column(n.a) == static_cast<int>(n.slot),
              "attribute column mismatch");
      }
      if (n.op == Op::call) {
        check(n.a < p.predicates.size(), "predicate out of range");
        check(n.kids.size() == p.predicates[n.a].params.size(), "predicate arity mismatch");
      }
      if (n.op == Op::exists_type) {
        check(!n.types.empty(), "exists without a type");
        if (n.probe_attr >= 0) check(static_cast<std::size_t>(n.probe_attr) < s.attr_names.size(), "probe out of range");
        if (n.probe_attr2 >= 0)
          check(n.probe_attr >= 0 && static_cast<std::size_t>(n.probe_attr2) < s.attr_names.size(), "probe out of range");
      }
    }
    // Slots: every var and binder of a body must be below the frame of its owner.
    auto check_slots = [&](NodeId root, std::uint32_t frame) {
      std::vector<NodeId> stack = {root};
      while (!stack.empty()) {
        const Node& n = p.nodes[stack.back()];
        stack.pop_back();
        if (n.op == Op::var || n.op == Op::exists_type || n.op == Op::exists_set)
          check(n.slot < frame, "variable slot out of range");
        for (auto k : n.kids) stack.push_back(k);
      }
    };
    for (std::size_t i = 0; i < p.predicates.size(); ++i) {
      const auto& pr = p.predicates[i];
      check(pr.body < n_nodes, "predicate body out of range");
      check(pr.frame >= pr.params.size() && pr.frame < 4096, "predicate frame out of range");
      check_slots(pr.body, pr.frame);
    }
    // Predicate cycles: depth-first search over calls.
    std::vector<int> state(p.predicates.size(), 0);
    std::function<void(std::size_t)> dfs = [&](std::size_t v) {
      state[v] = 1;
      std::vector<NodeId> stack = {p.predicates[v].body};
      while (!stack.empty()) {
        const Node& n = p.nodes[stack.back()];
        stack.pop_back();
        if (n.op == Op::call) {
          check(state[n.a] != 1, "predicates call each other in a cycle");
          if (state[n.a] == 0) dfs(n.a);
        }
        for (auto k : n.kids) stack.push_back(k);
      }
      state[v] = 2;
    };
    for (std::size_t i = 0; i < p.predicates.size(); ++i)
      if (state[i] == 0) dfs(i);
    const std::size_t min_frame = 2 + p.param_names.size();
    for (const auto& ru : p.rules) {
      check(ru.frame >= min_frame && ru.frame < 4096, "rule frame out of range");
      for (auto t : ru.principals) check(t < s.entities.size(), "rule type out of range");
      for (auto t : ru.resources) check(t < s.entities.size(), "rule type out of range");
      for (auto a : ru.actions) check(a < s.actions.size(), "rule action out of range");
      for (const auto& c : ru.conditions) {
        check(c.expr < n_nodes, "condition out of range");
        check_slots(c.expr, ru.frame);
        check_span(c.span);
      }
      check_span(ru.span);
    }
    for (const auto& rq : p.requirements) {
      check(rq.frame < 4096, "requirement frame out of range");
      if (rq.forall_type) check(*rq.forall_type < s.entities.size(), "requirement type out of range");
      if (rq.where) {
        check(*rq.where < n_nodes, "requirement out of range");
        check_slots(*rq.where, rq.frame);
      }
      check(rq.ensure < n_nodes, "requirement out of range");
      check_slots(rq.ensure, rq.frame);
      for (const auto& [text, node] : rq.message_parts)
        if (node != kNone32) {
          check(node < n_nodes, "message part out of range");
          check_slots(node, rq.frame);
        }
    }
    check(p.rules_by_action.size() == s.actions.size(), "rule index mismatch");
    for (const auto& v : p.rules_by_action)
      for (auto ri : v) check(ri < p.rules.size(), "rule index out of range");
    for (const auto& ix : p.indexes) {
      check(ix.type < s.entities.size() && ix.column < s.entities[ix.type].attrs.size() && ix.column2 >= -1 &&
                (ix.column2 < 0 || static_cast<std::size_t>(ix.column2) < s.entities[ix.type].attrs.size()),
            "index out of range");
      check((ix.kind == IndexKind::pair) == (ix.column2 >= 0), "index kind does not match its columns");
    }
  }
};

std::string write_bundle(const Program& p, const SourceManager& sm) {
  Writer w;
  BundleCodec::write(w, p, sm);
  const std::string& payload = w.out();
  Writer h;
  h.out().append(kMagic, 8);
  h.u32(kVersion);
  h.u64(payload.size());
  h.u64(fnv1a(payload));
  return h.out() + payload;
}

std::unique_ptr<Program> read_bundle(std::string_view bytes, SourceManager& sm, std::string& error) {
  try {
    if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, 8) != 0) {
      error = "not a Treaty bundle (no `TREATYB` magic); build one with `treaty compile`";
      return nullptr;
    }
    Reader h(bytes.substr(8, kHeader - 8));
    const auto version = h.u32();
    if (version != kVersion) {
      error = "bundle format version " + std::to_string(version) + " is not supported (this treaty reads version " +
              std::to_string(kVersion) + "); recompile it with this treaty";
      return nullptr;
    }
    const auto length = h.u64();
    const auto checksum = h.u64();
    const std::string_view payload = bytes.substr(kHeader);
    if (payload.size() != length) {
      error = "the bundle is truncated or has extra bytes: " + std::to_string(payload.size()) + " bytes of payload, " +
              std::to_string(length) + " expected";
      return nullptr;
    }
    if (fnv1a(payload) != checksum) {
      error = "the bundle is corrupted: its checksum does not match";
      return nullptr;
    }
    Reader r(payload);
    return BundleCodec::read(r, sm);
  } catch (const BadBundle& e) {
    error = std::string("the bundle is invalid: ") + e.what();
  } catch (const std::exception& e) {
    error = std::string("the bundle is invalid: ") + e.what();
  }
  return nullptr;
}

}  // namespace treaty
