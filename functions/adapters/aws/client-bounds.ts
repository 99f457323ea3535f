import { AWS_CALLS, EMULATOR_REQUEST_TIMEOUT_MS } from '#contract/budgets';

/**
 * Every SDK client: bounded attempts, each bounded in time (the SDK's own defaults wait forever).
 * An emulator (one Python process, on a busy laptop) answers far slower than AWS, so its calls get
 * a longer bound (the construct never sets an endpoint).
 */
export const bounded = (
  requestTimeout: number = AWS_CALLS.requestTimeoutMs,
  env: NodeJS.ProcessEnv = process.env,
) =>
  ({
    maxAttempts: AWS_CALLS.maxAttempts,
    requestHandler: {
      connectionTimeout: AWS_CALLS.connectionTimeoutMs,
      requestTimeout: env.AWS_ENDPOINT_URL
        ? Math.max(requestTimeout, EMULATOR_REQUEST_TIMEOUT_MS)
        : requestTimeout,
      throwOnRequestTimeout: true,
    },
  }) as const;
