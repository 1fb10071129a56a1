// Marks each build folder with its module system: the package is "type": "module", so the
// CommonJS build (and its .d.ts, for TypeScript's node16/nodenext resolution) needs its own
// package.json saying "commonjs".
import { writeFileSync } from 'node:fs'

writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{ "type": "commonjs" }\n')
writeFileSync(new URL('../dist/esm/package.json', import.meta.url), '{ "type": "module" }\n')
