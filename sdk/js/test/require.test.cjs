// The CommonJS build, loaded with require(), against the live server.
const assert = require('node:assert/strict')
const { describe, test } = require('node:test')

const sdk = require('nanobanana-js')
const { InvalidApiKeyError, NanoBananaAPI, NanoBananaError, verifyWebhook } = sdk

const BASE_URL = process.env.NANOBANANA_TEST_BASE_URL ?? ''
const live = BASE_URL ? {} : { skip: 'no live server: run tests/sdk/test_js_sdk.py' }

describe('require("nanobanana-js")', () => {
  test('gives the CommonJS build with every export', () => {
    assert.equal(require.resolve('nanobanana-js').endsWith(require('node:path').join('dist', 'cjs', 'index.js')), true)
    assert.equal(typeof NanoBananaAPI, 'function')
    assert.equal(typeof verifyWebhook, 'function')
    assert.equal(sdk.default, NanoBananaAPI)
    assert.ok(new InvalidApiKeyError('x') instanceof NanoBananaError)
  })
})

describe('the CommonJS build against the live server', live, () => {
  const api = () => new NanoBananaAPI({ apiKey: process.env.NANOBANANA_TEST_KEY_REQUIRE, baseURL: BASE_URL })

  test('getAccount and an upload from a Buffer', async () => {
    const account = await api().getAccount()
    assert.equal(account.subscription.plan, 'pro')
    const image = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAIAAAAlC+aJAAAAY0lEQVR4nO3PQQ3AIADAQEAIOpGIrIngcVnSU9DOfe74s6UDXjWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgfTjsAd5K+/OAAAAAAElFTkSuQmCC',
      'base64',
    )
    const result = await api().enhance({ imageUrl: image, upscaleFactor: 2 })
    assert.match(result.imageUrl, /^https?:\/\//)
    assert.equal(result.creditsUsed, 4)
    assert.equal(result.creditsRemaining, 996)
  })

  test('errors are the same classes', async () => {
    const bad = new NanoBananaAPI({ apiKey: 'nk_live_nope', baseURL: BASE_URL })
    await assert.rejects(bad.getAccount(), InvalidApiKeyError)
  })
})
