import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { RunningSimulator } from '../../simulator/index.ts';
import { FLASH_EDIT_MODEL_ID, startSimulator } from '../../simulator/index.ts';

/** A raw HTTP answer: the tests assert the wire, not a client library's reading of it. */
export interface WireResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export const VALID_INPUT = {
  prompt: 'Change the flowers and cup to red, and a bright background',
  image_urls: ['https://playgrounds-storage-public.runcomfy.net/tools/7298/media-files/input-1-1.png'],
};

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function wire(response: Response): Promise<WireResponse> {
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = { raw: text };
  }
  return { status: response.status, headers: response.headers, body };
}

/** A minimal client of the simulated API, speaking only the public wire format. */
export function apiClient(sim: RunningSimulator, token: string = sim.token) {
  const auth = token === '' ? {} : { authorization: `Bearer ${token}` };
  return {
    async submit(
      input: unknown = VALID_INPUT,
      options: { model?: string; headers?: Record<string, string>; raw?: string } = {},
    ): Promise<WireResponse> {
      const response = await fetch(`${sim.baseUrl}/v1/models/${options.model ?? FLASH_EDIT_MODEL_ID}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', ...options.headers },
        body: options.raw ?? JSON.stringify(input),
      });
      return wire(response);
    },
    async status(id: string): Promise<WireResponse> {
      return wire(await fetch(`${sim.baseUrl}/v1/requests/${id}/status`, { headers: auth }));
    },
    async result(id: string, query = ''): Promise<WireResponse> {
      return wire(await fetch(`${sim.baseUrl}/v1/requests/${id}/result${query}`, { headers: auth }));
    },
    async cancel(id: string): Promise<WireResponse> {
      return wire(await fetch(`${sim.baseUrl}/v1/requests/${id}/cancel`, { method: 'POST', headers: auth }));
    },
    async raw(method: string, path: string, body?: unknown): Promise<WireResponse> {
      return wire(
        await fetch(`${sim.baseUrl}${path}`, {
          method,
          headers: { ...auth, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
      );
    },
    /** Submits and returns the request id (fails the test on anything but 200). */
    async submitOk(input: unknown = VALID_INPUT, headers: Record<string, string> = {}): Promise<string> {
      const response = await this.submit(input, { headers });
      if (response.status !== 200)
        throw new Error(`submit answered ${response.status}: ${JSON.stringify(response.body)}`);
      return response.body.request_id as string;
    },
  };
}

/** Calls the HTTP admin API (`/__sim/...`). */
export async function adminHttp(sim: RunningSimulator, method: string, path: string, body?: unknown) {
  const response = await fetch(`${sim.baseUrl}/__sim${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return wire(response);
}

export async function download(url: string, method = 'GET') {
  const response = await fetch(url, { method, redirect: 'manual' });
  return {
    status: response.status,
    headers: response.headers,
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

/**
 * A simulator on the manual clock (jobs start at once and run for 1 s of simulated time) for the
 * enclosing describe block, reset before each test.
 */
export function useManualSimulator() {
  let sim: RunningSimulator | undefined;
  let api: ReturnType<typeof apiClient> | undefined;
  beforeAll(async () => {
    sim = await startSimulator({ knobs: { clock_mode: 'manual', queue_delay_s: 0, run_delay_s: 1 } });
    api = apiClient(sim);
  });
  afterAll(() => sim?.close());
  beforeEach(() => sim?.admin.reset());
  return {
    get sim(): RunningSimulator {
      if (!sim) throw new Error('the simulator starts in beforeAll');
      return sim;
    },
    get api(): ReturnType<typeof apiClient> {
      if (!api) throw new Error('the simulator starts in beforeAll');
      return api;
    },
  };
}
