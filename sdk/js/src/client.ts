/** NanoBananaAPI: configuration, the HTTP transport with its retry rules, and one method per
 * endpoint of the API. */

import { camelize, snakeParams } from './case.js'
import {
  APIConnectionError,
  APITimeoutError,
  ConflictError,
  NanoBananaError,
  ProcessingError,
  TaskCancelledError,
  TaskTimeoutError,
  errorFromResponse,
  retryAfterSeconds,
} from './errors.js'
import { abortError, randomUUID, readEnv, sleep } from './runtime.js'
import type {
  Account,
  Batch,
  BatchEditParams,
  BatchSubmitted,
  CreateWebhookParams,
  EditImageParams,
  EnhanceParams,
  ImageResult,
  ListTasksParams,
  RemoveBackgroundParams,
  RemoveBackgroundResult,
  ResponseMeta,
  StyleTransferParams,
  Task,
  TaskAccepted,
  TasksPage,
  TextToImageParams,
  UpdateWebhookParams,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from './types.js'
import { buildBody, isUrl } from './uploads.js'
import { VERSION } from './version.js'

export const DEFAULT_BASE_URL = 'https://api.nanobanana.ai/v1'
export const API_KEY_ENV = 'NANOBANANA_API_KEY'
export const BASE_URL_ENV = 'NANOBANANA_BASE_URL'
/** Per attempt. An image call may be held by the server for its sync wait (30 s) before it
 * answers 202, so this comfortably exceeds that. */
export const DEFAULT_TIMEOUT_MS = 120_000
export const DEFAULT_MAX_RETRIES = 2
/** How long waiting for a task (or batch) lasts at most unless told otherwise: the server's
 * hard limit per task is 10 minutes. */
export const DEFAULT_WAIT_TIMEOUT_MS = 600_000

const INITIAL_RETRY_DELAY_MS = 500
const MAX_RETRY_DELAY_MS = 8_000
const MAX_RETRY_AFTER_S = 60
const RETRY_STATUSES = new Set([429, 503])
const POLL_INITIAL_INTERVAL_MS = 500
const POLL_MAX_INTERVAL_MS = 2_000
const FINISHED = new Set(['completed', 'failed', 'cancelled'])
const BATCH_RUNNING = new Set(['pending', 'processing'])

type Fetch = (input: string, init: RequestInit) => Promise<Response>

export interface ClientOptions {
  /** Defaults to the `NANOBANANA_API_KEY` environment variable where there is one. */
  apiKey?: string
  /** Defaults to `NANOBANANA_BASE_URL`, else `https://api.nanobanana.ai/v1`. A URL naming only
   * the host (`http://127.0.0.1:8000`) means its `/v1`. */
  baseURL?: string
  /** Milliseconds per attempt (default 120 000). */
  timeout?: number
  /** Retries of connection errors, 429 and 503 (default 2). */
  maxRetries?: number
  /** Sent with every request. */
  defaultHeaders?: Record<string, string>
  /** `Accept-Language` for the errors' texts (`en`, `zh-CN`…); codes never change. */
  language?: string
  /** A fetch implementation (default: the global one). */
  fetch?: Fetch
}

/** Per-call options of every method. */
export interface RequestOptions {
  /** Milliseconds per attempt; overrides the client's. */
  timeout?: number
  maxRetries?: number
  signal?: AbortSignal
  headers?: Record<string, string>
  /** POSTs: the Idempotency-Key, the same on every retry (a fresh UUID per call by default).
   * `null` sends none, and then the POST is never retried. */
  idempotencyKey?: string | null
}

/** Called whenever a waited-for task's status or progress changes. */
export type ProgressCallback = (task: Task) => unknown

/** Options of the image operations. */
export interface OperationOptions extends RequestOptions {
  /** `false` asks for the 202 at once (`Prefer: respond-async`) and returns TaskAccepted. By
   * default the finished result is returned: the server waits up to 30 s, and when it answers
   * 202 anyway the task is polled until it finishes. */
  wait?: boolean
  /** Milliseconds to poll after a 202 (default 10 minutes). */
  waitTimeout?: number
  onProgress?: ProgressCallback
}

export interface WaitForTaskOptions {
  /** Overall deadline in milliseconds (default 10 minutes). */
  timeout?: number
  signal?: AbortSignal
  onProgress?: ProgressCallback
  /** On expiry, cancel the task (refunding it) before throwing TaskTimeoutError. */
  cancelOnTimeout?: boolean
  /** Milliseconds between polls (default: from 500, ×1.5, at most 2000). */
  pollInterval?: number
  /** Throw ProcessingError for a failed task and TaskCancelledError for a cancelled one
   * (default true); `false` returns them. */
  throwOnFailure?: boolean
}

interface Call extends RequestOptions {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  path: string
  query?: Record<string, unknown>
  json?: unknown
  form?: FormData
}

interface Answer<T> {
  data: T
  status: number
  headers: Headers
}

type WithWait<O> = O & { wait?: true | undefined }
type NoWait<O> = O & { wait: false }

interface OperationSpec {
  path: string
  imageFields: readonly string[]
  mask?: boolean
}

const IMAGE_EDIT: OperationSpec = { path: '/image-edit', imageFields: ['image_url'] }
const REMOVE_BACKGROUND: OperationSpec = {
  path: '/remove-background',
  imageFields: ['image_url'],
  mask: true,
}
const TEXT_TO_IMAGE: OperationSpec = { path: '/text-to-image', imageFields: [] }
const STYLE_TRANSFER: OperationSpec = {
  path: '/style-transfer',
  imageFields: ['content_image_url', 'style_image_url'],
}
const ENHANCE: OperationSpec = { path: '/enhance', imageFields: ['image_url'] }

/**
 * The Nano Banana API.
 *
 * ```ts
 * const client = new NanoBananaAPI({ apiKey: 'nk_live_…' }) // or NANOBANANA_API_KEY
 * const result = await client.editImage({ prompt: '将背景改为海滩', imageUrl: 'photo.jpg' })
 * console.log(result.imageUrl)
 * ```
 */
export class NanoBananaAPI {
  readonly baseURL: string
  readonly timeout: number
  readonly maxRetries: number
  readonly #apiKey: string
  readonly #defaultHeaders: Record<string, string>
  readonly #fetch: Fetch

  constructor(options: ClientOptions = {}) {
    const apiKey = options.apiKey ?? readEnv(API_KEY_ENV)
    if (!apiKey) {
      throw new NanoBananaError(
        `No API key: pass { apiKey } or set the ${API_KEY_ENV} environment variable`,
      )
    }
    this.#apiKey = apiKey
    this.baseURL = apiRoot(options.baseURL ?? readEnv(BASE_URL_ENV) ?? DEFAULT_BASE_URL)
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT_MS
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES
    if (!(this.maxRetries >= 0)) throw new RangeError('maxRetries must be 0 or more')
    this.#defaultHeaders = {
      Accept: 'application/json',
      'User-Agent': `nanobanana-js/${VERSION}`,
      ...(options.language ? { 'Accept-Language': options.language } : {}),
      ...options.defaultHeaders,
    }
    const fetchImpl = options.fetch ?? (globalThis.fetch as Fetch | undefined)
    if (typeof fetchImpl !== 'function') {
      throw new NanoBananaError('No fetch: use Node ≥ 18 or pass { fetch }')
    }
    this.#fetch = (input, init) => fetchImpl(input, init)
  }

  /** The API key (a getter, so logging the client does not print it). */
  get apiKey(): string {
    return this.#apiKey
  }

  // --- Image operations -----------------------------------------------------------------

  /** `POST /v1/image-edit`: edit `imageUrl` (a URL, Blob, bytes or file path) as `prompt` says. */
  editImage(params: EditImageParams, options: NoWait<OperationOptions>): Promise<TaskAccepted>
  editImage(params: EditImageParams, options?: WithWait<OperationOptions>): Promise<ImageResult>
  editImage(params: EditImageParams, options: OperationOptions = {}) {
    return this.#operation(IMAGE_EDIT, params, options)
  }

  /** `POST /v1/remove-background`: a PNG with a transparent background (and the mask when
   * `returnMask` is true). */
  removeBackground(
    params: RemoveBackgroundParams,
    options: NoWait<OperationOptions>,
  ): Promise<TaskAccepted>
  removeBackground(
    params: RemoveBackgroundParams,
    options?: WithWait<OperationOptions>,
  ): Promise<RemoveBackgroundResult>
  removeBackground(params: RemoveBackgroundParams, options: OperationOptions = {}) {
    return this.#operation(REMOVE_BACKGROUND, params, options)
  }

  /** `POST /v1/text-to-image`. */
  textToImage(params: TextToImageParams, options: NoWait<OperationOptions>): Promise<TaskAccepted>
  textToImage(params: TextToImageParams, options?: WithWait<OperationOptions>): Promise<ImageResult>
  textToImage(params: TextToImageParams, options: OperationOptions = {}) {
    return this.#operation(TEXT_TO_IMAGE, params, options)
  }

  /** `POST /v1/style-transfer`: the style of `styleImageUrl` applied to `contentImageUrl`. */
  styleTransfer(
    params: StyleTransferParams,
    options: NoWait<OperationOptions>,
  ): Promise<TaskAccepted>
  styleTransfer(
    params: StyleTransferParams,
    options?: WithWait<OperationOptions>,
  ): Promise<ImageResult>
  styleTransfer(params: StyleTransferParams, options: OperationOptions = {}) {
    return this.#operation(STYLE_TRANSFER, params, options)
  }

  /** `POST /v1/enhance`: upscale, denoise or colour. */
  enhance(params: EnhanceParams, options: NoWait<OperationOptions>): Promise<TaskAccepted>
  enhance(params: EnhanceParams, options?: WithWait<OperationOptions>): Promise<ImageResult>
  enhance(params: EnhanceParams, options: OperationOptions = {}) {
    return this.#operation(ENHANCE, params, options)
  }

  /**
   * `POST /v1/batch-edit` (JSON only: `imageUrls` are URLs). By default the batch is then
   * polled until every task finished and returned as `getBatch` shows it; `wait: false`
   * returns the submit answer at once.
   */
  batchEdit(params: BatchEditParams, options: NoWait<OperationOptions>): Promise<BatchSubmitted>
  batchEdit(params: BatchEditParams, options?: WithWait<OperationOptions>): Promise<Batch>
  async batchEdit(
    params: BatchEditParams,
    options: OperationOptions = {},
  ): Promise<Batch | BatchSubmitted> {
    const nonUrl = (params.imageUrls ?? []).find((url) => !isUrl(url))
    if (nonUrl !== undefined) {
      throw new TypeError(
        `imageUrls: batch edits take http(s)/data: URLs only, not ${JSON.stringify(nonUrl)}`,
      )
    }
    const answer = await this.#request<BatchSubmitted>({
      ...options,
      method: 'POST',
      path: '/batch-edit',
      json: snakeParams(params),
    })
    const submitted = withMeta(answer)
    if (options.wait === false) return submitted
    const deadline = Date.now() + (options.waitTimeout ?? DEFAULT_WAIT_TIMEOUT_MS)
    let interval = POLL_INITIAL_INTERVAL_MS
    for (;;) {
      const batch = await this.getBatch(submitted.batchId, { signal: options.signal })
      if (!BATCH_RUNNING.has(batch.status)) {
        // The submit's headers: what the batch was charged and what was left.
        return { ...batch, ...metaOf(submitted) }
      }
      const remaining = deadline - Date.now()
      if (remaining <= 0) {
        throw new TaskTimeoutError(
          `batch ${submitted.batchId} did not finish within the wait timeout`,
          { taskId: submitted.batchId, cancelled: false, task: batch },
        )
      }
      await sleep(Math.min(interval, remaining), options.signal)
      interval = Math.min(interval * 1.5, POLL_MAX_INTERVAL_MS)
    }
  }

  async #operation(
    spec: OperationSpec,
    params: object,
    options: OperationOptions,
  ): Promise<ImageResult | RemoveBackgroundResult | TaskAccepted> {
    const { json, form } = await buildBody(snakeParams(params), spec.imageFields)
    const headers = { ...options.headers, ...(options.wait === false ? { Prefer: 'respond-async' } : {}) }
    const answer = await this.#request<ImageResult | TaskAccepted>({
      ...options,
      headers,
      method: 'POST',
      path: spec.path,
      ...(form ? { form } : { json }),
    })
    const first = withMeta(answer)
    if (answer.status !== 202 || options.wait === false) return first
    const task = await this.waitForTask(first.taskId, {
      timeout: options.waitTimeout,
      signal: options.signal,
      onProgress: options.onProgress,
    })
    const result: ImageResult = {
      success: true,
      taskId: task.taskId,
      imageUrl: task.result?.imageUrl ?? '',
      description: task.result?.description ?? '',
      processingTime: null,
      ...metaOf(first),
      creditsUsed: first.creditsUsed,
    }
    return spec.mask ? { ...result, maskUrl: task.result?.maskUrl ?? null } : result
  }

  // --- Tasks ------------------------------------------------------------------------------

  /** `GET /v1/task/{taskId}`: status, progress, result or error. */
  async getTaskStatus(taskId: string, options: RequestOptions = {}): Promise<Task> {
    return withMeta(
      await this.#request<Task>({ ...options, method: 'GET', path: `/task/${segment(taskId)}` }),
    )
  }

  /** `POST /v1/task/{taskId}/cancel`: a pending task is cancelled and refunded; a running or
   * finished one throws ConflictError (`TASK_NOT_CANCELLABLE`). */
  async cancelTask(taskId: string, options: RequestOptions = {}): Promise<Task> {
    return withMeta(
      await this.#request<Task>({
        ...options,
        method: 'POST',
        path: `/task/${segment(taskId)}/cancel`,
      }),
    )
  }

  /** `GET /v1/batch/{batchId}`. */
  async getBatch(batchId: string, options: RequestOptions = {}): Promise<Batch> {
    return withMeta(
      await this.#request<Batch>({ ...options, method: 'GET', path: `/batch/${segment(batchId)}` }),
    )
  }

  /** One page of `GET /v1/tasks` (newest first). */
  async listTasksPage(params: ListTasksParams = {}, options: RequestOptions = {}): Promise<TasksPage> {
    const query = snakeParams({
      ...params,
      createdAfter: iso(params.createdAfter),
      createdBefore: iso(params.createdBefore),
    })
    return withMeta(await this.#request<TasksPage>({ ...options, method: 'GET', path: '/tasks', query }))
  }

  /**
   * Every task of `GET /v1/tasks` (newest first), fetching the pages as they are needed:
   * `for await (const task of client.listTasks({ status: 'completed' })) …`, or
   * `for await (const page of client.listTasks().pages()) …`.
   */
  listTasks(params: ListTasksParams = {}, options: RequestOptions = {}): TaskList {
    return new TaskList((page) => this.listTasksPage(page, options), params)
  }

  /**
   * Polls `GET /v1/task/{taskId}` until the task finishes or `timeout` ms pass overall.
   * `onProgress(task)` is called whenever status or progress changes. On expiry it throws
   * TaskTimeoutError, after cancelling the task when `cancelOnTimeout` is set (the error's
   * `cancelled` says whether that worked: a running task cannot be cancelled).
   */
  async waitForTask(taskId: string, options: WaitForTaskOptions = {}): Promise<Task> {
    const total = options.timeout ?? DEFAULT_WAIT_TIMEOUT_MS
    const deadline = Date.now() + total
    const signal = options.signal
    let interval = options.pollInterval ?? POLL_INITIAL_INTERVAL_MS
    let seen = ''
    let task: Task
    for (;;) {
      const remaining = deadline - Date.now()
      task = await this.getTaskStatus(taskId, {
        signal,
        // A poll never outlives the deadline by more than a moment.
        timeout: Math.max(Math.min(this.timeout, remaining), 1_000),
      })
      const state = `${task.status}:${task.progress}`
      if (options.onProgress && state !== seen) {
        seen = state
        await options.onProgress(task)
      }
      if (FINISHED.has(task.status)) break
      const left = deadline - Date.now()
      if (left <= 0) {
        let cancelled = false
        let note = ''
        if (options.cancelOnTimeout) {
          try {
            task = await this.cancelTask(taskId, { signal })
            cancelled = true
            note = '; it was cancelled (credits refunded)'
          } catch (error) {
            if (!(error instanceof ConflictError)) throw error
            note = `; it could not be cancelled (${error.details ?? error.message})`
          }
        }
        throw new TaskTimeoutError(
          `task ${taskId} did not finish within ${total} ms ` +
            `(status ${task.status}, progress ${task.progress}%)${note}`,
          { taskId, cancelled, task },
        )
      }
      await sleep(Math.min(interval, left), signal)
      if (options.pollInterval === undefined) {
        interval = Math.min(interval * 1.5, POLL_MAX_INTERVAL_MS)
      }
    }
    if (options.throwOnFailure !== false) throwForTask(task)
    return task
  }

  // --- Account ----------------------------------------------------------------------------

  /** `GET /v1/account`: plan, credits and limits. */
  async getAccount(options: RequestOptions = {}): Promise<Account> {
    return withMeta(await this.#request<Account>({ ...options, method: 'GET', path: '/account' }))
  }

  // --- Webhook endpoints ------------------------------------------------------------------

  /** `POST /v1/webhooks`: register a callback URL; the answer carries its signing `secret`. */
  async createWebhook(
    params: CreateWebhookParams,
    options: RequestOptions = {},
  ): Promise<WebhookEndpointWithSecret> {
    return withMeta(
      await this.#request<WebhookEndpointWithSecret>({
        ...options,
        method: 'POST',
        path: '/webhooks',
        json: snakeParams(params),
      }),
    )
  }

  /** `GET /v1/webhooks`: the account's endpoints, oldest first (without secrets). */
  async listWebhooks(options: RequestOptions = {}): Promise<WebhookEndpoint[]> {
    const answer = await this.#request<{ webhooks: WebhookEndpoint[] }>({
      ...options,
      method: 'GET',
      path: '/webhooks',
    })
    return answer.data.webhooks
  }

  /** `GET /v1/webhooks/{id}`, with its secret. */
  async getWebhook(id: string, options: RequestOptions = {}): Promise<WebhookEndpointWithSecret> {
    return withMeta(
      await this.#request<WebhookEndpointWithSecret>({
        ...options,
        method: 'GET',
        path: `/webhooks/${segment(id)}`,
      }),
    )
  }

  /** `PATCH /v1/webhooks/{id}`: switch it off or on, or change its description. */
  async updateWebhook(
    id: string,
    params: UpdateWebhookParams,
    options: RequestOptions = {},
  ): Promise<WebhookEndpoint> {
    return withMeta(
      await this.#request<WebhookEndpoint>({
        ...options,
        method: 'PATCH',
        path: `/webhooks/${segment(id)}`,
        json: snakeParams(params),
      }),
    )
  }

  /** `DELETE /v1/webhooks/{id}`, with its delivery log. */
  async deleteWebhook(id: string, options: RequestOptions = {}): Promise<void> {
    await this.#request<null>({ ...options, method: 'DELETE', path: `/webhooks/${segment(id)}` })
  }

  /** `POST /v1/webhooks/{id}/rotate-secret`: a new secret; for 24 h every message carries
   * signatures under both, so receivers can switch at their own pace. */
  async rotateWebhookSecret(
    id: string,
    options: RequestOptions = {},
  ): Promise<WebhookEndpointWithSecret> {
    return withMeta(
      await this.#request<WebhookEndpointWithSecret>({
        ...options,
        method: 'POST',
        path: `/webhooks/${segment(id)}/rotate-secret`,
      }),
    )
  }

  /** `GET /v1/webhooks/{id}/deliveries`: the 50 most recent deliveries, newest first. */
  async listWebhookDeliveries(id: string, options: RequestOptions = {}): Promise<WebhookDelivery[]> {
    const answer = await this.#request<{ deliveries: WebhookDelivery[] }>({
      ...options,
      method: 'GET',
      path: `/webhooks/${segment(id)}/deliveries`,
    })
    return answer.data.deliveries
  }

  /** `POST /v1/webhooks/deliveries/{deliveryId}/redeliver`: a new series of attempts with the
   * same `webhook-id` and body. */
  async redeliverWebhook(deliveryId: string, options: RequestOptions = {}): Promise<WebhookDelivery> {
    return withMeta(
      await this.#request<WebhookDelivery>({
        ...options,
        method: 'POST',
        path: `/webhooks/deliveries/${segment(deliveryId)}/redeliver`,
      }),
    )
  }

  // --- Transport --------------------------------------------------------------------------

  /**
   * Sends one call, retrying connection errors, timeouts, 429 and 503 (at most `maxRetries`
   * times; backoff from 0.5 s doubling to 8 s with jitter, or the server's Retry-After when it
   * asks for ≤ 60 s). A POST carries an Idempotency-Key, the same on every attempt, so a retry
   * is answered with the first attempt's result instead of running or charging again; a POST
   * without one is never retried.
   */
  async #request<T>(call: Call): Promise<Answer<T>> {
    const url = this.#url(call.path, call.query)
    const headers: Record<string, string> = {
      ...this.#defaultHeaders,
      Authorization: `Bearer ${this.#apiKey}`,
      ...call.headers,
    }
    let body: string | FormData | undefined
    if (call.form) body = call.form
    else if (call.json !== undefined) {
      body = JSON.stringify(call.json)
      headers['Content-Type'] = 'application/json'
    }
    let idempotencyKey = call.idempotencyKey
    if (call.method === 'POST' && idempotencyKey === undefined) idempotencyKey = await randomUUID()
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey
    const retryable = call.method !== 'POST' || Boolean(idempotencyKey)
    const maxRetries = call.maxRetries ?? this.maxRetries
    const timeout = call.timeout ?? this.timeout

    for (let attempt = 0; ; attempt++) {
      const canRetry = retryable && attempt < maxRetries
      let outcome: { status: number; headers: Headers; text: string }
      try {
        outcome = await this.#attempt(url, { method: call.method, headers, body }, timeout, call.signal)
      } catch (error) {
        if (!(error instanceof APIConnectionError) || !canRetry) throw error
        await sleep(backoff(attempt), call.signal)
        continue
      }
      const { status, headers: answerHeaders, text } = outcome
      if (status < 400) {
        const data = text ? camelize<T>(JSON.parse(text)) : (null as T)
        return { data, status, headers: answerHeaders }
      }
      if (canRetry && RETRY_STATUSES.has(status)) {
        const asked = retryAfterSeconds(answerHeaders)
        if (asked === undefined || asked <= MAX_RETRY_AFTER_S) {
          await sleep(asked === undefined ? backoff(attempt) : asked * 1000, call.signal)
          continue
        }
      }
      throw errorFromResponse(status, answerHeaders, text)
    }
  }

  /** One attempt: its answer read in full within `timeout`, or an APIConnectionError /
   * APITimeoutError / APIUserAbortError. */
  async #attempt(
    url: string,
    init: { method: string; headers: Record<string, string>; body: string | FormData | undefined },
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; headers: Headers; text: string }> {
    if (signal?.aborted) throw abortError(signal)
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeout)
    const onAbort = () => controller.abort()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const response = await this.#fetch(url, {
        method: init.method,
        headers: init.headers,
        ...(init.body === undefined ? {} : { body: init.body }),
        signal: controller.signal,
      })
      const text = await response.text()
      return { status: response.status, headers: response.headers, text }
    } catch (error) {
      if (signal?.aborted) throw abortError(signal)
      if (timedOut) {
        throw new APITimeoutError(`Request timed out after ${timeout} ms: ${init.method} ${url}`, {
          cause: error,
        })
      }
      const reason = error instanceof Error ? describeCause(error) : String(error)
      throw new APIConnectionError(`Connection error: ${init.method} ${url}: ${reason}`, {
        cause: error,
      })
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  #url(path: string, query?: Record<string, unknown>): string {
    const url = this.baseURL + path
    if (!query) return url
    const search = new URLSearchParams()
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) search.append(key, String(value))
    }
    const text = search.toString()
    return text ? `${url}?${text}` : url
  }
}

