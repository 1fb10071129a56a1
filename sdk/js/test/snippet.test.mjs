// The API reference's TypeScript snippet (examples/reference-snippet.ts): it type-checks, and
// runs with only its key and base URL replaced, under `import` and `require`, from this folder
// and from a tarball that `npm pack` made and npm installed elsewhere, on Node and on the other
// runtimes the SDK supports (Bun and Deno, installed from npm as dev dependencies).
//
// No machine here reaches example.com, so the snippet's base URL is a proxy in front of the
// live server that stands in for it: it points the snippet's https://example.com/… images at a
// local image server and its task id (task_123456789) at the task the snippet just made.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { BASE_URL, key, listen, live, png, readBody, serveImages, tempDir } from './helpers.mjs'

const run = promisify(execFile)
const SDK = dirname(dirname(fileURLToPath(import.meta.url)))
const SNIPPET = readFileSync(join(SDK, 'examples', 'reference-snippet.ts'), 'utf8')
const REFERENCE_KEY = "'nk_live_xxxxxxxxxxxx'"
const REFERENCE_BASE_URL = "'https://api.nanobanana.ai/v1'"

/** The snippet with only the key and base URL replaced, as ESM or as CommonJS (`require`,
 * and the awaits inside an async function: CommonJS has no top-level await). */
function snippet(kind, apiKey, baseURL) {
  assert.ok(SNIPPET.includes(REFERENCE_KEY) && SNIPPET.includes(REFERENCE_BASE_URL))
  const code = SNIPPET.replace(REFERENCE_KEY, JSON.stringify(apiKey)).replace(
    REFERENCE_BASE_URL,
    JSON.stringify(baseURL),
  )
  if (kind === 'mjs') return code
  const [importLine, ...rest] = code
    .split('\n')
    .filter((line) => !line.startsWith('//'))
  assert.equal(importLine, "import { NanoBananaAPI } from 'nanobanana-js'")
  return `const { NanoBananaAPI } = require('nanobanana-js')\n;(async () => {\n${rest.join('\n')}\n})().catch((error) => {\n  console.error(error)\n  process.exitCode = 1\n})\n`
}

const BIN = join(SDK, 'node_modules', '.bin')

/** How each runtime runs a script: Deno asks for the permissions the SDK needs (the network,
 * and reading the package and its environment). */
const RUNTIMES = {
  node: (file) => [process.execPath, [file]],
  bun: (file) => [join(BIN, 'bun'), [file]],
  deno: (file) => [join(BIN, 'deno'), ['run', '--quiet', '--allow-net', '--allow-env', '--allow-read', file]],
}

async function execute(runtime, file, cwd) {
  const [command, args] = RUNTIMES[runtime](file)
  try {
    return await run(command, args, { cwd, timeout: 240_000, env: { ...process.env, NO_COLOR: '1' } })
  } catch (error) {
    assert.fail(`${runtime} ${file} failed:\n${error.stdout}\n${error.stderr}`)
  }
}

const node = (file, cwd) => execute('node', file, cwd)

// An account per runtime: its runs make five billable requests, and one Max account allows ten
// a minute.
const SNIPPET_KEYS = { node: 'SNIPPET', bun: 'SNIPPET_BUN', deno: 'SNIPPET_DENO' }

/** A script for each runtime: an upload from a local path (read with the runtime's node:fs)
 * to the live server, and verifyWebhook (WebCrypto) on a message signed here with node:crypto,
 * where the genuine message verifies and a tampered body does not. */
