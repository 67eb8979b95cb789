// Embedding Treaty: load the 4me library, add a customer's facts as JSON, and decide requests.
// Built and run by the test suite (ctest -R docs.api_example). Usage: example POLICY_DIR
#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>
#include <vector>
#include <nlohmann/json.hpp>

#include "treaty/compile.hpp"
#include "treaty/runtime.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: example POLICY_DIR (e.g. policies/4me/lib)\n";
    return 2;
  }
  // 1. The compile pipeline: parse and check the policy with the customer's facts (here in
  //    memory; CheckOptions::data_files takes file paths), load it into an Engine, and evaluate
  //    its `require`s over the facts. Every problem is a diagnostic with a location.
  treaty::SourceManager sm;
  treaty::Diagnostics diags;
  treaty::CompileOptions opts;
  opts.check.data_texts.emplace_back("acme.json", R"({"entities": [
    {"type": "Account", "id": "acme", "attrs": {"kind": "standard", "plan": "premium",
                                                 "modules": [], "directory": null}},
    {"type": "Account", "id": "msp", "attrs": {"kind": "standard", "plan": "premium",
                                                "modules": ["change_management"], "directory": null}},
    {"type": "Person", "id": "ann", "attrs": {"account": "acme", "roles": ["specialist"], "teams": []}},
    {"type": "Person", "id": "max", "attrs": {"account": "msp", "roles": ["change_manager"], "teams": []}},
    {"type": "Trust", "id": "acme-msp", "attrs": {"grantor": "acme", "grantee": "msp", "accepted": true,
        "options": ["change_tasks_to_key_contacts_and_specialists"], "shared_roles": []}}
  ]})");
  const treaty::Compiled compiled = treaty::compile(sm, treaty::Sources::from_paths({argv[1]}), diags, opts);
  if (diags.has_errors()) {
    std::cerr << treaty::render_human(sm, diags.all());
    return 1;
  }

  // 2. The Engine owns the program and its indexes; decide() is const and thread-safe.
  const treaty::Engine& engine = *compiled.engine;

  // 3. A request as JSON (LANGUAGE.md section 10). Inline entities live in an Overlay that
  //    exists for this request only. A bad request is an error, never a deny.
  treaty::Overlay overlay(engine.program());
  treaty::Request request;
  std::string error;
  const auto json = nlohmann::json::parse(R"({
    "principal": {"type": "Person", "id": "max"},
    "action": {"name": "assign_task", "args": {"kind": "approval"}},
    "resource": {"type": "Person", "id": "ann"}})");
  if (!engine.request_from_json(json, overlay, request, error)) {
    std::cerr << "bad request: " << error << "\n";
    return 1;
  }
  const treaty::Decision d = engine.decide(request);
  std::cout << engine.explain(d, request, &sm);
  std::cout << engine.to_json(d, &sm).dump() << "\n";

  // 4. A field mask: which task kinds may max assign to ann? One call.
  std::cout << "kinds:";
  const auto& kinds = engine.program().schema.enums[engine.program().schema.find_enum("TaskKind").value()];
  for (auto v : engine.allowed_values(request, 0)) std::cout << " " << kinds.values[v];
  std::cout << "\n";

  // 5. Concurrent decisions on one engine.
  std::vector<std::thread> threads;
  std::atomic<int> allowed{0};
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) allowed += engine.decide(request, /*explain=*/false).allow;
    });
  for (auto& t : threads) t.join();
  std::cout << "allowed " << allowed << " of 2000 concurrent decisions\n";
  return d.allow && allowed == 2000 ? 0 : 1;
}
