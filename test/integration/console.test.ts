import { resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { chromiumExecutable } from '../support/chromium.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { getJob } from '../support/pipeline-helpers.ts';

const CUP = resolve(import.meta.dirname, '..', '..', 'examples', 'cup.png');
/** Long enough for a job through the simulator's delays, on 2 busy cores. */
const JOB_TIMEOUT_MS = 30_000;

const fixture = useLocalPipeline({
  stackName: 'console-test',
  simulator: { knobs: { queue_delay_s: 0.3, run_delay_s: 0.5 } },
});

let browser: Promise<Browser> | undefined;
let page: Page;
/** What the page reported as broken: script errors, failed loads, CSP violations. */
let pageProblems: string[];

afterAll(async () => {
  await (await browser?.catch(() => undefined))?.close();
});

/**
 * Started by the first test that needs it, so that without a Chromium each browser test fails
 * with the reason (a failing `beforeAll` would report them as skipped).
 */
async function openConsole(): Promise<Page> {
  browser ??= chromium.launch({ executablePath: chromiumExecutable(), headless: true });
  page = await (await browser).newPage();
  pageProblems = [];
  page.on('pageerror', (error) => pageProblems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageProblems.push(`console: ${message.text()}`);
  });
  page.on('requestfailed', (request) =>
    pageProblems.push(
      `failed: ${request.method()} ${request.url().slice(0, 60)} ${request.failure()?.errorText}`,
    ),
  );
  await page.goto(`${fixture.pipeline.apiUrl}/`);
  return page;
}

afterEach(async () => {
  await page?.close();
});

/** Submits `examples/cup.png` with `prompt` from the page and returns the job's id. */
async function submitFromPage(prompt: string, callerReference: string): Promise<string> {
  await page.setInputFiles('#images', CUP);
  await page.fill('#prompt', prompt);
  await page.click('#edit-form details summary');
  await page.fill('#edit-form input[name="caller_reference"]', callerReference);
  await page.click('#submit');
  await page.waitForSelector('#job:not([hidden])');
  const id = (await page.textContent('#job-id')) ?? '';
  expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
  return id;
}

async function applyFilters(filters: {
  status?: string[];
  callerReference?: string;
  createdBefore?: string;
}) {
  for (const box of await page.$$('#filters input[name="status"]')) await box.setChecked(false);
  for (const status of filters.status ?? [])
    await page.check(`#filters input[name="status"][value="${status}"]`);
  await page.fill('#filters input[name="caller_reference"]', filters.callerReference ?? '');
  await page.fill('#filters input[name="created_before"]', filters.createdBefore ?? '');
  const listed = page.waitForResponse((response) => new URL(response.url()).pathname === '/edits');
  await page.click('#filters button[type="submit"]');
  expect((await listed).status()).toBe(200);
  await page.locator('#jobs-status', { hasNotText: 'Loading…' }).waitFor();
}

/** What the tests read of an `<img>` in the page (the tests are typed without the DOM library). */
interface ShownImage {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
  src: string;
}

const rowIds = () =>
  page.$$eval('#jobs-table tbody tr', (rows) => rows.map((row) => row.getAttribute('data-id')));

/** Waits until the page shows the watched job ended, and checks how. */
async function waitForJobEnd(expected: string): Promise<void> {
  const ended = ['succeeded', 'failed', 'cancelled', 'expired'].map(
    (status) => `#job-state[data-status="${status}"]`,
  );
  const state = await page.waitForSelector(ended.join(', '), { timeout: JOB_TIMEOUT_MS });
  expect(await state.getAttribute('data-status'), (await page.textContent('#job-error')) ?? '').toBe(
    expected,
  );
}

