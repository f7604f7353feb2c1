export * from './nats-server.js'
export * from './ports.js'
