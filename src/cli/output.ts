// How commands print: borderless tables with Kafka's UPPERCASE-hyphenated headers (bold on a
// colour TTY, plain otherwise, same columns either way so `awk` reads both), one JSON document for
// --json, status lines on stderr.
import Table from 'cli-table3';
import type { GlobalOptions } from './invocation.js';

/** A cell: numbers print as they are, null/undefined as `-`. */
export type Cell = string | number | boolean | null | undefined;

const borderless = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
};

/** Renders rows under headers as aligned columns; `bold` makes the header line bold (ANSI). */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
  bold = false,
): string {
  const table = new Table({
    head: headers.map((header) => (bold ? `\u001b[1m${header}\u001b[22m` : header)),
    chars: borderless,
    // cli-table3 colours borders and headers even into a pipe unless told not to (ecosystem.md §2).
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const row of rows) table.push(row.map(cellText));
  return (
    table
      .toString()
      .split('\n')
      .map((line) => line.trimEnd())
      .join('\n') + '\n'
  );
}

function cellText(cell: Cell): string {
  if (cell === null || cell === undefined) return '-';
  return String(cell);
}

/** Whether tables get colour: stdout is a terminal and colour is not turned off. */
export function useColor(globals: GlobalOptions): boolean {
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return globals.color;
  return globals.color && process.stdout.isTTY === true;
}

/** Writes data to stdout, waiting when the pipe is full. */
export async function writeOut(text: string): Promise<void> {
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
}

/** Prints a table, or `json` as one document with --json. */
export async function printResult(
  globals: GlobalOptions,
  json: unknown,
  table: () => { headers: readonly string[]; rows: readonly (readonly Cell[])[] },
): Promise<void> {
  if (globals.json) {
    await writeOut(JSON.stringify(json, null, 2) + '\n');
    return;
  }
  const { headers, rows } = table();
  await writeOut(renderTable(headers, rows, useColor(globals)));
}

/** A status line on stderr, unless --quiet. */
export function status(globals: GlobalOptions, line: string): void {
  if (!globals.quiet) process.stderr.write(line + '\n');
}

/** Epoch ms as an ISO time, or `-` for 0. */
export function isoTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '-';
}
