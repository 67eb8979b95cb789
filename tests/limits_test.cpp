// Bounded cost on hostile input (issue 20): rendering of long lines and of many diagnostics,
// streamed machine formats, lints that must not compare every pair of rules, source files that
// are not regular files. Sizes are asserted, never times (the growth benchmark measures those).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_util.hpp"
#include "treaty/compile.hpp"
#include "treaty/package.hpp"

using namespace treaty;
namespace fs = std::filesystem;

namespace {

struct Checked {
  SourceManager sm;
  Diagnostics diags;
};

std::unique_ptr<Checked> check_text(const std::string& text) {
  auto c = std::make_unique<Checked>();
  CompileOptions o;
  o.last = Step::lints;
  (void)compile(c->sm, Sources::from_texts({{"p.treaty", text}}), c->diags, o);
  c->diags.sort();
  return c;
}

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto i = hay.find(needle); i != std::string::npos; i = hay.find(needle, i + 1)) ++n;
  return n;
}

TEST(LongLines, ASpanOnAMegabyteLineIsShownAsAWindowWithTheCaretUnderIt) {
  // One line: a million `x` in a comment-free fact value list, then a bad attribute at the end.
  const std::string pad(1'000'000, 'x');
  const std::string text = "entity A { s: String }\nA::\"a\" { s: \"" + pad + "\", bogus: 1 }\n";
  auto c = check_text(text);
  ASSERT_EQ(c->diags.all().size(), 1u);
  const std::string out = render_human(c->sm, c->diags.all());
  EXPECT_LT(out.size(), 1000u) << out.substr(0, 400);
  EXPECT_NE(out.find("p.treaty:2:" + std::to_string(14 + pad.size() + 3) + ": error[E0202]"), std::string::npos) << out;
  // The snippet is cut on the left, and the caret stands under `bogus`.
  std::istringstream lines(out);
  std::string head, src, carets;
  std::getline(lines, head);
  std::getline(lines, src);
  std::getline(lines, carets);
  EXPECT_EQ(src.rfind(" 2 | ...", 0), 0u) << src;
  const auto at = carets.find('^');
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(src.substr(at, 5), "bogus") << src << "\n" << carets;
  EXPECT_EQ(carets.substr(at), "^^^^^");
}

