/**
 * A seeded PRNG (mulberry32), so every simulated figure is reproducible run to run and machine
 * to machine: the benchmark's conclusions must not depend on the luck of one draw.
 */
export class SeededRandom {
  #state: number;
  #spareNormal: number | undefined;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.#spareNormal !== undefined) {
      const spare = this.#spareNormal;
      this.#spareNormal = undefined;
      return spare;
    }
    const u = 1 - this.next();
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.#spareNormal = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }

  logNormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal());
  }
}

/** z of the 95th percentile of the standard normal. */
const Z95 = 1.6448536269514722;

/** Log-normal parameters from a median and a 95th percentile. */
export function logNormalFromPercentiles(p50: number, p95: number): { mu: number; sigma: number } {
  return { mu: Math.log(p50), sigma: Math.log(p95 / p50) / Z95 };
}
