/*
 * The console page: pick images and a prompt, submit, watch the job, browse the job list.
 * Everything shown is set as text (`textContent`, attributes): prompts and references are user
 * input, and the page's CSP allows no inline script either.
 */
import {
  ApiError,
  cancelJob,
  getJob,
  listJobs,
  sleep,
  submitEdit,
  TERMINAL_STATUSES,
  token,
  uploadFile,
} from './api.js';

/** @typedef {import('./api.js').JobView} JobView */
/** @typedef {import('./api.js').JobFilters} JobFilters */

const POLL_INTERVAL_MS = 1000;
/** Polls that fail in a row (network, 5xx) before the page stops watching and says so. */
const MAX_POLL_FAILURES = 5;
const MAX_IMAGES = 4;
const STEPS = ['waiting', 'submitting', 'queued', 'running', 'copying', 'done'];

/**
 * @template {Element} T
 * @param {string} id
 * @param {{ new (): T, prototype: T }} type
 * @returns {T}
 */
function byId(id, type) {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`the page has no #${id}`);
  return element;
}

const ui = {
  auth: byId('auth', HTMLDetailsElement),
  tokenForm: byId('token-form', HTMLFormElement),
  token: byId('token', HTMLInputElement),
  editForm: byId('edit-form', HTMLFormElement),
  images: byId('images', HTMLInputElement),
  previews: byId('previews', HTMLUListElement),
  prompt: byId('prompt', HTMLTextAreaElement),
  submit: byId('submit', HTMLButtonElement),
  submitStatus: byId('submit-status', HTMLParagraphElement),
  job: byId('job', HTMLElement),
  jobId: byId('job-id', HTMLElement),
  jobSteps: byId('job-steps', HTMLOListElement),
  jobState: byId('job-state', HTMLParagraphElement),
  jobPrompt: byId('job-prompt', HTMLQuoteElement),
  jobFacts: byId('job-facts', HTMLDListElement),
  jobError: byId('job-error', HTMLParagraphElement),
  jobOutputs: byId('job-outputs', HTMLDivElement),
  jobCancel: byId('job-cancel', HTMLButtonElement),
  filters: byId('filters', HTMLFormElement),
  jobsStatus: byId('jobs-status', HTMLParagraphElement),
  jobsBody: /** @type {HTMLTableSectionElement} */ (byId('jobs-table', HTMLTableElement).tBodies[0]),
  jobsMore: byId('jobs-more', HTMLButtonElement),
};

/**
 * An element with text content and attributes; never HTML.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attributes]
 * @param {(Node | string)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function element(tag, attributes = {}, ...children) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  made.append(...children);
  return made;
}

/** @param {unknown} error */
function describe(error) {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  if (error.unauthorised) ui.auth.open = true;
  const fields = error.fields.map((field) => `${field.path}: ${field.message}`).join('; ');
  const hint = error.unauthorised ? ' Paste a token under "API token".' : '';
  return `${error.code}: ${error.message}${fields ? ` (${fields})` : ''}.${hint}`;
}

/**
 * @param {HTMLElement} target
 * @param {string} text
 * @param {boolean} [isError]
 */
function say(target, text, isError = false) {
  target.textContent = text;
  target.classList.toggle('error', isError);
}

/** Presigned URLs are http(s); anything else is not put in a `src` or `href`. @param {string | undefined} url */
function webUrl(url) {
  if (!url || !URL.canParse(url)) return undefined;
  return ['http:', 'https:'].includes(new URL(url).protocol) ? url : undefined;
}

/** @param {string | undefined} iso */
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

/** @param {number} bytes */
const size = (bytes) =>
  bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

// --- New edit -------------------------------------------------------------------------------

/** @type {string[]} */
let previewUrls = [];

ui.images.addEventListener('change', () => {
  for (const url of previewUrls) URL.revokeObjectURL(url);
  const files = [...(ui.images.files ?? [])];
  previewUrls = files.map((file) => URL.createObjectURL(file));
  ui.previews.replaceChildren(
    ...files.map((file, index) =>
      element(
        'li',
        {},
        element('img', { src: previewUrls[index] ?? '', alt: file.name }),
        element('span', {}, `${file.name} (${size(file.size)})`),
      ),
    ),
  );
  ui.images.setCustomValidity(files.length > MAX_IMAGES ? `Pick at most ${MAX_IMAGES} images.` : '');
});

