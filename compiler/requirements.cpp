// Requirements: `forall`, `where` and `ensure` lowered, and the `{expr}` parts of their messages
// parsed and lowered (LANGUAGE.md 7). The runtime evaluates them over the facts
// (Engine::check_requirements): the compiler has no evaluator.

#include "internal/checker.hpp"
#include "internal/types.hpp"
#include "treaty/parse.hpp"

namespace treaty::detail {

void Checker::check_requirements() {
  for (const auto* rq : require_order_) {
    RequirementInfo info;
    info.name = rq->name.name;
    info.span = rq->name.span;
    info.message = rq->message;
    Scope sc;
    bool ok = true;
    if (rq->forall_type) {
      auto t = resolve_entity_types({*rq->forall_type});
      if (!t) {
        ok = false;
      } else {
        info.forall_type = (*t)[0];
        sc.push(rq->forall_var->name, Type::entity(*t));
      }
    }
    if (ok && rq->where) {
      if (auto w = expect_bool(*rq->where, sc, "a requirement's `where`")) info.where = w->id; else ok = false;
    }
    if (ok) {
      if (auto en = expect_bool(rq->ensure, sc, "a requirement's `ensure`")) info.ensure = en->id; else ok = false;
    }
    if (ok) ok = interpolation(rq->message, rq->message_span, sc, info.message_parts);
    info.frame = sc.max;
    if (ok) p_.requirements.push_back(std::move(info));
  }
}

/// Splits a message into literal text and `{expr}` parts, checking each expression.
bool Checker::interpolation(const std::string& msg, Span span, Scope& sc,
                            std::vector<std::pair<std::string, NodeId>>& parts) {
  std::string text;
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] != '{') {
      text += msg[i];
      continue;
    }
    const auto close = msg.find('}', i);
    if (close == std::string::npos) {
      d_.add(DiagId::bad_message, span, "unclosed `{` in the message; write an interpolated expression as `{expr}`");
      return false;
    }
    const std::string src = msg.substr(i + 1, close - i - 1);
    const FileId fid = sm_.add(sm_.file(span.file).path + " (message of the requirement)", src);
    Expr e;
    Diagnostics local;
    if (!parse_expression(sm_, fid, e, local)) {
      auto& diag = d_.add(DiagId::bad_message, span, "cannot read `{" + src + "}` in the message as an expression");
      for (const auto& ld : local.all()) diag.notes.push_back({Span{}, ld.message});
      return false;
    }
    auto t = expr(e, sc, nullptr);
    if (!t) return false;
    parts.emplace_back(text, t->id);
    text.clear();
    i = close;
  }
  parts.emplace_back(text, kNone32);
  return true;
}

}  // namespace treaty::detail
