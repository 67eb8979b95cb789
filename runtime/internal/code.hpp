// Engine::Code: the IR laid out again for the evaluator. Internal to runtime/: the public
// contract (include/treaty/runtime.hpp) only names it.
#pragma once

#include <cstdint>
#include <vector>

#include "treaty/data/world.hpp"
#include "treaty/program.hpp"
#include "treaty/runtime.hpp"

namespace treaty {

/// The IR as the evaluator reads it, built from Program::nodes when the engine loads: 48 bytes
/// per node (a Node is 104, with its children and types on the heap), children, types and
/// literal values in shared arrays, so the nodes of a rule share a few cache lines.
struct Engine::Code {
  struct Ins {
    Op op = Op::lit;
    std::uint32_t nkids = 0, ntypes = 0;
    std::uint32_t slot = 0;         ///< Node::slot
    std::uint32_t a = 0;            ///< Node::a; for a literal, its index in Code::values
    std::int32_t probe_attr = -1;   ///< Node::probe_attr
    std::int32_t probe_attr2 = -1;  ///< Node::probe_attr2
    std::uint32_t kids = 0;         ///< first child in Code::kids
    std::uint32_t types = 0;        ///< first type in Code::types
    std::int32_t index = -1;        ///< exists: World::index_number of its probe on its first type;
                                    ///< attr: its column in Code::columns (single type, sealed world)
    std::int32_t var = -1;          ///< attr: the slot of its base when that is a variable
  };
  std::vector<Ins> ins;  ///< by NodeId
  std::vector<std::uint32_t> kids;
  std::vector<TypeId> types;
  std::vector<Value> values;
  std::vector<World::ColumnRef> columns;
};

}  // namespace treaty