ui.editForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const files = [...(ui.images.files ?? [])];
  if (!ui.editForm.reportValidity()) return;
  if (ui.prompt.value.trim() === '') {
    say(ui.submitStatus, 'Write a prompt.', true);
    return;
  }
  const form = new FormData(ui.editForm);
  const text = (/** @type {string} */ name) => String(form.get(name) ?? '').trim();
  /** @type {import('./api.js').EditRequest} */
  const request = { prompt: ui.prompt.value, image_urls: [] };
  if (text('image_size')) request.image_size = text('image_size');
  if (text('output_format')) request.output_format = text('output_format');
  if (text('seed')) request.seed = Number(text('seed'));
  if (text('guidance_scale')) request.guidance_scale = Number(text('guidance_scale'));
  if (text('caller_reference')) request.caller_reference = text('caller_reference');

  ui.submit.disabled = true;
  try {
    say(ui.submitStatus, `Uploading ${files.length === 1 ? 'the image' : `${files.length} images`}…`);
    request.image_urls = await Promise.all(files.map((file) => uploadFile(file)));
    say(ui.submitStatus, 'Submitting…');
    // One key per submission: a retry after a lost answer gets this job back, not a second one.
    const job = await submitEdit(request, crypto.randomUUID());
    say(ui.submitStatus, `Submitted job ${job.id}.`);
    void watch(job.id);
    void showJobs();
  } catch (error) {
    say(ui.submitStatus, describe(error), true);
  } finally {
    ui.submit.disabled = false;
  }
});

// --- The job being watched ------------------------------------------------------------------

/** @type {AbortController | undefined} */
let watching;
/** @type {string | undefined} */
let watchedId;

/**
 * Polls the job (as the CLI's `--wait` does) until it ends, or another job is opened.
 * @param {string} id
 */
async function watch(id) {
  watching?.abort();
  const controller = new AbortController();
  watching = controller;
  const { signal } = controller;
  watchedId = id;
  history.replaceState(null, '', `#/edits/${encodeURIComponent(id)}`);
  ui.job.hidden = false;
  ui.jobId.textContent = id;
  markWatchedRow();
  let failures = 0;
  /** @type {string | undefined} */
  let lastStatus;
  for (;;) {
    try {
      const job = await getJob(id, signal);
      failures = 0;
      renderJob(job);
      // The list shows statuses too: keep it current when this job's changes.
      if (lastStatus !== undefined && lastStatus !== job.status) void showJobs();
      lastStatus = job.status;
      if (TERMINAL_STATUSES.includes(job.status)) return;
    } catch (error) {
      if (signal.aborted) return;
      failures += 1;
      const retry = error instanceof ApiError && error.transient && failures < MAX_POLL_FAILURES;
      say(ui.jobState, `${describe(error)}${retry ? ' Trying again…' : ''}`, true);
      if (!retry) return;
    }
    try {
      await sleep(POLL_INTERVAL_MS, signal);
    } catch {
      return;
    }
  }
}

/** @param {JobView} job */
function renderJob(job) {
  const terminal = TERMINAL_STATUSES.includes(job.status);
  const current = terminal ? 'done' : (job.phase ?? (job.status === 'running' ? 'running' : 'queued'));
  const reached = STEPS.indexOf(current);
  for (const item of ui.jobSteps.children) {
    const step = item.getAttribute('data-step') ?? '';
    const index = STEPS.indexOf(step);
    item.classList.toggle('past', index < reached);
    item.classList.toggle('current', index === reached);
    if (step === 'done') item.textContent = terminal ? job.status : 'done';
  }
  ui.jobSteps.dataset.status = job.status;

  /** @type {string[]} */
  const detail = [job.status];
  if (job.phase) detail.push(job.phase);
  if (job.queue_position !== undefined) detail.push(`${job.queue_position} ahead in line`);
  say(ui.jobState, detail.join(' · '));
  ui.jobState.dataset.status = job.status;
  ui.jobPrompt.textContent = job.input.prompt;

  /** @type {[string, string | undefined][]} */
  const facts = [
    ['Created', when(job.created_at)],
    ['Started', when(job.started_at)],
    ['Finished', when(job.finished_at)],
    ['Total time', runTime(job)],
    ['Caller reference', job.caller_reference],
    ['Batch', job.batch_id],
    ['RunComfy request', job.upstream_request_id],
    // RunComfy could not be asked yet: the pipeline asks again at each status check.
    ['Cancel requested', when(job.cancel_requested_at)],
    ['Cost', job.cost === undefined ? undefined : `$${job.cost.toFixed(4)}`],
    [
      'Retrying',
      job.last_error
        ? `${job.last_error.code}: ${job.last_error.message} (attempt ${job.last_error.attempt})`
        : '',
    ],
  ];
  ui.jobFacts.replaceChildren(
    ...facts
      .filter(([, value]) => value)
      .flatMap(([name, value]) => [element('dt', {}, name), element('dd', {}, value ?? '')]),
  );

  ui.jobError.hidden = !job.error;
  ui.jobError.textContent = job.error ? `${job.error.code}: ${job.error.message}` : '';
  ui.jobCancel.hidden = job.status !== 'queued' || job.cancel_requested_at !== undefined;
  renderOutputs(job);
}

/** @param {JobView} job */
function runTime(job) {
  if (!job.finished_at) return undefined;
  const seconds = (Date.parse(job.finished_at) - Date.parse(job.created_at)) / 1000;
  return `${seconds.toFixed(1)} s`;
}

