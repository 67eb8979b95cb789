// The Treaty extension: starts `treaty lsp` (setting `treaty.path`) on the workspace and runs the
// code lenses' commands (`treaty test --filter NAME`, `treaty verify --filter NAME`) in a terminal.
// Plain JavaScript: no build step.
'use strict';
const path = require('path');
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function treatyPath() {
  return vscode.workspace.getConfiguration('treaty').get('path') || 'treaty';
}

function startClient(context) {
  const command = treatyPath();
  const serverOptions = {
    run: { command, args: ['lsp'], transport: TransportKind.stdio },
    debug: { command, args: ['lsp'], transport: TransportKind.stdio },
  };
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'treaty' }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.treaty') },
  };
  client = new LanguageClient('treaty', 'Treaty', serverOptions, clientOptions);
  client.start().catch((err) => {
    vscode.window.showErrorMessage(
      `Treaty: cannot start \`${command} lsp\` (${err.message}). Set \`treaty.path\` to the treaty executable.`);
  });
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

/// The workspace folder of a document's URI (the package `treaty lsp` checks), else its directory.
function packageDir(uriText) {
  const uri = vscode.Uri.parse(uriText);
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  return folder ? folder.uri.fsPath : path.dirname(uri.fsPath);
}

function quote(s) {
  return "'" + String(s).replace(/'/g, "'\\''") + "'";
}

function runInTerminal(verb, uriText, name) {
  const dir = packageDir(uriText);
  const term = vscode.window.createTerminal({ name: `treaty ${verb}`, cwd: dir });
  term.show();
  term.sendText(`${quote(treatyPath())} ${verb} . --filter ${quote(name)}`);
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('treaty.runTest', (uri, name) => runInTerminal('test', uri, name)),
    vscode.commands.registerCommand('treaty.verifyProperty', (uri, name) => runInTerminal('verify', uri, name)),
    vscode.commands.registerCommand('treaty.restartServer', async () => {
      if (client) await client.stop();
      startClient(context);
    }));
  startClient(context);
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
