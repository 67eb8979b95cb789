#include <gtest/gtest.h>

#include "support/test_util.hpp"
#include "treaty/format.hpp"

using namespace treaty;
using namespace treaty::syntax;
using treaty::testing::parse_text;

namespace {

const RuleDecl& only_rule(const File& f) { return syntax::get<RuleDecl>(f.decls.at(0)); }

TEST(Grammar, AnalysisFindsNoProblems) { EXPECT_EQ(analyze_grammar(), 0u); }

TEST(Parser, EnumWithTrailingComma) {
  auto p = parse_text("enum Role { a, b, }");
  ASSERT_TRUE(p.diags.empty()) << treaty::testing::render(p);
  const auto& e = syntax::get<EnumDecl>(p.file.decls.at(0));
  EXPECT_EQ(e.name.name, "Role");
  ASSERT_EQ(e.values.size(), 2u);
  EXPECT_EQ(e.values[1].name, "b");
}

TEST(Parser, EntityWithOptionalSetAndKey) {
  auto p = parse_text("entity Trust { grantor: Account, roles: Set<Role>, dir: Account?, key (grantor, dir) }");
  ASSERT_TRUE(p.diags.empty()) << treaty::testing::render(p);
  const auto& e = syntax::get<EntityDecl>(p.file.decls.at(0));
  ASSERT_EQ(e.attrs.size(), 3u);
  EXPECT_EQ(e.attrs[1].type.kind, TypeRef::Kind::set);
  EXPECT_EQ(e.attrs[1].type.args.at(0).name, "Role");
  EXPECT_EQ(e.attrs[2].type.kind, TypeRef::Kind::optional);
  ASSERT_EQ(e.keys.size(), 1u);
  EXPECT_EQ(e.keys[0][1].name, "dir");
  EXPECT_EQ(e.member_is_key, (std::vector<bool>{false, false, false, true}));
}

TEST(Parser, InlineEntityIsAContextualMarker) {
  // `inline` marks a type a request may bring; it is not reserved: a type, attribute or fact may
  // still be called `inline`.
  auto p = parse_text("inline entity Ticket { inline: Bool }\nentity inline {}\ninline::\"x\" {}\n");
  ASSERT_TRUE(p.diags.empty()) << treaty::testing::render(p);
  ASSERT_EQ(p.file.decls.size(), 3u);
  const auto& t = syntax::get<EntityDecl>(p.file.decls[0]);
  EXPECT_TRUE(t.request_supplied);
  EXPECT_EQ(t.name.name, "Ticket");
  EXPECT_EQ(t.attrs.at(0).name.name, "inline");
  EXPECT_FALSE(syntax::get<EntityDecl>(p.file.decls[1]).request_supplied);
  EXPECT_EQ(syntax::get<FactDecl>(p.file.decls[2]).type.name, "inline");
  const std::string out = format_file(p.sm, p.file);
  EXPECT_NE(out.find("inline entity Ticket {"), std::string::npos) << out;
  auto q = parse_text(out);
  EXPECT_TRUE(q.file == p.file) << out;
  // The parser recovers at an `inline entity` line like at any declaration.
  auto r = parse_text("entity A { x Int }\ninline entity B {}\n");
  EXPECT_EQ(r.diags.count(Severity::error), 1u) << treaty::testing::render(r);
  ASSERT_EQ(r.file.decls.size(), 1u);
  EXPECT_TRUE(syntax::get<EntityDecl>(r.file.decls[0]).request_supplied);
}

TEST(Parser, ActionWithParamsAndTypeUnion) {
  auto p = parse_text("action view(level: Int) principal Person resource Request | Sla | Ci;");
  ASSERT_TRUE(p.diags.empty()) << treaty::testing::render(p);
  const auto& a = syntax::get<ActionDecl>(p.file.decls.at(0));
  EXPECT_TRUE(a.has_params);
  ASSERT_EQ(a.params.size(), 1u);
  EXPECT_EQ(a.principal_types.size(), 1u);
  EXPECT_EQ(a.resource_types.size(), 3u);
  EXPECT_EQ(a.resource_types[2].name, "Ci");
}

TEST(Parser, PrecedenceOrAndNotComparison) {
  auto p = parse_text("permit r when not a == b and c or d;");
  ASSERT_TRUE(p.diags.empty()) << treaty::testing::render(p);
  const Expr& e = only_rule(p.file).conditions.at(0).expr;
  ASSERT_EQ(e.kind, Expr::Kind::or_);
  ASSERT_EQ(e.kids.at(0).kind, Expr::Kind::and_);
  const Expr& n = e.kids[0].kids.at(0);
  ASSERT_EQ(n.kind, Expr::Kind::not_);
  EXPECT_EQ(n.kids.at(0).kind, Expr::Kind::cmp);
}

TEST(Parser, ExistsBodyRunsToTheEnd) {
  auto p = parse_text("permit r when exists t: Trust where t.accepted and x unless y;");
  ASSERT_TRUE(p.diags.empty()) << treaty::testing::render(p);
  const auto& r = only_rule(p.file);
  ASSERT_EQ(r.conditions.size(), 2u);
  const Expr& e = r.conditions[0].expr;
  ASSERT_EQ(e.kind, Expr::Kind::exists);
  EXPECT_EQ(e.var().name, "t");
  EXPECT_EQ(e.name, "Trust");
  EXPECT_EQ(e.kids.at(0).kind, Expr::Kind::and_);
  EXPECT_FALSE(r.conditions[1].is_when);
}

TEST(Parser, PostfixMethodsAndEntityRefs) {
  auto p = parse_text("permit r when t.grantor.kind == Account::\"a\\\"b\" and not t.roles.contains_any({x, y,});");
  ASSERT_TRUE(p.diags.empty()) << treaty::testing::render(p);
  const Expr& e = only_rule(p.file).conditions.at(0).expr;
  const Expr& cmp = e.kids.at(0);
  EXPECT_EQ(cmp.kids.at(0).kind, Expr::Kind::attr);
  EXPECT_EQ(cmp.kids.at(0).name, "kind");
  EXPECT_EQ(cmp.kids.at(1).kind, Expr::Kind::entity_ref);
  EXPECT_EQ(cmp.kids.at(1).str(), "a\"b");
  const Expr& m = e.kids.at(1).kids.at(0);
  ASSERT_EQ(m.kind, Expr::Kind::method);
  EXPECT_EQ(m.name, "contains_any");
  EXPECT_EQ(m.kids.at(1).kind, Expr::Kind::set_lit);
  EXPECT_EQ(m.kids.at(1).kids.size(), 2u);
}

TEST(Parser, RuleClausesAndActionPatterns) {
  auto p = parse_text(
      "forbid f principal action {view, edit} resource r: A | B;\n"
      "permit g action assign_task(kind in {approval, project});\n"
      "permit h principal p action any;");
  ASSERT_TRUE(p.diags.empty()) << treaty::testing::render(p);
  const auto& f = syntax::get<RuleDecl>(p.file.decls.at(0));
  EXPECT_EQ(f.effect, Effect::forbid);
  ASSERT_TRUE(f.principal.has_value());
  EXPECT_FALSE(f.principal->var.has_value());
  EXPECT_EQ(f.action->kind, ActionPattern::Kind::set);
  EXPECT_EQ(f.resource->types.size(), 2u);
  const auto& g = syntax::get<RuleDecl>(p.file.decls.at(1));
  EXPECT_FALSE(g.principal.has_value());
  ASSERT_EQ(g.action->constraints.size(), 1u);
  EXPECT_EQ(g.action->constraints[0].kind, Expr::Kind::in);
  const auto& h = syntax::get<RuleDecl>(p.file.decls.at(2));
  EXPECT_EQ(h.principal->var->name, "p");
  EXPECT_EQ(h.action->kind, ActionPattern::Kind::any);
}

TEST(Parser, StringEscapesIncludingUnicode) {
  auto p = parse_text("A::\"x\" { s: \"tab\\there \\u{e9} \\u{1F600} \\\\ \\n\" }");
  ASSERT_TRUE(p.diags.empty()) << treaty::testing::render(p);
  const auto& f = syntax::get<FactDecl>(p.file.decls.at(0));
  EXPECT_EQ(f.fields.at(0).value.str(), "tab\there \xC3\xA9 \xF0\x9F\x98\x80 \\ \n");
}

TEST(Parser, IntegerLimits) {
  auto ok = parse_text("A::\"x\" { lo: -9223372036854775808, hi: 9223372036854775807 }");
  ASSERT_TRUE(ok.diags.empty()) << treaty::testing::render(ok);
  const auto& f = syntax::get<FactDecl>(ok.file.decls.at(0));
  EXPECT_EQ(f.fields[0].value.int_value, INT64_MIN);
  EXPECT_EQ(f.fields[1].value.int_value, INT64_MAX);
  auto bad = parse_text("A::\"x\" { n: 9223372036854775808 }");
  ASSERT_EQ(bad.diags.all().size(), 1u);
  EXPECT_EQ(bad.diags.all()[0].code(), "E0106");
}

TEST(Parser, DocCommentsAttachToTheNextDeclaration) {
  auto p = parse_text("// plain\n/// first line\n///\n/// third\nenum E { a }\n/// not a doc: a blank line follows\n\nenum F { b }");
  ASSERT_TRUE(p.diags.empty());
  EXPECT_EQ(syntax::get<EnumDecl>(p.file.decls[0]).doc, std::optional<std::string>("first line\n\nthird"));
  EXPECT_EQ(syntax::get<EnumDecl>(p.file.decls[1]).doc, std::nullopt);
}

TEST(Parser, SpansPointAtTheSource) {
  auto p = parse_text("enum E { a }\npermit rule_one when x;");
  const auto& r = syntax::get<RuleDecl>(p.file.decls.at(1));
  EXPECT_EQ(p.sm.text(r.name.span), "rule_one");
  EXPECT_EQ(p.sm.text(r.span), "permit rule_one when x;");
  const auto lc = p.sm.line_col(r.name.span.file, r.name.span.begin);
  EXPECT_EQ(lc.line, 2u);
  EXPECT_EQ(lc.column, 8u);
}

TEST(ParserRecovery, ReportsEveryBrokenDeclaration) {
  auto p = parse_text(
      "enum A { x y }\n"
      "entity B { a Int }\n"
      "permit ok when true;\n"
      "permit missing_semicolon when true\n"
      "forbid also_ok when false;\n");
  const auto& ds = p.diags.all();
  ASSERT_EQ(ds.size(), 3u) << treaty::testing::render(p);
  EXPECT_EQ(ds[0].code(), "E0112");
  EXPECT_EQ(ds[1].code(), "E0116");
  EXPECT_EQ(ds[2].code(), "E0136");
  // The good declarations are still read.
  ASSERT_EQ(p.file.decls.size(), 2u);
  EXPECT_EQ(syntax::get<RuleDecl>(p.file.decls[0]).name.name, "ok");
  EXPECT_EQ(syntax::get<RuleDecl>(p.file.decls[1]).name.name, "also_ok");
}

TEST(ParserLimits, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = "permit r when " + std::string(100000, '(') + "x" + std::string(100000, ')') + ";";
  auto p = parse_text(deep);
  ASSERT_FALSE(p.diags.empty());
  EXPECT_EQ(p.diags.all()[0].code(), "E0101");
  std::string nots = "permit r when ";
  for (int i = 0; i < 50000; ++i) nots += "not ";
  auto q = parse_text(nots + "x;");
  ASSERT_FALSE(q.diags.empty());
  EXPECT_EQ(q.diags.all()[0].code(), "E0101");
  std::string sets = "entity E { a: ";
  for (int i = 0; i < 50000; ++i) sets += "Set<";
  auto r = parse_text(sets + "Int }");
  ASSERT_FALSE(r.diags.empty());
  EXPECT_EQ(r.diags.all()[0].code(), "E0101");
}

TEST(ParserLimits, NestingWithinTheLimitIsAccepted) {
  ParseOptions o;
  o.max_depth = 64;
  auto p = parse_text("permit r when " + std::string(20, '(') + "x" + std::string(20, ')') + ";", "t.treaty", o);
  EXPECT_TRUE(p.diags.empty()) << treaty::testing::render(p);
}

TEST(ParserLimits, FileSizeLimit) {
  ParseOptions o;
  o.max_file_bytes = 10;
  auto p = parse_text("enum Role { a, b }", "t.treaty", o);
  ASSERT_EQ(p.diags.all().size(), 1u);
  EXPECT_EQ(p.diags.all()[0].code(), "E0002");
  EXPECT_TRUE(p.file.decls.empty());
}

TEST(ParserBytes, InvalidUtf8AndNulAreLocated) {
  auto p = parse_text(std::string("enum A { a }\nenum B { \xC3\x28 }"));
  ASSERT_EQ(p.diags.all().size(), 1u);
  EXPECT_EQ(p.diags.all()[0].code(), "E0003");
  EXPECT_EQ(p.diags.all()[0].span.begin, 22u);
  auto q = parse_text(std::string("enum A { a }\0", 13));
  ASSERT_EQ(q.diags.all().size(), 1u);
  EXPECT_EQ(q.diags.all()[0].code(), "E0004");
  EXPECT_EQ(q.diags.all()[0].span.begin, 12u);
  auto overlong = parse_text(std::string("enum A { \xC0\xAF }"));
  EXPECT_EQ(overlong.diags.all().at(0).code(), "E0003");
  auto surrogate = parse_text(std::string("enum A { \xED\xA0\x80 }"));
  EXPECT_EQ(surrogate.diags.all().at(0).code(), "E0003");
}

TEST(ParserExpression, ParsesAStandaloneExpression) {
  SourceManager sm;
  Diagnostics d;
  Expr e;
  const auto id = sm.add("<expr>", " a.b in {c} ");
  ASSERT_TRUE(parse_expression(sm, id, e, d));
  EXPECT_EQ(to_source(e), "a.b in {c}");
  const auto bad = sm.add("<expr>", "a and");
  EXPECT_FALSE(parse_expression(sm, bad, e, d));
}

TEST(Keywords, AreRecognised) {
  EXPECT_TRUE(is_keyword("permit"));
  EXPECT_TRUE(is_keyword("key"));
  EXPECT_FALSE(is_keyword("permits"));
  EXPECT_FALSE(is_keyword("Set"));
}

}  // namespace
