/** The least environment a function's configuration accepts (deployed shape: the token comes from a secret). */
export const MINIMAL_FUNCTION_ENV = {
  JOBS_TABLE: 'jobs',
  POLL_QUEUE_URL: 'https://sqs/poll',
  RESULT_QUEUE_URL: 'https://sqs/result',
  OUTPUT_BUCKET: 'bucket',
  TOPIC_ARN: 'arn:aws:sns:us-east-1:1:topic',
  EVENT_BUS_NAME: 'bus',
  RUNCOMFY_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:runcomfy',
} as const;