/** Rebuilt only when the outputs change, so the images do not reload on every poll. @param {JobView} job */
function renderOutputs(job) {
  const outputs = job.outputs ?? [];
  const signature = `${job.id}:${outputs.map((output) => output.s3_uri).join(',')}`;
  if (ui.jobOutputs.dataset.signature === signature) return;
  ui.jobOutputs.dataset.signature = signature;
  ui.jobOutputs.replaceChildren(
    ...outputs.map((output) => {
      const url = webUrl(output.url);
      const caption = element(
        'figcaption',
        {},
        `Output ${output.index}: ${output.content_type}, ${size(output.size_bytes)}`,
      );
      if (!url) return element('figure', {}, caption);
      const image = element('img', { src: url, alt: `Output ${output.index} of job ${job.id}` });
      return element(
        'figure',
        {},
        element('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, image),
        caption,
      );
    }),
  );
}

ui.jobCancel.addEventListener('click', async () => {
  if (!watchedId) return;
  const id = watchedId;
  ui.jobCancel.disabled = true;
  try {
    renderJob(await cancelJob(id));
    void showJobs();
  } catch (error) {
    say(ui.jobState, describe(error), true);
  } finally {
    ui.jobCancel.disabled = false;
  }
});

// --- The job list ---------------------------------------------------------------------------

/** @type {{ filters: JobFilters, nextToken?: string, controller?: AbortController }} */
const list = { filters: {} };

/** @returns {JobFilters} */
function filtersFromForm() {
  const form = new FormData(ui.filters);
  const text = (/** @type {string} */ name) => String(form.get(name) ?? '').trim();
  /** `datetime-local` is the person's local time; the API wants an instant. @param {string} name */
  const instant = (name) => {
    const value = text(name);
    const date = new Date(value);
    return value && !Number.isNaN(date.getTime()) ? date.toISOString() : undefined;
  };
  /** @type {JobFilters} */
  const filters = { status: form.getAll('status').map(String) };
  for (const name of /** @type {const} */ (['caller_reference', 'batch_id'])) {
    if (text(name)) filters[name] = text(name);
  }
  for (const name of /** @type {const} */ (['created_after', 'created_before'])) {
    const value = instant(name);
    if (value) filters[name] = value;
  }
  return filters;
}

/**
 * Loads the first page of the list for the current filters, or the next page after it.
 * @param {{ more?: boolean }} [options]
 */
async function showJobs(options = {}) {
  list.controller?.abort();
  const controller = new AbortController();
  list.controller = controller;
  const more = Boolean(options.more && list.nextToken);
  say(ui.jobsStatus, 'Loading…');
  try {
    const page = await listJobs(list.filters, {
      ...(more ? { nextToken: list.nextToken } : {}),
      signal: controller.signal,
    });
    if (!more) ui.jobsBody.replaceChildren();
    ui.jobsBody.append(...page.items.map(jobRow));
    list.nextToken = page.next_token;
    ui.jobsMore.hidden = !page.next_token;
    const shown = ui.jobsBody.rows.length;
    say(
      ui.jobsStatus,
      shown === 0
        ? 'No jobs match.'
        : `${shown} job${shown === 1 ? '' : 's'}${page.next_token ? ', more below' : ''}.`,
    );
    markWatchedRow();
  } catch (error) {
    if (controller.signal.aborted) return;
    say(ui.jobsStatus, describe(error), true);
  }
}

/** @param {JobView} job */
function jobRow(job) {
  const prompt = job.input.prompt;
  return element(
    'tr',
    { 'data-id': job.id },
    element('td', {}, when(job.created_at)),
    element('td', {}, element('span', { class: 'badge', 'data-status': job.status }, job.status)),
    element('td', { class: 'prompt', title: prompt }, prompt),
    element('td', {}, job.caller_reference ?? ''),
    element(
      'td',
      {},
      element(
        'button',
        { type: 'button', 'data-open': job.id, 'aria-label': `Open job ${job.id}` },
        job.id.slice(0, 8),
      ),
    ),
  );
}

function markWatchedRow() {
  for (const row of ui.jobsBody.rows) row.classList.toggle('watched', row.dataset.id === watchedId);
}

ui.jobsBody.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-open]') : null;
  const id = button?.getAttribute('data-open');
  if (id) void watch(id);
});

ui.filters.addEventListener('submit', (event) => {
  event.preventDefault();
  list.filters = filtersFromForm();
  void showJobs();
});

ui.filters.addEventListener('reset', () => {
  // `reset` fires before the fields are cleared.
  setTimeout(() => {
    list.filters = {};
    void showJobs();
  });
});

ui.jobsMore.addEventListener('click', () => void showJobs({ more: true }));

// --- Token and start ------------------------------------------------------------------------

ui.token.value = token.get();
ui.tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  token.set(ui.token.value);
  ui.token.value = token.get();
  void showJobs();
  if (watchedId) void watch(watchedId);
});

/** `#/edits/<id>` opens that job, so a reload or a shared link shows it again. */
function openFromLocation() {
  const id = /^#\/edits\/([^/]+)$/.exec(location.hash)?.[1];
  if (!id) return;
  const decoded = decodeURIComponent(id);
  if (decoded !== watchedId) void watch(decoded);
}

window.addEventListener('hashchange', openFromLocation);
openFromLocation();
void showJobs();
