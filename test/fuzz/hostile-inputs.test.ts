import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { type Answer, conformanceProblems } from '../support/openapi-contract.ts';
import { PNG_INPUT, waitForJob } from '../support/pipeline-helpers.ts';

/*
 * A hand list of hostile requests to the HTTP API of the local runtime (the real handlers on
 * moto): strings downstream stores refuse, bodies too large or too deep, the wrong media types,
 * tricks in path ids, and one Idempotency-Key sent many times at once. None may get a 5xx; each
 * gets what the document (openapi.json) says, and bad fields are named.
 */

interface Sent {
  method?: string;
  /** Sent as is: no URL parsing or dot-segment removal on the way. */
  path: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const valid = { prompt: 'make the cup red', image_urls: [PNG_INPUT] };

describe('HTTP API: hostile inputs', () => {
  const fixture = useLocalPipeline({ stackName: 'api-hostile' });

  /** One raw HTTP/1.1 request; an answer that comes before the body is sent is still read. */
  function send({ method = 'POST', path, headers = {}, body }: Sent): Promise<Answer> {
    const api = new URL(fixture.pipeline.apiUrl);
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        { host: api.hostname, port: api.port, method, path, headers, insecureHTTPParser: false },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const answerHeaders = new Headers();
            for (const [name, value] of Object.entries(response.headers)) {
              if (typeof value === 'string') answerHeaders.set(name, value);
            }
            resolve({
              status: response.statusCode ?? 0,
              headers: answerHeaders,
              text: Buffer.concat(chunks).toString('utf8'),
            });
          });
        },
      );
      // The server may answer (413) and close before the whole body is written.
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
      });
      outgoing.end(body);
    });
  }

  const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    send({ path, headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify(body) });

  /** No 5xx, and an answer the document describes for the route. */
  function expectDocumented(method: string, route: string, answer: Answer): void {
    expect(answer.status, answer.text.slice(0, 300)).toBeLessThan(500);
    expect(conformanceProblems(method, route, answer)).toEqual([]);
  }

  function expectFieldRefused(answer: Answer, route: string, field: string): void {
    expectDocumented('POST', route, answer);
    expect(answer.status, answer.text.slice(0, 300)).toBe(400);
    const problem = JSON.parse(answer.text) as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe('INVALID_REQUEST');
    expect(problem.errors.map((error) => error.path.split('/')[0])).toContain(field);
  }

  describe('strings that DynamoDB, SNS or EventBridge would refuse', () => {
    it.each([
      ['prompt', { ...valid, prompt: 'make it \ud800 red' }],
      ['prompt', { ...valid, prompt: '\udfff' }],
      ['image_urls', { ...valid, image_urls: ['https://example.com/\ud83d.png'] }],
      ['caller_reference', { ...valid, caller_reference: 'order-\ud800' }],
      ['metadata', { ...valid, metadata: { customer: 'c\udc00' } }],
      ['metadata', { ...valid, metadata: { 'k\ud800': 'v' } }],
      ['webhook_url', { ...valid, webhook_url: 'https://hooks.example.com/\ud800' }],
    ])('a lone surrogate in %s: 400 naming it', async (field, body) => {
      expectFieldRefused(await postJson('/edits', body), '/edits', field);
    });

    it.each([
      ['prompt', { ...valid, prompt: 'nul \u0000 inside' }],
      ['prompt', { ...valid, prompt: 'escape \u001b[31m' }],
      ['prompt', { ...valid, prompt: '\t\n  ' }],
      ['caller_reference', { ...valid, caller_reference: 'line\nbreak' }],
      ['caller_reference', { ...valid, caller_reference: 'c1 \u0085' }],
      ['caller_reference', { ...valid, caller_reference: 'non-character \uffff' }],
      ['metadata', { ...valid, metadata: { note: 'bell \u0007' } }],
      ['webhook_url', { ...valid, webhook_url: 'https://hooks.example.com/a\u0000b' }],
    ])('a control character in %s: 400 naming it', async (field, body) => {
      expectFieldRefused(await postJson('/edits', body), '/edits', field);
    });

    it.each([
      ['prompt', { ...valid, prompt: 'x'.repeat(10_001) }],
      ['prompt', { ...valid, prompt: '😀'.repeat(10_001) }],
      ['image_urls', { ...valid, image_urls: [`https://example.com/${'a'.repeat(2048)}`] }],
      ['caller_reference', { ...valid, caller_reference: 'r'.repeat(129) }],
      ['metadata', { ...valid, metadata: { note: 'v'.repeat(257) } }],
      [
        'metadata',
        { ...valid, metadata: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) },
      ],
      ['metadata', { ...valid, metadata: { ['k'.repeat(65)]: 'v' } }],
      ['webhook_url', { ...valid, webhook_url: `https://hooks.example.com/${'a'.repeat(2048)}` }],
    ])('an oversized %s: 400 naming it', async (field, body) => {
      expectFieldRefused(await postJson('/edits', body), '/edits', field);
    });

    it('a metadata key named __proto__ (every JavaScript object would drop it): 400 naming it, not lost', async () => {
      const metadata = JSON.parse('{"__proto__": "v", "customer": "c-1"}');
      expectFieldRefused(await postJson('/edits', { ...valid, metadata }), '/edits', 'metadata');
    });

    it.each([
      ['filename', { content_type: 'image/png', size_bytes: 10, filename: 'cup\ud800.png' }],
      ['filename', { content_type: 'image/png', size_bytes: 10, filename: 'cup\u0000.png' }],
      ['filename', { content_type: 'image/png', size_bytes: 10, filename: `${'f'.repeat(197)}.png` }],
    ])('POST /uploads: a bad %s: 400 naming it', async (field, body) => {
      expectFieldRefused(await postJson('/uploads', body), '/uploads', field);
    });

    it('an Idempotency-Key outside 1–255 visible ASCII characters: 400 naming the header', async () => {
      for (const key of ['k'.repeat(256), 'with space', 'tab\tkey']) {
        expectFieldRefused(await postJson('/edits', valid, { 'idempotency-key': key }), '/edits', 'headers');
      }
    });

    it('takes what is allowed up to every limit: 10,000 emoji, line breaks, a key named constructor', async () => {
      const answer = await postJson('/edits', {
        ...valid,
        prompt: `${'😀'.repeat(9_998)}\n\t`,
        caller_reference: `ü${'r'.repeat(127)}`,
        metadata: {
          constructor: 'Acme Builders',
          toString: 'x',
          ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, 'v'.repeat(256)])),
        },
      });

      expectDocumented('POST', '/edits', answer);
      expect(answer.status, answer.text.slice(0, 300)).toBe(202);
      const job = JSON.parse(answer.text) as { id: string };
      const stored = await send({ method: 'GET', path: `/edits/${job.id}` });
      expectDocumented('GET', '/edits/{id}', stored);
      expect(JSON.parse(stored.text).metadata).toMatchObject({ constructor: 'Acme Builders', toString: 'x' });
    });

    it('bytes that are not UTF-8 arrive as U+FFFD, never as a lone surrogate', async () => {
      const body = Buffer.concat([
        Buffer.from('{"prompt":"red '),
        Buffer.from([0xed, 0xa0, 0x80, 0xff]),
        Buffer.from(`","image_urls":["${PNG_INPUT}"]}`),
      ]);

      const answer = await send({ path: '/edits', headers: JSON_TYPE, body });

      expectDocumented('POST', '/edits', answer);
      expect(answer.status).toBe(202);
      expect((JSON.parse(answer.text) as { input: { prompt: string } }).input.prompt).toMatch(
        /^red \ufffd+$/,
      );
    });

    it('a next_token with the right length in characters but not in bytes: 400, not 500', async () => {
      const answer = await send({
        method: 'GET',
        path: `/edits?next_token=${encodeURIComponent(`e30.${'é'.repeat(32)}`)}`,
      });

      expectDocumented('GET', '/edits', answer);
      expect(answer.status).toBe(400);
      expect(answer.text).toContain('next_token');
    });
  });

  describe('bodies too large or too deep', () => {
    it('a 10 MB body: 413 before any function runs', async () => {
      const answer = await send({
        path: '/edits',
        headers: JSON_TYPE,
        body: Buffer.alloc(10 * 1024 * 1024, 0x20),
      });

      expectDocumented('POST', '/edits', answer);
      expect(answer.status).toBe(413);
    });

    it('a 10 MB body sent in chunks, without a Content-Length: 413', async () => {
      const answer = await send({
        path: '/uploads',
        headers: { ...JSON_TYPE, 'transfer-encoding': 'chunked' },
        body: Buffer.alloc(10 * 1024 * 1024, 0x20),
      });

      expectDocumented('POST', '/uploads', answer);
      expect(answer.status).toBe(413);
    });

    it.each([
      ['an array 200,000 deep', `${'['.repeat(200_000)}${']'.repeat(200_000)}`, '(root)'],
      [
        'objects 100,000 deep in an unknown key',
        `{"x":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`,
        '(root)',
      ],
      [
        'an array 200,000 deep in metadata',
        `{"prompt":"x","image_urls":["${PNG_INPUT}"],"metadata":{"k":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`,
        'metadata',
      ],
      ['JSON left open 200,000 deep', '['.repeat(200_000), '(root)'],
    ])('%s: 400', async (_name, body, field) => {
      expectFieldRefused(await send({ path: '/edits', headers: JSON_TYPE, body }), '/edits', field);
    });
  });

  describe('media types', () => {
    it.each([
      ['POST', '/edits', 'text/plain;charset=UTF-8'],
      ['POST', '/edits', 'application/x-www-form-urlencoded'],
      ['POST', '/edits', 'multipart/form-data; boundary=x'],
      ['POST', '/edits', 'application/xml'],
      ['POST', '/edits', 'application/jsonp'],
      ['POST', '/edits', undefined],
      ['POST', '/uploads', 'text/plain'],
      ['POST', '/uploads', undefined],
    ])('%s %s with %s: 415 problem+json, nothing made', async (method, path, type) => {
      const prompt = `sent as ${type ?? 'nothing'} to ${path}`;
      const body = path === '/edits' ? { ...valid, prompt } : { content_type: 'image/png', size_bytes: 10 };

      const answer = await send({
        method,
        path,
        headers: type === undefined ? {} : { 'content-type': type },
        body: JSON.stringify(body),
      });

      expectDocumented(method, path, answer);
      expect(answer.status).toBe(415);
      expect(JSON.parse(answer.text)).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
      const listed = JSON.parse((await send({ method: 'GET', path: '/edits?limit=1000' })).text) as {
        items: { input: { prompt: string } }[];
      };
      expect(listed.items.filter((job) => job.input.prompt === prompt)).toEqual([]);
    });

    it.each(['application/json; charset=utf-8', 'APPLICATION/JSON', 'application/merge-patch+json'])(
      'takes %s as JSON',
      async (type) => {
        const answer = await send({
          path: '/edits',
          headers: { 'content-type': type },
          body: JSON.stringify(valid),
        });

        expectDocumented('POST', '/edits', answer);
        expect(answer.status).toBe(202);
      },
    );
  });

  describe('path tricks in ids', () => {
    it.each([
      ['GET', '/edits/..%2F..%2Fopenapi.json'],
      ['GET', '/edits/a%2Fb'],
      ['GET', '/edits/%00'],
      ['GET', '/edits/%ED%A0%80'],
      ['GET', '/edits/%ZZ'],
      ['GET', '/edits/%F0%9F%98%80'],
      ['GET', `/edits/${'x'.repeat(65)}`],
      ['GET', `/edits/${'x'.repeat(8000)}`],
      ['DELETE', '/edits/..%2F..%2Fedits'],
      ['DELETE', `/edits/${'x'.repeat(8000)}`],
      ['POST', '/edits/a%2Fb/cancel'],
      ['POST', '/edits/%00/notifications/resend'],
    ])('%s %s: 404', async (method, path) => {
      const route = path.endsWith('/cancel')
        ? '/edits/{id}/cancel'
        : path.endsWith('/resend')
          ? '/edits/{id}/notifications/resend'
          : '/edits/{id}';

      const answer = await send({ method, path });

      expectDocumented(method, route, answer);
      expect(answer.status).toBe(404);
    });

    it('dot segments (also written %2e) are resolved before routing, as URLs are: never into an id', async () => {
      const job = JSON.parse((await postJson('/edits', valid)).text) as { id: string };
      const paths = [
        [`/edits/${job.id}/..`, 404], // `/edits/`: no route
        [`/edits/x/../${job.id}/cancel/..`, 404], // `/edits/<id>/`: no route
        [`/edits/${job.id}/cancel/%2e%2e`, 404],
        ['/edits/%2e%2e/cancel', 404], // `/cancel`
        ['/edits/../openapi.json', 200],
        ['/edits/..', 302], // `/`: the web console's redirect
        ['/edits/%2e%2e', 302],
      ] as const;

      const answers = await Promise.all(paths.map(([path]) => send({ method: 'GET', path })));

      for (const answer of answers) expect(answer.text).not.toContain(job.id);
      expect(answers.map((answer) => answer.status)).toEqual(paths.map(([, status]) => status));
    });

    it('an id longer than a request line may be: 431 problem+json from the server itself', async () => {
      const answer = await send({ method: 'GET', path: `/edits/${'x'.repeat(70_000)}` });

      expect(answer.status).toBe(431);
      expect(answer.headers.get('content-type')).toBe('application/problem+json');
      expect(JSON.parse(answer.text)).toEqual({
        type: 'about:blank',
        title: 'Request Header Fields Too Large',
        status: 431,
      });
    });
  });

  describe('one Idempotency-Key, many requests at once', () => {
    it('makes exactly one job, and every request gets it', async () => {
      const key = `concurrent-${Date.now()}`;
      const body = { ...valid, prompt: `once, whatever the race ${key}` };

      const answers = await Promise.all(
        Array.from({ length: 16 }, () => postJson('/edits', body, { 'idempotency-key': key })),
      );

      for (const answer of answers) expectDocumented('POST', '/edits', answer);
      expect(answers.map((answer) => answer.status)).toEqual(Array(16).fill(202));
      const ids = new Set(answers.map((answer) => (JSON.parse(answer.text) as { id: string }).id));
      expect(ids.size).toBe(1);
      expect(answers.filter((answer) => answer.headers.get('idempotent-replayed') !== 'true')).toHaveLength(
        1,
      );
      const listed = JSON.parse((await send({ method: 'GET', path: '/edits?limit=1000' })).text) as {
        items: { id: string; input: { prompt: string } }[];
      };
      expect(listed.items.filter((job) => job.input.prompt === body.prompt)).toHaveLength(1);
      // And RunComfy is asked once.
      await waitForJob(fixture.pipeline, [...ids][0]!);
      expect(fixture.sim.jobs().filter((upstream) => upstream.input.prompt === body.prompt)).toHaveLength(1);
    });

    it('with different bodies at once: one job, every other body 422 IDEMPOTENCY_KEY_REUSED', async () => {
      const key = `conflict-${Date.now()}`;

      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          postJson('/edits', { ...valid, prompt: `body ${i % 2}` }, { 'idempotency-key': key }),
        ),
      );

      for (const answer of answers) expectDocumented('POST', '/edits', answer);
      const accepted = answers.filter((answer) => answer.status === 202);
      const refused = answers.filter((answer) => answer.status === 422);
      expect(accepted.length + refused.length).toBe(8);
      expect(new Set(accepted.map((answer) => JSON.parse(answer.text).id)).size).toBe(1);
      const prompts = new Set(accepted.map((answer) => JSON.parse(answer.text).input.prompt));
      expect(prompts.size).toBe(1);
      expect(accepted).toHaveLength(4);
      for (const answer of refused) expect(JSON.parse(answer.text).code).toBe('IDEMPOTENCY_KEY_REUSED');
    });
  });
});
