#!/usr/bin/env node
/*
 * One-shot access migration for a ClickHouse server (docker-compose's `store-access` service, or by
 * hand): creates tidewatch's writer and reader users, profiles and grants (see access.ts), then exits.
 *
 *   CLICKHOUSE_URL=http://clickhouse:8123 CLICKHOUSE_ADMIN_USER=admin CLICKHOUSE_ADMIN_PASSWORD=... \
 *   TIDEWATCH_WRITER_PASSWORD=... TIDEWATCH_READER_PASSWORD=... node shared/dist/store/access-main.js
 *
 * Optional: TIDEWATCH_DATABASE (tidewatch), TIDEWATCH_CLUSTER, TIDEWATCH_WRITER_USER, TIDEWATCH_READER_USER.
 * With --print it only prints the statements (passwords appear as SHA-256 hashes).
 */
import { storeSchema } from '../config/schema.js'
import { accessDdl, migrateAccess, type AccessOptions } from './access.js'
import { createStore } from './store.js'

function required(name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is not set`)
  return value
}

async function main(): Promise<void> {
  const env = process.env
  const options: AccessOptions = {
    database: env.TIDEWATCH_DATABASE ?? 'tidewatch',
    ...(env.TIDEWATCH_CLUSTER ? { cluster: env.TIDEWATCH_CLUSTER } : {}),
    writer: {
      ...(env.TIDEWATCH_WRITER_USER ? { name: env.TIDEWATCH_WRITER_USER } : {}),
      password: required('TIDEWATCH_WRITER_PASSWORD'),
    },
    reader: {
      ...(env.TIDEWATCH_READER_USER ? { name: env.TIDEWATCH_READER_USER } : {}),
      password: required('TIDEWATCH_READER_PASSWORD'),
    },
  }
  if (process.argv.includes('--print')) {
    process.stdout.write(
      accessDdl(options)
        .map((sql) => `${sql};\n`)
        .join(''),
    )
    return
  }
  const admin = createStore(
    storeSchema.parse({
      url: required('CLICKHOUSE_URL'),
      user: required('CLICKHOUSE_ADMIN_USER'),
      password: required('CLICKHOUSE_ADMIN_PASSWORD'),
      database: options.database,
    }),
  )
  try {
    await migrateAccess(admin, options)
    process.stdout.write(`tidewatch access control is in place on ${options.database}\n`)
  } finally {
    await admin.close()
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`)
  process.exitCode = 1
})
