import { parseArgs } from 'node:util';
import { startSimulator } from './index.ts';
import type { KnobsInput } from './knobs.ts';

const USAGE = `Usage: npm run simulator -- [options]

  --host <host>            listen address (default 127.0.0.1)
  --port <n>               port (default 0 = ephemeral)
  --base-url <url>         public base URL used in responses (default http://<host>:<port>)
  --files-base-url <url>   base URL of output files (default <base-url>/files)
  --queue-delay <s>        seconds in queue (default 0.5)
  --run-delay <s>          seconds running (default 2)
  --workers <n>            concurrent runs (default 1)
  --clock-mode <mode>      timed | manual | polls (default timed)
  --token <token>          accept this bearer token as user u1 (default sim-token)
  --knob <name>=<json>     any knob, repeatable (e.g. --knob output_min_bytes=26214400 --knob output_key='"images"')
  --knobs <json>           several knobs as one JSON object
`;

function parseCli(argv: string[]): { options: Parameters<typeof startSimulator>[0]; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'base-url': { type: 'string' },
      'files-base-url': { type: 'string' },
      'queue-delay': { type: 'string' },
      'run-delay': { type: 'string' },
      workers: { type: 'string' },
      'clock-mode': { type: 'string' },
      token: { type: 'string' },
      knob: { type: 'string', multiple: true },
      knobs: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const knobs: Record<string, unknown> = values.knobs ? JSON.parse(values.knobs) : {};
  for (const pair of values.knob ?? []) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--knob needs name=value, got "${pair}"`);
    const raw = pair.slice(eq + 1);
    knobs[pair.slice(0, eq)] = parseValue(raw);
  }
  if (values['queue-delay'] !== undefined) knobs.queue_delay_s = Number(values['queue-delay']);
  if (values['run-delay'] !== undefined) knobs.run_delay_s = Number(values['run-delay']);
  if (values.workers !== undefined) knobs.workers = Number(values.workers);
  if (values['clock-mode'] !== undefined) knobs.clock_mode = values['clock-mode'];
  if (values.token !== undefined) knobs.tokens = { [values.token]: 'u1' };
  return {
    help: values.help ?? false,
    options: {
      ...(values.host ? { host: values.host } : {}),
      ...(values.port ? { port: Number(values.port) } : {}),
      ...(values['base-url'] ? { baseUrl: values['base-url'] } : {}),
      ...(values['files-base-url'] ? { filesBaseUrl: values['files-base-url'] } : {}),
      knobs: knobs as Partial<KnobsInput>,
    },
  };
}

/** Knob values are JSON when they parse as JSON, else plain strings (`--knob output_key=images`). */
function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

const { options, help } = parseCli(process.argv.slice(2));
if (help) {
  process.stdout.write(USAGE);
} else {
  const sim = await startSimulator(options);
  process.stdout.write(
    `RunComfy simulator listening\n  RUNCOMFY_BASE_URL=${sim.baseUrl}\n  RUNCOMFY_API_TOKEN=${sim.token}\n  admin: ${sim.baseUrl}/__sim/knobs\n`,
  );
  const stop = () => void sim.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
