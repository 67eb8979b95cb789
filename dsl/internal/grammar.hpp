// The Treaty grammar (LANGUAGE.md sections 1-9) as PEGTL rules.
//
// Private to dsl/: no PEGTL type leaves this folder. Conventions:
//  - rules are empty snake_case structs; `sp` is whitespace and comments between tokens;
//  - every `must<R>` names a wrapper rule R whose entry in `error_id` (below) says what was
//    expected, so every syntax error has a registered code and a message in words;
//  - the parse tree keeps only the rules listed in `selector`; the converter (parser.cpp) turns
//    that tree into syntax::File.
#pragma once

#include <string_view>
#include <tao/pegtl.hpp>
#include <tao/pegtl/contrib/parse_tree.hpp>

#include "treaty/diagnostics.hpp"

namespace treaty::dsl::internal::grammar {

namespace p = tao::pegtl;

// ---------------------------------------------------------------------------------------------
// Lexical
// ---------------------------------------------------------------------------------------------
struct line_comment : p::seq<p::two<'/'>, p::until<p::eolf>> {};
struct block_comment_rest : p::until<p::string<'*', '/'>> {};
struct block_comment : p::if_must<p::string<'/', '*'>, block_comment_rest> {};
struct ws : p::sor<p::one<' ', '\t', '\r', '\n'>, line_comment, block_comment> {};
struct sp : p::star<ws> {};

struct kw_enum : TAO_PEGTL_KEYWORD("enum") {};
struct kw_entity : TAO_PEGTL_KEYWORD("entity") {};
struct kw_action : TAO_PEGTL_KEYWORD("action") {};
struct kw_predicate : TAO_PEGTL_KEYWORD("predicate") {};
struct kw_permit : TAO_PEGTL_KEYWORD("permit") {};
struct kw_forbid : TAO_PEGTL_KEYWORD("forbid") {};
struct kw_principal : TAO_PEGTL_KEYWORD("principal") {};
struct kw_resource : TAO_PEGTL_KEYWORD("resource") {};
struct kw_when : TAO_PEGTL_KEYWORD("when") {};
struct kw_unless : TAO_PEGTL_KEYWORD("unless") {};
struct kw_require : TAO_PEGTL_KEYWORD("require") {};
struct kw_forall : TAO_PEGTL_KEYWORD("forall") {};
struct kw_ensure : TAO_PEGTL_KEYWORD("ensure") {};
struct kw_message : TAO_PEGTL_KEYWORD("message") {};
struct kw_test : TAO_PEGTL_KEYWORD("test") {};
struct kw_given : TAO_PEGTL_KEYWORD("given") {};
struct kw_expect : TAO_PEGTL_KEYWORD("expect") {};
struct kw_allow : TAO_PEGTL_KEYWORD("allow") {};
struct kw_deny : TAO_PEGTL_KEYWORD("deny") {};
struct kw_because : TAO_PEGTL_KEYWORD("because") {};
struct kw_property : TAO_PEGTL_KEYWORD("property") {};
struct kw_exists : TAO_PEGTL_KEYWORD("exists") {};
struct kw_where : TAO_PEGTL_KEYWORD("where") {};
struct kw_in : TAO_PEGTL_KEYWORD("in") {};
struct kw_and : TAO_PEGTL_KEYWORD("and") {};
struct kw_or : TAO_PEGTL_KEYWORD("or") {};
struct kw_not : TAO_PEGTL_KEYWORD("not") {};
struct kw_is : TAO_PEGTL_KEYWORD("is") {};
struct kw_any : TAO_PEGTL_KEYWORD("any") {};
struct kw_true : TAO_PEGTL_KEYWORD("true") {};
struct kw_false : TAO_PEGTL_KEYWORD("false") {};
struct kw_none : TAO_PEGTL_KEYWORD("none") {};
struct kw_key : TAO_PEGTL_KEYWORD("key") {};
/// `inline` is contextual, not reserved: a marker only directly before `entity`.
struct kw_inline : TAO_PEGTL_KEYWORD("inline") {};

/// The reserved words (LANGUAGE.md section 1), each also a `kw_*` rule above.
inline constexpr std::string_view kKeywords[] = {
    "enum",    "entity", "action", "predicate", "permit", "forbid", "principal", "resource", "when",
    "unless",  "require", "forall", "ensure",   "message", "test",  "given",     "expect",   "allow",
    "deny",    "because", "property", "exists", "where",   "in",    "and",       "or",       "not",
    "is",      "any",     "true",    "false",   "none",    "key"};

/// Any reserved word, as a whole identifier. One scan of the identifier and a lookup, instead of
/// trying 33 keyword rules in turn before every name, which was a tenth of the parser's time.
/// (Derived from `identifier` for the grammar analysis: it consumes input when it matches.)
struct keyword : p::identifier {
  template <typename ParseInput>
  [[nodiscard]] static bool match(ParseInput& in) {
    constexpr std::size_t kLongest = 9;  // "predicate", "principal"
    const std::size_t avail = in.size(kLongest + 1);
    const char* c = in.current();
    auto first = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; };
    auto other = [&](char ch) { return first(ch) || (ch >= '0' && ch <= '9'); };
    if (avail == 0 || !first(c[0])) return false;
    std::size_t n = 1;
    while (n < avail && other(c[n])) ++n;
    if (n > kLongest) return false;
    const std::string_view word(c, n);
    for (const auto& k : kKeywords)
      if (k == word) {
        in.bump(n);
        return true;
      }
    return false;
  }
};