TEST(LongLines, ASpanLongerThanTheWindowHasBoundedCarets) {
  const std::string s(500'000, 'a');
  auto c = check_text("entity A { n: Int }\nA::\"a\" { n: \"" + s + "\" }\n");
  ASSERT_EQ(c->diags.all().size(), 1u);
  const std::string out = render_human(c->sm, c->diags.all());
  EXPECT_LT(out.size(), 1000u);
  EXPECT_LE(count_of(out, "^"), 160u);
  EXPECT_NE(out.find("...\n"), std::string::npos) << "the window is cut on the right";
}

TEST(LongLines, TheWindowNeverSplitsAUtf8Sequence) {
  // Two-byte characters; the span is far into the line, so the window's edges fall among them.
  std::string line = "A::\"a\" { s: \"";
  for (int i = 0; i < 3000; ++i) line += "\xc3\xa9";  // é
  line += "\", bogus: 1 }";
  auto c = check_text("entity A { s: String }\n" + line + "\n");
  ASSERT_EQ(c->diags.all().size(), 1u);
  const std::string out = render_human(c->sm, c->diags.all());
  std::istringstream lines(out);
  std::string head, src;
  std::getline(lines, head);
  std::getline(lines, src);
  const std::string shown = src.substr(src.find("| ...") + 5);
  ASSERT_FALSE(shown.empty());
  EXPECT_NE(static_cast<unsigned char>(shown[0]) & 0xC0, 0x80u) << "starts inside a sequence";
  SourceManager sm;
  Diagnostics d;
  EXPECT_TRUE(validate_source_bytes(sm, sm.add("out", out), d)) << "the output is valid UTF-8";
}

TEST(LongLines, ShortLinesAreShownWhole) {
  auto p = treaty::testing::parse_text("enum Role { a b }", "pol.treaty");
  EXPECT_EQ(treaty::testing::render(p),
            "pol.treaty:1:15: error[E0112]: expected an enum value name or `}`, found `b`\n"
            " 1 | enum Role { a b }\n"
            "   |               ^\n");
}

TEST(RepeatedDiagnostics, AreCappedPerCodeAndFileWithTheExactCountOfTheRest) {
  std::string text = "enum E { v0";
  for (int i = 1; i < 30'000; ++i) text += ", v" + std::to_string(i);
  text += " }\n";
  auto c = check_text(text);
  ASSERT_EQ(c->diags.count(Severity::warning), 30'000u);
  const std::string out = render_human(c->sm, c->diags.all());
  EXPECT_LT(out.size(), 8'000u);
  EXPECT_EQ(count_of(out, "warning[W0603]"), 10u);
  EXPECT_NE(out.find("\n... and 29,990 more like this\n"), std::string::npos) << out.substr(out.size() - 300);
  // Without a cap every one is shown (and each snippet is still a window).
  RenderOptions all;
  all.max_per_code = 0;
  const std::string full = render_human(c->sm, c->diags.all(), all);
  EXPECT_EQ(count_of(full, "warning[W0603]"), 30'000u);
  EXPECT_EQ(full.find("more like this"), std::string::npos);
  EXPECT_LT(full.size(), 30'000u * 500u);
}

TEST(RepeatedDiagnostics, TheCapCountsEachCodeOfEachFileApart) {
  Diagnostics d;
  SourceManager sm;
  const auto f0 = sm.add("a.treaty", "x\n"), f1 = sm.add("b.treaty", "y\n");
  for (int i = 0; i < 12; ++i) d.add(DiagId::unused_enum_value, Span{f0, 0, 1});
  for (int i = 0; i < 3; ++i) d.add(DiagId::unused_predicate, Span{f0, 0, 1});
  for (int i = 0; i < 11; ++i) d.add(DiagId::unused_enum_value, Span{f1, 0, 1});
  d.sort();
  const std::string out = render_human(sm, d.all());
  EXPECT_EQ(count_of(out, "a.treaty:1:1: warning[W0603]"), 10u);
  EXPECT_EQ(count_of(out, "b.treaty:1:1: warning[W0603]"), 10u);
  EXPECT_EQ(count_of(out, "warning[W0604]"), 3u);
  EXPECT_EQ(count_of(out, "... and 2 more like this\n"), 1u);
  EXPECT_EQ(count_of(out, "... and 1 more like this\n"), 1u);
}

TEST(Streaming, JsonAndSarifAreWrittenExactlyAsTheirDocumentsDump) {
  auto c = std::make_unique<Checked>();
  const auto f = c->sm.add("p.treaty", "enum Role { a, b }\npermit x when \"\\u{e9}\";\n");
  auto& d1 = c->diags.add(DiagId::unused_enum_value, Span{f, 12, 13});
  d1.notes.push_back({Span{f, 14, 18}, "a note"});
  d1.notes.push_back({Span{}, "a note nowhere"});
  d1.help = "a help";
  d1.fix = Fix{Span{f, 12, 13}, "b"};
  c->diags.add(DiagId::io_error, Span{}, "no place");
  c->diags.add(DiagId::unused_predicate, Span{f, 33, 44});
  ASSERT_EQ(c->diags.all().size(), 3u);
  const std::vector<Diagnostic> none;
  for (const std::vector<Diagnostic>* ds : {&c->diags.all(), &none}) {
    std::ostringstream j, s;
    write_json(j, c->sm, *ds);
    EXPECT_EQ(j.str(), render_json(c->sm, *ds).dump(2));
    write_sarif(s, c->sm, *ds, "1.2.3");
    EXPECT_EQ(s.str(), render_sarif(c->sm, *ds, "1.2.3").dump(2));
  }
}

TEST(Lints, RedundantPermitsAreFoundAmongManyRulesWithoutComparingPairs) {
  // Rule k has conditions {c0, ck}; the rule with {c0} alone makes every other one redundant,
  // and it is the first weaker rule in order that is named.
  std::string text = "entity P { n: Int }\naction view principal P resource P;\n";
  text += "permit base principal p: P action view resource q: P when p.n == 0;\n";
  for (int k = 1; k <= 2000; ++k)
    text += "permit r" + std::to_string(k) + " principal p: P action view resource q: P when p.n == 0 when q.n == " +
            std::to_string(k) + ";\n";
  text += "permit three principal p: P action view resource q: P when p.n == 0 when q.n == 1 when q.n == 2;\n";
  auto c = check_text(text);
  std::size_t redundant = 0;
  for (const auto& d : c->diags.all()) {
    if (d.id != DiagId::redundant_permit) continue;
    ++redundant;
    EXPECT_NE(d.message.find("`base` has the same scope"), std::string::npos) << d.message;
  }
  EXPECT_EQ(redundant, 2001u);
}

TEST(JsonFacts, EachErrorIsAtTheOffendingEntityOrValue) {
  auto c = std::make_unique<Checked>();
  CompileOptions o;
  o.last = Step::lints;
  o.check.data_texts.emplace_back("d.json",
                            "{\"entities\": [\n"
                            "  {\"type\": \"Person\", \"id\": \"p1\",\n"
                            "   \"attrs\": {\"account\": \"nowhere\", \"roles\": [\"a\", \"zz\"], \"bog\\u0075s\": 1}},\n"
                            "  {\"type\": \"Persn\", \"id\": \"p2\"},\n"
                            "  {\"type\": \"Person\", \"id\": \"p3\", \"attrs\": {\"roles\": []}}\n"
                            "]}\n");
  (void)compile(c->sm,
                Sources::from_texts({{"p.treaty", "enum Role { a, b }\nentity Account { plan: Role }\n"
                                                  "entity Person { account: Account, roles: Set<Role>, n: Int? }\n"}}),
                c->diags, o);
  c->diags.sort();
  std::vector<std::string> where;
  for (const auto& d : c->diags.all()) {
    ASSERT_TRUE(d.span.valid()) << d.message;
    const auto lc = c->sm.line_col(d.span.file, d.span.begin);
    where.push_back(std::to_string(lc.line) + ":" + std::to_string(lc.column) + " " + std::string(d.code()) + " " +
                    std::string(c->sm.text(d.span)));
  }
  EXPECT_EQ(where, (std::vector<std::string>{"3:25 E0402 \"nowhere\"", "3:51 E0300 \"zz\"", "3:58 E0202 \"bog\\u0075s\"",
                                             "4:12 E0201 \"Persn\"",
                                             "5:3 E0401 {\"type\": \"Person\", \"id\": \"p3\", \"attrs\": {\"roles\": []}}"}));
}

// Issue 20: a key given twice in a facts file is an error at the second one (nlohmann would keep
// the last, silently), at any depth, and the file contributes nothing; an object with many keys is
// checked in linear time.
TEST(JsonFacts, ARepeatedKeyIsAnErrorAtTheKey) {
  // Each text and its repeated key: the error is at the key's second occurrence.
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"{\"entities\": [{\"type\": \"Account\", \"id\": \"a\", \"id\": \"b\", \"attrs\": {\"plan\": \"a\"}}]}", "\"id\""},
           {"{\"entities\": [\n {\"type\": \"Account\", \"id\": \"a\",\n  \"attrs\": {\"plan\": \"a\", \"plan\": \"b\"}}]}",
            "\"plan\""},
           {"{\"entities\": [], \"entities\": [{\"type\": \"Account\", \"id\": \"a\"}]}", "\"entities\""}}) {
    auto c = std::make_unique<Checked>();
    CompileOptions o;
    o.last = Step::lints;
    o.check.data_texts.emplace_back("d.json", text);
    (void)compile(c->sm, Sources::from_texts({{"p.treaty", "enum Role { a, b }\nentity Account { plan: Role }\n"}}),
                  c->diags, o);
    ASSERT_EQ(c->diags.all().size(), 1u) << text;
    const auto& d = c->diags.all()[0];
    EXPECT_NE(d.message.find("the key " + key + " is given twice in one object"), std::string::npos) << d.message;
    EXPECT_EQ(d.span.begin, text.rfind(key)) << text;
  }
  std::string many = "{\"entities\": [], \"x\": {";
  for (int i = 0; i < 200000; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\": 0";
  many += ",\"k17\": 1}}";
  const auto e = json_error(many);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "the key \"k17\" is given twice in one object");
  EXPECT_EQ(many.substr(e->offset, 6), "\"k17\":");
}

// A document nested deeper than kMaxJsonDepth is refused at the first bracket past the limit, by
// json_error and parse_json alike (a fact write nested 100k deep once overflowed the server's stack
// when the loader copied it); the limit itself is accepted, and a facts file that deep is an error
// at that bracket, not a crash.
TEST(JsonFacts, NestingDeeperThanTheLimitIsRefusedAtTheBracketPastIt) {
  const auto nested = [](std::size_t depth, char open, char close) {
    return std::string(depth, open) + std::string(depth, close);
  };
  nlohmann::json j;
  EXPECT_FALSE(json_error(nested(kMaxJsonDepth, '[', ']')));
  EXPECT_FALSE(parse_json(nested(kMaxJsonDepth, '[', ']'), j));
  EXPECT_EQ(j.dump().size(), 2 * kMaxJsonDepth);
  for (const std::string& text : {nested(kMaxJsonDepth + 1, '[', ']'), nested(1000000, '[', ']'),
                                  std::string(1000000, '['), "{\"a\":" + nested(kMaxJsonDepth, '[', ']') + "}"}) {
    for (bool build : {false, true}) {
      nlohmann::json out = 7;
      const auto e = build ? parse_json(text, out) : json_error(text);
      ASSERT_TRUE(e) << text.size();
      EXPECT_EQ(e->message, "the document is nested deeper than 1024 levels of arrays and objects");
      EXPECT_EQ(e->offset, text[0] == '{' ? 5 + kMaxJsonDepth - 1 : kMaxJsonDepth) << text.size();
      if (build) {
        EXPECT_TRUE(out.is_null());
      }
    }
  }
  auto c = std::make_unique<Checked>();
  CompileOptions o;
  o.last = Step::lints;
  const std::string deep = "{\"entities\": [{\"type\": \"Account\", \"id\": \"a\", \"attrs\": {\"plan\": " +
                           nested(100000, '[', ']') + "}}]}";
  o.check.data_texts.emplace_back("d.json", deep);
  (void)compile(c->sm, Sources::from_texts({{"p.treaty", "enum Role { a, b }\nentity Account { plan: Role }\n"}}),
                c->diags, o);
  ASSERT_EQ(c->diags.all().size(), 1u);
  EXPECT_NE(c->diags.all()[0].message.find("nested deeper than 1024"), std::string::npos) << c->diags.all()[0].message;
}

// --- source files that are not regular files ---

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("treaty-limits-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

TEST(SourceFiles, AFifoNamedDotTreatyIsRefusedNotWaitedOn) {
  TempDir t;
  const auto fifo = t.path / "pipe.treaty";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::ofstream(t.path / "ok.treaty") << "enum E { a }\n";
  for (const auto& arg : {t.path.string(), fifo.string()}) {
    Diagnostics d;
    SourceManager sm;
    const auto pkg = parse_package(sm, {arg}, d);
    ASSERT_TRUE(d.has_errors()) << arg;
    EXPECT_EQ(d.all()[0].id, DiagId::io_error);
    EXPECT_NE(d.all()[0].message.find("pipe.treaty`: it is a FIFO, not a regular file"), std::string::npos)
        << d.all()[0].message;
  }
  std::string text, error;
  EXPECT_EQ(read_source_file(fifo.string(), 1 << 20, text, error), ReadResult::failed);
  EXPECT_EQ(error, "it is a FIFO, not a regular file");
}

TEST(SourceFiles, ABrokenSymlinkIsAnErrorNotSkipped) {
  TempDir t;
  std::ofstream(t.path / "ok.treaty") << "enum E { a }\n";
  fs::create_symlink(t.path / "gone.treaty", t.path / "link.treaty");
  for (const auto& arg : {t.path.string(), (t.path / "link.treaty").string()}) {
    Diagnostics d;
    const auto files = collect_treaty_files({arg}, d);
    ASSERT_EQ(d.all().size(), 1u) << arg;
    EXPECT_EQ(d.all()[0].id, DiagId::io_error);
    EXPECT_NE(d.all()[0].message.find("link.treaty`: it is a broken symbolic link"), std::string::npos)
        << d.all()[0].message;
  }
}

TEST(SourceFiles, AFileOverTheSizeLimitIsRefusedBeforeItIsRead) {
  TempDir t;
  std::ofstream(t.path / "big.treaty") << std::string(5000, ' ');
  Diagnostics d;
  SourceManager sm;
  ParseOptions o;
  o.max_file_bytes = 4096;
  (void)parse_package(sm, {t.path.string()}, d, o);
  ASSERT_EQ(d.all().size(), 1u);
  EXPECT_EQ(d.all()[0].id, DiagId::file_too_large);
  EXPECT_EQ(d.all()[0].message, "file is 5000 bytes, more than the limit of 4096");
  EXPECT_EQ(sm.file(0).text.size(), 0u) << "nothing was kept";
}

}  // namespace
