/**
 * The settings of `npm start` itself, beside the functions' (`ENV`): README "Configuration
 * (environment)" documents both (a test checks it names every one).
 */
export const RUNTIME_ENV = {
  /** The HTTP API's port. */
  port: 'PORT',
  /** Redeliver failed SQS messages after this many seconds instead of the visibility timeout. */
  retryDelaySeconds: 'LOCAL_RETRY_DELAY_SECONDS',
  /** Where the running stack is described. */
  stackFile: 'LOCAL_STACK_FILE',
  /** `none` (default) or `jwt`: bearer tokens of a local issuer, verified as API Gateway does. */
  apiAuth: 'API_AUTH',
  /** In JWT mode: the `iss` of the local tokens. */
  jwtIssuer: 'LOCAL_JWT_ISSUER',
  /** In JWT mode: the accepted audiences, comma-separated; tokens are minted for the first. */
  jwtAudience: 'LOCAL_JWT_AUDIENCE',
} as const;
