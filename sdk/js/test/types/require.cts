// The CommonJS build's declarations, as a `require` user's TypeScript sees them.
import sdk = require('nanobanana-js')

const client: sdk.NanoBananaAPI = new sdk.NanoBananaAPI({ apiKey: 'nk_live_x', maxRetries: 0 })
export const pending: Promise<sdk.TaskAccepted> = client.textToImage({ prompt: 'p' }, { wait: false })
export const done: Promise<sdk.ImageResult> = client.textToImage({ prompt: 'p' })
export const isError: boolean = new sdk.RateLimitError('x') instanceof sdk.NanoBananaError
