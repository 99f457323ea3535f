import { startSimulator } from '../simulator/index.ts';
const t0 = performance.now();
const sim = await startSimulator({ knobs: { close_connection_on_submit_after_commit: true } });
const r = await fetch(`${sim.baseUrl}/v1/models/blackforestlabs/flux-2/flash/edit`, { method: 'POST', headers: { authorization: 'Bearer sim-token' }, body: JSON.stringify({ prompt: 'x', image_urls: ['https://a/b.png'] }) }).catch((e) => String(e.cause));
console.log(r, performance.now() - t0);
const t1 = performance.now();
await sim.close();
console.log('closed', performance.now() - t1);
