import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { OPENAPI_FILE } from '../../scripts/generate-openapi.ts';

/*
 * openapi.json as a test oracle: a JSON Schema validator for its schemas (ajv, draft 2020-12),
 * fast-check arbitraries generated from the same schemas, and a check that an HTTP answer is one
 * the document describes. Used by the agreement test (test/unit/http/openapi-agreement.test.ts)
 * and the API fuzzer (test/fuzz/).
 */

export type JsonSchema = Record<string, unknown>;

interface Operation {
  parameters?: { name: string; in: string; required?: boolean; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<
    string,
    { content?: Record<string, { schema: JsonSchema }>; headers?: Record<string, { schema: JsonSchema }> }
  >;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
}

export const openApi = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as OpenApiDocument;

/** `$schema` is only allowed at a document's root: each component carries one, which ajv refuses below it. */
function withoutSchemaKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSchemaKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== '$schema')
      .map(([key, inner]) => [key, withoutSchemaKeys(inner)]),
  );
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
// RFC 3339 `date-time`, as the document's own patterns spell it (ajv-formats is not needed for one format).
ajv.addFormat('date-time', (value: string) => !Number.isNaN(Date.parse(value)));
ajv.addSchema({ $id: 'openapi.json', components: withoutSchemaKeys(openApi.components) });

const compiled = new Map<string, ValidateFunction>();

/** A validator for a schema of the document (a `$ref` into it, or an inline schema). */
export function validatorOf(schema: JsonSchema): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(rebase(withoutSchemaKeys(schema)) as JsonSchema);
    compiled.set(key, validate);
  }
  return validate;
}

/** `#/components/…` refers to the document, not to the schema compiled on its own. */
function rebase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rebase);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === '$ref' && typeof inner === 'string' && inner.startsWith('#/')
        ? `openapi.json${inner}`
        : rebase(inner),
    ]),
  );
}

export const componentSchema = (name: string): JsonSchema => {
  const schema = openApi.components.schemas[name];
  if (!schema) throw new Error(`openapi.json has no schema ${name}`);
  return schema;
};

/**
 * What the document says about a value: the errors of the schema, plus the one rule every string
 * field's description states but JSON Schema cannot (well-formed Unicode: no lone surrogates).
 * `[]` means the document accepts it.
 */
export function documentErrors(schema: JsonSchema, value: unknown): { path: string; message: string }[] {
  const validate = validatorOf(schema);
  const errors = validate(value)
    ? []
    : (validate.errors ?? []).map((error: ErrorObject) => ({
        path: error.instancePath.replace(/^\//, '') + propertyOf(error),
        message: `${error.keyword}: ${error.message ?? ''}`,
      }));
  return [...errors, ...illFormedStrings(value)];
}

/** The key an error is about, when ajv reports it on the parent (`required`, `additionalProperties`). */
function propertyOf(error: ErrorObject): string {
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  const name = params.missingProperty ?? params.additionalProperty;
  if (name === undefined) return '';
  return error.instancePath ? `/${name}` : name;
}

function illFormedStrings(value: unknown, path = ''): { path: string; message: string }[] {
  if (typeof value === 'string') {
    return value.isWellFormed() ? [] : [{ path, message: 'not well-formed Unicode' }];
  }
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => {
    const here = path ? `${path}/${key}` : key;
    return [
      ...(key.isWellFormed() ? [] : [{ path: here, message: 'key not well-formed Unicode' }]),
      ...illFormedStrings(inner, here),
    ];
  });
}

/* ---------------------------------------------------------------------------------------------- */
/* Arbitraries                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

function resolve(schema: JsonSchema): JsonSchema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const name = ref.replace('#/components/schemas/', '');
  return resolve(componentSchema(name));
}

const codePoints = (value: string) => [...value].length;

/**
 * Strings the schema accepts: from the pattern (fast-check's `stringMatching`, mostly ASCII), and
 * from any Unicode code points (emoji, other scripts, non-characters) kept when the pattern takes
 * them; sometimes stretched towards `maxLength`. Always well-formed, as the document requires.
 */
