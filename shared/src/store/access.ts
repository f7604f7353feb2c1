import { createHash } from 'node:crypto'
import { ConfigError, StoreError } from '../errors.js'
import { assertDatabaseName, assertIdentifier, LOCAL_SUFFIX } from './schema.js'
import type { Store } from './store.js'

/*
 * SQL-driven access control for a ClickHouse server or cluster: who may write, who may only read.
 *
 *   tidewatch_writer  (aggregators)   INSERT on the tables, SELECT on ingest_batches and series,
 *                                     and role tidewatch_schema: the DDL of the migration every
 *                                     aggregator runs on start (CREATE ... IF NOT EXISTS is checked
 *                                     against grants even when the table exists)
 *   tidewatch_reader  (people, Grafana, the alerter)
 *                                     SELECT on the database; profile tidewatch_reader: readonly = 1,
 *                                     max_execution_time, max_memory_usage, max_rows_to_read
 *
 * Run once by an administrator (a user with access management) with migrateAccess, or print the
 * statements with accessDdl and run them with clickhouse-client. Passwords never reach the server
 * in clear text: users are created `IDENTIFIED WITH sha256_hash`.
 */

export interface AccessUser {
  /** User name. Defaults: `tidewatch_writer`, `tidewatch_reader`. */
  name?: string
  password: string
}

export interface ReaderLimits {
  /** Seconds; the reader may lower it (Grafana's data source sets it on every query). Default 60. */
  maxExecutionTimeSecs: number
  /** Bytes per query. Default 2147483648 (2 GiB). */
  maxMemoryUsage: number
  /** Rows read from tables per query. Default 1000000000. */
  maxRowsToRead: number
}

export const DEFAULT_READER_LIMITS: ReaderLimits = {
  maxExecutionTimeSecs: 60,
  maxMemoryUsage: 2 * 1024 * 1024 * 1024,
  maxRowsToRead: 1_000_000_000,
}

export interface AccessOptions {
  database: string
  /** `store.cluster`: every statement runs `ON CLUSTER`, and the `_local` tables are granted too. */
  cluster?: string
  writer: AccessUser
  reader: AccessUser
  readerLimits?: Partial<ReaderLimits>
}

/** Tables (not views) of the schema: what the writer may insert into. */
const TABLES = ['series', 'samples_raw', 'samples_1m', 'samples_1h', 'fleet_1m', 'ingest_batches']
/** Tables the aggregator itself reads (its intent log, and known series on start). */
const WRITER_READS = ['ingest_batches', 'series']
/**
 * What the migration reads to create its views: a materialized view's creator must be able to
 * SELECT its sources (fleet_1m_mv joins series), samples_range reads every tier, and the
 * migration fills a new fleet_1m from samples_1m once.
 */
const SCHEMA_READS = ['samples_raw', 'samples_1m', 'samples_1h', 'series', 'fleet_1m']

function identifier(name: string, key: string): string {
  assertIdentifier(name, key)
  return name
}

function positive(value: number, key: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(
      `${key}: expected a positive integer, found ${value}`,
      undefined,
      key,
      'a positive integer',
      String(value),
    )
  }
  return value
}

/** Hex SHA-256 of a password, as ClickHouse's `IDENTIFIED WITH sha256_hash BY` takes it. */
export function sha256Hex(password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('hex')
}

/**
 * The statements that create (or bring up to date) the roles, profiles, users and grants, in order.
 * Safe to run again: profiles and users are `CREATE ... OR REPLACE` (a changed password or limit
 * takes effect), roles `IF NOT EXISTS`, grants are additive.
 */
