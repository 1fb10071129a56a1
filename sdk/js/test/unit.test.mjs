// The SDK's own rules against local fake servers (no live server needed): the wire format,
// uploads, configuration, retries, waiting and webhook signatures.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  APIUserAbortError,
  InvalidRequestError,
  NanoBananaAPI,
  NanoBananaError,
  ProcessingError,
  RateLimitError,
  TaskCancelledError,
  TaskTimeoutError,
  TemporaryUnavailableError,
  WebhookVerificationError,
  verifyWebhook,
} from 'nanobanana-js'

import { listen, png, readBody, writeTemp } from './helpers.mjs'

const SDK = dirname(dirname(fileURLToPath(import.meta.url)))

/** A fake API: `routes['POST /v1/image-edit'] = (req, body, n) => [status, json, headers]`;
 * every request is recorded in `requests`. */
async function fakeApi(routes) {
  const requests = []
  const counts = {}
  const server = await listen(async (req, res) => {
    const body = await readBody(req)
    const path = new URL(req.url, 'http://x').pathname
    const route = `${req.method} ${path}`
    requests.push({ route, url: req.url, headers: req.headers, body })
    counts[route] = (counts[route] ?? 0) + 1
    const handler = routes[route]
    if (!handler) {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(envelope('NOT_FOUND', 'Not found'))
      return
    }
    const [status, json, headers = {}] = await handler(req, body, counts[route])
    if (status === 'hang') return // never answer
    const text = typeof json === 'string' ? json : JSON.stringify(json)
    res.writeHead(status, { 'Content-Type': 'application/json', 'X-Request-ID': 'req_fake', ...headers }).end(text)
  })
  return { ...server, requests, api: (options = {}) => new NanoBananaAPI({ apiKey: 'nk_live_test', baseURL: server.url, ...options }) }
}

function envelope(code, message, details = null) {
  return JSON.stringify({ success: false, error: { code, message, details }, request_id: 'req_envelope' })
}

const RESULT = {
  success: true,
  task_id: 'task_1',
  image_url: 'https://cdn.example/r.png',
  description: 'done',
  processing_time: 0.5,
  credits_used: 5,
}

const task = (status, progress, extra = {}) => ({
  task_id: 'task_1',
  status,
  progress,
  result: status === 'completed' ? { image_url: 'https://cdn.example/final.png', description: 'ok', mask_url: 'https://cdn.example/m.png' } : null,
  error: status === 'failed' ? { code: 'PROCESSING_ERROR', message: 'engine failed' } : null,
  created_at: '2024-01-01T10:00:00Z',
  completed_at: null,
  ...extra,
})

