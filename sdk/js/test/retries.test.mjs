// Retries against the live server: a real 429 (the Free plan allows 2 billable requests a
// minute) waited out, and 503s from a proxy in front of the server, retried with the same
// Idempotency-Key and charged exactly once.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { NanoBananaAPI, RateLimitError } from 'nanobanana-js'

import { BASE_URL, client, dataUrl, key, live, png, proxy } from './helpers.mjs'

/** A fetch that records each attempt's status and Idempotency-Key. */
function recordingFetch() {
  const attempts = []
  const fetchImpl = async (url, init) => {
    const response = await fetch(url, init)
    attempts.push({ status: response.status, key: init.headers['Idempotency-Key'] })
    return response
  }
  return { attempts, fetchImpl }
}

const ENVELOPE_503 = JSON.stringify({
  success: false,
  error: { code: 'TEMPORARY_UNAVAILABLE', message: 'Service temporarily unavailable', details: 'test proxy' },
  request_id: 'req_proxy',
})

describe('429 from the live server', live, () => {
  test('is thrown as RateLimitError without retries, and waited out with them', async () => {
    const image = dataUrl(png(64))
    const quick = client('FREE_RATE', { maxRetries: 0 })
    await quick.enhance({ imageUrl: image })
    await quick.enhance({ imageUrl: image })
    const error = await quick.enhance({ imageUrl: image }).catch((caught) => caught)
    assert.ok(error instanceof RateLimitError, String(error))
    assert.equal(error.status, 429)
    assert.equal(error.code, 'RATE_LIMIT_EXCEEDED')
    assert.ok(error.retryAfter > 0 && error.retryAfter <= 60, `retryAfter ${error.retryAfter}`)

    const { attempts, fetchImpl } = recordingFetch()
    const patient = client('FREE_RATE', { fetch: fetchImpl })
    const started = Date.now()
    const result = await patient.enhance({ imageUrl: image })
    assert.match(result.imageUrl, /^https?:\/\//)
    assert.deepEqual(
      attempts.map((attempt) => attempt.status),
      [429, 200],
    )
    assert.equal(attempts[0].key, attempts[1].key, 'one Idempotency-Key for every attempt')
    assert.ok(Date.now() - started >= (error.retryAfter - 5) * 1000, 'Retry-After was honoured')
  })
})

describe('503 from a proxy in front of the live server', live, () => {
  let front
  let mode = 'refuse' // or 'lose' the first answer
  let lost // the answer the proxy swallowed
  before(async () => {
    front = await proxy(BASE_URL, async (req, res, body) => {
      const first = req.method === 'POST' && front.seen.filter((r) => r.method === 'POST').length === 1
      if (!first) return undefined
      const reply = () =>
        res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '0' }).end(ENVELOPE_503)
      if (mode === 'refuse') {
        reply()
        return true
      }
      // Forward it, let the server do (and charge) the work, and lose its answer.
      const answer = await fetch(BASE_URL + req.url, { method: 'POST', headers: stripHop(req.headers), body })
      lost = JSON.parse(await answer.text())
      reply()
      return true
    })
  })
  after(() => front?.close())

  const balance = async () =>
    (await new NanoBananaAPI({ apiKey: key('RETRY'), baseURL: BASE_URL }).getAccount()).credits.balance

  for (const which of ['refuse', 'lose']) {
    test(`a 503 (${which === 'refuse' ? 'request never reached the server' : 'the answer was lost'}) is retried with the same Idempotency-Key and charged once`, async () => {
      mode = which
      front.seen.length = 0
      const before = await balance()
      const api = new NanoBananaAPI({ apiKey: key('RETRY'), baseURL: front.url })
      const result = await api.textToImage({ prompt: `retry ${which}`, width: 64, height: 64 })
      assert.match(result.imageUrl, /^https?:\/\//)
      const posts = front.seen.filter((r) => r.method === 'POST')
      assert.equal(posts.length, 2, 'one 503, one retry')
      const keys = posts.map((r) => r.headers['idempotency-key'])
      assert.match(keys[0], /^[0-9a-f-]{36}$/)
      assert.equal(keys[1], keys[0])
      assert.equal(result.creditsUsed, 8)
      assert.equal(before - (await balance()), 8, 'charged exactly once')
      if (which === 'lose') {
        assert.equal(result.taskId, lost.task_id, 'the first attempt’s answer, replayed')
      }
    })
  }
})

function stripHop(headers) {
  const out = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!['host', 'connection', 'content-length', 'transfer-encoding'].includes(name)) out[name] = value
  }
  return out
}