export function accessDdl(options: AccessOptions): string[] {
  assertDatabaseName(options.database)
  const db = options.database
  const on =
    options.cluster !== undefined ? ` ON CLUSTER ${identifier(options.cluster, 'store.cluster')}` : ''
  const writer = identifier(options.writer.name ?? 'tidewatch_writer', 'writer user')
  const reader = identifier(options.reader.name ?? 'tidewatch_reader', 'reader user')
  if (writer === reader)
    throw new ConfigError(
      'the writer and reader users must differ',
      undefined,
      'reader user',
      'another name',
      reader,
    )
  for (const [user, key] of [
    [options.writer, 'writer password'],
    [options.reader, 'reader password'],
  ] as const) {
    if (user.password.length < 12)
      throw new ConfigError(
        `${key}: expected at least 12 characters`,
        undefined,
        key,
        '>= 12 characters',
        `${user.password.length} characters`,
      )
  }
  const limits = { ...DEFAULT_READER_LIMITS, ...options.readerLimits }
  const maxTime = positive(limits.maxExecutionTimeSecs, 'maxExecutionTimeSecs')
  const maxMemory = positive(limits.maxMemoryUsage, 'maxMemoryUsage')
  const maxRows = positive(limits.maxRowsToRead, 'maxRowsToRead')
  // In a cluster the Distributed tables forward to the `_local` ones as the initial user.
  const withLocal = (tables: string[]) =>
    options.cluster !== undefined ? tables.flatMap((t) => [t, `${t}${LOCAL_SUFFIX}`]) : tables
  const grants = (privilege: string, tables: string[], to: string) =>
    withLocal(tables).map((table) => `GRANT${on} ${privilege} ON ${db}.${table} TO ${to}`)

  const schemaRole = 'tidewatch_schema'
  const writerSettings = options.cluster !== undefined ? ' SETTINGS distributed_foreground_insert = 1' : ''
  return [
    `CREATE ROLE IF NOT EXISTS ${schemaRole}${on}`,
    `GRANT${on} CREATE DATABASE, CREATE TABLE, CREATE VIEW, DROP VIEW, ALTER TTL, ALTER MODIFY COLUMN, ALTER ADD COLUMN, ALTER VIEW MODIFY QUERY ON ${db}.* TO ${schemaRole}`,
    ...grants('SELECT', SCHEMA_READS, schemaRole),
    ...(options.cluster !== undefined ? [`GRANT${on} CLUSTER ON *.* TO ${schemaRole}`] : []),
    `CREATE SETTINGS PROFILE OR REPLACE ${writer}${on}${writerSettings}`,
    `CREATE USER OR REPLACE ${writer}${on} IDENTIFIED WITH sha256_hash BY '${sha256Hex(options.writer.password)}' SETTINGS PROFILE '${writer}'`,
    ...grants('INSERT', TABLES, writer),
    ...grants('SELECT', WRITER_READS, writer),
    // A granted role is among the user's default roles (CREATE USER leaves DEFAULT ROLE ALL).
    `GRANT${on} ${schemaRole} TO ${writer}`,
    // readonly = 1: no writes, no DDL, no SETTINGS in the query; max_execution_time alone may be
    // lowered (Grafana's ClickHouse data source sets it on every query), never raised.
    `CREATE SETTINGS PROFILE OR REPLACE ${reader}${on} SETTINGS readonly = 1, max_execution_time = ${maxTime} MAX ${maxTime} CHANGEABLE_IN_READONLY, max_memory_usage = ${maxMemory}, max_rows_to_read = ${maxRows}`,
    `CREATE USER OR REPLACE ${reader}${on} IDENTIFIED WITH sha256_hash BY '${sha256Hex(options.reader.password)}' SETTINGS PROFILE '${reader}'`,
    `GRANT${on} SELECT ON ${db}.* TO ${reader}`,
  ]
}

/**
 * Runs accessDdl's statements with `admin`, a store opened as a user that may manage access
 * (`access_management = 1`). The database need not exist yet.
 */
export async function migrateAccess(admin: Store, options: AccessOptions): Promise<void> {
  const statements = accessDdl(options)
  try {
    for (const query of statements) await admin.client.command({ query })
  } catch (error) {
    throw new StoreError(
      `access migration of ${options.database} failed: ${(error as Error).message}`,
      'STORE_ACCESS_MIGRATION_FAILED',
      false,
      {
        cause: error,
      },
    )
  }
}
