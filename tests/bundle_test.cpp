// Bundles: compile -> write -> load round-trips, and damaged bundles are refused, never crash.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstring>

#include "support/engine_util.hpp"

using namespace treaty;
using namespace treaty::testing;

namespace {

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

/// Rewrites the header's checksum so a mutated payload gets past it (to test validation).
std::string reseal(std::string b) {
  const std::uint64_t h = fnv1a(std::string_view(b).substr(28));
  std::memcpy(b.data() + 20, &h, 8);
  return b;
}

// Every expectation of every test without `given` facts: the same decision and determining rules
// from the program and from its bundle.
void expect_same_decisions(const char* rel) {
  auto l = engine_from_paths({rel});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const Program& p = l->engine->program();
  const std::string bytes = write_bundle(p, l->sm);
  SourceManager sm2;
  std::string error;
  auto loaded = read_bundle(bytes, sm2, error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(write_bundle(*loaded, sm2), bytes) << "write(read(b)) must give b back";
  Engine e2(std::move(loaded));
  std::size_t compared = 0;
  for (const auto& t : p.tests) {
    if (!t.given.empty()) continue;
    for (const auto& ex : t.expects) {
      Request r1, r2;
      std::vector<bool> given(ex.request.args.size(), true);
      ASSERT_TRUE(l->engine->make_request(ex.request.principal_type, ex.request.principal_id, ex.request.action,
                                          ex.request.args, given, ex.request.resource_type, ex.request.resource_id,
                                          nullptr, r1, error));
      ASSERT_TRUE(e2.make_request(ex.request.principal_type, ex.request.principal_id, ex.request.action,
                                  ex.request.args, given, ex.request.resource_type, ex.request.resource_id, nullptr,
                                  r2, error));
      const auto d1 = l->engine->decide(r1), d2 = e2.decide(r2);
      EXPECT_EQ(d1.allow, d2.allow) << t.name;
      EXPECT_EQ(d1.determining, d2.determining) << t.name;
      ASSERT_EQ(d1.misses.size(), d2.misses.size());
      for (std::size_t i = 0; i < d1.misses.size(); ++i)
        EXPECT_EQ(l->sm.text(d1.misses[i].condition), sm2.text(d2.misses[i].condition));
      ++compared;
    }
  }
  EXPECT_GT(compared, 40u);
}

TEST(Bundle, RoundTripKeepsEveryDecisionOf4me) { expect_same_decisions("policies/4me"); }
TEST(Bundle, RoundTripKeepsEveryDecisionOfBm365) { expect_same_decisions("policies/bm365"); }

// Found by fuzz_check: a program without rules ends with a short node table, and the loader's
// lower bound on a node's size (40 bytes, the real minimum is 34) refused the bundle it wrote.
TEST(Bundle, ProgramsWithoutRulesLoadBack) {
  auto l = engine_from_paths({"fuzz/regressions/check-bundle-short-node-table.treaty"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const std::string bytes = write_bundle(l->engine->program(), l->sm);
  SourceManager sm2;
  std::string error;
  EXPECT_TRUE(read_bundle(bytes, sm2, error)) << error;
}

std::string small_bundle() {
  auto l = engine_from_paths({"docs/examples/quickstart.treaty"});
  EXPECT_TRUE(l->engine);
  return write_bundle(l->engine->program(), l->sm);
}

TEST(Bundle, ForeignAndOldFilesAreRefused) {
  SourceManager sm;
  std::string error;
  EXPECT_FALSE(read_bundle("enum Role { a }", sm, error));
  EXPECT_NE(error.find("not a Treaty bundle"), std::string::npos) << error;
  std::string b = small_bundle();
  const std::uint32_t v = 99;
  std::memcpy(b.data() + 8, &v, 4);
  EXPECT_FALSE(read_bundle(b, sm, error));
  EXPECT_NE(error.find("version 99 is not supported"), std::string::npos) << error;
}

// The index specs end the payload, each with its kind in its last byte: a crafted kind that does
// not exist, or that disagrees with the spec's columns, is refused (the engine would otherwise
// build an index of the wrong kind).
TEST(Bundle, IndexKindsAreValidated) {
  auto l = engine_from_paths({"policies/4me/lib"});
  ASSERT_TRUE(l->engine) << render_human(l->sm, l->diags.all());
  const Program& p = l->engine->program();
  ASSERT_FALSE(p.indexes.empty());
  const IndexSpec& last = p.indexes.back();
  const std::string b = write_bundle(p, l->sm);
  ASSERT_EQ(static_cast<std::uint8_t>(b.back()), static_cast<std::uint8_t>(last.kind));
  SourceManager sm;
  std::string error;
  std::string unknown = b;
  unknown.back() = 7;
  EXPECT_FALSE(read_bundle(reseal(unknown), sm, error));
  EXPECT_NE(error.find("unknown index kind 7"), std::string::npos) << error;
  std::string wrong = b;
  wrong.back() = static_cast<char>(last.kind == IndexKind::pair ? IndexKind::column : IndexKind::pair);
  EXPECT_FALSE(read_bundle(reseal(wrong), sm, error));
  EXPECT_NE(error.find("index kind does not match its columns"), std::string::npos) << error;
  EXPECT_TRUE(read_bundle(reseal(b), sm, error)) << error;
}

TEST(Bundle, EveryTruncationIsRefused) {
  const std::string b = small_bundle();
  for (std::size_t n = 0; n < b.size(); n += 1 + n / 64) {
    SourceManager sm;
    std::string error;
    EXPECT_FALSE(read_bundle(std::string_view(b).substr(0, n), sm, error)) << n;
    EXPECT_FALSE(error.empty());
  }
}

TEST(Bundle, EveryFlippedByteIsRefused) {
  const std::string b = small_bundle();
  for (std::size_t i = 0; i < b.size(); i += 1 + i / 256) {
    std::string c = b;
    c[i] = static_cast<char>(c[i] ^ 0x5a);
    SourceManager sm;
    std::string error;
    EXPECT_FALSE(read_bundle(c, sm, error)) << "byte " << i;
  }
}

// A mutated payload with a valid checksum (a crafted file) is refused by validation or, when it
// still validates, decides without crashing.
RC_GTEST_PROP(BundleProperty, CraftedBundlesNeverCrash, ()) {
  static const std::string b = small_bundle();
  std::string c = b;
  const auto n = *rc::gen::inRange(1, 8);
  for (int i = 0; i < n; ++i) {
    const auto at = *rc::gen::inRange<std::size_t>(28, c.size());
    c[at] = static_cast<char>(*rc::gen::arbitrary<unsigned char>());
  }
  SourceManager sm;
  std::string error;
  auto p = read_bundle(reseal(c), sm, error);
  if (!p) {
    RC_ASSERT(!error.empty());
    return;
  }
  Engine e(std::move(p));
  const auto& prog = e.program();
  for (std::uint32_t a = 0; a < prog.schema.actions.size(); ++a)
    for (EntityId x = 0; x < prog.world().size() && x < 8; ++x)
      for (EntityId y = 0; y < prog.world().size() && y < 8; ++y) {
        Request r;
        r.principal = x;
        r.resource = y;
        r.action = a;
        r.args.assign(prog.schema.actions[a].params.size(), Value::none());
        (void)e.decide(r);
      }
}

}  // namespace

// The IR's child and type lists keep two ids in place and move to the heap past that; every
// operation the compiler, the codec and the engine use must keep the ids and their order.
TEST(SmallIds, KeepsIdsInPlaceAndOnTheHeap) {
  treaty::SmallIds<std::uint32_t, 2> v;
  EXPECT_TRUE(v.empty());
  v.push_back(7);
  v.push_back(8);
  EXPECT_EQ(v.to_vector(), (std::vector<std::uint32_t>{7, 8}));
  for (std::uint32_t i = 0; i < 100; ++i) v.push_back(i);  // past the two in place
  ASSERT_EQ(v.size(), 102u);
  EXPECT_EQ(v[0], 7u);
  EXPECT_EQ(v[1], 8u);
  EXPECT_EQ(v.back(), 99u);
  const auto copy = v;
  EXPECT_EQ(copy, v);
  auto moved = std::move(v);
  EXPECT_EQ(moved, copy);
  EXPECT_TRUE(v.empty());  // NOLINT: a moved-from list is empty and usable
  v = {1, 2, 3};
  EXPECT_EQ(std::vector<std::uint32_t>(v.rbegin(), v.rend()), (std::vector<std::uint32_t>{3, 2, 1}));
  v = std::vector<std::uint32_t>{5};
  EXPECT_EQ(v.to_vector(), (std::vector<std::uint32_t>{5}));
  EXPECT_FALSE(v == copy);
  moved = v;  // heap to in place
  EXPECT_EQ(moved.to_vector(), (std::vector<std::uint32_t>{5}));
}
