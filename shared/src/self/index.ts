export * from './registry.js'
export * from './admin-server.js'
