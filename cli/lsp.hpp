// `treaty lsp` as a function over streams (cli/lsp.cpp): the command runs it over stdin and
// stdout, the fuzz harness (fuzz/fuzz_lsp.cpp) over a buffer.
#pragma once

#include <cstdio>
#include <ostream>

namespace treaty::cli {

/// Serves LSP: reads framed messages (`Content-Length: N`, a blank line, N bytes of JSON) from `in`
/// and writes every response and notification, framed, to `out`, until `exit` or the end of `in`.
/// Returns the exit code (0 after `shutdown`, else 1). `read_workspace` false: the workspace is
/// the open documents only, nothing is read from disk.
int run_lsp(std::FILE* in, std::ostream& out, bool read_workspace = true);

}  // namespace treaty::cli
