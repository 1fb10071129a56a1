/** Verifying the webhooks the server sends (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature` = space-separated `v1,<base64 HMAC-SHA256>` over
 * `<id>.<timestamp>.<body>`, with a `whsec_<base64>` secret), on WebCrypto. */

import { camelize } from './case.js'
import { WebhookVerificationError } from './errors.js'
import { webCrypto } from './runtime.js'
import type { WebhookEvent } from './types.js'

/** Standard Webhooks' recommended replay window, in seconds, either way. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300

export type WebhookHeaders =
  | Headers
  | Record<string, string | string[] | undefined>
  | Iterable<[string, string]>

export interface VerifyWebhookOptions {
  /** Seconds a message's timestamp may be from now (default 300). */
  tolerance?: number
  /** "Now", for tests (a Date or Unix milliseconds). */
  now?: Date | number
}

/**
 * Checks a webhook and returns its event; throws WebhookVerificationError when the signature
 * does not match any of `secret` (several during a rotation) or the timestamp is outside the
 * tolerance (a replay). Pass the raw body exactly as received, not re-serialised JSON.
 */
export async function verifyWebhook(
  payload: string | Uint8Array | ArrayBuffer,
  headers: WebhookHeaders,
  secret: string | readonly string[],
  options: VerifyWebhookOptions = {},
): Promise<WebhookEvent> {
  const get = headerReader(headers)
  const msgId = get('webhook-id')
  const timestamp = get('webhook-timestamp')
  const signature = get('webhook-signature')
  if (!msgId || !timestamp || !signature) {
    throw new WebhookVerificationError(
      'Missing webhook-id, webhook-timestamp or webhook-signature header',
    )
  }
  if (!/^\d+$/.test(timestamp.trim())) {
    throw new WebhookVerificationError('Invalid webhook-timestamp header')
  }
  const sentAt = Number(timestamp.trim())
  const now = options.now === undefined ? Date.now() : Number(options.now)
  const tolerance = options.tolerance ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS
  if (Math.abs(now / 1000 - sentAt) > tolerance) {
    throw new WebhookVerificationError(
      `Message timestamp is outside the ${tolerance} s tolerance (a replay, or a skewed clock)`,
    )
  }
  const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : toBytes(payload)
  const signed = concat(new TextEncoder().encode(`${msgId}.${sentAt}.`), body)
  const candidates = signature
    .split(' ')
    .map((part) => part.split(','))
    .filter((parts) => parts.length === 2 && parts[0] === 'v1')
    .map((parts) => base64Decode(parts[1]!))
    .filter((mac): mac is Uint8Array => mac !== undefined)
  const crypto = await webCrypto()
  for (const one of typeof secret === 'string' ? [secret] : secret) {
    const keyBytes = base64Decode(one.startsWith('whsec_') ? one.slice('whsec_'.length) : one)
    if (!keyBytes || keyBytes.length === 0) {
      throw new WebhookVerificationError('The webhook secret is not a whsec_<base64> secret')
    }
    const key = await crypto.subtle.importKey(
      'raw',
      keyBytes as BufferSource,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['verify'],
    )
    for (const mac of candidates) {
      // subtle.verify compares in constant time.
      if (await crypto.subtle.verify('HMAC', key, mac as BufferSource, signed as BufferSource)) {
        return parseEvent(msgId, body)
      }
    }
  }
  throw new WebhookVerificationError('No matching signature found')
}

function parseEvent(msgId: string, body: Uint8Array): WebhookEvent {
  let decoded: unknown
  try {
    decoded = JSON.parse(new TextDecoder().decode(body))
  } catch (error) {
    throw new WebhookVerificationError('The webhook body is not JSON', { cause: error })
  }
  return { id: msgId, ...camelize<Omit<WebhookEvent, 'id'>>(decoded) }
}

function headerReader(headers: WebhookHeaders): (name: string) => string | undefined {
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    return (name) => headers.get(name) ?? undefined
  }
  const entries: [string, string | string[] | undefined][] =
    Symbol.iterator in headers
      ? Array.from(headers as Iterable<[string, string]>)
      : Object.entries(headers as Record<string, string | string[] | undefined>)
  const map = new Map<string, string>()
  for (const [key, value] of entries) {
    if (value === undefined) continue
    map.set(key.toLowerCase(), Array.isArray(value) ? value.join(' ') : value)
  }
  return (name) => map.get(name)
}

function toBytes(payload: Uint8Array | ArrayBuffer): Uint8Array {
  return payload instanceof Uint8Array ? payload : new Uint8Array(payload)
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

function base64Decode(text: string): Uint8Array | undefined {
  try {
    const binary = atob(text.trim())
    return Uint8Array.from(binary, (char) => char.charCodeAt(0))
  } catch {
    return undefined
  }
}