function stringArbitrary(schema: JsonSchema): fc.Arbitrary<string> {
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as string[]));
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : 4096;
  const pattern = typeof schema.pattern === 'string' ? new RegExp(schema.pattern, 'u') : undefined;
  const fits = (value: string) =>
    value.isWellFormed() &&
    codePoints(value) >= min &&
    codePoints(value) <= max &&
    (pattern === undefined || pattern.test(value));
  const unicode = fc.string({ unit: 'binary', minLength: min, maxLength: Math.min(max, 40) });
  // Any code points only where the pattern takes most of them (text, not URLs): a filter that
  // rarely passes would make fast-check search for ever.
  const takesUnicode =
    pattern === undefined ||
    fc.sample(unicode, { numRuns: 100, seed: 1 }).filter((value) => pattern.test(value)).length >= 50;
  const base =
    pattern === undefined
      ? unicode
      : takesUnicode
        ? fc.oneof(
            { weight: 3, arbitrary: fc.stringMatching(pattern) },
            { weight: 2, arbitrary: unicode.filter((value) => pattern.test(value)) },
          )
        : fc.stringMatching(pattern);
  const stretched = base.map((value) => {
    if (value.length === 0) return value;
    const long = [...value.repeat(Math.ceil(max / codePoints(value)))].slice(0, max).join('');
    return fits(long) ? long : value;
  });
  return fc.oneof({ weight: 9, arbitrary: base }, { weight: 1, arbitrary: stretched }).filter(fits);
}

/**
 * Values the schema accepts, for the keywords the document uses: `$ref`, `type`, `enum`, `const`,
 * lengths, `pattern`, bounds, `items`, `properties`/`required`, `additionalProperties`,
 * `propertyNames`, `maxProperties`, `anyOf`. Optional properties are sometimes left out.
 */
export function arbitraryOf(input: JsonSchema): fc.Arbitrary<unknown> {
  const schema = resolve(input);
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if (Array.isArray(schema.anyOf)) return fc.oneof(...(schema.anyOf as JsonSchema[]).map(arbitraryOf));
  switch (schema.type) {
    case 'string':
      return stringArbitrary(schema);
    case 'integer':
      return fc.oneof(
        fc.integer({
          min: Math.max(Number(schema.minimum ?? -1e9), -2147483648),
          max: Math.min(Number(schema.maximum ?? 1e9), 2147483647),
        }),
        fc.constantFrom(
          ...[schema.minimum, schema.maximum].filter((bound): bound is number => typeof bound === 'number'),
        ),
      );
    case 'number':
      return fc.double({
        min: Number(schema.minimum ?? -1e6),
        max: Number(schema.maximum ?? 1e6),
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(arbitraryOf((schema.items as JsonSchema) ?? {}), {
        minLength: Number(schema.minItems ?? 0),
        maxLength: Number(schema.maxItems ?? 5),
      });
    case 'object':
      return objectArbitrary(schema);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectArbitrary(schema: JsonSchema): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = (schema.required ?? []) as string[];
  if (Object.keys(properties).length > 0) {
    return fc.record(
      Object.fromEntries(Object.entries(properties).map(([name, inner]) => [name, arbitraryOf(inner)])),
      { requiredKeys: required },
    );
  }
  const values = schema.additionalProperties;
  if (typeof values !== 'object' || values === null) return fc.constant({});
  return fc.dictionary(
    arbitraryOf(
      (schema.propertyNames as JsonSchema) ?? { type: 'string', maxLength: 20 },
    ) as fc.Arbitrary<string>,
    arbitraryOf(values as JsonSchema),
    { maxKeys: Number(schema.maxProperties ?? 5), noNullPrototype: true },
  );
}

/* ---------------------------------------------------------------------------------------------- */
/* Hostile values                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/** Strings that break a storage or transport rule somewhere downstream: surrogates, controls, sizes. */
export const HOSTILE_STRINGS: readonly string[] = [
  '\ud800',
  'a\udfffb',
  'ends with a lone high surrogate \ud83d',
  '\udc00\ud800',
  '\u0000',
  'nul\u0000inside',
  'bell\u0007',
  'escape\u001b[31m',
  'delete\u007f',
  'next line\u0085',
  'non-character \uffff',
  '\ufffe',
  '',
  ' ',
  '\t\n\r',
  '\u200b\u2028\u3000',
  '../../etc/passwd',
  '%00%2e%2e%2f',
  '<script>alert(1)</script>',
  'https://',
  'http://example.com/a.png',
  'https://user:secret@example.com/a.png',
  'https://[::1]/a.png',
  'https://example.com/a b.png',
  'https://127.0.0.1/a.png',
  's3://bucket/',
  's3://Bucket/key',
  'javascript:alert(1)',
  'x'.repeat(10_001),
  '😀'.repeat(10_001),
  'a'.repeat(300),
  `https://example.com/${'a'.repeat(2100)}`,
];

/** Values of the wrong JSON type for any field (a string field gets non-strings, and so on). */
export const WRONG_TYPES: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e308,
  -1e-320,
  '1',
  [],
  ['x'],
  {},
  { nested: { deeper: [1, 2, 3] } },
];

/** Any of the above, or a value generated for another schema (a string where a number goes...). */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.constantFrom(...WRONG_TYPES) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)) }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.double() },
);

