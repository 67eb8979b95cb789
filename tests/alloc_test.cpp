// A plain decision (no explanation) makes no heap allocation: global operator new is counted
// while a decision runs. Built as its own binary (it replaces the global allocation functions),
// and not under sanitizers.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "support/engine_util.hpp"

namespace {
thread_local bool g_counting = false;
thread_local std::size_t g_allocations = 0;
}  // namespace

// Replacing the global allocation functions with malloc/free is what the standard allows; GCC's
// -Wmismatched-new-delete cannot see that both are replaced together here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void* operator new[](std::size_t n) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using namespace treaty;
using namespace treaty::testing;

TEST(HotPath, PlainDecisionsDoNotAllocate) {
  auto l = engine_from_paths({"policies/4me"});
  ASSERT_TRUE(l->engine);
  const Engine& e = *l->engine;
  const auto approval = enum_value(e, "TaskKind", "approval");
  const Request allowed = request(e, "Person", "t_cm2", "assign_task", "Person", "t_dirperson", {approval});
  const Request denied = request(e, "Person", "t_cm", "assign_task", "Person", "t_wadmin", {approval});
  const Request viewed = request(e, "Person", "t_outsourced", "view", "Request", "t_req_internal");
  for (const Request* r : {&allowed, &denied, &viewed}) {
    g_allocations = 0;
    g_counting = true;
    const bool allow = e.decide(*r, false).allow;
    g_counting = false;
    EXPECT_EQ(g_allocations, 0u) << "allow=" << allow;
  }
  // The counter works: an explained default deny collects its misses on the heap.
  g_allocations = 0;
  g_counting = true;
  const auto explained = e.decide(denied, true);
  g_counting = false;
  EXPECT_GT(g_allocations, 0u);
  EXPECT_FALSE(explained.misses.empty());
  EXPECT_TRUE(e.decide(allowed, false).allow);
  EXPECT_FALSE(e.decide(denied, false).allow);
}

}  // namespace
