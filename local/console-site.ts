import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';

/** The web console's files: plain HTML, ES modules and CSS, served as they are (no build step). */
export const CONSOLE_DIRECTORY = resolve(import.meta.dirname, 'console');
export const CONSOLE_PATH = '/console/';

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};
// One flat folder of known kinds: no `..`, no dot files, nothing else in the folder (its tsconfig).
const FILE_NAME = /^[a-z0-9][a-z0-9-]*\.(html|js|css|svg)$/;

export interface ConsoleSiteOptions {
  /**
   * Origins of the presigned S3 URLs the console uploads to (PUT) and shows images from: the
   * emulator's, locally. Everything else is same-origin (the API).
   */
  storageOrigins: readonly string[];
  /** @default CONSOLE_DIRECTORY */
  directory?: string;
}

/** Serves one request if it is for the console; returns false to let the API answer it. */
export type ConsoleSite = (request: IncomingMessage, response: ServerResponse) => Promise<boolean>;

/**
 * The web console at `/console/` (and `/` redirecting there), for the local runtime's HTTP API.
 * Its pages may run only their own scripts and styles and talk only to this origin and to
 * storage, so that text a job carries (prompts are user input) can never become code, even if
 * the page rendered it wrongly.
 *
 * @example
 * const site = consoleSite({ storageOrigins: ['http://127.0.0.1:5000'] });
 * if (!(await site(request, response))) answerFromRoutes();
 */
export function consoleSite(options: ConsoleSiteOptions): ConsoleSite {
  const directory = options.directory ?? CONSOLE_DIRECTORY;
  const storage = options.storageOrigins.map((origin) => new URL(origin).origin).join(' ');
  const headers = {
    'content-security-policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      // blob: previews of the files picked, before they are uploaded.
      `img-src 'self' blob: ${storage}`,
      `connect-src 'self' ${storage}`,
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    // The files change with the checkout; a reload must show the current ones.
    'cache-control': 'no-cache',
  };

  return async (request, response) => {
    const method = request.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') return false;
    const { pathname } = new URL(request.url ?? '/', 'http://localhost');
    if (pathname === '/' || pathname === CONSOLE_PATH.slice(0, -1)) {
      request.resume();
      response.writeHead(302, { location: CONSOLE_PATH, 'content-length': 0 });
      response.end();
      return true;
    }
    if (!pathname.startsWith(CONSOLE_PATH)) return false;
    const name = pathname.slice(CONSOLE_PATH.length) || 'index.html';
    const kind = FILE_NAME.exec(name)?.[1];
    if (!kind) return false;
    let body: Buffer;
    try {
      body = await readFile(join(directory, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    request.resume();
    response.writeHead(200, {
      ...headers,
      'content-type': CONTENT_TYPES[kind]!,
      'content-length': body.length,
    });
    response.end(method === 'HEAD' ? undefined : body);
    return true;
  };
}
