// Each error class from a real answer of the live server, with the envelope's fields.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { describe, test } from 'node:test'

import {
  APIError,
  ConflictError,
  FileTooLargeError,
  InsufficientCreditsError,
  InvalidApiKeyError,
  InvalidRequestError,
  NanoBananaAPI,
  NanoBananaError,
  NotFoundError,
  ProcessingError,
  UnsupportedFormatError,
} from 'nanobanana-js'

import { BASE_URL, client, live, png } from './helpers.mjs'

/** Asserts `promise` rejects with `Class`, carrying the envelope's fields; returns the error. */
async function rejectsWith(promise, Class, { status, code }) {
  let caught
  await assert.rejects(promise, (error) => {
    caught = error
    return true
  })
  assert.ok(caught instanceof Class, `expected ${Class.name}, got ${caught?.constructor?.name}: ${caught}`)
  assert.ok(caught instanceof APIError)
  assert.ok(caught instanceof NanoBananaError)
  assert.equal(caught.name, Class.name)
  assert.equal(caught.status, status)
  assert.equal(caught.code, code)
  assert.match(caught.requestId, /^req_/)
  assert.ok(caught.message.length > 0)
  assert.equal(caught.body.success, false, 'the raw envelope is kept')
  assert.equal(caught.headers.get('x-request-id'), caught.requestId)
  return caught
}

/** Runs `work` while every result write on the worker fails (a file where the results folder
 * was, NANOBANANA_TEST_RESULTS_DIR): the worker's real failure path, failing and refunding. */
async function whileResultsUnwritable(work) {
  const results = process.env.NANOBANANA_TEST_RESULTS_DIR
  assert.ok(results, 'NANOBANANA_TEST_RESULTS_DIR is not set')
  const moved = `${results}-moved`
  if (existsSync(results)) renameSync(results, moved)
  mkdirSync(dirname(results), { recursive: true })
  writeFileSync(results, 'not a folder: every result write fails')
  try {
    return await work()
  } finally {
    unlinkSync(results)
    if (existsSync(moved)) renameSync(moved, results)
  }
}

describe('errors from the live server', live, () => {
  test('500 PROCESSING_ERROR: a task that failed on the worker is ProcessingError naming it, refunded', async () => {
    const api = client('ERRORS')
    const before = (await api.getAccount()).credits.balance
    const error = await whileResultsUnwritable(() =>
      rejectsWith(api.removeBackground({ imageUrl: png(32) }), ProcessingError, {
        status: 500,
        code: 'PROCESSING_ERROR',
      }),
    )
    assert.match(error.taskId, /^task_/)
    assert.equal((await api.getTaskStatus(error.taskId)).status, 'failed')
    assert.equal((await api.getAccount()).credits.balance, before, 'refunded')
  })

  test('401 INVALID_API_KEY: InvalidApiKeyError', async () => {
    const api = new NanoBananaAPI({ apiKey: 'nk_live_not_a_real_key', baseURL: BASE_URL })
    const error = await rejectsWith(api.getAccount(), InvalidApiKeyError, {
      status: 401,
      code: 'INVALID_API_KEY',
    })
    assert.ok(error.details)
  })

  test('402 INSUFFICIENT_CREDITS: InsufficientCreditsError', async () => {
    await rejectsWith(
      client('ZERO').textToImage({ prompt: 'a panda', width: 64, height: 64 }),
      InsufficientCreditsError,
      { status: 402, code: 'INSUFFICIENT_CREDITS' },
    )
  })

  test('400 INVALID_REQUEST: InvalidRequestError whose details name the field', async () => {
    const error = await rejectsWith(
      client('ERRORS').editImage({ prompt: 'x', imageUrl: 'https://example.com/a.png', strength: 5 }),
      InvalidRequestError,
      { status: 400, code: 'INVALID_REQUEST' },
    )
    assert.match(error.details, /strength/)
  })

  test('413 FILE_TOO_LARGE over the Free plan limit (5 MB): FileTooLargeError', async () => {
    const big = Buffer.concat([png(64), Buffer.alloc(6 * 1024 * 1024)])
    await rejectsWith(client('FREE_UPLOAD').removeBackground({ imageUrl: big }), FileTooLargeError, {
      status: 413,
      code: 'FILE_TOO_LARGE',
    })
  })

  test('a file larger than any plan accepts is refused before upload', async () => {
    let sent = false
    const api = client('FREE_UPLOAD', { fetch: () => ((sent = true), Promise.reject(new Error('no'))) })
    const error = await api
      .removeBackground({ imageUrl: new Uint8Array(21 * 1024 * 1024) })
      .catch((caught) => caught)
    assert.ok(error instanceof FileTooLargeError)
    assert.equal(error.status, undefined)
    assert.equal(error.limitBytes, 20 * 1024 * 1024)
    assert.equal(sent, false)
  })

  test('415 UNSUPPORTED_FORMAT for a GIF upload: UnsupportedFormatError', async () => {
    const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64')
    await rejectsWith(client('ERRORS').removeBackground({ imageUrl: gif }), UnsupportedFormatError, {
      status: 415,
      code: 'UNSUPPORTED_FORMAT',
    })
  })

  test('404 NOT_FOUND: NotFoundError, in Chinese when asked', async () => {
    const english = await rejectsWith(client('ERRORS').getTaskStatus('task_doesnotexist'), NotFoundError, {
      status: 404,
      code: 'NOT_FOUND',
    })
    const chinese = await rejectsWith(
      client('ERRORS', { language: 'zh-CN' }).getTaskStatus('task_doesnotexist'),
      NotFoundError,
      { status: 404, code: 'NOT_FOUND' },
    )
    assert.notEqual(chinese.message, english.message)
    assert.match(chinese.message + chinese.details, /[\u4e00-\u9fff]/)
  })

  test('409 TASK_NOT_CANCELLABLE when cancelling a finished task: ConflictError', async () => {
    const api = client('ERRORS')
    const done = await api.textToImage({ prompt: 'a panda', width: 64, height: 64 })
    await rejectsWith(api.cancelTask(done.taskId), ConflictError, {
      status: 409,
      code: 'TASK_NOT_CANCELLABLE',
    })
  })
})
