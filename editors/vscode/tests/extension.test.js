// The client's logic without VS Code: `vscode` and `vscode-languageclient/node` are replaced by
// recording fakes, then activate() is run and the code lenses' commands are invoked.
'use strict';
const assert = require('assert');
const Module = require('module');
const path = require('path');

const log = { commands: {}, clients: [], terminals: [], started: 0, stopped: 0 };
const fakeVscode = {
  workspace: {
    getConfiguration: (section) => ({ get: (key) => (section === 'treaty' && key === 'path' ? '/opt/treaty/bin/treaty' : undefined) }),
    createFileSystemWatcher: (glob) => ({ glob }),
    getWorkspaceFolder: (uri) => (uri.fsPath.startsWith('/ws/4me/') ? { uri: { fsPath: '/ws/4me' } } : undefined),
  },
  window: {
    showErrorMessage: (m) => log.errors.push(m),
    createTerminal: (opts) => {
      const t = { opts, sent: [], show() {}, sendText(s) { this.sent.push(s); } };
      log.terminals.push(t);
      return t;
    },
  },
  commands: { registerCommand: (name, fn) => { log.commands[name] = fn; return { dispose() {} }; } },
  Uri: { parse: (s) => ({ fsPath: decodeURIComponent(s.replace(/^file:\/\//, '')) }) },
};
log.errors = [];
class FakeClient {
  constructor(id, name, serverOptions, clientOptions) {
    Object.assign(this, { id, name, serverOptions, clientOptions });
    log.clients.push(this);
  }
  start() { log.started++; return Promise.resolve(); }
  stop() { log.stopped++; return Promise.resolve(); }
}
const fakes = { vscode: fakeVscode, 'vscode-languageclient/node': { LanguageClient: FakeClient, TransportKind: { stdio: 0 } } };
const load = Module._load;
Module._load = function (request, ...rest) {
  return Object.prototype.hasOwnProperty.call(fakes, request) ? fakes[request] : load.call(this, request, ...rest);
};

(async () => {
  const ext = require(path.join(__dirname, '..', 'extension.js'));
  const context = { subscriptions: [] };
  ext.activate(context);
  assert.deepStrictEqual(Object.keys(log.commands).sort(), ['treaty.restartServer', 'treaty.runTest', 'treaty.verifyProperty']);
  assert.strictEqual(log.clients.length, 1);
  const c = log.clients[0];
  assert.deepStrictEqual(c.serverOptions.run, { command: '/opt/treaty/bin/treaty', args: ['lsp'], transport: 0 });
  assert.deepStrictEqual(c.clientOptions.documentSelector, [{ scheme: 'file', language: 'treaty' }]);
  assert.strictEqual(log.started, 1);

  log.commands['treaty.runTest']('file:///ws/4me/tests/t01.treaty', "T1 Widget's desk");
  let t = log.terminals.pop();
  assert.strictEqual(t.opts.cwd, '/ws/4me');
  assert.deepStrictEqual(t.sent, ["'/opt/treaty/bin/treaty' test . --filter 'T1 Widget'\\''s desk'"]);
  log.commands['treaty.verifyProperty']('file:///elsewhere/p.treaty', 'no_leaks');
  t = log.terminals.pop();
  assert.strictEqual(t.opts.cwd, '/elsewhere');  // outside a workspace folder: the file's directory
  assert.deepStrictEqual(t.sent, ["'/opt/treaty/bin/treaty' verify . --filter 'no_leaks'"]);

  await log.commands['treaty.restartServer']();
  assert.strictEqual(log.stopped, 1);
  assert.strictEqual(log.clients.length, 2);
  assert.strictEqual(log.started, 2);
  assert.deepStrictEqual(log.errors, []);
  console.log('extension.test.js: all checks passed');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
