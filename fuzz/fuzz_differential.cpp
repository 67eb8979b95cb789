// Differential harness: the indexed runtime against the reference evaluator
// (tests/support/reference.hpp) on programs and worlds built from the fuzzer's bytes by the
// oracle's generator (tests/support/oracle_gen.hpp; the first half of the input draws the rules,
// the second the facts). Every decision of every person on every document, for each action and
// argument, with and without explanations, must agree with the reference (and its determining
// rules, when explained), carry no error, and survive a bundle round trip. Any disagreement aborts.
//
// The decisions compared are counted and printed at exit (`fuzz_differential: decisions compared:
// N`), which scripts/fuzz_campaign.sh adds to the ledger as this harness's executions.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "support/oracle_gen.hpp"
#include "support/reference.hpp"
#include "treaty/compile.hpp"
#include "treaty/parse.hpp"
#include "treaty/runtime.hpp"

namespace {

using namespace treaty;

/// Draws from the fuzzer's bytes; once they run out, always the lowest choice.
struct BytePicks {
  const std::uint8_t* p;
  std::size_t n;
  int pick(int lo, int hi) {
    if (n == 0) return lo;
    --n;
    return lo + static_cast<int>(*p++ % static_cast<unsigned>(hi - lo + 1));
  }
};

std::uint64_t compared = 0;
void report() { std::fprintf(stderr, "fuzz_differential: decisions compared: %llu\n", static_cast<unsigned long long>(compared)); }

[[noreturn]] void disagree(const std::string& what, const std::string& rules, const std::string& world) {
  std::fprintf(stderr, "fuzz_differential: %s\n--- rules\n%s--- world\n%s", what.c_str(), rules.c_str(), world.c_str());
  report();
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool registered = (std::atexit(report), true);
  (void)registered;
  if (size > 4096) return 0;
  const std::size_t half = size / 2;
  testing::BasicProgramGen<BytePicks> gp(BytePicks{data, half}), gw(BytePicks{data + half, size - half});
  const std::string rules = gp.program();
  const std::string world = gw.world();
  const char* schema = testing::kOracleSchema;

  SourceManager sm;
  Diagnostics diags;
  CompileOptions opts;
  opts.last = Step::load;
  auto engine = compile(sm, Sources::from_texts({{"f0.treaty", schema}, {"f1.treaty", rules}, {"f2.treaty", world}}),
                        diags, opts)
                    .engine;
  if (!engine) disagree("the checker rejected a well-typed program:\n" + render_human(sm, diags.all()), rules, world);

  SourceManager rsm;
  Diagnostics rd;
  std::vector<syntax::File> files;
  for (const std::string& t : {std::string(schema), rules, world}) files.push_back(parse_file(rsm, rsm.add("r", t), rd));
  std::vector<const syntax::File*> fps;
  for (const auto& f : files) fps.push_back(&f);
  testing::Reference ref(engine->program(), fps);

  SourceManager sm2;
  std::string error;
  auto reread = read_bundle(write_bundle(engine->program(), sm), sm2, error);
  if (!reread) disagree("the bundle does not load back: " + error, rules, world);
  const Engine e2(std::move(reread));

  const Engine& e = *engine;
  const auto& p = e.program();
  const auto person_t = p.schema.find_entity("Person").value(), doc_t = p.schema.find_entity("Doc").value();
  const auto level = p.schema.find_enum("Level").value();
  for (EntityId u : p.world().of_type(person_t))
    for (EntityId doc : p.world().of_type(doc_t))
      for (int a = 0; a < 4; ++a) {
        const bool edit = a > 0;
        Request r;
        r.principal = u;
        r.resource = doc;
        r.action = p.schema.find_action(edit ? "edit" : "read").value();
        std::map<std::string, Value> named;
        if (edit) {
          r.args.push_back(Value::enumv(level, static_cast<std::uint32_t>(a - 1)));
          named["level"] = r.args[0];
        }
        const auto want = ref.decide(u, edit ? "edit" : "read", named, doc);
        const std::string what = e.entity_name(u, nullptr) + " " + (edit ? "edit" : "read") + " level " +
                                 std::to_string(a) + " " + e.entity_name(doc, nullptr);
        for (bool explain : {true, false}) {
          const Decision got = e.decide(r, explain);
          ++compared;
          if (!got.errors.empty()) disagree("an error deciding " + what + ": " + got.errors[0], rules, world);
          if (got.allow != want.allow)
            disagree(std::string("the runtime ") + (got.allow ? "allows" : "denies") + " and the reference " +
                         (want.allow ? "allows" : "denies") + ": " + what,
                     rules, world);
          if (explain) {
            std::set<std::string> names;
            for (auto ri : got.determining) names.insert(p.rules[ri].name);
            if (names != want.determining) disagree("the determining rules differ: " + what, rules, world);
          }
        }
        if (e2.decide(r, false).allow != want.allow) disagree("the bundle's engine differs: " + what, rules, world);
      }
  return 0;
}