describe('Web console (headless Chromium against the local runtime)', { timeout: 2 * JOB_TIMEOUT_MS }, () => {
  it('submits a local image and a prompt, follows the job, and shows the output image', async () => {
    // Prepare
    await openConsole();
    expect(page.url()).toBe(fixture.pipeline.consoleUrl);
    // Markup in a prompt is text to show, never HTML to run.
    const prompt = 'make the cup <img src=x onerror="window.injected=1"><b>red</b> & "shiny"';

    // Act
    const id = await submitFromPage(prompt, 'console-e2e-1');
    await waitForJobEnd('succeeded');
    const output = await page.waitForSelector('#job-outputs img');
    await page.waitForFunction((image) => {
      const shown = image as unknown as ShownImage;
      return shown.complete && shown.naturalWidth > 0;
    }, output);

    // Assess
    const job = await getJob(fixture.pipeline, id);
    expect(job).toMatchObject({ status: 'succeeded', caller_reference: 'console-e2e-1', input: { prompt } });
    expect(job.input.image_urls).toEqual([expect.stringMatching(/^s3:\/\/.+\/cup\.png$/)]);
    const image = await output.evaluate((element) => {
      const shown = element as unknown as ShownImage;
      return { width: shown.naturalWidth, height: shown.naturalHeight, src: shown.src };
    });
    expect(image.width).toBeGreaterThan(0);
    expect(image.height).toBeGreaterThan(0);
    expect(new URL(image.src).origin).toBe(new URL(fixture.pipeline.awsEndpoint).origin);
    expect(await page.textContent('#job-prompt')).toBe(prompt);
    expect(await page.$$('#job-prompt *, #jobs-table td.prompt *')).toHaveLength(0);
    expect(await page.evaluate(() => 'injected' in globalThis)).toBe(false);
    await page.waitForSelector(`#jobs-table tr[data-id="${id}"] .badge[data-status="succeeded"]`);
    expect(await page.textContent(`#jobs-table tr[data-id="${id}"] td.prompt`)).toBe(prompt);
    expect(pageProblems).toEqual([]);
  });

  it('lists jobs and narrows the list with the filters', async () => {
    // Prepare
    await openConsole();
    const id = await submitFromPage('make the saucer blue', 'console-e2e-2');
    await waitForJobEnd('succeeded');
    await page.waitForSelector(`#jobs-table tr[data-id="${id}"]`);

    // Act + Assess
    await applyFilters({ status: ['failed', 'expired'] });
    expect(await rowIds()).not.toContain(id);

    await applyFilters({ status: ['succeeded'], callerReference: 'console-e2e-2' });
    expect(await rowIds()).toEqual([id]);
    expect(await page.textContent('#jobs-status')).toBe('1 job.');

    await applyFilters({ callerReference: 'console-e2e-2', createdBefore: '2020-01-01T00:00:00' });
    expect(await rowIds()).toEqual([]);
    expect(await page.textContent('#jobs-status')).toBe('No jobs match.');

    const cleared = page.waitForResponse((response) => new URL(response.url()).pathname === '/edits');
    await page.click('#filters button[type="reset"]');
    await cleared;
    await page.waitForSelector(`#jobs-table tr[data-id="${id}"]`);

    // A job of the list opens in the job panel.
    await page.goto(`${fixture.pipeline.consoleUrl}`);
    await page.click(`#jobs-table button[data-open="${id}"]`);
    await page.waitForSelector('#job-state[data-status="succeeded"]');
    expect(await page.textContent('#job-id')).toBe(id);
    expect(new URL(page.url()).hash).toBe(`#/edits/${id}`);
    expect(pageProblems).toEqual([]);
  });

  it('cancels a job RunComfy has not started', async () => {
    // Prepare: the simulator holds a job queued upstream while its prompt has the hold token.
    await openConsole();
    const id = await submitFromPage('__HOLD__ make the cup yellow', 'console-e2e-cancel');
    await page.waitForSelector('#job-steps li.current[data-step="queued"]', { timeout: JOB_TIMEOUT_MS });

    // Act
    await page.click('#job-cancel');

    // Assess
    await waitForJobEnd('cancelled');
    expect(await page.isHidden('#job-cancel')).toBe(true);
    expect((await getJob(fixture.pipeline, id)).status).toBe('cancelled');
    await page.waitForSelector(`#jobs-table tr[data-id="${id}"] .badge[data-status="cancelled"]`);
    expect(pageProblems).toEqual([]);
  });

  it('sends a pasted token as a Bearer header to the API, and never to storage', async () => {
    // Prepare
    await openConsole();
    const sent: { url: string; authorization: string | undefined }[] = [];
    page.on('request', (request) =>
      sent.push({ url: request.url(), authorization: request.headers().authorization }),
    );

    // Act
    await page.click('#auth summary');
    await page.fill('#token', 'Bearer header.payload.signature');
    const listed = page.waitForResponse((response) => new URL(response.url()).pathname === '/edits');
    await page.click('#token-form button[type="submit"]');
    await listed;
    await submitFromPage('make the cup green', 'console-e2e-3');
    await waitForJobEnd('succeeded');

    // Assess
    const api = sent.filter((request) => /^\/(edits|uploads)\b/.test(new URL(request.url).pathname));
    const storage = sent.filter((request) => request.url.startsWith(fixture.pipeline.awsEndpoint));
    expect(api.map((request) => new URL(request.url).pathname)).toEqual(
      expect.arrayContaining(['/edits', '/uploads', expect.stringMatching(/^\/edits\/[^/]+$/)]),
    );
    expect(new Set(api.map((request) => request.authorization))).toEqual(
      new Set(['Bearer header.payload.signature']),
    );
    expect(storage.length).toBeGreaterThan(0);
    expect(storage.map((request) => request.authorization)).toEqual(storage.map(() => undefined));
  });
});

describe('Web console: what the runtime serves', () => {
  it('serves the page with a policy that allows only its own scripts, this API and storage', async () => {
    // Act
    const response = await fetch(fixture.pipeline.consoleUrl!);

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const policy = response.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self';");
    expect(policy).toContain(`connect-src 'self' ${new URL(fixture.pipeline.awsEndpoint).origin}`);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it.each([
    ['a path outside the folder', '/console/..%2Fconsole-site.ts'],
    ['a file of another kind', '/console/tsconfig.json'],
    ['a file that is not there', '/console/nothing.js'],
  ])('answers 404 for %s', async (_, path) => {
    // Act
    const response = await fetch(`${fixture.pipeline.apiUrl}${path}`);

    // Assess
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
  });

  it("lets the console's origin upload to the bucket, and no other origin", async () => {
    // Prepare
    const { uploadUrl } = await fetch(`${fixture.pipeline.apiUrl}/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content_type: 'image/png', size_bytes: 10 }),
    })
      .then((response) => response.json() as Promise<{ upload_url: string }>)
      .then((ticket) => ({ uploadUrl: ticket.upload_url }));
    const preflight = (origin: string) =>
      fetch(uploadUrl, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'PUT',
          'access-control-request-headers': 'content-type',
        },
      });

    // Act
    const own = await preflight(new URL(fixture.pipeline.apiUrl).origin);
    const other = await preflight('http://evil.example');

    // Assess
    expect(own.status).toBe(200);
    expect(own.headers.get('access-control-allow-origin')).toBe(new URL(fixture.pipeline.apiUrl).origin);
    expect(own.headers.get('access-control-allow-methods')).toContain('PUT');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
