/** nanobanana-js: the official client for the Nano Banana image API. */

export {
  API_KEY_ENV,
  BASE_URL_ENV,
  DEFAULT_BASE_URL,
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_WAIT_TIMEOUT_MS,
  NanoBananaAPI,
  TaskList,
} from './client.js'
export type {
  ClientOptions,
  OperationOptions,
  ProgressCallback,
  RequestOptions,
  WaitForTaskOptions,
} from './client.js'
export {
  APIConnectionError,
  APIError,
  APITimeoutError,
  APIUserAbortError,
  ConflictError,
  FileTooLargeError,
  InsufficientCreditsError,
  InvalidApiKeyError,
  InvalidRequestError,
  NanoBananaError,
  NotFoundError,
  ProcessingError,
  RateLimitError,
  TaskCancelledError,
  TaskTimeoutError,
  TemporaryUnavailableError,
  UnsupportedFormatError,
  WebhookVerificationError,
} from './errors.js'
export type { ErrorInit } from './errors.js'
export * from './types.js'
export { MAX_FILE_SIZE_BYTES } from './uploads.js'
export { VERSION } from './version.js'
export { DEFAULT_WEBHOOK_TOLERANCE_SECONDS, verifyWebhook } from './webhooks.js'
export type { VerifyWebhookOptions, WebhookHeaders } from './webhooks.js'

import { NanoBananaAPI } from './client.js'
export default NanoBananaAPI
