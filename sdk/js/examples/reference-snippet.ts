// The API reference's TypeScript snippet (its "SDKs" section), verbatim, and one line printing a
// result URL. test/snippet.test.mjs type-checks this file and runs it, with only the key and
// the base URL replaced, under `import` (.mjs) and `require` (.cjs).
import { NanoBananaAPI } from 'nanobanana-js'
const client = new NanoBananaAPI({ apiKey: 'nk_live_xxxxxxxxxxxx', baseURL: 'https://api.nanobanana.ai/v1' })
const editResult = await client.editImage({ prompt: '将背景改为海滩', imageUrl: 'https://example.com/photo.jpg' })
const removeBgResult = await client.removeBackground({ imageUrl: 'https://example.com/portrait.jpg' })
const taskStatus = await client.getTaskStatus('task_123456789')
console.log(editResult.imageUrl, removeBgResult.imageUrl, taskStatus.status)
