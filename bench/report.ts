// Shared helpers of the benchmarks: statistics, number formatting, machine facts, the result
// table and its JSON form. No timed assertions anywhere: a bench reports, a reader judges.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

/** A goal a figure is held against: `value >= threshold` or `value <= threshold`. */
export interface Target {
  comparator: '>=' | '<=';
  threshold: number;
  /** How the goal reads in the table, e.g. `>= 60%`. */
  text: string;
}

/** One measured number. */
export interface Figure {
  /** What was measured, e.g. `append 1 topic, 1 appender`. */
  name: string;
  /** The unit and kind, e.g. `MB/s` or `p99 ms`. */
  metric: string;
  value: number;
  /** Display scale: a ratio stored as 0.63 prints as 63.0% with `percent`. */
  format?: 'number' | 'percent';
  /** Repeated runs: the value is their median; min..max is printed beside it. */
  runs?: readonly number[];
  target?: Target;
  /** Free text printed after the table's row (what exactly ran). */
  note?: string;
  /** CPU in use while it was measured, in cores: this process (all its threads) and the whole machine. */
  cpu?: CpuUse;
}

export interface CpuUse {
  process: number;
  machine: number;
}

/** Busy and total jiffies of all CPUs, from /proc/stat; undefined off Linux. */
function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((sum, each) => sum + each, 0);
    const idle = fields[3]! + fields[4]!;
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * Starts measuring CPU use; the returned function stops and tells how many cores this process
 * and the whole machine kept busy meanwhile. Machine minus process is other work: the kernel's
 * writeback of our pages, and anything else running on the box.
 */
export function cpuMeter(): () => CpuUse {
  const startedAt = performance.now();
  const processBefore = process.cpuUsage();
  const machineBefore = machineJiffies();
  return () => {
    const wallMicros = (performance.now() - startedAt) * 1000;
    const used = process.cpuUsage(processBefore);
    const machineAfter = machineJiffies();
    const cores = os.availableParallelism();
    const machine =
      machineBefore && machineAfter && machineAfter.total > machineBefore.total
        ? ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * cores
        : Number.NaN;
    return { process: (used.user + used.system) / wallMicros, machine };
  };
}

/** The mean of several CPU readings (one per run of a figure). */
export function meanCpu(readings: readonly CpuUse[]): CpuUse | undefined {
  if (readings.length === 0) return undefined;
  const mean = (pick: (each: CpuUse) => number) =>
    readings.reduce((sum, each) => sum + pick(each), 0) / readings.length;
  return { process: mean((each) => each.process), machine: mean((each) => each.machine) };
}

export type Verdict = 'met' | 'MISSED' | '';

export function verdict(figure: Figure): Verdict {
  if (!figure.target) return '';
  const { comparator, threshold } = figure.target;
  const ok = comparator === '>=' ? figure.value >= threshold : figure.value <= threshold;
  return ok ? 'met' : 'MISSED';
}

export function atLeast(threshold: number, text: string): Target {
  return { comparator: '>=', threshold, text };
}

export function atMost(threshold: number, text: string): Target {
  return { comparator: '<=', threshold, text };
}

