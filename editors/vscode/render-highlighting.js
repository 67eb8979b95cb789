// Renders a .treaty file as the grammar highlights it, to an SVG (dark theme, VS Code's Dark+
// colours), headless: the tokens come from vscode-textmate with syntaxes/treaty.tmLanguage.json,
// exactly as VS Code tokenizes. Used for docs/editor-highlighting.svg.
// Usage: node render-highlighting.js IN.treaty OUT.svg
'use strict';
const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node render-highlighting.js IN.treaty OUT.svg');
  process.exit(2);
}
const grammarPath = path.join(__dirname, 'syntaxes', 'treaty.tmLanguage.json');
const wasm = fs.readFileSync(path.join(path.dirname(require.resolve('vscode-oniguruma')), 'onig.wasm')).buffer;
const onigLib = oniguruma.loadWASM(wasm).then(() => ({
  createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
  createOnigString: (s) => new oniguruma.OnigString(s),
}));
const registry = new vsctm.Registry({
  onigLib,
  loadGrammar: async (scope) =>
    scope === 'source.treaty' ? vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath) : null,
});

// The most specific scope decides, as in a theme: longest matching prefix first.
const colours = [
  ['comment', '#6A9955'],
  ['string', '#CE9178'],
  ['constant.character.escape', '#D7BA7D'],
  ['constant.numeric', '#B5CEA8'],
  ['constant.language', '#569CD6'],
  ['keyword.declaration', '#569CD6'],
  ['storage', '#569CD6'],
  ['keyword.control', '#C586C0'],
  ['keyword.operator.word', '#C586C0'],
  ['keyword.other', '#C586C0'],
  ['keyword.operator', '#D4D4D4'],
  ['entity.name.type', '#4EC9B0'],
  ['support.type', '#4EC9B0'],
  ['entity.name.function', '#DCDCAA'],
  ['variable', '#9CDCFE'],
  ['punctuation.separator.namespace', '#D4D4D4'],
];
function colour(scopes) {
  for (let i = scopes.length - 1; i >= 0; --i) {
    let best = null;
    for (const [prefix, c] of colours)
      if ((scopes[i] === prefix || scopes[i].startsWith(prefix + '.')) && (!best || prefix.length > best[0].length))
        best = [prefix, c];
    if (best) return best[1];
  }
  return '#D4D4D4';
}
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

registry.loadGrammar('source.treaty').then((grammar) => {
  const lines = fs.readFileSync(input, 'utf8').replace(/\n$/, '').split('\n');
  const charW = 8.4, lineH = 20, pad = 16;
  const width = Math.ceil(Math.max(...lines.map((l) => l.length)) * charW + 2 * pad);
  const height = lines.length * lineH + 2 * pad;
  let stack = vsctm.INITIAL;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="#1E1E1E"/>`,
    `<g font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14" xml:space="preserve">`,
  ];
  lines.forEach((line, n) => {
    const r = grammar.tokenizeLine(line, stack);
    stack = r.ruleStack;
    const spans = r.tokens
      .map((t) => `<tspan fill="${colour(t.scopes)}">${esc(line.substring(t.startIndex, t.endIndex))}</tspan>`)
      .join('');
    out.push(`<text x="${pad}" y="${pad + (n + 1) * lineH - 5}">${spans}</text>`);
  });
  out.push('</g>', '</svg>', '');
  fs.writeFileSync(output, out.join('\n'));
});
