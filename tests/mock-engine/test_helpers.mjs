// test_helpers.mjs -- what the mock engine's self-tests share: starting server.mjs on a
// free port and stopping it. A module the tests import, not a test file: `node --test`
// does not pick up this name (test-*.mjs would be run as one).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));

/** Starts server.mjs with args on a free port (--port 0); resolves to { child, base }
 * once its ready line names the port (base: its URL). A server that does not start is
 * killed and the promise rejected. */
export function startServer(args = []) {
  const child = spawn(process.execPath, [SERVER, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('mock engine did not start')); }, 5000);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/mock-engine listening on ([\d.]+):(\d+)\n/);
      if (m) { clearTimeout(t); resolve({ child, base: `http://${m[1]}:${m[2]}` }); }
    });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`mock engine exited with ${code}`)); });
  });
}

/** Stops a server that is still running with SIGTERM, which must make it exit 0. */
export async function stopServer(child) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, 'SIGTERM exits 0');
}
