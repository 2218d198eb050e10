// The device's agent entry (dist/agent.mjs, /usr/lib/bootos/agent.mjs in the image): only the `agent` verb, so
// Node loads the agent's code and nothing of the CLI's other verbs (builder, publisher, QEMU harness) at boot.
// `node agent.mjs --cmdline` is `bootos agent --cmdline`: the same command, options and exit codes.
import { runCommand } from '../../../fetcher/src/cli/kit.js';
import { agentCommand } from './cli.js';

process.exitCode = await runCommand(agentCommand, process.argv.slice(2));
