// The API reference's TypeScript snippet (examples/reference-snippet.ts): it type-checks, and
// runs with only its key and base URL replaced, under `import` and `require`, from this folder
// and from a tarball that `npm pack` made and npm installed elsewhere.
//
// No machine here reaches example.com, so the snippet's base URL is a proxy in front of the
// live server that stands in for it: it points the snippet's https://example.com/… images at a
// local image server and its task id (task_123456789) at the task the snippet just made.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
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

async function node(file, cwd) {
  try {
    return await run(process.execPath, [file], { cwd, timeout: 240_000 })
  } catch (error) {
    assert.fail(`node ${file} failed:\n${error.stdout}\n${error.stderr}`)
  }
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

    for (const kind of ['mjs', 'cjs']) {
      lastTaskId = undefined
      const file = join(app, `reference-snippet.${kind}`)
      writeFileSync(file, snippet(kind, key('SNIPPET'), `${front.url}/v1`))
      const { stdout } = await node(file, app)
      assert.match(stdout, URL_LINE)
    }
  })
})
