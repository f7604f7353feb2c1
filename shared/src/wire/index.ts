/** The wire format's public surface; README.md ("Wire format v1") is the byte-by-byte spec. */
export * from './types.js'
export { DecodeCache, decodeBatch, encodeBatch } from './codec.js'
export { checkBatchBytes, limitsFromConfig, validateBatch } from './checks.js'
export { VERSION as WIRE_VERSION } from './format.js'