struct ident : p::seq<p::not_at<keyword>, p::identifier> {};
struct keyword_as_name : p::failure {};
/// A name where only a name can stand: a keyword there is reported as such.
struct name : p::sor<ident, p::seq<p::at<keyword>, p::raise<keyword_as_name>>> {};

struct int_lit : p::seq<p::opt<p::one<'-'>>, p::plus<p::digit>, p::not_at<p::identifier_other>> {};
struct unicode_body : p::seq<p::one<'{'>, p::rep_min_max<1, 6, p::xdigit>, p::one<'}'>> {};
struct escape_code : p::sor<p::one<'"', '\\', 'n', 't'>, p::seq<p::one<'u'>, p::must<unicode_body>>> {};
struct escape : p::seq<p::one<'\\'>, p::must<escape_code>> {};
struct str_char : p::sor<escape, p::not_one<'"', '\\', '\n', '\r'>> {};
struct string_close : p::one<'"'> {};
struct string_lit : p::seq<p::one<'"'>, p::star<str_char>, p::must<string_close>> {};

/// Comma-separated list with an optional trailing comma: `R (, R)* ,?` (leaves no trailing space).
template <typename R>
struct comma_list : p::seq<R, p::star<sp, p::one<','>, sp, R>, p::opt<sp, p::one<','>>> {};

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------
struct type_expr;
struct set_type_arg : p::seq<type_expr> {};
struct set_type_close : p::one<'>'> {};
struct set_type : p::seq<TAO_PEGTL_STRING("Set"), sp, p::one<'<'>, sp, p::must<set_type_arg>, sp, p::must<set_type_close>> {};
struct named_type : p::seq<name> {};
struct optional_mark : p::one<'?'> {};
struct type_expr : p::seq<p::sor<set_type, named_type>, p::opt<sp, optional_mark>> {};
struct type_name : p::seq<name> {};
struct type_union : p::seq<p::must<type_name>, p::star<sp, p::one<'|'>, sp, p::must<type_name>>> {};

// ---------------------------------------------------------------------------------------------
// Expressions (loosest first: or, and, not, comparisons, postfix, primary)
// ---------------------------------------------------------------------------------------------
struct expr;
struct not_expr;
struct postfix;

struct paren_inner : p::seq<expr> {};
struct paren_close : p::one<')'> {};
struct paren_expr : p::seq<p::one<'('>, sp, p::must<paren_inner>, sp, p::must<paren_close>> {};

struct set_close : p::one<'}'> {};
struct set_lit : p::seq<p::one<'{'>, sp, p::opt<comma_list<expr>, sp>, p::must<set_close>> {};

struct entity_id : p::seq<string_lit> {};
struct entity_ref : p::seq<ident, sp, p::two<':'>, sp, p::must<entity_id>> {};

struct args_close : p::one<')'> {};
struct call_args : p::seq<p::one<'('>, sp, p::opt<comma_list<expr>, sp>, p::must<args_close>> {};
struct call : p::seq<ident, sp, call_args> {};

struct exists_var : p::seq<name> {};
struct exists_type : p::seq<name> {};
struct exists_set : p::seq<postfix> {};
struct exists_domain : p::sor<p::seq<p::one<':'>, sp, p::must<exists_type>>, p::seq<kw_in, sp, p::must<exists_set>>> {};
struct where_body : p::seq<expr> {};
struct exists_where : p::seq<kw_where, sp, p::must<where_body>> {};
struct exists_expr : p::seq<kw_exists, sp, p::must<exists_var>, sp, p::must<exists_domain>, sp, p::must<exists_where>> {};

