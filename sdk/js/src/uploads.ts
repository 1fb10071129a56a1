/** Image inputs: a URL (http(s) or data:) goes in the JSON body; a Blob, bytes or a local file
 * is uploaded as multipart under the field's name without `_url` (`image_url` → `image`). */

import { FileTooLargeError } from './errors.js'
import type { ImageInput } from './types.js'
import { readLocalFile } from './runtime.js'

/** The largest file any plan accepts (Max: 20 MB). Larger files are refused before upload;
 * smaller ones over *your* plan's limit get the server's 413 as FileTooLargeError. */
export const MAX_FILE_SIZE_BYTES = 20 * 1024 * 1024

const URL_SCHEMES = /^(https?:|data:)/i

const MAGIC: [number[], string, string][] = [
  [[0xff, 0xd8, 0xff], 'image/jpeg', '.jpg'],
  [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'image/png', '.png'],
  [[0x52, 0x49, 0x46, 0x46], 'image/webp', '.webp'],
  [[0x47, 0x49, 0x46, 0x38], 'image/gif', '.gif'],
]

export function isUrl(value: unknown): value is string {
  return typeof value === 'string' && URL_SCHEMES.test(value.trim())
}

interface Upload {
  blob: Blob
  filename: string
}

/** The request body for one operation: JSON unless an image is to be uploaded, then multipart
 * with every other field as text. */
export async function buildBody(
  params: Record<string, unknown>,
  imageFields: readonly string[],
): Promise<{ json?: Record<string, unknown>; form?: FormData }> {
  const json: Record<string, unknown> = { ...params }
  const uploads: [string, Upload][] = []
  for (const field of imageFields) {
    const value = json[field]
    if (value === undefined || value === null || isUrl(value)) continue
    if (value instanceof URL && /^(https?|data):$/.test(value.protocol)) {
      json[field] = value.href
      continue
    }
    delete json[field]
    uploads.push([field.replace(/_url$/, ''), await toUpload(field, value as ImageInput)])
  }
  if (uploads.length === 0) return { json }
  const form = new FormData()
  for (const [key, value] of Object.entries(json)) {
    form.append(key, typeof value === 'string' ? value : JSON.stringify(value))
  }
  for (const [name, upload] of uploads) form.append(name, upload.blob, upload.filename)
  return { form }
}

async function toUpload(field: string, value: ImageInput): Promise<Upload> {
  let bytes: Uint8Array | undefined
  let blob: Blob | undefined
  let name = 'image'
  if (typeof value === 'string' || value instanceof URL) {
    if (value instanceof URL && value.protocol !== 'file:') {
      throw new TypeError(`${field}: unsupported URL scheme ${value.protocol}`)
    }
    let file: { bytes: Uint8Array; name: string }
    try {
      file = await readLocalFile(value)
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ENOENT') throw error
      throw new TypeError(
        `${field}: ${JSON.stringify(String(value))} is neither an http(s)/data: URL nor an existing file`,
        { cause: error },
      )
    }
    bytes = file.bytes
    name = file.name
  } else if (typeof Blob !== 'undefined' && value instanceof Blob) {
    blob = value
    const fileName = (value as Blob & { name?: unknown }).name
    if (typeof fileName === 'string' && fileName) name = fileName
  } else if (value instanceof Uint8Array) {
    bytes = value
  } else if (value instanceof ArrayBuffer) {
    bytes = new Uint8Array(value)
  } else {
    throw new TypeError(
      `${field}: expected a URL, a file path, a Blob or bytes, not ${describe(value)}`,
    )
  }
  const size = blob ? blob.size : bytes!.byteLength
  if (size > MAX_FILE_SIZE_BYTES) {
    throw new FileTooLargeError(
      `${field}: the file is ${(size / 1024 / 1024).toFixed(1)} MB; no plan accepts more than ` +
        `${MAX_FILE_SIZE_BYTES / 1024 / 1024} MB`,
      { code: 'FILE_TOO_LARGE', limitBytes: MAX_FILE_SIZE_BYTES },
    )
  }
  const head = blob ? new Uint8Array(await blob.slice(0, 16).arrayBuffer()) : bytes!.subarray(0, 16)
  const sniffed = MAGIC.find(([magic]) => magic.every((byte, i) => head[i] === byte))
  const type = (blob?.type || undefined) ?? sniffed?.[1] ?? 'application/octet-stream'
  if (!name.includes('.') && sniffed) name += sniffed[2]
  if (!blob) {
    // A copy into a fresh ArrayBuffer: Node's Buffers may be views on a larger shared pool.
    blob = new Blob([bytes!.slice()], { type })
  } else if (!blob.type) {
    blob = new Blob([blob], { type })
  }
  return { blob, filename: name }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object'
  return typeof value
}
