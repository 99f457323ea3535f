import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type * as z from 'zod/mini';
import { EditRequestSchema, reservedMetadataKeys } from '#core/edit-request';
import { IdempotencyKeySchema, JobIdSchema } from '#core/http/request';
import { UploadRequestSchema } from '#core/inputs/create-upload';
import { ListParamsSchema } from '#core/jobs/list-jobs';
import { toFieldIssues } from '#core/validation';
import { checkWebhookUrl } from '#core/webhooks/url-policy';
import {
  arbitraryOf,
  componentSchema,
  documentErrors,
  type JsonSchema,
  mutatedBody,
  openApi,
} from '../../support/openapi-contract.ts';

/*
 * openapi.json is exactly as strict as the server: both come from the same zod schemas, and
 * this checks the result, with the document read by a JSON Schema validator (ajv) as a client
 * or a fuzzer would read it. Every example is accepted by both; every constraint the document
 * states is enforced by both; and for generated bodies, valid and mutated, the two verdicts agree.
 *
 * The server side here is what the deployed submit core applies before anything is stored: the
 * schema and the webhook host check (names under .localhost/.internal, which the document states
 * in the field's description). s3:// locations are a deployment setting (also in the description):
 * the API fuzzer (test/fuzz/) covers them against a running pipeline.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261204);

type Verdict = { accepted: true } | { accepted: false; paths: string[] };

function serverVerdict(schema: z.ZodMiniType, value: unknown): Verdict {
  const result = schema.safeParse(value);
  const reserved = schema === EditRequestSchema ? reservedMetadataKeys(value) : [];
  if (!result.success || reserved.length > 0) {
    const issues = [...(result.success ? [] : toFieldIssues(result.error.issues)), ...reserved];
    return { accepted: false, paths: issues.map((issue) => issue.path) };
  }
  const webhook = (result.data as { webhook_url?: string }).webhook_url;
  const issues = schema === EditRequestSchema ? checkWebhookUrl(webhook, { allowLoopbackHttp: false }) : [];
  return issues.length === 0
    ? { accepted: true }
    : { accepted: false, paths: issues.map((issue) => issue.path) };
}

const BODIES: { name: string; schema: z.ZodMiniType }[] = [
  { name: 'EditRequest', schema: EditRequestSchema },
  { name: 'UploadRequest', schema: UploadRequestSchema },
];

/** A described rule the generator keeps to: no webhook host under .localhost or .internal. */
const describedRulesHold = (body: Record<string, unknown>) =>
  typeof body.webhook_url !== 'string' || !/\.(localhost|internal)(?::|\/|\?|#|$)/i.test(body.webhook_url);

const topField = (path: string) => path.split('/')[0]!;

describe('Document: openapi.json agrees with the server', () => {
  it('documents an example of every request body, and both accept each one', () => {
    for (const { name, schema } of BODIES) {
      const examples = componentSchema(name).examples as unknown[] | undefined;
      expect(examples?.length, name).toBeGreaterThan(0);
      for (const example of examples ?? []) {
        expect(documentErrors(componentSchema(name), example), `${name} ${JSON.stringify(example)}`).toEqual(
          [],
        );
        expect(serverVerdict(schema, example), `${name} ${JSON.stringify(example)}`).toEqual({
          accepted: true,
        });
      }
    }
  });

  it('has no other examples than those (each would need a check here)', () => {
    const found: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (typeof value !== 'object' || value === null) return;
      for (const [key, inner] of Object.entries(value)) {
        if (
          (key === 'example' || key === 'examples') &&
          !path.match(/^components\/schemas\/(Edit|Upload)Request$/)
        ) {
          found.push(`${path}/${key}`);
        }
        walk(inner, path ? `${path}/${key}` : key);
      }
    };
    walk(openApi, '');
    expect(found).toEqual([]);
  });

  // One case per constraint the document states on a request body: each is refused by both, for the field it names.
  const valid = { prompt: 'make the cup red', image_urls: ['https://example.com/cup.png'] };
  const upload = { content_type: 'image/png', size_bytes: 100 };
  const CASES: [string, string, string, Record<string, unknown>][] = [
    ['EditRequest', 'prompt', 'required', { image_urls: valid.image_urls }],
    ['EditRequest', 'prompt', 'type', { ...valid, prompt: 42 }],
    ['EditRequest', 'prompt', 'minLength', { ...valid, prompt: '' }],
    ['EditRequest', 'prompt', 'maxLength', { ...valid, prompt: '😀'.repeat(10_001) }],
    ['EditRequest', 'prompt', 'pattern', { ...valid, prompt: ' \t\n ' }],
    ['EditRequest', 'prompt', 'pattern', { ...valid, prompt: 'nul\u0000' }],
    ['EditRequest', 'image_urls', 'required', { prompt: valid.prompt }],
    ['EditRequest', 'image_urls', 'type', { ...valid, image_urls: 'https://example.com/cup.png' }],
    ['EditRequest', 'image_urls', 'minItems', { ...valid, image_urls: [] }],
    ['EditRequest', 'image_urls', 'maxItems', { ...valid, image_urls: Array(5).fill(valid.image_urls[0]) }],
    ['EditRequest', 'image_urls', 'items.pattern', { ...valid, image_urls: ['http://example.com/cup.png'] }],
    ['EditRequest', 'image_urls', 'items.pattern', { ...valid, image_urls: ['ftp://example.com/cup.png'] }],
    [
      'EditRequest',
      'image_urls',
      'items.maxLength',
      { ...valid, image_urls: [`https://example.com/${'a'.repeat(2048)}`] },
    ],
    ['EditRequest', 'guidance_scale', 'type', { ...valid, guidance_scale: '2.5' }],
    ['EditRequest', 'guidance_scale', 'minimum', { ...valid, guidance_scale: -0.001 }],
    ['EditRequest', 'guidance_scale', 'maximum', { ...valid, guidance_scale: 20.001 }],
    ['EditRequest', 'seed', 'type', { ...valid, seed: 1.5 }],
    ['EditRequest', 'seed', 'maximum', { ...valid, seed: 2 ** 53 }],
    ['EditRequest', 'seed', 'minimum', { ...valid, seed: -(2 ** 53) }],
    ['EditRequest', 'image_size', 'type', { ...valid, image_size: 1 }],
    ['EditRequest', 'image_size', 'enum', { ...valid, image_size: 'huge' }],
    ['EditRequest', 'output_format', 'type', { ...valid, output_format: null }],
    ['EditRequest', 'output_format', 'enum', { ...valid, output_format: 'gif' }],
    ['EditRequest', 'caller_reference', 'type', { ...valid, caller_reference: 1234 }],
    ['EditRequest', 'caller_reference', 'minLength', { ...valid, caller_reference: '' }],
    ['EditRequest', 'caller_reference', 'maxLength', { ...valid, caller_reference: 'r'.repeat(129) }],
    ['EditRequest', 'caller_reference', 'pattern', { ...valid, caller_reference: 'line\nbreak' }],
    ['EditRequest', 'caller_reference', 'pattern', { ...valid, caller_reference: 'c1 control \u0085' }],
    ['EditRequest', 'metadata', 'type', { ...valid, metadata: ['a'] }],
    [
      'EditRequest',
      'metadata',
      'maxProperties',
      { ...valid, metadata: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) },
    ],
    ['EditRequest', 'metadata', 'propertyNames.pattern', { ...valid, metadata: { 'bad key': 'v' } }],
    // An own `__proto__` key, as JSON.parse makes it (zod's record would drop it unseen).
    [
      'EditRequest',
      'metadata',
      'propertyNames.not',
      { ...valid, metadata: JSON.parse('{"__proto__": "v"}') },
    ],
    ['EditRequest', 'metadata', 'additionalProperties.type', { ...valid, metadata: { k: 1 } }],
    [
      'EditRequest',
      'metadata',
      'additionalProperties.maxLength',
      { ...valid, metadata: { k: 'v'.repeat(257) } },
    ],
    ['EditRequest', 'metadata', 'additionalProperties.pattern', { ...valid, metadata: { k: 'tab\there' } }],
    ['EditRequest', 'webhook_url', 'type', { ...valid, webhook_url: true }],
    ['EditRequest', 'webhook_url', 'pattern', { ...valid, webhook_url: 'http://hooks.example.com/x' }],
    ['EditRequest', 'webhook_url', 'pattern', { ...valid, webhook_url: 'https://10.0.0.1/x' }],
    ['EditRequest', 'webhook_url', 'pattern', { ...valid, webhook_url: 'https://localhost/x' }],
    [
      'EditRequest',
      'webhook_url',
      'maxLength',
      { ...valid, webhook_url: `https://hooks.example.com/${'a'.repeat(2048)}` },
    ],
    ['EditRequest', 'imageSize', 'additionalProperties', { ...valid, imageSize: 'square' }],
    ['UploadRequest', 'content_type', 'required', { size_bytes: 1 }],
    ['UploadRequest', 'content_type', 'type', { ...upload, content_type: ['image/png'] }],
    ['UploadRequest', 'content_type', 'enum', { ...upload, content_type: 'image/gif' }],
    ['UploadRequest', 'size_bytes', 'required', { content_type: 'image/png' }],
    ['UploadRequest', 'size_bytes', 'type', { ...upload, size_bytes: 1.5 }],
    ['UploadRequest', 'size_bytes', 'minimum', { ...upload, size_bytes: 0 }],
    ['UploadRequest', 'size_bytes', 'maximum', { ...upload, size_bytes: 50 * 1024 * 1024 + 1 }],
    ['UploadRequest', 'filename', 'type', { ...upload, filename: ['a.png'] }],
    ['UploadRequest', 'filename', 'minLength', { ...upload, filename: '' }],
    ['UploadRequest', 'filename', 'maxLength', { ...upload, filename: `${'a'.repeat(197)}.png` }],
    ['UploadRequest', 'filename', 'pattern', { ...upload, filename: 'a\u0000.png' }],
    ['UploadRequest', 'extra', 'additionalProperties', { ...upload, extra: 1 }],
  ];

  it.each(CASES)('%s.%s: %s is refused by the document and by the server', (name, field, _keyword, body) => {
    const schema = BODIES.find((entry) => entry.name === name)!.schema;
    const documented = documentErrors(componentSchema(name), body);
    const server = serverVerdict(schema, body);

    expect(documented.map((error) => topField(error.path))).toContain(field);
    expect(server.accepted).toBe(false);
    if (!server.accepted)
      expect(server.paths.map(topField)).toContain(
        field === 'imageSize' || field === 'extra' ? '(root)' : field,
      );
  });

  it.each([
    ['EditRequest', 'prompt', '\ud800'],
    ['EditRequest', 'caller_reference', 'order-\udc00'],
    ['EditRequest', 'webhook_url', 'https://hooks.example.com/\ud83d'],
    ['UploadRequest', 'filename', 'cup\ud800.png'],
  ])(
    '%s.%s: a lone surrogate is refused by both (the document says "well-formed Unicode")',
    (name, field, value) => {
      const base = name === 'EditRequest' ? valid : upload;
      const body = { ...base, [field]: value };
      const server = serverVerdict(BODIES.find((entry) => entry.name === name)!.schema, body);

      expect(documentErrors(componentSchema(name), body)).toContainEqual({
        path: field,
        message: 'not well-formed Unicode',
      });
      expect(server.accepted).toBe(false);
      if (!server.accepted) expect(new Set(server.paths)).toEqual(new Set([field]));
    },
  );

  it('has a case above for every constraint the document states on a request body', () => {
    const KEYWORDS = [
      'minLength',
      'maxLength',
      'pattern',
      'minimum',
      'maximum',
      'enum',
      'minItems',
      'maxItems',
      'maxProperties',
      'not',
    ];
    const stated = new Set<string>();
    for (const { name } of BODIES) {
      const schema = componentSchema(name);
      for (const field of schema.required as string[]) stated.add(`${name}.${field}.required`);
      stated.add(`${name}.additionalProperties`);
      for (const [field, inner] of Object.entries(schema.properties as Record<string, JsonSchema>)) {
        stated.add(`${name}.${field}.type`);
        const nested: [string, JsonSchema][] = [
          ['', inner],
          ['items.', (inner.items as JsonSchema) ?? {}],
          ['propertyNames.', (inner.propertyNames as JsonSchema) ?? {}],
          ['additionalProperties.', (inner.additionalProperties as JsonSchema) ?? {}],
        ];
        for (const [prefix, part] of nested) {
          for (const keyword of KEYWORDS)
            if (keyword in part) stated.add(`${name}.${field}.${prefix}${keyword}`);
          if (prefix === 'additionalProperties.' && 'type' in part)
            stated.add(`${name}.${field}.${prefix}type`);
        }
        // A minimum that is the safe-integer bound is the integer type's, covered by its type case.
        if (inner.type === 'integer' && inner.minimum === Number.MIN_SAFE_INTEGER)
          stated.delete(`${name}.${field}.minimum`);
      }
    }
    stated.delete('EditRequest.seed.minimum');
    const covered = new Set(
      CASES.map(([name, field, keyword]) =>
        keyword === 'additionalProperties' ? `${name}.additionalProperties` : `${name}.${field}.${keyword}`,
      ),
    );
    covered.add('EditRequest.seed.minimum');
    expect([...stated].filter((constraint) => !covered.has(constraint))).toEqual([]);
  });

  for (const { name, schema } of BODIES) {
    it(`${name}: every body generated from the document is accepted by the server`, () => {
      const bodies = (arbitraryOf(componentSchema(name)) as fc.Arbitrary<Record<string, unknown>>).filter(
        describedRulesHold,
      );
      fc.assert(
        fc.property(bodies, (body) => {
          expect(documentErrors(componentSchema(name), body)).toEqual([]);
          expect(serverVerdict(schema, body)).toEqual({ accepted: true });
        }),
        { seed: SEED, numRuns: 300 },
      );
    });

    it(`${name}: a mutated body is refused by the server exactly when the document refuses it, naming the same fields`, () => {
      const valid = (arbitraryOf(componentSchema(name)) as fc.Arbitrary<Record<string, unknown>>).filter(
        describedRulesHold,
      );
      fc.assert(
        fc.property(mutatedBody(valid, componentSchema(name)), (body) => {
          const documented = documentErrors(componentSchema(name), body);
          const server = serverVerdict(schema, body);
          expect(server.accepted, JSON.stringify(documented)).toBe(documented.length === 0);
          if (!server.accepted) {
            const named = new Set(server.paths.map(topField));
            // An unknown key is named by the server at the root (its message says which).
            const fields = documented
              .map((error) => topField(error.path))
              .filter((field) => Object.hasOwn(componentSchema(name).properties as object, field));
            for (const field of fields)
              expect([...named], `document: ${JSON.stringify(documented)}`).toContain(field);
          }
        }),
        { seed: SEED, numRuns: 500 },
      );
    });
  }

  it('GET /edits: query values generated from the document are accepted by the server', () => {
    const parameters = openApi.paths['/edits']!.get!.parameters!;
    const query = fc.record(
      Object.fromEntries(
        parameters
          .filter((parameter) => parameter.name !== 'next_token')
          .map((parameter) => [parameter.name, arbitraryOf(parameter.schema).map(String)]),
      ),
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(query, (params) => {
        expect(ListParamsSchema.safeParse(params).success, JSON.stringify(params)).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('path ids and Idempotency-Key: generated from the document, accepted; outside it, refused', () => {
    const id = openApi.paths['/edits/{id}']!.get!.parameters!.find(
      (parameter) => parameter.name === 'id',
    )!.schema;
    const key = openApi.paths['/edits']!.post!.parameters!.find(
      (parameter) => parameter.name === 'Idempotency-Key',
    )!.schema;
    for (const [documented, server] of [
      [id, JobIdSchema],
      [key, IdempotencyKeySchema],
    ] as const) {
      fc.assert(
        fc.property(
          fc.oneof(arbitraryOf(documented), fc.string({ unit: 'binary', maxLength: 300 })),
          (value) => {
            expect(server.safeParse(value).success, JSON.stringify(value)).toBe(
              documentErrors(documented, value).length === 0,
            );
          },
        ),
        { seed: SEED, numRuns: 300 },
      );
    }
  });
});