struct primary : p::sor<paren_expr, exists_expr, set_lit, string_lit, int_lit, kw_true, kw_false, kw_none, entity_ref,
                        call, ident> {};

struct member_name : p::seq<name> {};
struct member : p::seq<p::one<'.'>, sp, p::must<member_name>, p::opt<sp, call_args>> {};
struct postfix : p::seq<primary, p::star<sp, member>> {};

struct cmp_op : p::sor<p::string<'=', '='>, p::string<'!', '='>, p::string<'<', '='>, p::string<'>', '='>, p::one<'<'>,
                       p::one<'>'>> {};
struct operand : p::seq<postfix> {};
struct is_type : p::seq<name> {};
struct cmp_tail_op : p::seq<cmp_op, sp, p::must<operand>> {};
struct cmp_tail_in : p::seq<kw_in, sp, p::must<operand>> {};
struct cmp_tail_is : p::seq<kw_is, sp, p::must<is_type>> {};
struct chained_comparison : p::failure {};
struct cmp_expr
    : p::seq<postfix, p::opt<sp, p::sor<cmp_tail_op, cmp_tail_in, cmp_tail_is>,
                             p::opt<sp, p::at<p::sor<cmp_op, kw_in, kw_is>>, p::raise<chained_comparison>>>> {};

struct not_operand : p::seq<not_expr> {};
struct not_app : p::seq<kw_not, sp, p::must<not_operand>> {};
struct not_expr : p::sor<not_app, cmp_expr> {};
struct and_operand : p::seq<not_expr> {};
struct and_expr : p::seq<not_expr, p::star<sp, kw_and, sp, p::must<and_operand>>> {};
struct or_operand : p::seq<and_expr> {};
struct or_expr : p::seq<and_expr, p::star<sp, kw_or, sp, p::must<or_operand>>> {};
struct expr : p::seq<or_expr> {};

// ---------------------------------------------------------------------------------------------
// Declarations
// ---------------------------------------------------------------------------------------------
struct enum_name : p::seq<name> {};
struct enum_open : p::one<'{'> {};
struct enum_close : p::one<'}'> {};
struct enum_decl : p::seq<kw_enum, sp, p::must<enum_name>, sp, p::must<enum_open>, sp, p::opt<comma_list<name>, sp>,
                          p::must<enum_close>> {};

struct attr_colon : p::one<':'> {};
struct attr_type : p::seq<type_expr> {};
struct attr_decl : p::seq<name, sp, p::must<attr_colon>, sp, p::must<attr_type>> {};
struct key_list : p::seq<p::one<'('>, sp, comma_list<name>, sp, p::one<')'>> {};
struct key_decl : p::seq<kw_key, sp, p::must<key_list>> {};
struct entity_member : p::sor<key_decl, attr_decl> {};
struct entity_name : p::seq<name> {};
struct entity_open : p::one<'{'> {};
struct entity_close : p::one<'}'> {};
struct inline_mark : p::seq<kw_inline, sp, p::at<kw_entity>> {};
struct entity_decl : p::seq<p::opt<inline_mark, sp>, kw_entity, sp, p::must<entity_name>, sp, p::must<entity_open>, sp,
                            p::opt<comma_list<entity_member>, sp>, p::must<entity_close>> {};

struct param_colon : p::one<':'> {};
struct param_type : p::seq<type_expr> {};
struct param : p::seq<name, sp, p::must<param_colon>, sp, p::must<param_type>> {};
struct params_close : p::one<')'> {};
struct params : p::seq<p::one<'('>, sp, p::opt<comma_list<param>, sp>, p::must<params_close>> {};
struct action_name : p::seq<name> {};
struct action_principal : p::seq<kw_principal, sp, type_union> {};
struct action_resource : p::seq<kw_resource, sp, type_union> {};
struct action_semi : p::one<';'> {};
struct action_decl : p::seq<kw_action, sp, p::must<action_name>, sp, p::opt<params>, sp, p::opt<action_principal>, sp,
                            p::opt<action_resource>, sp, p::must<action_semi>> {};

struct field_colon : p::one<':'> {};
struct field_value : p::seq<expr> {};
struct field_init : p::seq<name, sp, p::must<field_colon>, sp, p::must<field_value>> {};
struct fact_open : p::one<'{'> {};
struct fact_close : p::one<'}'> {};
struct fact_decl : p::seq<entity_ref, sp, p::must<fact_open>, sp, p::opt<comma_list<field_init>, sp>, p::must<fact_close>> {};

