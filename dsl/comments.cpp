// Lexical helpers shared by the parser and the formatter: comments, string escapes.
#include <cstdio>

#include "treaty/parse.hpp"

namespace treaty {

std::vector<syntax::Comment> scan_comments(const SourceManager& sm, FileId id) {
  const std::string& t = sm.file(id).text;
  std::vector<syntax::Comment> out;
  const std::size_t n = t.size();
  std::size_t line_start = 0;
  auto own_line = [&](std::size_t at) {
    for (std::size_t j = line_start; j < at; ++j)
      if (t[j] != ' ' && t[j] != '\t' && t[j] != '\r') return false;  // a lone CR is blank space to the grammar
    return true;
  };
  for (std::size_t i = 0; i < n;) {
    const char c = t[i];
    if (c == '\n') {
      line_start = ++i;
    } else if (c == '"') {
      ++i;
      while (i < n && t[i] != '"' && t[i] != '\n') i += (t[i] == '\\' && i + 1 < n && t[i + 1] != '\n') ? 2 : 1;
      if (i < n && t[i] == '"') ++i;
    } else if (c == '/' && i + 1 < n && t[i + 1] == '/') {
      std::size_t e = t.find('\n', i);
      if (e == std::string::npos) e = n;
      std::size_t te = e;
      while (te > i && (t[te - 1] == '\r' || t[te - 1] == ' ' || t[te - 1] == '\t')) --te;
      const bool doc = i + 2 < n && t[i + 2] == '/' && !(i + 3 < n && t[i + 3] == '/');
      out.push_back({Span{id, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(te)}, t.substr(i, te - i), doc, own_line(i)});
      i = e;
    } else if (c == '/' && i + 1 < n && t[i + 1] == '*') {
      std::size_t e = t.find("*/", i + 2);
      e = (e == std::string::npos) ? n : e + 2;
      out.push_back({Span{id, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(e)}, t.substr(i, e - i), false, own_line(i)});
      for (std::size_t j = i; j < e; ++j)
        if (t[j] == '\n') line_start = j + 1;
      i = e;
    } else {
      ++i;
    }
  }
  return out;
}

namespace {
void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}
}  // namespace

bool unescape_string(std::string_view lit, std::string& out) {
  out.clear();
  if (lit.size() >= 2 && lit.front() == '"' && lit.back() == '"') lit = lit.substr(1, lit.size() - 2);
  bool ok = true;
  for (std::size_t i = 0; i < lit.size(); ++i) {
    if (lit[i] != '\\' || i + 1 >= lit.size()) {
      out += lit[i];
      continue;
    }
    const char e = lit[++i];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case 'u': {
        std::uint32_t cp = 0;
        std::size_t j = i + 2;  // past `u{`
        while (j < lit.size() && lit[j] != '}') {
          const char h = lit[j];
          cp = cp * 16 + static_cast<std::uint32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
          ++j;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) ok = false;
        else append_utf8(out, cp);
        i = j;
        break;
      }
      default: out += e; break;
    }
  }
  return ok;
}

}  // namespace treaty
