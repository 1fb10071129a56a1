/** The API speaks snake_case JSON; the SDK speaks camelCase. Keys are converted both ways, values
 * never (an `image_url` value, a status name or a prompt is passed through untouched). */

export function snakeKey(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
}

export function camelKey(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase())
}

/** A deep copy of decoded JSON with camelCase keys. */
export function camelize<T = unknown>(value: unknown): T {
  if (Array.isArray(value)) return value.map((item) => camelize(item)) as T
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) out[camelKey(key)] = camelize(item)
    return out as T
  }
  return value as T
}

/** A request's parameters with snake_case keys, leaving out the undefined ones. */
export function snakeParams(params: object): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) out[snakeKey(key)] = value
  }
  return out
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