describe('the wire format', () => {
  let fake
  before(async () => {
    fake = await fakeApi({
      'POST /v1/image-edit': () => [200, RESULT, { 'X-Credits-Used': '5', 'X-Credits-Remaining': '95' }],
      'POST /v1/style-transfer': () => [200, RESULT],
      'POST /v1/remove-background': () => [202, { success: true, task_id: 'task_1', status: 'pending', credits_used: 3 }],
      'GET /v1/tasks': () => [200, { data: [], has_more: false }],
    })
  })
  after(() => fake.close())

  test('camelCase parameters go out as snake_case JSON, with the headers', async () => {
    const result = await fake.api().editImage({
      prompt: '将背景改为海滩',
      imageUrl: 'https://example.com/photo.jpg',
      preserveScene: true,
      strength: 0.8,
      outputFormat: undefined,
    })
    const sent = fake.requests.at(-1)
    assert.deepEqual(JSON.parse(sent.body), {
      prompt: '将背景改为海滩',
      image_url: 'https://example.com/photo.jpg',
      preserve_scene: true,
      strength: 0.8,
    })
    assert.equal(sent.headers.authorization, 'Bearer nk_live_test')
    assert.equal(sent.headers['content-type'], 'application/json')
    assert.match(sent.headers['idempotency-key'], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.match(sent.headers['user-agent'], /^nanobanana-js\/\d+\.\d+\.\d+$/)
    assert.equal(sent.headers.prefer, undefined)
    assert.deepEqual(result, {
      success: true,
      taskId: 'task_1',
      imageUrl: 'https://cdn.example/r.png',
      description: 'done',
      processingTime: 0.5,
      creditsUsed: 5,
      creditsRemaining: 95,
      requestId: 'req_fake',
    })
  })

  test('each call gets its own Idempotency-Key unless one is given', async () => {
    const api = fake.api()
    await api.editImage({ prompt: 'a', imageUrl: 'https://example.com/a.jpg' })
    await api.editImage({ prompt: 'a', imageUrl: 'https://example.com/a.jpg' })
    await api.editImage({ prompt: 'a', imageUrl: 'https://example.com/a.jpg' }, { idempotencyKey: 'order-42' })
    const keys = fake.requests.slice(-3).map((r) => r.headers['idempotency-key'])
    assert.notEqual(keys[0], keys[1])
    assert.equal(keys[2], 'order-42')
  })

  test('wait: false sends Prefer: respond-async and returns the 202 form', async () => {
    const accepted = await fake.api().removeBackground({ imageUrl: 'https://example.com/p.jpg' }, { wait: false })
    assert.equal(fake.requests.at(-1).headers.prefer, 'respond-async')
    assert.deepEqual(accepted, { success: true, taskId: 'task_1', status: 'pending', creditsUsed: 3, requestId: 'req_fake' })
  })

  test('uploads are multipart under the field name without _url; other fields as text', async () => {
    const path = writeTemp('content.png', png(8))
    await fake.api().styleTransfer({
      contentImageUrl: path,
      styleImageUrl: new File([png(8)], 'van_gogh.png', { type: 'image/png' }),
      strength: 0.7,
    })
    const sent = fake.requests.at(-1)
    assert.match(sent.headers['content-type'], /^multipart\/form-data; boundary=/)
    const form = await new Response(sent.body, { headers: { 'content-type': sent.headers['content-type'] } }).formData()
    assert.deepEqual([...form.keys()].sort(), ['content_image', 'strength', 'style_image'])
    assert.equal(form.get('strength'), '0.7')
    assert.equal(form.get('content_image').name, 'content.png')
    assert.equal(form.get('content_image').type, 'image/png')
    assert.equal(form.get('style_image').name, 'van_gogh.png')
    assert.equal(form.get('content_image').size, png(8).length)
  })

  test('bytes without a name get one from their format; booleans go as true/false', async () => {
    await fake.api().editImage({ prompt: 'p', imageUrl: new Uint8Array(png(8)), preserveScene: false })
    const sent = fake.requests.at(-1)
    const form = await new Response(sent.body, { headers: { 'content-type': sent.headers['content-type'] } }).formData()
    assert.equal(form.get('image').name, 'image.png')
    assert.equal(form.get('preserve_scene'), 'false')
  })

  test('a string that is neither a URL nor a file says so, before sending anything', async () => {
    const before = fake.requests.length
    await assert.rejects(fake.api().enhance({ imageUrl: 'no/such/photo.png' }), /neither an http\(s\)\/data: URL nor an existing file/)
    assert.equal(fake.requests.length, before)
  })

  test('listTasks sends snake_case query parameters and ISO dates', async () => {
    const since = new Date('2024-05-01T12:00:00Z')
    await fake.api().listTasks({ limit: 5, status: 'completed', operation: 'enhance', createdAfter: since }).toArray()
    const url = new URL(fake.requests.at(-1).url, 'http://x')
    assert.deepEqual(Object.fromEntries(url.searchParams), {
      limit: '5',
      status: 'completed',
      operation: 'enhance',
      created_after: '2024-05-01T12:00:00.000Z',
    })
  })
})

describe('configuration', () => {
  test('apiKey and baseURL default from the environment, then the production URL', () => {
    const saved = { ...process.env }
    try {
      delete process.env.NANOBANANA_BASE_URL
      process.env.NANOBANANA_API_KEY = 'nk_live_env'
      const fromEnv = new NanoBananaAPI()
      assert.equal(fromEnv.apiKey, 'nk_live_env')
      assert.equal(fromEnv.baseURL, 'https://api.nanobanana.ai/v1')
      assert.equal(fromEnv.maxRetries, 2)
      process.env.NANOBANANA_BASE_URL = 'http://127.0.0.1:8000'
      assert.equal(new NanoBananaAPI().baseURL, 'http://127.0.0.1:8000/v1', 'a bare host means its /v1')
      assert.equal(new NanoBananaAPI({ baseURL: 'https://x.test/v1/' }).baseURL, 'https://x.test/v1')
      delete process.env.NANOBANANA_API_KEY
      assert.throws(() => new NanoBananaAPI(), NanoBananaError)
    } finally {
      process.env = saved
    }
  })

  test('without a global crypto (Node 18) WebCrypto comes from node:crypto', async () => {
    const script = [
      "Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true })",
      "const { verifyWebhook, NanoBananaAPI } = await import('nanobanana-js')",
      "const seen = []",
      "const api = new NanoBananaAPI({ apiKey: 'k', baseURL: 'http://127.0.0.1:9', maxRetries: 0, fetch: async (url, init) => { seen.push(init.headers['Idempotency-Key']); return new Response('{}') } })",
      "await api.cancelTask('task_1')",
      "await verifyWebhook('{}', { 'webhook-id': 'a', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,x' }, 'whsec_AAAA').catch((e) => seen.push(e.name))",
      'console.log(JSON.stringify(seen))',
    ].join('\n')
    const { execFileSync } = await import('node:child_process')
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: SDK, encoding: 'utf8' })
    const [key, verification] = JSON.parse(out)
    assert.match(key, /^[0-9a-f-]{36}$/)
    assert.equal(verification, 'WebhookVerificationError')
  })

  test('logging the client does not print the key', async () => {
    const { inspect } = await import('node:util')
    assert.doesNotMatch(inspect(new NanoBananaAPI({ apiKey: 'nk_live_secret' })), /nk_live_secret/)
  })

  test('nothing Node-only is imported at load time (Deno, Bun, browsers)', () => {
    for (const folder of ['esm', 'cjs']) {
      for (const file of readdirSync(join(SDK, 'dist', folder)).filter((name) => name.endsWith('.js'))) {
        const code = readFileSync(join(SDK, 'dist', folder, file), 'utf8')
        assert.doesNotMatch(code, /^import .* from ['"]node:/m, `${folder}/${file}`)
        assert.doesNotMatch(code, /^(const|var|let) .*= require\(['"]node:/m, `${folder}/${file}`)
        assert.doesNotMatch(code, /\bBuffer\b/, `${folder}/${file} uses Buffer`)
      }
    }
  })
})

describe('errors from the envelope', () => {
  let fake
  before(async () => {
    fake = await fakeApi({
      'GET /v1/account': (_req, _body, n) =>
        [
          [500, envelope('PROCESSING_ERROR', 'Image processing failed', 'boom')],
          [503, envelope('TEMPORARY_UNAVAILABLE', 'Busy'), { 'Retry-After': '7' }],
          [502, '<html>Bad gateway</html>'],
          [418, envelope('TEAPOT', 'I am a teapot')],
        ][(n - 1) % 4],
    })
  })
  after(() => fake.close())

  test('each code becomes its class, with the envelope fields', async () => {
    const api = fake.api({ maxRetries: 0 })
    const processing = await api.getAccount().catch((e) => e)
    assert.ok(processing instanceof ProcessingError)
    assert.equal(processing.details, 'boom')
    assert.equal(processing.requestId, 'req_envelope')
    const busy = await api.getAccount().catch((e) => e)
    assert.ok(busy instanceof TemporaryUnavailableError)
    assert.equal(busy.retryAfter, 7)
    const html = await api.getAccount().catch((e) => e)
    assert.ok(html instanceof ProcessingError, 'a 5xx without an envelope')
    assert.equal(html.status, 502)
    assert.match(html.message, /Bad gateway/)
    assert.equal(html.requestId, 'req_fake', 'from X-Request-ID')
    const unknown = await api.getAccount().catch((e) => e)
    assert.equal(unknown.constructor, APIError)
    assert.equal(unknown.code, 'TEAPOT')
  })
})

describe('retries', () => {
  test('connection errors are retried maxRetries times with backoff, then APIConnectionError', async () => {
    const closed = await listen(() => {})
    const url = closed.url
    await closed.close()
    let calls = 0
    const api = new NanoBananaAPI({
      apiKey: 'k',
      baseURL: url,
      fetch: (input, init) => ((calls += 1), fetch(input, init)),
    })
    const started = Date.now()
    const error = await api.getAccount().catch((e) => e)
    assert.ok(error instanceof APIConnectionError, String(error))
    assert.match(error.message, /ECONNREFUSED/)
    assert.equal(calls, 3)
    const waited = Date.now() - started
    assert.ok(waited >= 1000 && waited < 4000, `backoff 0.5 s + 1 s (-25 % jitter): ${waited} ms`)
  })

  test('a request past its timeout is APITimeoutError (retried too)', async () => {
    const fake = await fakeApi({ 'GET /v1/account': () => ['hang'] })
    try {
      const error = await fake.api({ timeout: 200, maxRetries: 1 }).getAccount().catch((e) => e)
      assert.ok(error instanceof APITimeoutError, String(error))
      assert.ok(error instanceof APIConnectionError)
      assert.equal(fake.requests.length, 2)
    } finally {
      await fake.close()
    }
  })

  test('429 and 503 are retried honouring Retry-After, with one Idempotency-Key', async () => {
    const fake = await fakeApi({
      'POST /v1/image-edit': (_req, _body, n) =>
        n === 1
          ? [429, envelope('RATE_LIMIT_EXCEEDED', 'Slow down'), { 'Retry-After': '1' }]
          : n === 2
            ? [503, envelope('TEMPORARY_UNAVAILABLE', 'Busy'), { 'Retry-After': '0' }]
            : [200, RESULT],
    })
    try {
      const started = Date.now()
      const result = await fake.api().editImage({ prompt: 'p', imageUrl: 'https://example.com/a.jpg' })
      assert.equal(result.taskId, 'task_1')
      assert.ok(Date.now() - started >= 1000, 'waited the Retry-After second')
      const keys = new Set(fake.requests.map((r) => r.headers['idempotency-key']))
      assert.equal(fake.requests.length, 3)
      assert.equal(keys.size, 1)
    } finally {
      await fake.close()
    }
  })

  test('Retry-After over 60 s is not waited for: RateLimitError with retryAfter', async () => {
    const fake = await fakeApi({
      'GET /v1/account': () => [429, envelope('RATE_LIMIT_EXCEEDED', 'Daily limit'), { 'Retry-After': '3600' }],
    })
    try {
      const error = await fake.api().getAccount().catch((e) => e)
      assert.ok(error instanceof RateLimitError)
      assert.equal(error.retryAfter, 3600)
      assert.equal(fake.requests.length, 1)
    } finally {
      await fake.close()
    }
  })

  test('a POST without an Idempotency-Key (idempotencyKey: null) is never retried', async () => {
    const fake = await fakeApi({
      'POST /v1/image-edit': () => [503, envelope('TEMPORARY_UNAVAILABLE', 'Busy'), { 'Retry-After': '0' }],
    })
    try {
      const error = await fake
        .api()
        .editImage({ prompt: 'p', imageUrl: 'https://example.com/a.jpg' }, { idempotencyKey: null })
        .catch((e) => e)
      assert.ok(error instanceof TemporaryUnavailableError)
      assert.equal(fake.requests.length, 1)
      assert.equal(fake.requests[0].headers['idempotency-key'], undefined)
    } finally {
      await fake.close()
    }
  })

  test('other errors (400, 500) are not retried', async () => {
    const fake = await fakeApi({
      'GET /v1/task/task_1': () => [400, envelope('INVALID_REQUEST', 'Bad', 'task_id: bad')],
    })
    try {
      await assert.rejects(fake.api().getTaskStatus('task_1'), InvalidRequestError)
      assert.equal(fake.requests.length, 1)
    } finally {
      await fake.close()
    }
  })

  test('an AbortSignal stops a request (and its retries): APIUserAbortError', async () => {
    const fake = await fakeApi({ 'GET /v1/account': () => ['hang'] })
    try {
      const error = await fake.api().getAccount({ signal: AbortSignal.timeout(150) }).catch((e) => e)
      assert.ok(error instanceof APIUserAbortError, String(error))
    } finally {
      await fake.close()
    }
  })
})

describe('waiting', () => {
  test('a 202 is polled with backoff until the task finishes; progress is reported', async () => {
    const states = [task('pending', 0), task('processing', 30), task('processing', 30), task('processing', 60), task('completed', 100)]
    const fake = await fakeApi({
      'POST /v1/remove-background': () => [202, { success: true, task_id: 'task_1', status: 'pending', credits_used: 3 }, { 'X-Credits-Used': '3', 'X-Credits-Remaining': '97' }],
      'GET /v1/task/task_1': (_req, _body, n) => [200, states[Math.min(n - 1, states.length - 1)]],
    })
    try {
      const seen = []
      const result = await fake.api().removeBackground(
        { imageUrl: 'https://example.com/p.jpg', returnMask: true },
        { onProgress: (t) => seen.push(`${t.status}:${t.progress}`) },
      )
      assert.deepEqual(seen, ['pending:0', 'processing:30', 'processing:60', 'completed:100'])
      assert.deepEqual(result, {
        success: true,
        taskId: 'task_1',
        imageUrl: 'https://cdn.example/final.png',
        description: 'ok',
        processingTime: null,
        creditsUsed: 3,
        creditsRemaining: 97,
        requestId: 'req_fake',
        maskUrl: 'https://cdn.example/m.png',
      })
    } finally {
      await fake.close()
    }
  })

  test('the deadline throws TaskTimeoutError; a task that cannot be cancelled says so', async () => {
    const fake = await fakeApi({
      'GET /v1/task/task_1': () => [200, task('processing', 10)],
      'POST /v1/task/task_1/cancel': () => [409, envelope('TASK_NOT_CANCELLABLE', 'Not cancellable', 'a worker is running it')],
    })
    try {
      const plain = await fake.api().waitForTask('task_1', { timeout: 300 }).catch((e) => e)
      assert.ok(plain instanceof TaskTimeoutError)
      assert.equal(plain.cancelled, false)
      assert.equal(plain.taskId, 'task_1')
      assert.equal(plain.task.progress, 10)
      assert.equal(fake.requests.filter((r) => r.route.startsWith('POST')).length, 0)
      const tried = await fake.api().waitForTask('task_1', { timeout: 300, cancelOnTimeout: true }).catch((e) => e)
      assert.ok(tried instanceof TaskTimeoutError)
      assert.equal(tried.cancelled, false)
      assert.match(tried.message, /could not be cancelled \(a worker is running it\)/)
    } finally {
      await fake.close()
    }
  })

  test('an AbortSignal stops waiting', async () => {
    const fake = await fakeApi({ 'GET /v1/task/task_1': () => [200, task('processing', 10)] })
    try {
      const controller = new AbortController()
      setTimeout(() => controller.abort(new Error('user left')), 300)
      const error = await fake.api().waitForTask('task_1', { signal: controller.signal }).catch((e) => e)
      assert.ok(error instanceof APIUserAbortError, String(error))
      assert.match(error.message, /user left/)
    } finally {
      await fake.close()
    }
  })

  test('a failed task is ProcessingError, a cancelled one TaskCancelledError (or returned)', async () => {
    const fake = await fakeApi({
      'GET /v1/task/task_1': () => [200, task('failed', 40)],
      'GET /v1/task/task_2': () => [200, task('cancelled', 0, { task_id: 'task_2' })],
    })
    try {
      const failed = await fake.api().waitForTask('task_1').catch((e) => e)
      assert.ok(failed instanceof ProcessingError)
      assert.equal(failed.taskId, 'task_1')
      assert.equal(failed.message, 'engine failed')
      await assert.rejects(fake.api().waitForTask('task_2'), TaskCancelledError)
      const returned = await fake.api().waitForTask('task_1', { throwOnFailure: false })
      assert.equal(returned.status, 'failed')
      assert.deepEqual(returned.error, { code: 'PROCESSING_ERROR', message: 'engine failed' })
    } finally {
      await fake.close()
    }
  })
})

describe('verifyWebhook', () => {
  const secretBytes = Buffer.alloc(32, 42)
  const secret = `whsec_${secretBytes.toString('base64')}`
  const body = JSON.stringify({ type: 'task.completed', timestamp: '2024-01-01T00:00:00Z', data: task('completed', 100) })
  const sign = (key, id, ts, payload) => `v1,${createHmac('sha256', key).update(`${id}.${ts}.${payload}`).digest('base64')}`
  const now = Math.floor(Date.now() / 1000)
  const headers = (signature, ts = now) => ({ 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': signature })

  test('accepts a valid signature and returns the camelCase event', async () => {
    const event = await verifyWebhook(body, headers(sign(secretBytes, 'msg_1', now, body)), secret)
    assert.equal(event.id, 'msg_1')
    assert.equal(event.type, 'task.completed')
    assert.equal(event.data.taskId, 'task_1')
    assert.equal(event.data.result.imageUrl, 'https://cdn.example/final.png')
  })

  test('any of several signatures may match (rotation); other versions are ignored', async () => {
    const other = Buffer.alloc(32, 1)
    const both = `v1,${Buffer.alloc(32).toString('base64')} v2,whatever ${sign(other, 'msg_1', now, body)} ${sign(secretBytes, 'msg_1', now, body)}`
    await verifyWebhook(Buffer.from(body), headers(both), secret)
    await verifyWebhook(body, headers(both), `whsec_${other.toString('base64')}`)
  })

  test('refuses what does not check out', async () => {
    const good = sign(secretBytes, 'msg_1', now, body)
    const cases = [
      [body + ' ', headers(good), /No matching signature/],
      [body, headers(good.replace('v1,', 'v2,')), /No matching signature/],
      [body, { 'webhook-id': 'msg_1', 'webhook-signature': good }, /Missing/],
      [body, headers(good, 'soon'), /Invalid webhook-timestamp/],
      [body, headers(sign(secretBytes, 'msg_1', now - 400, body), now - 400), /tolerance/],
      [body, headers(sign(secretBytes, 'msg_1', now + 400, body), now + 400), /tolerance/],
      [body, headers(sign(secretBytes, 'msg_2', now, body)), /No matching signature/],
    ]
    for (const [payload, hdrs, reason] of cases) {
      await assert.rejects(verifyWebhook(payload, hdrs, secret), (error) => {
        assert.ok(error instanceof WebhookVerificationError, String(error))
        assert.match(error.message, reason)
        return true
      })
    }
    await assert.rejects(verifyWebhook(body, headers(good), 'whsec_!!!'), /not a whsec_/)
  })

  test('a wider tolerance accepts an older message', async () => {
    const ts = now - 400
    await verifyWebhook(body, headers(sign(secretBytes, 'msg_1', ts, body), ts), secret, { tolerance: 600 })
  })
})
