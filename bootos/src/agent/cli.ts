// `bootos agent`: runs the device agent until SIGTERM or SIGINT, then stops every app cleanly.
import { defineCommand, status, usageError } from '../../../fetcher/src/cli/kit.js';
import type { BootosError } from '../../../fetcher/src/core/error.js';
import { Agent } from './agent.js';
import { loadCmdline, loadConfigFile } from './config.js';
import { mark, printTiming } from './timing.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const agentCommand = defineCommand({
  name: 'agent',
  summary: 'run the device agent: verify the channel, start apps on demand under runc, serve the local API',
  usage: '--config FILE | --cmdline [--cmdline-file FILE] [--print-config]',
  options: {
    config: { type: 'string' },
    cmdline: { type: 'boolean' },
    'cmdline-file': { type: 'string' },
    'print-config': { type: 'boolean' },
  },
  help: {
    config: 'agent.json for host runs; every field with its type and default: docs/api.md, "Agent configuration"',
    cmdline: 'read bootos.* keys from the kernel command line (/proc/cmdline): how the device runs it',
    'cmdline-file': 'with --cmdline: read this file instead of /proc/cmdline',
    'print-config': 'print the effective configuration (every field and limit, defaults filled in) as JSON and exit',
  },
  details: `Prints "bootos-agent: ready …" on stdout once the API listens; where it writes, progress and app events go to
stderr. With --config, it answers on 127.0.0.1 and writes under <folder of FILE>/<name of FILE>-data/ unless the file
says otherwise; with --cmdline (the device), on 0.0.0.0 and under /var/lib/bootos and /run/bootos.
Kernel command line keys: bootos.registry=URL (required), bootos.channel (stable), bootos.profile (office),
bootos.debug=1, bootos.api_port (8080), bootos.poll_seconds (300), bootos.slot=a|b (the disk's OS slot this boot came
from: the agent then updates the OS, docs/os-updates.md), bootos.limit.NAME=INTEGER (any limit of
fetcher/src/core/limits.ts, e.g. bootos.limit.maxUnpackedBytes). After POST /api/os/restart the apps are stopped and,
with --cmdline, the device reboots; a --config run only stops. Must run as root (runc, network namespaces). docs/api.md: the API.`,
  async run(values) {
    mark('bundle loaded');
    if ((values.config === undefined) === !values.cmdline) throw usageError('give exactly one of --config FILE or --cmdline');
    if (values['cmdline-file'] !== undefined && !values.cmdline) throw usageError('--cmdline-file needs --cmdline');
    const config = values.config !== undefined ? await loadConfigFile(values.config) : await loadCmdline(values['cmdline-file']);
    mark('config read');
    if (values['print-config']) {
      process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
      return;
    }
    status(`bootos-agent: writing trust state to ${config.stateDir}, images to ${config.storeDir}, app data to ${config.dataRoot}, runtime state to ${config.runDir}`);
    if (config.debug) printTiming();
    const agent = await Agent.start(config);
    const host = config.apiHost.includes(':') ? `[${config.apiHost}]` : config.apiHost;
    process.stdout.write(`bootos-agent: ready api=http://${host}:${agent.api.port}/ registry=${config.registry} channel=${config.channel} profile=${config.profile}\n`);
    mark('ready');
    let restart: { version: string; slot: string } | null = null;
    const failure = await new Promise<BootosError | null>((done) => {
      // The data root never came or its trust state refuses to load: stop, exit 1 with the code (init restarts it).
      void agent.failed.then((err) => agent.stop().then(() => done(err), () => done(err)));
      // POST /api/os/restart: the apps are already stopped.
      void agent.restartRequested.then((pending) => {
        restart = pending;
        done(null);
      });
      const stop = (signal: string) => {
        status(`bootos-agent: ${signal}: stopping apps`);
        agent.stop().then(
          () => done(null),
          (err) => {
            status(`bootos-agent: stop failed: ${(err as Error).message}`);
            done(null);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    if (failure) throw failure;
    if (restart) {
      const { version, slot } = restart as { version: string; slot: string };
      if (values.cmdline) {
        // The device: /etc/bootos/shutdown (busybox init's SIGTERM action) reboots instead of powering off when
        // <runDir>/reboot exists; the firmware then starts systemd-boot, whose default is the new slot's entry.
        status(`bootos-agent: apps stopped; rebooting into OS release ${version} (slot ${slot})`);
        await writeFile(join(config.runDir, 'reboot'), '');
        process.kill(1, 'SIGTERM');
        return;
      }
      status(`bootos-agent: apps stopped for a restart into OS release ${version} (slot ${slot}); a host run (--config) does not reboot this machine`);
      return;
    }
    status('bootos-agent: stopped');
  },
});
