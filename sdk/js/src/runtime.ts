/** What the SDK needs from its JavaScript runtime, found lazily: nothing Node-only is touched at
 * import time, so the package loads in Node ≥ 18, Deno, Bun, edge runtimes and browsers. */

import { APIUserAbortError } from './errors.js'

interface ProcessLike {
  env?: Record<string, string | undefined>
}

/** An environment variable, when the runtime has them and lets us read them. */
export function readEnv(name: string): string | undefined {
  try {
    const process = (globalThis as { process?: ProcessLike }).process
    const value = process?.env?.[name]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  } catch {
    return undefined // Deno without --allow-env throws
  }
}

/** WebCrypto: the global one (Node ≥ 19, Deno, Bun, browsers) or Node 18's `node:crypto`. */
export async function webCrypto(): Promise<Crypto> {
  const global = (globalThis as { crypto?: Crypto }).crypto
  if (global?.subtle) return global
  const nodeCrypto = (await import(/* webpackIgnore: true */ 'node:crypto' as string)) as {
    webcrypto: Crypto
  }
  return nodeCrypto.webcrypto
}

/** A random v4 UUID (idempotency keys). */
export async function randomUUID(): Promise<string> {
  const crypto = await webCrypto()
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = (bytes[6]! & 0x0f) | 0x40
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** A local file's bytes and name (Node, Bun and Deno's Node compatibility only). */
export async function readLocalFile(path: string | URL): Promise<{ bytes: Uint8Array; name: string }> {
  let fs: { readFile(path: string | URL): Promise<Uint8Array> }
  try {
    fs = (await import(/* webpackIgnore: true */ 'node:fs/promises' as string)) as typeof fs
  } catch (error) {
    throw new TypeError(
      `Reading ${String(path)} needs a runtime with node:fs; pass a Blob or bytes instead`,
      { cause: error },
    )
  }
  const bytes = await fs.readFile(path)
  const text = typeof path === 'string' ? path : decodeURIComponent(path.pathname)
  const name = text.split(/[\\/]/).pop() || 'image'
  return { bytes, name }
}

/** Resolves after `ms`, or rejects with APIUserAbortError when `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal))
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortError(signal!))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, Math.max(ms, 0))
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export function abortError(signal: AbortSignal): APIUserAbortError {
  const reason: unknown = signal.reason
  const text = reason instanceof Error ? reason.message : reason === undefined ? '' : String(reason)
  return new APIUserAbortError(text ? `Request was aborted: ${text}` : 'Request was aborted.', {
    cause: reason,
  })
}
