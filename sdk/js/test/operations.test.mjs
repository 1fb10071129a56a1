// Every image operation against the live server, each with another kind of input (a URL the
// server fetches, a file path, a Buffer, a Blob, a data: URL), and the reads around them.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { client, dataUrl, live, png, serveImages, writeTemp } from './helpers.mjs'

describe('image operations (Max plan key)', live, () => {
  let api
  let images
  before(async () => {
    api = client('OPS')
    images = await serveImages({ '/photo.png': png(64), '/style.png': png(64, [30, 60, 200]) })
  })
  after(() => images?.close())

  const taskIds = []

  test('editImage with an image URL returns the finished result and its headers', async () => {
    const result = await api.editImage({
      prompt: '将背景改为海滩',
      imageUrl: `${images.url}/photo.png`,
      strength: 0.5,
      preserveScene: true,
      outputFormat: 'png',
      seed: 7,
    })
    assert.equal(result.success, true)
    assert.match(result.taskId, /^task_/)
    assert.match(result.imageUrl, /^https?:\/\//)
    assert.equal(typeof result.description, 'string')
    assert.equal(result.creditsUsed, 5)
    assert.equal(result.creditsRemaining, 'unlimited')
    assert.match(result.requestId, /^req_/)
    assert.equal('image_url' in result, false, 'answers are camelCase')
    taskIds.push(result.taskId)
  })

  test('removeBackground uploads a file path as multipart and returns the mask', async () => {
    const path = writeTemp('portrait.png', png(64))
    const result = await api.removeBackground({ imageUrl: path, returnMask: true, edgeSmooth: false })
    assert.match(result.imageUrl, /^https?:\/\//)
    assert.match(result.maskUrl, /^https?:\/\//)
    assert.equal(result.creditsUsed, 3)
    taskIds.push(result.taskId)
  })

  test('textToImage', async () => {
    const result = await api.textToImage({
      prompt: 'a red panda in a bamboo forest',
      width: 64,
      height: 64,
      style: 'anime',
      quality: 'standard',
    })
    assert.match(result.imageUrl, /^https?:\/\//)
    assert.equal(result.creditsUsed, 8)
    taskIds.push(result.taskId)
  })

  test('styleTransfer uploads a Buffer and a Blob', async () => {
    const result = await api.styleTransfer({
      contentImageUrl: png(64),
      styleImageUrl: new Blob([png(64, [30, 60, 200])], { type: 'image/png' }),
      strength: 0.7,
    })
    assert.match(result.imageUrl, /^https?:\/\//)
    assert.equal(result.creditsUsed, 6)
    taskIds.push(result.taskId)
  })

  test('enhance with a data: URL', async () => {
    const result = await api.enhance({ imageUrl: dataUrl(png(64)), enhancementType: 'upscale', upscaleFactor: 2 })
    assert.match(result.imageUrl, /^https?:\/\//)
    assert.equal(result.creditsUsed, 4)
    assert.match(result.description, /128x128/)
  })

  test('batchEdit waits for every task; getBatch shows the same batch', async () => {
    const batch = await api.batchEdit(
      {
        prompt: 'keep the face, change the outfit',
        imageUrls: [`${images.url}/photo.png`, dataUrl(png(64, [10, 200, 10]))],
        preserveCharacter: true,
        styleConsistency: true,
      },
      { waitTimeout: 300_000 },
    )
    assert.match(batch.batchId, /^batch_/)
    assert.equal(batch.status, 'completed')
    assert.equal(batch.tasks.length, 2)
    assert.equal(batch.totalCredits, 10)
    assert.equal(batch.creditsUsed, 10)
    for (const task of batch.tasks) assert.match(task.result.imageUrl, /^https?:\/\//)
    const again = await api.getBatch(batch.batchId)
    assert.equal(again.batchId, batch.batchId)
    assert.deepEqual(again.counts.completed, 2)
  })

  test('batchEdit refuses local files before sending anything', async () => {
    await assert.rejects(api.batchEdit({ prompt: 'x', imageUrls: ['photo.png'] }), TypeError)
  })

  test('getTaskStatus shows a finished task in camelCase', async () => {
    const task = await api.getTaskStatus(taskIds[0])
    assert.equal(task.taskId, taskIds[0])
    assert.equal(task.status, 'completed')
    assert.equal(task.progress, 100)
    assert.match(task.result.imageUrl, /^https?:\/\//)
    assert.equal(task.error, null)
    assert.match(task.createdAt, /Z$/)
    assert.match(task.completedAt, /Z$/)
    assert.match(task.requestId, /^req_/)
  })

  test('getAccount', async () => {
    const account = await api.getAccount()
    assert.match(account.userId, /^user_/)
    assert.match(account.email, /@example\.com$/)
    assert.equal(account.subscription.plan, 'max')
    assert.equal(account.credits.unlimited, true)
    assert.equal(typeof account.credits.usedThisMonth, 'number')
    assert.deepEqual(account.usageLimits.allowedFormats, ['jpeg', 'png', 'webp'])
    assert.equal(account.usageLimits.maxFileSizeMb, 20)
  })
})
