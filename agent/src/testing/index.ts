export * from './fake-time.js'
