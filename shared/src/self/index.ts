export * from './registry.js'
export * from './admin-server.js'
export * from './self-ingest.js'
export * from './nats-ready.js'