struct predicate_name : p::seq<name> {};
struct predicate_params : p::seq<params> {};
struct predicate_eq : p::one<'='> {};
struct predicate_body : p::seq<expr> {};
struct predicate_semi : p::one<';'> {};
struct predicate_decl : p::seq<kw_predicate, sp, p::must<predicate_name>, sp, p::must<predicate_params>, sp,
                               p::must<predicate_eq>, sp, p::must<predicate_body>, sp, p::must<predicate_semi>> {};

struct binding_type : p::seq<p::at<p::ranges<'a', 'z', 'A', 'Z', '_'>>, type_union> {};
struct binding_types : p::seq<p::one<':'>, sp, p::must<binding_type>> {};
struct binding : p::seq<ident, p::opt<sp, binding_types>> {};
struct action_set_close : p::one<'}'> {};
struct action_set : p::seq<p::one<'{'>, sp, comma_list<name>, sp, p::must<action_set_close>> {};
struct action_constraints : p::seq<p::one<'('>, sp, p::opt<comma_list<expr>, sp>, p::must<paren_close>> {};
struct action_one : p::seq<ident, p::opt<sp, action_constraints>> {};
struct action_pattern : p::sor<kw_any, action_set, action_one> {};
struct rule_name : p::seq<name> {};
struct rule_principal : p::seq<kw_principal, p::opt<sp, binding>> {};
struct rule_action : p::seq<kw_action, sp, p::must<action_pattern>> {};
struct rule_resource : p::seq<kw_resource, p::opt<sp, binding>> {};
struct condition_body : p::seq<expr> {};
struct when_clause : p::seq<kw_when, sp, p::must<condition_body>> {};
struct unless_clause : p::seq<kw_unless, sp, p::must<condition_body>> {};
struct rule_semi : p::one<';'> {};
struct rule_decl : p::seq<p::sor<kw_permit, kw_forbid>, sp, p::must<rule_name>, sp, p::opt<rule_principal>, sp,
                          p::opt<rule_action>, sp, p::opt<rule_resource>, sp,
                          p::star<p::sor<when_clause, unless_clause>, sp>, p::must<rule_semi>> {};

struct require_name : p::seq<name> {};
struct forall_binding : p::seq<name, sp, p::one<':'>, sp, name> {};
struct require_where : p::seq<kw_where, sp, p::must<where_body>> {};
struct require_forall : p::seq<kw_forall, sp, p::must<forall_binding>, p::opt<sp, require_where>> {};
struct ensure_clause : p::seq<kw_ensure, sp, p::must<condition_body>> {};
struct message_string : p::seq<string_lit> {};
struct message_clause : p::seq<kw_message, sp, p::must<message_string>> {};
struct require_semi : p::one<';'> {};
struct require_decl : p::seq<kw_require, sp, p::must<require_name>, sp, p::opt<require_forall>, sp, p::must<ensure_clause>,
                             sp, p::must<message_clause>, sp, p::must<require_semi>> {};

struct test_name : p::seq<string_lit> {};
struct test_open : p::one<'{'> {};
struct given_close : p::one<'}'> {};
struct given_facts : p::seq<p::one<'{'>, sp, p::star<fact_decl, sp>, p::must<given_close>> {};
struct given_block : p::seq<kw_given, sp, p::must<given_facts>> {};
struct decision : p::sor<kw_allow, kw_deny> {};
struct req_principal : p::seq<kw_principal, sp, entity_ref> {};
struct req_arg : p::seq<name, sp, p::must<field_colon>, sp, p::must<field_value>> {};
struct req_args : p::seq<p::one<'('>, sp, p::opt<comma_list<req_arg>, sp>, p::must<args_close>> {};
struct req_action : p::seq<kw_action, sp, ident, p::opt<sp, req_args>> {};
struct req_resource : p::seq<kw_resource, sp, entity_ref> {};
struct because_rule : p::seq<name> {};
struct because_clause : p::seq<kw_because, sp, p::must<because_rule>, p::star<sp, p::one<','>, sp, p::must<because_rule>>> {};
struct expect_semi : p::one<';'> {};
struct expect_stmt : p::seq<kw_expect, sp, p::must<decision>, sp, p::must<req_principal>, sp, p::must<req_action>, sp,
                            p::must<req_resource>, sp, p::opt<because_clause>, sp, p::must<expect_semi>> {};
