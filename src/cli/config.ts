// Daemon settings from four places, strongest first: flags, environment, the `-c` ini file
// (TubeMQ's master.ini / broker.ini key names), defaults (DESIGN.md §2, ecosystem.md §3.3).
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parse } from 'ini';
import { UsageError } from './exit.js';
import { defaultMaster } from './invocation.js';
import { parseAddressList } from './parsers.js';

/** Keys of one ini section, as strings (ini leaves numbers as text). */
export interface IniSection {
  /** The file, for error messages and for resolving relative paths. */
  file: string;
  section: string;
  values: Record<string, string>;
}

/** Keys this version reads, and keys of the same section it knows but does not use yet. */
const knownKeys: Record<'master' | 'broker', { used: string[]; ignored: string[] }> = {
  master: {
    used: ['hostName', 'port', 'primaryPath', 'metaDataPath'],
    ignored: ['webPort', 'confModAuthToken'],
  },
  broker: {
    used: ['brokerId', 'hostName', 'port', 'masterAddressList', 'primaryPath', 'logClearupDurationMs'],
    ignored: ['webPort', 'tcpWriteServiceThread', 'tcpReadServiceThread', 'defEthName'],
  },
};

/**
 * The `[section]` of the ini file given with `-c/--config`, or undefined without one; warnings
 * about unknown keys go to stderr.
 */
export function configSection(
  options: Readonly<Record<string, unknown>>,
  section: 'master' | 'broker',
): Promise<IniSection | undefined> {
  const file = options.config;
  if (typeof file !== 'string') return Promise.resolve(undefined);
  return loadIniSection(file, section, (line) => void process.stderr.write(line + '\n'));
}

/**
 * Reads `[section]` of an ini file. Other sections (TubeMQ's `[zookeeper]`, `[tlsSetting]`, …) are
 * skipped so upstream files still load; an unknown key in the section is a warning naming it.
 */
export async function loadIniSection(
  file: string,
  section: 'master' | 'broker',
  warn: (line: string) => void,
): Promise<IniSection> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new UsageError(`cannot read config file ${file}: ${reason}`, { showHelp: false });
  }
  const parsed = parse(text) as Record<string, unknown>;
  const raw = parsed[section];
  const table = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const values: Record<string, string> = {};
  const known = knownKeys[section];
  for (const [key, value] of Object.entries(table)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
    if (!known.used.includes(key) && !known.ignored.includes(key)) {
      warn(`warning: ${file}: unknown key ${key} in [${section}] is ignored`);
      continue;
    }
    values[key] = String(value);
  }
  return { file, section, values };
}

/** The first value that is not undefined. */
export function firstDefined<T>(...values: (T | undefined)[]): T | undefined {
  return values.find((value) => value !== undefined);
}

/** An integer key of an ini section in [min, max], or undefined when absent; exit 2 naming the key. */
export function iniInt(
  ini: IniSection | undefined,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const text = ini?.values[key];
  if (ini === undefined || text === undefined) return undefined;
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(
      `${ini.file}: [${ini.section}] ${key} = ${text} is not an integer from ${min} to ${max}`,
      {
        showHelp: false,
      },
    );
  }
  return value;
}

/** A path key of an ini section, resolved against the file's directory. */
export function iniPath(ini: IniSection | undefined, ...keys: string[]): string | undefined {
  if (ini === undefined) return undefined;
  for (const key of keys) {
    const text = ini.values[key];
    if (text !== undefined && text.trim() !== '') return resolve(dirname(ini.file), text.trim());
  }
  return undefined;
}

/** Settings of `tubemq master start`. */
export interface MasterSettings {
  host: string;
  port: number;
  dataDir: string;
}

/** Settings of `tubemq broker start`. */
export interface BrokerSettings {
  brokerId: number;
  host: string;
  port: number;
  dataDir: string;
  /** Master list `host:port,...`. */
  masters: string;
  /** How often retention runs (`logClearupDurationMs`); absent: the storage default. */
  retentionCheckIntervalMs?: number;
}

/** Flags of `master start` (undefined = not given). */
export interface MasterFlags {
  host?: string | undefined;
  port?: number | undefined;
  dataDir?: string | undefined;
}

/** Resolves master settings: flags, then the ini file, then defaults. */
export function resolveMasterSettings(flags: MasterFlags, ini: IniSection | undefined): MasterSettings {
  return {
    host: firstDefined(flags.host, ini?.values.hostName) ?? '127.0.0.1',
    port: firstDefined(flags.port, iniInt(ini, 'port', 0, 0xffff)) ?? 8715,
    dataDir: resolve(
      firstDefined(flags.dataDir, iniPath(ini, 'primaryPath', 'metaDataPath')) ?? 'data/master',
    ),
  };
}

/** Flags of `broker start`; `masters` and where it came from (`cli`, `env` or `default`). */
export interface BrokerFlags extends MasterFlags {
  brokerId?: number | undefined;
  masters?: string | undefined;
  mastersSource?: string | undefined;
}

/** Resolves broker settings: flags, then TUBEMQ_MASTER, then the ini file, then defaults. */
export function resolveBrokerSettings(flags: BrokerFlags, ini: IniSection | undefined): BrokerSettings {
  const mastersFromUser =
    flags.mastersSource === 'cli' || flags.mastersSource === 'env' ? flags.masters : undefined;
  let iniMasters: string | undefined;
  const listText = ini?.values.masterAddressList;
  if (ini !== undefined && listText !== undefined) {
    try {
      iniMasters = parseAddressList(listText);
    } catch (error) {
      const rule = error instanceof InvalidArgumentError ? error.message : String(error);
      throw new UsageError(`${ini.file}: [broker] masterAddressList = ${listText}: ${rule}`, {
        showHelp: false,
      });
    }
  }
  // TubeMQ's key for how often expired data files are cleaned up.
  const retentionCheckIntervalMs = iniInt(ini, 'logClearupDurationMs', 1, timerMsMax);
  return {
    brokerId: firstDefined(flags.brokerId, iniInt(ini, 'brokerId', 1, 0xffff_ffff)) ?? 1,
    host: firstDefined(flags.host, ini?.values.hostName) ?? '127.0.0.1',
    port: firstDefined(flags.port, iniInt(ini, 'port', 0, 0xffff)) ?? 8123,
    dataDir: resolve(firstDefined(flags.dataDir, iniPath(ini, 'primaryPath')) ?? 'data/broker'),
    masters: firstDefined(mastersFromUser, iniMasters) ?? flags.masters ?? defaultMaster,
    ...(retentionCheckIntervalMs === undefined ? {} : { retentionCheckIntervalMs }),
  };
}

/** The longest delay a Node timer keeps (a longer one fires at once). */
const timerMsMax = 2_147_483_647;
