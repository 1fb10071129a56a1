/** The SDK's errors: one class per error code of the API, and the transport failures. */

/** What an error answer's envelope and headers said. */
export interface ErrorInit {
  code?: string | undefined
  status?: number | undefined
  details?: string | null | undefined
  requestId?: string | undefined
  headers?: Headers | undefined
  body?: unknown
  cause?: unknown
}

/**
 * Base of every error this SDK throws. `code` is the API's error code (`INVALID_REQUEST`, …),
 * `status` the HTTP status, `message` and `details` the envelope's texts, `requestId` the
 * server's id for the request (quote it to support). Errors raised before anything reached the
 * server leave `status` and `requestId` undefined.
 */
export class NanoBananaError extends Error {
  code: string | undefined
  status: number | undefined
  details: string | null
  requestId: string | undefined
  /** The answer's headers (error answers only). */
  declare headers: Headers | undefined
  /** The answer's decoded body (error answers only). */
  declare body: unknown

  constructor(message: string, init: ErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = new.target.name
    this.code = init.code
    this.status = init.status
    this.details = init.details ?? null
    this.requestId = init.requestId
    // Not enumerable: logging an error shows its code, status and texts, not every header.
    Object.defineProperty(this, 'headers', { value: init.headers, enumerable: false, writable: true })
    Object.defineProperty(this, 'body', { value: init.body, enumerable: false, writable: true })
  }
}

/** The server answered with an error status (4xx/5xx). */
export class APIError extends NanoBananaError {}

/** 401 `INVALID_API_KEY`: missing, unknown, revoked or expired key. */
export class InvalidApiKeyError extends APIError {}
/** 402 `INSUFFICIENT_CREDITS`: nothing was queued or charged. */
export class InsufficientCreditsError extends APIError {}
/** 400 `INVALID_REQUEST`: `details` names the field. */
export class InvalidRequestError extends APIError {}
/** 404 `NOT_FOUND` (another account's task or batch is 404 too). */
export class NotFoundError extends APIError {}
/** 409: `TASK_NOT_CANCELLABLE` (running or finished) or `IDEMPOTENCY_CONFLICT`. */
export class ConflictError extends APIError {}
/** 415 `UNSUPPORTED_FORMAT`: only JPEG, PNG and WebP are accepted. */
export class UnsupportedFormatError extends APIError {}
/** 500 `PROCESSING_ERROR`, or a task that failed while the SDK waited (credits refunded). */
export class ProcessingError extends APIError {
  taskId: string | undefined
  constructor(message: string, init: ErrorInit & { taskId?: string | undefined } = {}) {
    super(message, init)
    this.taskId = init.taskId
  }
}

/** 413 `FILE_TOO_LARGE`, or refused before upload when no plan would accept the file. */
export class FileTooLargeError extends APIError {
  /** The limit that was exceeded, in bytes, when known. */
  limitBytes: number | undefined
  constructor(message: string, init: ErrorInit & { limitBytes?: number | undefined } = {}) {
    super(message, init)
    this.limitBytes = init.limitBytes
  }
}

/** 429 `RATE_LIMIT_EXCEEDED`; `retryAfter` is the seconds the server asked to wait. */
export class RateLimitError extends APIError {
  retryAfter: number | undefined
  constructor(message: string, init: ErrorInit & { retryAfter?: number | undefined } = {}) {
    super(message, init)
    this.retryAfter = init.retryAfter
  }
}

/** 503 `TEMPORARY_UNAVAILABLE`; `retryAfter` is the seconds the server asked to wait. */
export class TemporaryUnavailableError extends APIError {
  retryAfter: number | undefined
  constructor(message: string, init: ErrorInit & { retryAfter?: number | undefined } = {}) {
    super(message, init)
    this.retryAfter = init.retryAfter
  }
}

/** The request got no answer: DNS, refused or reset connection, TLS… */
export class APIConnectionError extends NanoBananaError {
  constructor(message = 'Connection error.', init: ErrorInit = {}) {
    super(message, init)
  }
}

/** One attempt ran past the client's `timeout` (and the retries, if any, did too). */
export class APITimeoutError extends APIConnectionError {
  constructor(message = 'Request timed out.', init: ErrorInit = {}) {
    super(message, init)
  }
}

/** The caller's `AbortSignal` fired. */
export class APIUserAbortError extends NanoBananaError {
  constructor(message = 'Request was aborted.', init: ErrorInit = {}) {
    super(message, init)
  }
}