/**
 * A request body made invalid in one way, or kept when the mutation happens to leave it valid
 * (the document is the oracle either way): one field replaced by a hostile value, a required
 * field removed, an unknown key added, or a hostile value put inside an array or a map.
 */
export function mutatedBody(
  valid: fc.Arbitrary<Record<string, unknown>>,
  schema: JsonSchema,
): fc.Arbitrary<unknown> {
  const properties = Object.keys((resolve(schema).properties ?? {}) as Record<string, unknown>);
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...properties), hostileValue)
        .map(([body, field, value]) => ({ ...body, [field]: value })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...properties), hostileValue, fc.nat({ max: 3 }))
        .map(([body, field, value, index]) => {
          const current = body[field];
          if (Array.isArray(current))
            return { ...body, [field]: current.with(index % current.length, value) };
          if (typeof current === 'object' && current !== null)
            return { ...body, [field]: { ...current, k: value } };
          return { ...body, [field]: [value] };
        }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...((resolve(schema).required ?? []) as string[])))
        .map(([body, field]) => Object.fromEntries(Object.entries(body).filter(([key]) => key !== field))),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          valid,
          fc.constantFrom('imageSize', '__proto__', 'constructor', '\ud800', 'x'.repeat(500)),
          hostileValue,
        )
        // A computed key makes an own property, even `__proto__` (as JSON.parse does).
        .map(([body, key, value]) => ({ ...body, [key]: value })),
    },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], 'text', 42, true) },
  );
}

/* ---------------------------------------------------------------------------------------------- */
/* Answers                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Why an answer is not one the document describes for `method` on `route` (a path template,
 * e.g. `/edits/{id}`), or `[]`: its status is documented for the operation, its media type is
 * one documented for that status, its body matches that media type's schema, and documented
 * headers it carries match theirs.
 */
export function conformanceProblems(method: string, route: string, answer: Answer): string[] {
  const operation = openApi.paths[route]?.[method.toLowerCase()];
  if (!operation) return [`${method} ${route} is not in the document`];
  const response = operation.responses[String(answer.status)];
  if (!response) return [`status ${answer.status} is not documented for ${method} ${route}`];
  const problems: string[] = [];
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    const value = answer.headers.get(name);
    if (value !== null && !validatorOf(header.schema)(value)) problems.push(`header ${name}: ${value}`);
  }
  if (!response.content) {
    if (answer.text !== '')
      problems.push(`a ${answer.status} has no documented body, got ${answer.text.slice(0, 200)}`);
    return problems;
  }
  const mediaType = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const content = response.content[mediaType];
  if (!content) {
    return [...problems, `content type ${mediaType || '(none)'} is not documented for ${answer.status}`];
  }
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return [...problems, `the body is not JSON: ${answer.text.slice(0, 200)}`];
  }
  const validate = validatorOf(content.schema);
  if (!validate(body)) {
    problems.push(
      `the body does not match its schema: ${ajv.errorsText(validate.errors)} — ${answer.text.slice(0, 300)}`,
    );
  }
  if (answer.status >= 400 && mediaType !== 'application/problem+json') {
    problems.push(`an error answered as ${mediaType}, not application/problem+json`);
  }
  return problems;
}
