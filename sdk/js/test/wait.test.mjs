// Waiting on the live server: the async (202) form, waitForTask with a progress callback, a
// deadline that expires and cancels, and listTasks across pages.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { TaskTimeoutError } from 'nanobanana-js'

import { client, live, png } from './helpers.mjs'

describe('waiting for tasks (Pro plan key)', live, () => {
  const api = () => client('WAIT')
  const created = []

  test('wait: false returns the 202 form at once; waitForTask reports progress', async () => {
    const accepted = await api().editImage({ prompt: 'make it snow', imageUrl: png(64) }, { wait: false })
    assert.equal(accepted.success, true)
    assert.match(accepted.taskId, /^task_/)
    assert.ok(['pending', 'processing', 'completed'].includes(accepted.status), accepted.status)
    assert.equal(accepted.creditsUsed, 5)
    assert.equal(accepted.creditsRemaining, 995)
    created.push(accepted.taskId)

    const seen = []
    const task = await api().waitForTask(accepted.taskId, {
      timeout: 120_000,
      onProgress: (update) => seen.push([update.status, update.progress]),
    })
    assert.equal(task.status, 'completed')
    assert.match(task.result.imageUrl, /^https?:\/\//)
    assert.ok(seen.length >= 1)
    assert.deepEqual(seen.at(-1), ['completed', 100])
    const progress = seen.map(([, value]) => value)
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress never goes back')
    assert.equal(new Set(seen.map(String)).size, seen.length, 'called on changes only')
  })

  test('a deadline that expires cancels the task (cancelOnTimeout) and refunds it', async () => {
    // The worker picks a queued task up within moments, so a task still pending when the
    // (1 ms) deadline passes is likely but not certain: a few tries make it so.
    const balanceBefore = (await api().getAccount()).credits.balance
    let error
    for (let attempt = 0; attempt < 4; attempt++) {
      // Something ahead of it in the queue, so it waits there.
      const ahead = await api().textToImage({ prompt: 'ahead', width: 64, height: 64 }, { wait: false })
      const task = await api().textToImage({ prompt: 'too late', width: 64, height: 64 }, { wait: false })
      created.push(ahead.taskId, task.taskId)
      error = await api()
        .waitForTask(task.taskId, { timeout: 1, cancelOnTimeout: true })
        .catch((caught) => caught)
      if (!(error instanceof TaskTimeoutError)) {
        // It finished before the first poll answered: try again.
        assert.equal(error.status, 'completed', String(error))
        continue
      }
      if (error.cancelled) break
      assert.match(error.message, /could not be cancelled/)
    }
    assert.ok(error instanceof TaskTimeoutError, String(error))
    assert.equal(error.cancelled, true, 'the task was cancelled')
    assert.match(error.message, /cancelled \(credits refunded\)/)
    const task = await api().getTaskStatus(error.taskId)
    assert.equal(task.status, 'cancelled')
    const spent = balanceBefore - (await api().getAccount()).credits.balance
    // Every task ran and was charged except the cancelled one, which was refunded.
    const charged = (await Promise.all(created.slice(1).map((id) => api().getTaskStatus(id)))).filter(
      (one) => one.status !== 'cancelled',
    ).length
    assert.equal(spent, charged * 8)
  })

  test('listTasks goes through every page, newest first, and filters', async () => {
    const pages = []
    for await (const page of api().listTasks({ limit: 2 }).pages()) pages.push(page)
    assert.ok(pages.length >= 2, `${pages.length} pages`)
    assert.ok(pages.slice(0, -1).every((page) => page.hasMore && page.data.length === 2))
    assert.equal(pages.at(-1).hasMore, false)

    const all = []
    for await (const task of api().listTasks({ limit: 2 })) all.push(task)
    assert.deepEqual(
      all.map((task) => task.taskId),
      pages.flatMap((page) => page.data.map((task) => task.taskId)),
    )
    assert.deepEqual(new Set(all.map((task) => task.taskId)), new Set(created))
    const times = all.map((task) => task.createdAt)
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first')

    const cancelled = await api().listTasks({ status: 'cancelled', limit: 100 }).toArray()
    assert.ok(cancelled.length >= 1)
    assert.ok(cancelled.every((task) => task.status === 'cancelled'))
    const edits = await api().listTasks({ operation: 'image_edit', createdAfter: new Date(Date.now() - 3_600_000) }).toArray()
    assert.deepEqual(
      edits.map((task) => task.taskId),
      [created[0]],
    )
  })
})