/**
 * `waitForTask`'s deadline passed before the task finished. `cancelled` says whether it was
 * cancelled (`cancelOnTimeout: true`; a task a worker is already running cannot be).
 */
export class TaskTimeoutError extends NanoBananaError {
  taskId: string
  cancelled: boolean
  /** The task as last seen. */
  task: unknown
  constructor(message: string, init: { taskId: string; cancelled: boolean; task?: unknown }) {
    super(message, { code: 'TASK_TIMEOUT' })
    this.taskId = init.taskId
    this.cancelled = init.cancelled
    this.task = init.task
  }
}

/** The task was cancelled (and refunded) while the SDK waited for it. */
export class TaskCancelledError extends NanoBananaError {
  taskId: string
  constructor(message: string, init: { taskId: string }) {
    super(message, { code: 'TASK_CANCELLED' })
    this.taskId = init.taskId
  }
}

/** A webhook's signature or timestamp did not check out: do not trust its body. */
export class WebhookVerificationError extends NanoBananaError {}

type APIErrorClass = new (message: string, init: ErrorInit) => APIError

const BY_CODE: Record<string, APIErrorClass> = {
  INVALID_API_KEY: InvalidApiKeyError,
  INSUFFICIENT_CREDITS: InsufficientCreditsError,
  INVALID_REQUEST: InvalidRequestError,
  FILE_TOO_LARGE: FileTooLargeError,
  UNSUPPORTED_FORMAT: UnsupportedFormatError,
  RATE_LIMIT_EXCEEDED: RateLimitError,
  PROCESSING_ERROR: ProcessingError,
  TEMPORARY_UNAVAILABLE: TemporaryUnavailableError,
  NOT_FOUND: NotFoundError,
  IDEMPOTENCY_CONFLICT: ConflictError,
  TASK_NOT_CANCELLABLE: ConflictError,
}

const BY_STATUS: Record<number, APIErrorClass> = {
  400: InvalidRequestError,
  401: InvalidApiKeyError,
  402: InsufficientCreditsError,
  403: InvalidApiKeyError,
  404: NotFoundError,
  409: ConflictError,
  413: FileTooLargeError,
  415: UnsupportedFormatError,
  429: RateLimitError,
  503: TemporaryUnavailableError,
}

/** `Retry-After` in seconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterSeconds(headers: Headers): number | undefined {
  const value = headers.get('retry-after')
  if (value === null || value.trim() === '') return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(seconds, 0)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max((at - Date.now()) / 1000, 0)
}

const LIMIT_BYTES = /(\d{4,})\s*(?:bytes|字节)/

/** The error for an error answer, from the API's envelope
 * (`{"success": false, "error": {"code", "message", "details"}, "request_id"}`). */
export function errorFromResponse(status: number, headers: Headers, text: string): APIError {
  let body: unknown = text
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    // Not JSON (a proxy's HTML page): keep the text.
  }
  const envelope = isObject(body) ? body : undefined
  const error = envelope && isObject(envelope.error) ? envelope.error : undefined
  const code = typeof error?.code === 'string' ? error.code : undefined
  const details = typeof error?.details === 'string' ? error.details : null
  let message =
    (typeof error?.message === 'string' && error.message) ||
    (typeof body === 'string' && body.slice(0, 500)) ||
    `HTTP ${status}`
  const requestId =
    (typeof envelope?.request_id === 'string' ? envelope.request_id : undefined) ??
    headers.get('x-request-id') ??
    undefined
  const Class =
    (code !== undefined ? BY_CODE[code] : undefined) ??
    BY_STATUS[status] ??
    (status >= 500 ? ProcessingError : APIError)
  const init: ErrorInit & { retryAfter?: number; limitBytes?: number; taskId?: string } = {
    code,
    status,
    details,
    requestId,
    headers,
    body,
  }
  if (Class === RateLimitError || Class === TemporaryUnavailableError) {
    const retryAfter = retryAfterSeconds(headers)
    if (retryAfter !== undefined) init.retryAfter = retryAfter
  }
  if (Class === ProcessingError && typeof envelope?.task_id === 'string') {
    init.taskId = envelope.task_id // the operation failed while the request waited
  }
  if (Class === FileTooLargeError) {
    const limit = LIMIT_BYTES.exec(details ?? '')
    if (limit) init.limitBytes = Number(limit[1])
  }
  if (message === '') message = `HTTP ${status}`
  return new Class(message, init)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