function runtimeCheck(apiKey) {
  const secretBytes = randomBytes(24)
  const secret = `whsec_${secretBytes.toString('base64')}`
  const payload = JSON.stringify({ type: 'task.completed', data: { task_id: 'task_abc', status: 'completed' } })
  const id = 'msg_runtime'
  const timestamp = Math.floor(Date.now() / 1000)
  const mac = createHmac('sha256', secretBytes).update(`${id}.${timestamp}.${payload}`).digest('base64')
  const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${mac}` }
  return `import { NanoBananaAPI, verifyWebhook, WebhookVerificationError } from 'nanobanana-js'
const client = new NanoBananaAPI({ apiKey: ${JSON.stringify(apiKey)}, baseURL: ${JSON.stringify(BASE_URL)} })
const cut = await client.removeBackground({ imageUrl: './photo.png' })
const [payload, headers, secret] = ${JSON.stringify([payload, headers, secret])}
const event = await verifyWebhook(payload, headers, secret)
const tampered = await verifyWebhook(payload.replace('abc', 'xyz'), headers, secret).then(
  () => 'accepted',
  (error) => (error instanceof WebhookVerificationError ? 'rejected' : String(error)),
)
console.log(cut.creditsUsed, cut.imageUrl.startsWith('http'), event.type, event.data.taskId, tampered)
`
}

const URL_LINE = /^https?:\/\/\S+ https?:\/\/\S+ completed$/m

describe('the reference snippet', () => {
  test('type-checks against the published declarations (ESM and CommonJS)', async () => {
    const tsc = join(SDK, 'node_modules', 'typescript', 'bin', 'tsc')
    await run(process.execPath, [tsc, '-p', join(SDK, 'test', 'tsconfig.json')], { cwd: SDK }).catch((error) =>
      assert.fail(`tsc failed:\n${error.stdout}${error.stderr}`),
    )
  })
})

describe('the reference snippet against the live server', live, () => {
  let images
  let front
  let lastTaskId
  before(async () => {
    images = await serveImages({ '/photo.jpg': png(64), '/portrait.jpg': png(64, [40, 160, 90]) })
    front = await listen(async (req, res) => {
      let body = (await readBody(req)).toString('utf8')
      body = body.replaceAll('https://example.com/', `${images.url}/`)
      const path = req.url.replace('/task/task_123456789', `/task/${lastTaskId}`)
      const headers = { ...req.headers }
      for (const hop of ['host', 'connection', 'content-length']) delete headers[hop]
      const answer = await fetch(BASE_URL + path, {
        method: req.method,
        headers,
        ...(body ? { body } : {}),
      })
      const text = await answer.text()
      const taskId = /"task_id": ?"(task_[A-Za-z0-9]+)"/.exec(text)?.[1]
      if (taskId && req.method === 'POST' && lastTaskId === undefined) lastTaskId = taskId
      res.writeHead(answer.status, Object.fromEntries(answer.headers)).end(text)
    })
  })
  after(async () => {
    await images?.close()
    await front?.close()
  })

  const tmp = join(SDK, '.test-tmp')
  for (const kind of ['mjs', 'cjs']) {
    test(`runs unchanged under ${kind === 'mjs' ? 'import (.mjs)' : 'require (.cjs)'}`, async () => {
      lastTaskId = undefined
      mkdirSync(tmp, { recursive: true })
      const file = join(tmp, `reference-snippet.${kind}`)
      writeFileSync(file, snippet(kind, key('SNIPPET'), `${front.url}/v1`))
      const { stdout } = await node(file, SDK)
      assert.match(stdout, URL_LINE)
      console.log(`  ${kind}: ${stdout.trim()}`)
    })
  }

  test('npm pack makes a tarball that installs and runs elsewhere (import and require)', async () => {
    const packs = tempDir('nanobanana-js-pack-')
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    await run(npm, ['pack', '--pack-destination', packs, '--silent'], { cwd: SDK, timeout: 240_000 })
    const tarball = readdirSync(packs).find((name) => name.endsWith('.tgz'))
    assert.match(tarball, /^nanobanana-js-\d+\.\d+\.\d+\.tgz$/)

    const app = tempDir('nanobanana-js-app-')
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n')
    await run(npm, ['install', '--offline', '--no-audit', '--no-fund', join(packs, tarball)], {
      cwd: app,
      timeout: 240_000,
    })
    const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'nanobanana-js', 'package.json'), 'utf8'))
    assert.deepEqual(installed.dependencies ?? {}, {}, 'zero runtime dependencies')
    const shipped = readdirSync(join(app, 'node_modules', 'nanobanana-js', 'dist'))
    assert.deepEqual(shipped.sort(), ['cjs', 'esm'])

    // Node, Bun and Deno each run the snippet under import and require, upload a file from a
    // path and verify a webhook.
    writeFileSync(join(app, 'photo.png'), png(64))
    for (const runtime of Object.keys(RUNTIMES)) {
      for (const kind of ['mjs', 'cjs']) {
        lastTaskId = undefined
        const file = join(app, `reference-snippet.${kind}`)
        writeFileSync(file, snippet(kind, key(SNIPPET_KEYS[runtime]), `${front.url}/v1`))
        const { stdout } = await execute(runtime, file, app)
        assert.match(stdout, URL_LINE, `${runtime} ${kind}`)
        console.log(`  ${runtime} ${kind}: ${stdout.trim()}`)
      }
      writeFileSync(join(app, 'runtime-check.mjs'), runtimeCheck(key(SNIPPET_KEYS[runtime])))
      const { stdout } = await execute(runtime, 'runtime-check.mjs', app)
      assert.equal(stdout.trim(), '3 true task.completed task_abc rejected', runtime)
    }
  })
})