/** What `listTasks` returns: an async iterable over every task of every page. */
export class TaskList implements AsyncIterable<Task> {
  readonly #fetchPage: (params: ListTasksParams) => Promise<TasksPage>
  readonly #params: ListTasksParams

  constructor(fetchPage: (params: ListTasksParams) => Promise<TasksPage>, params: ListTasksParams) {
    this.#fetchPage = fetchPage
    this.#params = params
  }

  /** Every page, fetched as the loop asks for it (`starting_after` = the last task id). */
  async *pages(): AsyncGenerator<TasksPage, void, undefined> {
    let params = this.#params
    for (;;) {
      const page = await this.#fetchPage(params)
      yield page
      const last = page.data[page.data.length - 1]
      if (!page.hasMore || last === undefined) return
      params = { ...params, startingAfter: last.taskId }
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Task, void, undefined> {
    for await (const page of this.pages()) yield* page.data
  }

  /** Every task in one array (at most `limit` of them, when given). */
  async toArray(limit = Infinity): Promise<Task[]> {
    const out: Task[] = []
    for await (const task of this) {
      if (out.length >= limit) break
      out.push(task)
    }
    return out
  }
}

/** ProcessingError for a failed task, TaskCancelledError for a cancelled one. */
function throwForTask(task: Task): void {
  if (task.status === 'failed') {
    throw new ProcessingError(task.error?.message || 'Image processing failed', {
      code: task.error?.code || 'PROCESSING_ERROR',
      details: `task ${task.taskId} failed; its credits were refunded`,
      requestId: task.requestId,
      taskId: task.taskId,
    })
  }
  if (task.status === 'cancelled') {
    throw new TaskCancelledError(`task ${task.taskId} was cancelled`, { taskId: task.taskId })
  }
}

/** The answer's body with what its headers said. */
function withMeta<T extends object>(answer: Answer<T>): T & ResponseMeta {
  const meta: ResponseMeta = {}
  const requestId = answer.headers.get('x-request-id')
  if (requestId) meta.requestId = requestId
  const used = answer.headers.get('x-credits-used')
  if (used !== null && used !== '' && Number.isFinite(Number(used))) meta.creditsUsed = Number(used)
  const remaining = answer.headers.get('x-credits-remaining')
  if (remaining === 'unlimited') meta.creditsRemaining = 'unlimited'
  else if (remaining !== null && remaining !== '' && Number.isFinite(Number(remaining))) {
    meta.creditsRemaining = Number(remaining)
  }
  return { ...answer.data, ...meta }
}

function metaOf(value: ResponseMeta): ResponseMeta {
  const meta: ResponseMeta = {}
  if (value.requestId !== undefined) meta.requestId = value.requestId
  if (value.creditsUsed !== undefined) meta.creditsUsed = value.creditsUsed
  if (value.creditsRemaining !== undefined) meta.creditsRemaining = value.creditsRemaining
  return meta
}

/** Exponential backoff with jitter (up to −25 %), so many clients retrying together spread out. */
function backoff(attempt: number): number {
  const delay = Math.min(INITIAL_RETRY_DELAY_MS * 2 ** attempt, MAX_RETRY_DELAY_MS)
  return delay * (1 - 0.25 * Math.random())
}

/** The API root without a trailing slash; `/v1` is added when the URL names only the host. */
function apiRoot(url: string): string {
  const trimmed = url.replace(/\/+$/, '')
  return /\/v1$/.test(trimmed) ? trimmed : `${trimmed}/v1`
}

function segment(id: string): string {
  if (typeof id !== 'string' || id === '') throw new TypeError('An id must be a non-empty string')
  return encodeURIComponent(id)
}

function iso(moment: Date | string | undefined): string | undefined {
  return moment instanceof Date ? moment.toISOString() : moment
}

/** undici hides the useful part ("ECONNREFUSED") in `cause`. */
function describeCause(error: Error): string {
  const cause = (error as { cause?: unknown }).cause
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    return `${error.message} (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})`
  }
  return error.message
}
