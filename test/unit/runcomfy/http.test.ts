import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelayMs, classifyTransportFailure, parseRetryAfterMs } from '#core/runcomfy/http';
import { networkErrors } from './fakes.ts';

describe('Function: backoffDelayMs', () => {
  const policy = (draw: number) => ({ baseMs: 250, maxMs: 8_000, random: () => draw });

  it('doubles the ceiling per retry from the base', () => {
    // Prepare: a draw just below 1 shows the ceiling of each retry
    const ceilings = [0, 1, 2, 3, 4, 5].map((retry) => backoffDelayMs(retry, policy(0.999_999)));

    // Assess
    expect(ceilings).toEqual([249, 499, 999, 1999, 3999, 7999]);
  });

  it('caps the ceiling at maxMs however many retries came before', () => {
    expect(backoffDelayMs(6, policy(0.999_999))).toBe(7999);
    expect(backoffDelayMs(60, policy(0.999_999))).toBe(7999);
    expect(backoffDelayMs(5_000, policy(0.5))).toBe(4000);
  });

  it('draws uniformly below the ceiling (full jitter), down to zero', () => {
    expect(backoffDelayMs(2, policy(0))).toBe(0);
    expect(backoffDelayMs(2, policy(0.5))).toBe(500);
    expect(backoffDelayMs(2, policy(0.25))).toBe(250);
  });

  it('clamps a misbehaving jitter source into [0, ceiling]', () => {
    expect(backoffDelayMs(0, policy(-3))).toBe(0);
    expect(backoffDelayMs(0, policy(7))).toBe(250);
  });
});

describe('Function: parseRetryAfterMs', () => {
  const now = Date.parse('2026-01-02T03:04:05.000Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfterMs('0', now)).toBe(0);
    expect(parseRetryAfterMs('7', now)).toBe(7000);
    expect(parseRetryAfterMs(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfterMs('1.5', now)).toBe(1500);
    expect(parseRetryAfterMs('2026', now)).toBe(2_026_000);
  });

  it('reads an HTTP-date relative to the clock', () => {
    expect(parseRetryAfterMs('Fri, 02 Jan 2026 03:04:15 GMT', now)).toBe(10_000);
  });

  it('treats a date in the past as "now"', () => {
    expect(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:00 GMT', now)).toBe(0);
  });

  it('ignores a missing or unreadable header', () => {
    expect(parseRetryAfterMs(null, now)).toBeUndefined();
    expect(parseRetryAfterMs(undefined, now)).toBeUndefined();
    expect(parseRetryAfterMs('', now)).toBeUndefined();
    expect(parseRetryAfterMs('soon', now)).toBeUndefined();
    expect(parseRetryAfterMs('-1', now)).toBeUndefined();
  });
});

describe('Function: classifyTransportFailure', () => {
  it.each([
    ['connection refused', networkErrors.refused(), 'not_sent'],
    ['DNS failure', networkErrors.dns(), 'not_sent'],
    ['every happy-eyeballs address refused', networkErrors.happyEyeballsRefused(), 'not_sent'],
    ['connection reset', networkErrors.reset(), 'ambiguous'],
    ['socket closed by the server', networkErrors.socketClosed(), 'ambiguous'],
    ['one address refused, one reset', networkErrors.mixed(), 'ambiguous'],
    ['our own timeout', networkErrors.timeout(), 'timeout'],
    ['an error without any code', networkErrors.uncoded(), 'ambiguous'],
    ['something that is not an error', 'boom', 'ambiguous'],
  ])('places %s as %s', (_name, error, expected) => {
    expect(classifyTransportFailure(error)).toBe(expected);
  });

  describe('against real loopback sockets', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      server = undefined;
    });

    const listen = async (handler: Parameters<typeof createServer>[1]) => {
      server = createServer(handler);
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
      return (server.address() as AddressInfo).port;
    };

    it('places a refused connection as not_sent', async () => {
      // Prepare: a port that was just free (listen, then close)
      const port = await listen(() => {});
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      server = undefined;

      // Act
      const error = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }).catch((e) => e);

      // Assess
      expect(classifyTransportFailure(error)).toBe('not_sent');
    });

    it('places a socket destroyed after the request arrived as ambiguous', async () => {
      // Prepare: the server reads the POST, then drops the connection without answering
      const port = await listen((request) => {
        request.resume();
        request.on('end', () => request.socket.destroy());
      });

      // Act
      const error = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }).catch((e) => e);

      // Assess
      expect(classifyTransportFailure(error)).toBe('ambiguous');
    });
  });
});
