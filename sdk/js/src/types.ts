/** The API's parameters and answers, in camelCase (the wire format is snake_case). */

/** An image to send: an `http(s)://` or `data:image/…;base64,` URL goes in the JSON body as is;
 * a `Blob`/`File`, bytes (`Uint8Array`, Node's `Buffer`, `ArrayBuffer`) or, on Node/Bun/Deno,
 * a local file path (or `file:` URL) is uploaded as multipart. */
export type ImageInput = string | URL | Blob | Uint8Array | ArrayBuffer

export type TaskStatus = 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled'
export type BatchStatus = 'pending' | 'processing' | 'completed' | 'partial' | 'failed'
export type OutputFormat = 'jpeg' | 'png'
export type Operation =
  | 'image_edit'
  | 'remove_background'
  | 'text_to_image'
  | 'style_transfer'
  | 'enhance'
  | 'batch_edit'
  | (string & {})

/** What every answer's headers said. */
export interface ResponseMeta {
  /** `X-Request-ID`: quote it to support. */
  requestId?: string
  /** `X-Credits-Used`: what this request was charged (image operations). */
  creditsUsed?: number
  /** `X-Credits-Remaining`: the balance after it, or `'unlimited'` (image operations). */
  creditsRemaining?: number | 'unlimited'
}

// --- Parameters ---------------------------------------------------------------------------

export interface EditImageParams {
  /** The edit, in natural language (Chinese and English both work). */
  prompt: string
  imageUrl: ImageInput
  /** 0.1–1.0, default 0.8. */
  strength?: number
  preserveScene?: boolean
  outputFormat?: OutputFormat
  seed?: number
}

export interface RemoveBackgroundParams {
  imageUrl: ImageInput
  returnMask?: boolean
  edgeSmooth?: boolean
}

export interface TextToImageParams {
  prompt: string
  /** 64–2048, default 512. */
  width?: number
  height?: number
  style?: 'realistic' | 'anime' | 'artistic'
  quality?: 'standard' | 'high'
  outputFormat?: OutputFormat
  seed?: number
}

export interface StyleTransferParams {
  contentImageUrl: ImageInput
  styleImageUrl: ImageInput
  strength?: number
  outputFormat?: OutputFormat
  seed?: number
}

export interface EnhanceParams {
  imageUrl: ImageInput
  enhancementType?: 'upscale' | 'denoise' | 'color'
  upscaleFactor?: 2 | 4
  outputFormat?: OutputFormat
}

export interface BatchEditParams {
  prompt: string
  /** URLs only (`http(s)://` or `data:`): the batch endpoint takes JSON. */
  imageUrls: string[]
  preserveCharacter?: boolean
  styleConsistency?: boolean
  outputFormat?: OutputFormat
  seed?: number
}

export interface ListTasksParams {
  /** Tasks per page, 1–100 (default 20). */
  limit?: number
  /** Start after this task id (the last one of the previous page). */
  startingAfter?: string
  status?: TaskStatus
  operation?: Operation
  createdAfter?: Date | string
  createdBefore?: Date | string
}

export interface CreateWebhookParams {
  url: string
  description?: string
}

export interface UpdateWebhookParams {
  isActive?: boolean
  description?: string
}

// --- Answers -------------------------------------------------------------------------------

/** A finished image operation, as in the reference. */
export interface ImageResult extends ResponseMeta {
  success: true
  taskId: string
  imageUrl: string
  description: string
  /** Seconds the work took; null when the SDK polled for the result. */
  processingTime: number | null
  creditsUsed: number
}

export interface RemoveBackgroundResult extends ImageResult {
  /** Null unless `returnMask` was true. */
  maskUrl: string | null
}

/** The 202 answer: the task was queued (`wait: false`, or longer work). */
export interface TaskAccepted extends ResponseMeta {
  success: true
  taskId: string
  status: TaskStatus
  creditsUsed: number
}

export interface TaskResult {
  imageUrl: string
  maskUrl?: string
  description: string
}

export interface TaskError {
  code: string
  message: string
}

/** `GET /v1/task/{id}`. */
export interface Task extends ResponseMeta {
  taskId: string
  status: TaskStatus
  /** 0–100. */
  progress: number
  result: TaskResult | null
  error: TaskError | null
  createdAt: string
  completedAt: string | null
}

export interface TasksPage extends ResponseMeta {
  data: Task[]
  hasMore: boolean
}

export interface BatchSubmitted extends ResponseMeta {
  success: true
  batchId: string
  tasks: { taskId: string; status: TaskStatus }[]
  totalCredits: number
}

/** `GET /v1/batch/{id}`. */
export interface Batch extends ResponseMeta {
  batchId: string
  status: BatchStatus
  counts: Partial<Record<TaskStatus, number>>
  totalCredits: number
  createdAt: string
  tasks: Task[]
}

export interface Account extends ResponseMeta {
  userId: string
  email: string
  subscription: { plan: string; status: string; expiresAt: string | null }
  credits: {
    balance: number
    usedThisMonth: number
    lastRenewed: string | null
    unlimited: boolean
  }
  usageLimits: { maxImagesPerRequest: number; maxFileSizeMb: number; allowedFormats: string[] }
}

export interface WebhookEndpoint extends ResponseMeta {
  id: string
  url: string
  description: string
  isActive: boolean
  /** Why it was switched off automatically; empty otherwise. */
  disabledReason: string
  createdAt: string
}

export interface WebhookEndpointWithSecret extends WebhookEndpoint {
  /** `whsec_…`: verify `webhook-signature` with it (see `verifyWebhook`). */
  secret: string
}

export interface WebhookDelivery extends ResponseMeta {
  /** The message's `webhook-id`. */
  id: string
  endpointId: string
  taskId: string
  type: 'task.completed' | 'task.failed'
  status: 'pending' | 'succeeded' | 'failed'
  attempts: number
  nextAttemptAt: string | null
  lastAttemptAt: string | null
  lastStatusCode: number | null
  lastError: string
  createdAt: string
  /** The body that is POSTed, camelCased like every answer. */
  payload: unknown
}

/** A verified webhook message: the body, camelCased, and its `webhook-id`. */
export interface WebhookEvent {
  /** `webhook-id` (the same on every retry of one message: drop duplicates with it). */
  id: string
  type: 'task.completed' | 'task.failed'
  timestamp: string
  data: Task
}
