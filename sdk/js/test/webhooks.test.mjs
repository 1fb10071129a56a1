// Webhook endpoints against the live server, and a real delivery to a receiver on 127.0.0.1
// verified with verifyWebhook (before and after a secret rotation).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { NotFoundError, WebhookVerificationError, verifyWebhook } from 'nanobanana-js'

import { client, listen, live, readBody } from './helpers.mjs'

/** Resolves with the first request matching `predicate` that `receiver` got (or has got). */
async function nextMessage(receiver, predicate, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = receiver.messages.find(predicate)
    if (found) return found
    if (Date.now() > deadline) throw new Error(`no webhook within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

describe('webhooks (Pro plan key)', live, () => {
  const api = client('HOOKS')
  let receiver
  let endpoint
  before(async () => {
    const messages = []
    receiver = await listen(async (req, res) => {
      messages.push({ headers: req.headers, body: await readBody(req) })
      res.writeHead(204).end()
    })
    receiver.messages = messages
  })
  after(() => receiver?.close())

  test('createWebhook, listWebhooks, getWebhook, updateWebhook', async () => {
    endpoint = await api.createWebhook({ url: `${receiver.url}/hooks`, description: 'sdk test' })
    assert.match(endpoint.id, /^we_/)
    assert.match(endpoint.secret, /^whsec_/)
    assert.equal(endpoint.isActive, true)
    assert.equal(endpoint.disabledReason, '')

    const listed = await api.listWebhooks()
    assert.deepEqual(
      listed.map((one) => one.id),
      [endpoint.id],
    )
    assert.equal('secret' in listed[0], false, 'lists never carry secrets')

    const shown = await api.getWebhook(endpoint.id)
    assert.equal(shown.secret, endpoint.secret)

    const paused = await api.updateWebhook(endpoint.id, { isActive: false, description: 'renamed' })
    assert.equal(paused.isActive, false)
    assert.equal(paused.description, 'renamed')
    assert.equal((await api.updateWebhook(endpoint.id, { isActive: true })).isActive, true)
  })

  let delivered
  test('a finished task is delivered and verifyWebhook accepts it', async () => {
    const result = await api.textToImage({ prompt: 'webhook panda', width: 64, height: 64 })
    delivered = await nextMessage(receiver, (m) => m.body.includes(result.taskId))
    const event = await verifyWebhook(delivered.body, delivered.headers, endpoint.secret)
    assert.equal(event.type, 'task.completed')
    assert.equal(event.id, delivered.headers['webhook-id'])
    assert.match(event.id, /^msg_/)
    assert.equal(event.data.taskId, result.taskId)
    assert.equal(event.data.status, 'completed')
    assert.match(event.data.result.imageUrl, /^https?:\/\//)
    // The same with a Headers object and a string body.
    const again = await verifyWebhook(delivered.body.toString('utf8'), new Headers(delivered.headers), endpoint.secret)
    assert.equal(again.data.taskId, result.taskId)
  })

  test('verifyWebhook refuses a changed body, another secret and a stale timestamp', async () => {
    const tampered = Buffer.from(delivered.body.toString('utf8').replace('completed', 'failed'))
    await assert.rejects(verifyWebhook(tampered, delivered.headers, endpoint.secret), WebhookVerificationError)
    const other = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
    await assert.rejects(verifyWebhook(delivered.body, delivered.headers, other), WebhookVerificationError)
    const sentAt = Number(delivered.headers['webhook-timestamp']) * 1000
    await assert.rejects(
      verifyWebhook(delivered.body, delivered.headers, endpoint.secret, { now: sentAt + 301_000 }),
      /tolerance/,
    )
  })

  test('after rotateWebhookSecret a redelivery carries signatures under both secrets', async () => {
    const rotated = await api.rotateWebhookSecret(endpoint.id)
    assert.match(rotated.secret, /^whsec_/)
    assert.notEqual(rotated.secret, endpoint.secret)

    const deliveries = await api.listWebhookDeliveries(endpoint.id)
    const first = deliveries.find((one) => one.id === delivered.headers['webhook-id'])
    assert.ok(first, 'the delivery is in the log')
    assert.equal(first.status, 'succeeded')
    assert.equal(first.lastStatusCode, 204)
    assert.equal(first.endpointId, endpoint.id)

    const count = receiver.messages.length
    const redelivery = await api.redeliverWebhook(first.id)
    assert.equal(redelivery.id, first.id)
    const again = await nextMessage(receiver, (m) => receiver.messages.indexOf(m) >= count)
    assert.equal(again.headers['webhook-id'], first.id, 'the same webhook-id')
    assert.equal(again.headers['webhook-signature'].split(' ').length, 2)
    for (const secret of [rotated.secret, endpoint.secret]) {
      const event = await verifyWebhook(again.body, again.headers, secret)
      assert.equal(event.id, first.id)
    }
    // A receiver switching over may hold both.
    await verifyWebhook(again.body, again.headers, [rotated.secret, endpoint.secret])
  })

  test('deleteWebhook', async () => {
    await api.deleteWebhook(endpoint.id)
    assert.deepEqual(await api.listWebhooks(), [])
    await assert.rejects(api.getWebhook(endpoint.id), NotFoundError)
  })
})