/// `expect violation REQUIREMENT;`: the test's world (its `given` facts) breaks that requirement.
/// `violation` is contextual: after `expect` only `allow` and `deny` are otherwise possible.
struct kw_violation : TAO_PEGTL_KEYWORD("violation") {};
struct violation_name : p::seq<name> {};
struct expect_violation : p::seq<kw_expect, sp, kw_violation, sp, p::must<violation_name>, sp, p::must<expect_semi>> {};
struct test_close : p::one<'}'> {};
struct test_decl : p::seq<kw_test, sp, p::must<test_name>, sp, p::must<test_open>, sp,
                          p::star<p::sor<given_block, expect_violation, expect_stmt>, sp>, p::must<test_close>> {};

struct property_name : p::seq<name> {};
struct prop_principal : p::seq<kw_principal, sp, binding> {};
struct prop_action : p::seq<kw_action, sp, p::must<action_pattern>> {};
struct prop_resource : p::seq<kw_resource, sp, binding> {};
struct prop_comma : p::one<','> {};
struct prop_forall : p::seq<kw_forall, sp, prop_principal, sp, p::must<prop_comma>, sp, prop_action, sp,
                            p::must<prop_comma>, sp, prop_resource> {};
struct prop_where : p::seq<kw_where, sp, p::must<where_body>> {};
struct prop_expect : p::seq<kw_expect, sp, p::must<decision>> {};
struct prop_semi : p::one<';'> {};
struct property_decl : p::seq<kw_property, sp, p::must<property_name>, sp, p::must<prop_forall>, sp, p::opt<prop_where>,
                              sp, p::must<prop_expect>, sp, p::must<prop_semi>> {};

struct declaration : p::sor<enum_decl, entity_decl, action_decl, predicate_decl, rule_decl, require_decl, test_decl,
                            property_decl, fact_decl> {};
/// One declaration, required: the unit the parser's error recovery works in.
struct one_declaration : p::must<declaration> {};
/// A whole file, for analysis and for tools that want one rule.
struct file : p::seq<sp, p::star<declaration, sp>, p::eof> {};

// ---------------------------------------------------------------------------------------------
// Error messages: what each `must<R>` expected
// ---------------------------------------------------------------------------------------------
template <typename Rule>
inline constexpr DiagId error_id = DiagId::unexpected_input;
#define TREATY_ERROR(rule, id) \
  template <>              \
  inline constexpr DiagId error_id<rule> = DiagId::id;
