export * from './fake-time.js'
export * from './run-cli.js'
export * from './services.js'
