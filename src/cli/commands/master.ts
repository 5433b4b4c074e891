// `tubemq master start`: settings from flags, -c master.ini and defaults; foreground or --detach.
import { Master } from '../../master/index.js';
import { createDaemonLogger } from '../../common/log-destination.js';
import { configSection, resolveMasterSettings, type MasterSettings } from '../config.js';
import { detach, runDaemon } from '../daemon.js';
import type { Invocation } from '../invocation.js';
import { printDetached } from './daemon-control.js';

/** `tubemq master start`. */
export async function masterStart(invocation: Invocation): Promise<number> {
  const settings = await masterSettings(invocation);
  if (invocation.options.detach === true) {
    const ports = await detach('master', settings.dataDir, invocation.globals.timeoutMs);
    await printDetached('master', settings.dataDir, ports, invocation.globals);
    return 0;
  }
  return runDaemon({
    role: 'master',
    dataDir: settings.dataDir,
    quiet: invocation.globals.quiet,
    start: async () => {
      const master = await Master.start({ ...settings, logger: createDaemonLogger('master') });
      const address = `${settings.host}:${master.port}`;
      return {
        ports: { host: settings.host, port: master.port, dataDir: settings.dataDir },
        banner: [
          `master listening on ${address} (data in ${settings.dataDir})`,
          `stop it with Ctrl-C or \`tubemq master stop --data-dir ${settings.dataDir}\``,
        ],
        close: () => master.close(),
      };
    },
  });
}

/** Master settings of an invocation (flags over -c file over defaults). */
export async function masterSettings(invocation: Invocation): Promise<MasterSettings> {
  const { options } = invocation;
  const ini = await configSection(options, 'master');
  return resolveMasterSettings(
    {
      host: options.host as string | undefined,
      port: options.port as number | undefined,
      dataDir: options.dataDir as string | undefined,
    },
    ini,
  );
}
