// Properties of the front end on generated syntax trees (RapidCheck).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "support/gen_syntax.hpp"
#include "support/test_util.hpp"
#include "treaty/format.hpp"

using namespace treaty;

namespace {

// print -> parse gives back the same tree, and printing again gives the same text.
RC_GTEST_PROP(FormatProperty, PrintParseRoundTripAndIdempotence, ()) {
  const syntax::File f = *treaty::testing::gen::file();
  SourceManager empty;
  const std::string once = format_file(empty, f);
  auto p = treaty::testing::parse_text(once);
  if (!p.diags.empty()) RC_FAIL("printed text does not parse:\n" + treaty::testing::render(p));
  if (!(p.file == f)) RC_FAIL("reparsed tree differs; printed:\n" + once);
  RC_ASSERT(format_file(p.sm, p.file) == once);
}

// The same for single expressions, with the one-line printer.
RC_GTEST_PROP(FormatProperty, ExpressionRoundTrip, ()) {
  const syntax::Expr e = *treaty::testing::gen::expr(5);
  const std::string s = to_source(e);
  SourceManager sm;
  Diagnostics d;
  syntax::Expr back;
  const auto id = sm.add("<expr>", s);
  RC_ASSERT(parse_expression(sm, id, back, d));
  if (!(back == e)) RC_FAIL("reparsed expression differs: " + s + " vs " + to_source(back));
}

// Any bytes at all: the parser reports or accepts, never crashes, and reports errors with a
// location inside the file.
RC_GTEST_PROP(ParserProperty, ArbitraryInputNeverCrashes, (const std::string& text)) {
  auto p = treaty::testing::parse_text(text);
  for (const auto& d : p.diags.all()) {
    RC_ASSERT(d.span.valid());
    RC_ASSERT(d.span.begin <= text.size());
  }
}

}  // namespace
