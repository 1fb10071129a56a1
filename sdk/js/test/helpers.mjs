// What the tests share: the live server's URL and keys (from the environment, set by
// tests/sdk/test_js_sdk.py), tiny PNGs, a local image server and a recording proxy.
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateSync } from 'node:zlib'

import { NanoBananaAPI } from 'nanobanana-js'

export const BASE_URL = process.env.NANOBANANA_TEST_BASE_URL ?? ''

/** `{ skip }` for node:test: the live tests need the server the pytest driver starts. */
export const live = BASE_URL
  ? {}
  : { skip: 'no live server: run tests/sdk/test_js_sdk.py, or set NANOBANANA_TEST_BASE_URL and keys' }

/** The API key the driver issued under NANOBANANA_TEST_KEY_<name> (an account of its own, so
 * the per-minute limits of one test never touch another's). */
export function key(name) {
  const value = process.env[`NANOBANANA_TEST_KEY_${name}`]
  if (!value) throw new Error(`NANOBANANA_TEST_KEY_${name} is not set`)
  return value
}

export function client(name, options = {}) {
  return new NanoBananaAPI({ apiKey: key(name), baseURL: BASE_URL, ...options })
}

// --- Images ----------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(bytes) {
  let c = 0xffffffff
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'ascii')
  data.copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}

/** A `size`×`size` RGB PNG: a colour gradient with a square in the middle (something to
 * segment, edit and upscale). */
export function png(size = 64, [r, g, b] = [220, 120, 40]) {
  const rows = []
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3)
    for (let x = 0; x < size; x++) {
      const inside = x > size / 4 && x < (3 * size) / 4 && y > size / 4 && y < (3 * size) / 4
      row[1 + x * 3] = inside ? r : (x * 4) & 0xff
      row[2 + x * 3] = inside ? g : (y * 4) & 0xff
      row[3 + x * 3] = inside ? b : 200
    }
    rows.push(row)
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

export function dataUrl(bytes = png()) {
  return `data:image/png;base64,${bytes.toString('base64')}`
}

const temporary = []
process.on('exit', () => {
  for (const folder of temporary) rmSync(folder, { recursive: true, force: true })
})

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'nanobanana-js-') {
  const folder = mkdtempSync(join(tmpdir(), prefix))
  temporary.push(folder)
  return folder
}

export function writeTemp(name, bytes) {
  const path = join(tempDir(), name)
  writeFileSync(path, bytes)
  return path
}

// --- Local servers ---------------------------------------------------------------------------

/** An HTTP server on 127.0.0.1 (the stack may fetch from and call back to loopback). */
export async function listen(handler) {
  const server = http.createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}

/** Serves `files` ({ '/photo.png': bytes }) as images. */
export function serveImages(files) {
  return listen((req, res) => {
    const body = files[new URL(req.url, 'http://x').pathname]
    if (!body) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': body.length }).end(body)
  })
}

export async function readBody(req) {
  const parts = []
  for await (const part of req) parts.push(part)
  return Buffer.concat(parts)
}

/**
 * A proxy in front of `target`. `intercept(req, res, body, n)` may answer the n-th request
 * itself (write `res`, return true) or return `{ body, path }` to forward a rewritten one;
 * every request is recorded in `seen` ({ method, path, headers }).
 */
export async function proxy(target, intercept = () => undefined) {
  const seen = []
  const front = await listen(async (req, res) => {
    const body = await readBody(req)
    seen.push({ method: req.method, path: req.url, headers: req.headers })
    const decision = (await intercept(req, res, body, seen.length)) ?? {}
    if (decision === true) return
    const forwarded = decision.body ?? body
    const rewrittenPath = decision.path ?? req.url
    const headers = { ...req.headers, host: new URL(target).host }
    delete headers['content-length']
    if (forwarded.length) headers['content-length'] = String(forwarded.length)
    const upstream = http.request(new URL(rewrittenPath, target), { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', (error) => res.destroy(error))
    upstream.end(forwarded)
  })
  return { ...front, seen }
}
