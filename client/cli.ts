/**
 * `flux-edit`: the command line on FluxEditClient. Run it with `npx flux-edit`, `npm run flux-edit --`
 * or `npx tsx client/cli.ts`; `flux-edit --help` lists the commands.
 */
import { processIo, runCli } from './commands.ts';

process.exitCode = await runCli(process.argv.slice(2), processIo());
