// `tubemq broker start` (a daemon: flags, TUBEMQ_MASTER, -c broker.ini, defaults) and `broker list`.
import { Broker } from '../../broker/index.js';
import { Admin } from '../../client/index.js';
import { createDaemonLogger } from '../../common/log-destination.js';
import { parseAddressList } from '../../protocol/index.js';
import { configSection, resolveBrokerSettings, type BrokerSettings } from '../config.js';
import { detach, runDaemon } from '../daemon.js';
import { clientOptions, type Invocation } from '../invocation.js';
import { isoTime, printResult } from '../output.js';
import { printDetached } from './daemon-control.js';

/** `tubemq broker start`. */
export async function brokerStart(invocation: Invocation): Promise<number> {
  const settings = await brokerSettings(invocation);
  if (invocation.options.detach === true) {
    const ports = await detach('broker', settings.dataDir, invocation.globals.timeoutMs);
    await printDetached('broker', settings.dataDir, ports, invocation.globals);
    return 0;
  }
  return runDaemon({
    role: 'broker',
    dataDir: settings.dataDir,
    quiet: invocation.globals.quiet,
    start: async () => {
      const broker = await Broker.start({
        brokerId: settings.brokerId,
        host: settings.host,
        port: settings.port,
        dataDir: settings.dataDir,
        masters: parseAddressList(settings.masters),
        logger: createDaemonLogger(`broker-${settings.brokerId}`),
        ...(settings.retentionCheckIntervalMs === undefined
          ? {}
          : { storage: { retentionCheckIntervalMs: settings.retentionCheckIntervalMs } }),
      });
      return {
        ports: {
          host: settings.host,
          port: broker.port,
          brokerId: settings.brokerId,
          masters: settings.masters,
          dataDir: settings.dataDir,
        },
        banner: [
          `broker ${settings.brokerId} listening on ${settings.host}:${broker.port} (data in ${settings.dataDir}), ` +
            `registering with master ${settings.masters}`,
          `stop it with Ctrl-C or \`tubemq broker stop --data-dir ${settings.dataDir}\``,
        ],
        close: () => broker.close(),
      };
    },
  });
}

/** Broker settings of an invocation (flags over TUBEMQ_MASTER over -c file over defaults). */
export async function brokerSettings(invocation: Invocation): Promise<BrokerSettings> {
  const { options } = invocation;
  const ini = await configSection(options, 'broker');
  return resolveBrokerSettings(
    {
      brokerId: options.brokerId as number | undefined,
      host: options.host as string | undefined,
      port: options.port as number | undefined,
      dataDir: options.dataDir as string | undefined,
      masters: invocation.globals.master,
      mastersSource: invocation.sourceOf('master'),
    },
    ini,
  );
}

/** `tubemq broker list`. */
export async function brokerList(invocation: Invocation): Promise<number> {
  const admin = new Admin(clientOptions(invocation.globals));
  try {
    const brokers = await admin.listBrokers();
    await printResult(invocation.globals, brokers, () => ({
      headers: ['BROKER-ID', 'HOST', 'PORT', 'STATE', 'REGISTERED', 'LAST-HEARTBEAT'],
      rows: brokers.map((broker) => [
        broker.brokerId,
        broker.host,
        broker.port,
        broker.state,
        isoTime(broker.registeredAtMs),
        isoTime(broker.lastHeartbeatAtMs),
      ]),
    }));
    return 0;
  } finally {
    await admin.close();
  }
}
