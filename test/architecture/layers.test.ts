// Imports only go down (DESIGN.md §3). This test reads every import in src/ and fails on an
// upward or sideways one, so the layering is enforced rather than hoped for.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';

/** The layers each layer may import besides itself. `src/index.ts` (the root) may import any. */
const allowed: Record<string, readonly string[]> = {
  common: [],
  storage: ['common'],
  protocol: ['common'],
  broker: ['storage', 'protocol', 'common'],
  master: ['protocol', 'common'],
  client: ['protocol', 'common'],
  portal: ['master', 'client', 'protocol', 'common'],
  // `tubemq start` runs master, broker and portal in-process; everything else goes through client.
  cli: ['master', 'broker', 'portal', 'client', 'protocol', 'common'],
};

interface Edge {
  file: string;
  specifier: string;
  from: string;
  to: string;
}

/** `src/broker/x.ts` → `broker`; `src/index.ts` or `.js` → `root`; anything else → undefined. */
function layerOf(path: string): string | undefined {
  const parts = path.split('/');
  if (parts[0] !== 'src') return undefined;
  if (parts.length === 2) return /^index\.(ts|js)$/.test(parts[1]!) ? 'root' : undefined;
  return parts[1];
}

/**
 * Checks a map of repo-relative paths (`src/...`) to source text. Returns the import edges
 * between layers and one message per violation.
 */
function checkLayers(files: ReadonlyMap<string, string>): { edges: Edge[]; violations: string[] } {
  const edges: Edge[] = [];
  const violations: string[] = [];
  for (const [file, text] of files) {
    const from = layerOf(file);
    if (from === undefined || (from !== 'root' && !(from in allowed))) {
      violations.push(`${file}: not in a known layer; add the folder to the table in this test`);
      continue;
    }
    // preProcessFile sees static, type-only, re-export and dynamic imports, and skips comments.
    for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
      if (specifier === 'tubemq-ts' || specifier.startsWith('tubemq-ts/')) {
        violations.push(`${file}: imports the package itself ('${specifier}'); use a relative import`);
        continue;
      }
      if (!specifier.startsWith('.')) continue;
      const target = posix.normalize(posix.join(posix.dirname(file), specifier));
      const to = layerOf(target);
      if (to === undefined) {
        violations.push(`${file}: '${specifier}' points outside the layers of src/`);
        continue;
      }
      if (to === from) continue;
      edges.push({ file, specifier, from, to });
      if (from === 'root') continue;
      if (to === 'root' || !allowed[from]!.includes(to)) {
        violations.push(`${file}: ${from} may not import ${to} ('${specifier}')`);
      }
    }
  }
  return { edges, violations };
}

function readSources(root: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })) {
    if (!/\.tsx?$/.test(entry)) continue;
    const path = posix.join('src', entry.split('\\').join('/'));
    files.set(path, readFileSync(join(root, path), 'utf8'));
  }
  return files;
}

describe('layer boundaries', () => {
  test('every import in src/ goes down the layers', () => {
    const files = readSources(join(import.meta.dirname, '..', '..'));
    assert.ok(files.has('src/common/index.ts'), 'the scan found src/');
    const { edges, violations } = checkLayers(files);
    assert.deepEqual(violations, []);
    // Storage knows nothing of the network, and the wire knows nothing of files.
    const crossed = edges.filter(
      (e) => (e.from === 'storage' && e.to === 'protocol') || (e.from === 'protocol' && e.to === 'storage'),
    );
    assert.deepEqual(crossed, []);
  });

  test('the table keeps storage and protocol apart', () => {
    assert.ok(!allowed.storage!.includes('protocol'));
    assert.ok(!allowed.protocol!.includes('storage'));
  });

  test('the checker catches violations it is shown', () => {
    const files = new Map<string, string>([
      ['src/index.ts', "export * from './cli/main.js';"],
      ['src/common/a.ts', "import { x } from '../storage/index.js';"],
      ['src/storage/a.ts', "import type { Frame } from '../protocol/frame.js';\nimport { y } from './b.js';"],
      ['src/protocol/a.ts', "export { z } from '../storage/index.js';"],
      ['src/broker/a.ts', "import '../storage/index.js';\nimport { w } from '../../test/helpers.js';"],
      ['src/client/a.ts', "const m = await import('../broker/index.js');"],
      ['src/cli/a.ts', "// import '../storage/x.js' is only a comment\nimport { P } from 'tubemq-ts';"],
      ['src/portal/a.ts', "import { M } from '../master/index.js';\nimport '../index.js';"],
      ['src/misc/a.ts', ''],
    ]);
    const { violations } = checkLayers(files);
    assert.deepEqual(violations.sort(), [
      "src/broker/a.ts: '../../test/helpers.js' points outside the layers of src/",
      "src/cli/a.ts: imports the package itself ('tubemq-ts'); use a relative import",
      "src/client/a.ts: client may not import broker ('../broker/index.js')",
      "src/common/a.ts: common may not import storage ('../storage/index.js')",
      'src/misc/a.ts: not in a known layer; add the folder to the table in this test',
      "src/portal/a.ts: portal may not import root ('../index.js')",
      "src/protocol/a.ts: protocol may not import storage ('../storage/index.js')",
      "src/storage/a.ts: storage may not import protocol ('../protocol/frame.js')",
    ]);
  });
});
