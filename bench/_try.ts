import { runColdStartBenchmark } from './cold-start.ts';
const r = await runColdStartBenchmark({ runs: 11 });
console.log(JSON.stringify(r, null, 1));
