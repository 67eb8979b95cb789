// Helpers to load packages into an Engine for runtime tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "treaty/data/world.hpp"
#include "treaty/compile.hpp"
#include "treaty/runtime.hpp"

namespace treaty::testing {

struct LoadedEngine {
  SourceManager sm;
  Diagnostics diags;
  std::unique_ptr<Engine> engine;
};

/// Parses and checks `texts` (one file each, `f0.treaty`, `f1.treaty`, ...) and builds an engine;
/// diagnostics are kept. The requirements are not evaluated: a test that means to, does.
inline std::unique_ptr<LoadedEngine> engine_from_texts(const std::vector<std::string>& texts, EngineLimits limits = {}) {
  auto l = std::make_unique<LoadedEngine>();
  std::vector<std::pair<std::string, std::string>> files;
  for (std::size_t i = 0; i < texts.size(); ++i) files.emplace_back("f" + std::to_string(i) + ".treaty", texts[i]);
  CompileOptions opts;
  opts.limits = limits;
  opts.last = Step::load;
  l->engine = compile(l->sm, Sources::from_texts(std::move(files)), l->diags, opts).engine;
  return l;
}

/// The engine's program written to a bundle and read back into a new engine (its source text
/// goes to `sm`); fails the test when the bundle does not load.
inline std::unique_ptr<Engine> through_bundle(const LoadedEngine& l, SourceManager& sm) {
  std::string error;
  auto reread = read_bundle(write_bundle(l.engine->program(), l.sm), sm, error);
  EXPECT_TRUE(reread) << error;
  return reread ? std::make_unique<Engine>(std::move(reread)) : nullptr;
}

/// Loads policy directories of the source tree (requirements not evaluated, as above).
inline std::unique_ptr<LoadedEngine> engine_from_paths(const std::vector<std::string>& rel_paths) {
  auto l = std::make_unique<LoadedEngine>();
  std::vector<std::string> paths;
  for (const auto& p : rel_paths) paths.push_back(source_dir() + "/" + p);
  CompileOptions opts;
  opts.last = Step::load;
  l->engine = compile(l->sm, Sources::from_paths(std::move(paths)), l->diags, opts).engine;
  return l;
}

/// Builds a request from `Type::"id"` parts; fails the test when it cannot.
inline Request request(const Engine& e, const std::string& ptype, const std::string& pid, const std::string& action,
                       const std::string& rtype, const std::string& rid, std::vector<Value> args = {},
                       const Overlay* overlay = nullptr) {
  const auto& s = e.program().schema;
  Request r;
  std::string error;
  std::vector<bool> given(args.size(), true);
  EXPECT_TRUE(e.make_request(s.find_entity(ptype).value(), pid, s.find_action(action).value(), std::move(args),
                             std::move(given), s.find_entity(rtype).value(), rid, overlay, r, error))
      << error;
  return r;
}

/// The value `name` of enum `en`.
inline Value enum_value(const Engine& e, const std::string& en, const std::string& name) {
  const auto& s = e.program().schema;
  const auto id = s.find_enum(en).value();
  const auto& vals = s.enums[id].values;
  return Value::enumv(id, static_cast<std::uint32_t>(std::find(vals.begin(), vals.end(), name) - vals.begin()));
}

}  // namespace treaty::testing