/** Sorts a copy ascending. */
export function sorted(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** Percentile `p` in [0, 100] of ascending `values`, interpolating between neighbours. */
export function percentile(ascending: ArrayLike<number>, p: number): number {
  const n = ascending.length;
  if (n === 0) return Number.NaN;
  const rank = (p / 100) * (n - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const a = ascending[low]!;
  const b = ascending[high]!;
  return a + (b - a) * (rank - low);
}

export function median(values: ArrayLike<number>): number {
  return percentile(sorted(values), 50);
}

/** A growable list of doubles (latency samples) without a JS array's per-element cost. */
export class Samples {
  private data = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

/** 1,234,567 / 1,235 / 12.3 / 1.23 / 0.123: about three significant digits, grouped thousands. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  const digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatValue(value: number, format: Figure['format'] = 'number'): string {
  return format === 'percent' ? `${(value * 100).toFixed(1)}%` : formatNumber(value);
}

/** Prints rows as aligned columns; columns listed in `rightAligned` are padded on the left. */
export function printTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: ReadonlySet<number> = new Set(),
  print: (line: string) => void = console.log,
): void {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        rightAligned.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  print(line(header));
  print(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) print(line(row));
}

const cores = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : '-');

/**
 * Prints the figures and their notes, and writes them with the machine facts and the run's sizes
 * as JSON to `jsonFile` (default: a fresh file in the temp dir named after the suite).
 */
export function reportFigures(
  suite: string,
  figures: readonly Figure[],
  context: { dataDir: string; sizes: unknown; jsonFile?: string },
): void {
  printFigures(figures);
  for (const figure of figures) if (figure.note) console.log(`  ${figure.name}: ${figure.note}`);
  const jsonFile = context.jsonFile ?? path.join(os.tmpdir(), `tubemq-bench-${suite}-${Date.now()}.json`);
  const document = {
    machine: machineFacts(context.dataDir),
    sizes: context.sizes,
    figures: figures.map((figure) => ({ ...figure, verdict: verdict(figure) })),
  };
  writeFileSync(jsonFile, JSON.stringify(document, null, 2));
  console.log(`\nresults: ${jsonFile}`);
}

/** The figures as a table: name, metric, value (median of runs), min..max, target and verdict. */
export function printFigures(figures: readonly Figure[], print: (line: string) => void = console.log): void {
  const rows = figures.map((figure) => {
    const runs = figure.runs ?? [];
    const range =
      runs.length > 1
        ? `${formatValue(Math.min(...runs), figure.format)}..${formatValue(Math.max(...runs), figure.format)}`
        : '';
    return [
      figure.name,
      figure.metric,
      formatValue(figure.value, figure.format),
      range,
      runs.length > 1 ? String(runs.length) : '1',
      figure.target?.text ?? '',
      verdict(figure),
      figure.cpu ? `${cores(figure.cpu.process)} / ${cores(figure.cpu.machine)}` : '',
    ];
  });
  printTable(
    ['figure', 'metric', 'value', 'min..max', 'runs', 'target', 'result', 'cpu proc/all'],
    rows,
    new Set([2, 3, 4, 7]),
    print,
  );
}

export interface MachineFacts {
  node: string;
  v8: string;
  platform: string;
  kernel: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  openFilesLimit: number | undefined;
  loadAverage: number[];
  fileSystem: string | undefined;
  revision: string | undefined;
}

/** What the figures depend on besides the code: runtime, CPU, memory, limits, load. */
export function machineFacts(dir: string): MachineFacts {
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    openFilesLimit: openFilesLimit(),
    loadAverage: os.loadavg().map((each) => Math.round(each * 100) / 100),
    fileSystem: fileSystemOf(dir),
    revision: sourceRevision(),
  };
}

function openFilesLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((each) => each.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return undefined;
  }
}

function fileSystemOf(dir: string): string | undefined {
  try {
    return execFileSync('df', ['--output=fstype,source', dir], { encoding: 'utf8' })
      .trim()
      .split('\n')[1]
      ?.trim()
      .replace(/\s+/, ' on ');
  } catch {
    return undefined;
  }
}

/** The commit measured, with `+changes` when src/ differs from it (other work in progress). */
export function sourceRevision(): string | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const changes = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
    return changes === '' ? commit : `${commit}+changes`;
  } catch {
    return undefined;
  }
}

export function printMachine(facts: MachineFacts, print: (line: string) => void = console.log): void {
  print(
    `machine: node ${facts.node} (v8 ${facts.v8}), ${facts.platform}, kernel ${facts.kernel}, ` +
      `${facts.cores} cores (${facts.cpuModel}), ${facts.memoryGiB} GiB RAM, open files limit ` +
      `${facts.openFilesLimit ?? '?'}, temp fs ${facts.fileSystem ?? '?'}, load average ${facts.loadAverage.join(' ')}; ` +
      `source ${facts.revision ?? '?'}`,
  );
}
