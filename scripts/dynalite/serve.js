#!/usr/bin/env node
// Starts dynalite (an implementation of DynamoDB; in memory, nothing on disk) for pkg/ledger's
// tests and local runs. Used by scripts/dynalite.sh (`start`) and by pkg/ledger/dynalitetest.
//
//   node serve.js --dir DIR [--host 127.0.0.1] [--port 0] [--table-ms 0] [--exit-on-stdin-eof]
//
// --dir                the npm prefix dynalite was installed into (.tools/dynalite); required
//                      because this file lives outside that tree and Node resolves modules
//                      relative to the file, not the working directory.
// --port 0             lets the OS choose a free port: no race between picking and binding.
// --table-ms           how long tables stay CREATING/DELETING/UPDATING (dynalite's default 500 ms
//                      only slows tests down; real DynamoDB takes seconds and callers wait anyway).
// --exit-on-stdin-eof  exit when stdin closes, so a test binary that dies (even by SIGKILL)
//                      never leaves a server behind: its end of the pipe closes with it.
//
// Prints exactly one line once the port accepts connections, which callers wait for:
//   dynalite listening at http://HOST:PORT
'use strict'

const path = require('path')

function parseArgs (argv) {
  const opts = { host: '127.0.0.1', port: 0, tableMs: 0, exitOnStdinEof: false, dir: '' }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(a + ' needs a value')
      return argv[++i]
    }
    switch (a) {
      case '--dir': opts.dir = next(); break
      case '--host': opts.host = next(); break
      case '--port': opts.port = Number(next()); break
      case '--table-ms': opts.tableMs = Number(next()); break
      case '--exit-on-stdin-eof': opts.exitOnStdinEof = true; break
      default: throw new Error('unknown argument ' + a)
    }
  }
  if (!opts.dir) throw new Error('--dir is required (the npm prefix dynalite was installed into)')
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port: want 0..65535')
  if (!Number.isInteger(opts.tableMs) || opts.tableMs < 0) throw new Error('--table-ms: want an integer >= 0')
  return opts
}

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (err) {
  console.error('serve.js: ' + err.message)
  process.exit(2)
}

const dynalite = require(path.resolve(opts.dir, 'node_modules', 'dynalite'))
const server = dynalite({
  createTableMs: opts.tableMs,
  deleteTableMs: opts.tableMs,
  updateTableMs: opts.tableMs,
})

server.on('error', (err) => {
  console.error('serve.js: ' + err.message)
  process.exit(1)
})

server.listen(opts.port, opts.host, () => {
  const { port } = server.address()
  const host = opts.host.includes(':') ? '[' + opts.host + ']' : opts.host
  console.log('dynalite listening at http://' + host + ':' + port)
})

if (opts.exitOnStdinEof) {
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.stdin.resume()
}

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
