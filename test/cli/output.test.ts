// Tables: borderless, aligned, no colour codes unless asked for.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderTable } from '../../src/cli/output.js';

describe('tables', () => {
  test('borderless aligned columns with the headers given, `-` for missing cells', () => {
    const text = renderTable(
      ['TOPIC', 'PARTITION', 'LAG'],
      [
        ['orders', 0, 5],
        ['payments-eu', 12, null],
      ],
    );
    assert.equal(
      text,
      'TOPIC        PARTITION  LAG\n' + 'orders       0          5\n' + 'payments-eu  12         -\n',
    );
    assert.ok(!text.includes('\u001b'));
    // awk-able: the same number of fields on every line.
    const fields = text
      .trimEnd()
      .split('\n')
      .map((line) => line.trim().split(/\s+/).length);
    assert.deepEqual(fields, [3, 3, 3]);
  });

  test('bold headers only when asked (a colour TTY)', () => {
    assert.ok(renderTable(['A'], [[1]], true).startsWith('\u001b[1mA'));
  });
});