TREATY_ERROR(block_comment_rest, unterminated_block_comment)
TREATY_ERROR(string_close, unterminated_string)
TREATY_ERROR(escape_code, bad_escape)
TREATY_ERROR(unicode_body, bad_unicode_escape)
TREATY_ERROR(keyword_as_name, keyword_as_name)
TREATY_ERROR(set_type_arg, expected_type)
TREATY_ERROR(set_type_close, expected_closing_angle)
TREATY_ERROR(type_name, expected_type_name)
TREATY_ERROR(paren_inner, expected_expression)
TREATY_ERROR(paren_close, expected_closing_paren)
TREATY_ERROR(set_close, expected_closing_brace)
TREATY_ERROR(entity_id, expected_entity_id)
TREATY_ERROR(args_close, expected_argument)
TREATY_ERROR(exists_var, expected_exists_var)
TREATY_ERROR(exists_type, expected_type_name)
TREATY_ERROR(exists_set, expected_expression)
TREATY_ERROR(exists_domain, expected_exists_domain)
TREATY_ERROR(where_body, expected_expression)
TREATY_ERROR(exists_where, expected_where)
TREATY_ERROR(member_name, expected_attribute_name)
TREATY_ERROR(operand, expected_operand)
TREATY_ERROR(is_type, expected_is_type)
TREATY_ERROR(chained_comparison, chained_comparison)
TREATY_ERROR(not_operand, expected_operand)
TREATY_ERROR(and_operand, expected_operand)
TREATY_ERROR(or_operand, expected_operand)
TREATY_ERROR(enum_name, expected_enum_name)
TREATY_ERROR(enum_open, expected_enum_body)
TREATY_ERROR(enum_close, expected_enum_value)
TREATY_ERROR(attr_colon, expected_attribute_colon)
TREATY_ERROR(attr_type, expected_type)
TREATY_ERROR(key_list, expected_key_list)
TREATY_ERROR(entity_name, expected_entity_name)
TREATY_ERROR(entity_open, expected_entity_body)
TREATY_ERROR(entity_close, expected_attribute)
TREATY_ERROR(param_colon, expected_param_colon)
TREATY_ERROR(param_type, expected_type)
TREATY_ERROR(params_close, expected_param)
TREATY_ERROR(action_name, expected_action_name)
TREATY_ERROR(action_semi, expected_action_semicolon)
TREATY_ERROR(field_colon, expected_field_colon)
TREATY_ERROR(field_value, expected_value)
TREATY_ERROR(fact_open, expected_fact_body)
TREATY_ERROR(fact_close, expected_field)
TREATY_ERROR(predicate_name, expected_predicate_name)
TREATY_ERROR(predicate_params, expected_predicate_params)
TREATY_ERROR(predicate_eq, expected_predicate_eq)
TREATY_ERROR(predicate_body, expected_expression)
TREATY_ERROR(predicate_semi, expected_predicate_semicolon)
TREATY_ERROR(action_set_close, expected_closing_brace)
TREATY_ERROR(action_pattern, expected_action_pattern)
TREATY_ERROR(rule_name, expected_rule_name)
TREATY_ERROR(binding_type, expected_binding_type)
TREATY_ERROR(condition_body, expected_condition)
TREATY_ERROR(rule_semi, expected_rule_semicolon)
TREATY_ERROR(require_name, expected_require_name)
TREATY_ERROR(forall_binding, expected_forall_binding)
TREATY_ERROR(ensure_clause, expected_ensure)
TREATY_ERROR(message_string, expected_message)
TREATY_ERROR(message_clause, expected_message)
TREATY_ERROR(require_semi, expected_require_semicolon)
TREATY_ERROR(test_name, expected_test_name)
TREATY_ERROR(test_open, expected_test_body)
TREATY_ERROR(given_close, expected_fact)
TREATY_ERROR(given_facts, expected_given_block)
TREATY_ERROR(decision, expected_decision)
TREATY_ERROR(req_principal, expected_request_principal)
TREATY_ERROR(req_action, expected_request_action)
TREATY_ERROR(req_resource, expected_request_resource)
TREATY_ERROR(because_rule, expected_because_rule)
TREATY_ERROR(expect_semi, expected_expect_semicolon)
TREATY_ERROR(test_close, expected_test_statement)
TREATY_ERROR(property_name, expected_property_name)
TREATY_ERROR(prop_forall, expected_property_forall)
TREATY_ERROR(prop_comma, expected_comma)
TREATY_ERROR(prop_action, expected_property_forall)
TREATY_ERROR(prop_expect, expected_property_expect)
TREATY_ERROR(prop_semi, expected_property_semicolon)
TREATY_ERROR(declaration, expected_declaration)
#undef TREATY_ERROR

/// Rules whose recursion counts toward the nesting limit.
template <typename Rule>
inline constexpr bool counts_depth = std::is_same_v<Rule, expr> || std::is_same_v<Rule, not_expr> ||
                                     std::is_same_v<Rule, type_expr>;

// ---------------------------------------------------------------------------------------------
// Parse tree selection
// ---------------------------------------------------------------------------------------------
template <typename Rule>
using selector = p::parse_tree::selector<
    Rule,
    p::parse_tree::store_content::on<
        ident, int_lit, string_lit, kw_true, kw_false, kw_none, entity_ref, call, call_args, member, cmp_tail_op,
        cmp_op, cmp_tail_in, cmp_tail_is, not_app, set_lit, exists_expr, exists_type, exists_set, type_expr, set_type,
        optional_mark, named_type, enum_decl, inline_mark, entity_decl, attr_decl, key_decl, action_decl, params, param,
        action_principal, action_resource, fact_decl, field_init, predicate_decl, rule_decl, kw_permit, kw_forbid,
        rule_principal, rule_resource, rule_action, binding, kw_any, action_set, action_one, action_constraints,
        when_clause, unless_clause, require_decl, require_forall, require_where, ensure_clause, message_clause,
        test_decl, given_block, expect_stmt, expect_violation, kw_allow, kw_deny, req_principal, req_action, req_args, req_arg,
        req_resource, because_clause, property_decl, prop_principal, prop_action, prop_resource, prop_where,
        prop_expect>,
    p::parse_tree::fold_one::on<postfix, cmp_expr, and_expr, or_expr>>;

}  // namespace treaty::dsl::internal::grammar
