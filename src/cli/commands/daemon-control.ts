// `tubemq master|broker status|stop`: through the pid file and ports.json of a data directory.
import { configSection, resolveBrokerSettings, resolveMasterSettings } from '../config.js';
import { daemonStatus, listenAddress, stopDaemon, type DaemonRole, type DaemonStatus } from '../daemon.js';
import { exitCodes } from '../exit.js';
import type { GlobalOptions, Invocation } from '../invocation.js';
import { status as statusLine, writeOut } from '../output.js';

/** The data dir a `master|broker status|stop|repair` invocation names (flag, then -c file, then default). */
export async function dataDirOf(role: 'master' | 'broker', invocation: Invocation): Promise<string> {
  const { options } = invocation;
  const ini = await configSection(options, role);
  const flags = { dataDir: options.dataDir as string | undefined };
  return role === 'master'
    ? resolveMasterSettings(flags, ini).dataDir
    : resolveBrokerSettings({ ...flags, mastersSource: 'default' }, ini).dataDir;
}

async function showStatus(role: DaemonRole, invocation: Invocation): Promise<number> {
  const dataDir = await dataDirOf(role as 'master' | 'broker', invocation);
  const found = await daemonStatus(role, dataDir);
  if (invocation.globals.json) {
    await writeOut(JSON.stringify(found, null, 2) + '\n');
  } else {
    await writeOut(describeStatus(found) + '\n');
  }
  return found.running ? exitCodes.ok : exitCodes.unreachable;
}

/** One line saying whether a daemon runs, with its pid and address. */
export function describeStatus(found: DaemonStatus): string {
  if (!found.running) {
    const stale = found.stalePidFile === true ? ` (stale pid file of pid ${found.pid})` : '';
    return `${found.role} is not running in ${found.dataDir}${stale}`;
  }
  const address = listenAddress(found.ports);
  return `${found.role} is running (pid ${found.pid})${address === undefined ? '' : ` on ${address}`}, data in ${found.dataDir}`;
}

async function stop(role: DaemonRole, invocation: Invocation): Promise<number> {
  const dataDir = await dataDirOf(role as 'master' | 'broker', invocation);
  const found = await stopDaemon(role, dataDir, invocation.globals.timeoutMs ?? 30_000);
  if (invocation.globals.json) {
    await writeOut(JSON.stringify({ ...found, stopped: found.running }, null, 2) + '\n');
  } else if (found.running) {
    statusLine(invocation.globals, `stopped ${role} (pid ${found.pid})`);
  } else {
    statusLine(invocation.globals, describeStatus(found));
  }
  return exitCodes.ok;
}

/** Prints where a --detach daemon listens and how to stop it. */
export async function printDetached(
  role: 'master' | 'broker',
  dataDir: string,
  ports: Record<string, unknown>,
  globals: GlobalOptions,
): Promise<void> {
  if (globals.json) {
    await writeOut(JSON.stringify(ports, null, 2) + '\n');
    return;
  }
  await writeOut(`${role} running in the background (pid ${String(ports.pid)}) on ${listenAddress(ports)}\n`);
  statusLine(globals, `log: ${dataDir}/${role}.log`);
  statusLine(globals, `stop it with \`tubemq ${role} stop --data-dir ${dataDir}\``);
}

export const masterStatus = (invocation: Invocation): Promise<number> => showStatus('master', invocation);
export const brokerStatus = (invocation: Invocation): Promise<number> => showStatus('broker', invocation);
export const masterStop = (invocation: Invocation): Promise<number> => stop('master', invocation);
export const brokerStop = (invocation: Invocation): Promise<number> => stop('broker', invocation);
