/**
 * Just enough of ClickHouse's lexer to route a request without parsing it: the first keyword (is
 * this an INSERT, a read?), a trailing `FORMAT <name>` (for the response headers), and whether a
 * second statement follows a `;` (ClickHouse's HTTP interface refuses multi-statements; chDB would
 * run them). Strings, quoted identifiers and comments are skipped so a `;` or `FORMAT` inside them
 * does not count. The engine still parses the query; this only decides what to let through.
 */

export interface SqlShape {
  /** First keyword, upper-cased (`SELECT`, `INSERT`, ...); `(` for a parenthesised query; '' when empty. */
  readonly keyword: string
  /** The name in a top-level `FORMAT <name>` clause at the end of the statement, if any. */
  readonly format: string | undefined
  /** A second statement follows a top-level `;`. Not computed for INSERT (its inline data may hold anything). */
  readonly multiStatement: boolean
  /** A FROM or JOIN keyword appears (outside strings and comments): the statement may read tables. */
  readonly readsTables: boolean
}

interface Token {
  kind: 'word' | 'punct' | 'other'
  text: string
}

/** Statements a read-only caller may run (the engine's readonly=1 is the second, stronger check). */
const READ_KEYWORDS = new Set(['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXISTS', 'EXPLAIN', '('])

export function isReadStatement(shape: SqlShape): boolean {
  return READ_KEYWORDS.has(shape.keyword)
}

export function inspectSql(sql: string): SqlShape {
  const tokens: Token[] = []
  let keyword = ''
  let multiStatement = false
  let afterSemicolon = false
  let readsTables = false
  for (const token of lex(sql)) {
    if (token.kind === 'word' && /^(FROM|JOIN)$/i.test(token.text)) readsTables = true
    if (keyword === '') keyword = token.kind === 'word' ? token.text.toUpperCase() : token.text
    if (keyword === 'INSERT') {
      // Everything after `FORMAT x` or `VALUES` is data, not SQL.
      const prev = tokens.at(-1)
      if (token.kind === 'word' && token.text.toUpperCase() === 'VALUES') break
      if (
        prev !== undefined &&
        prev.kind === 'word' &&
        prev.text.toUpperCase() === 'FORMAT' &&
        token.kind === 'word'
      ) {
        tokens.push(token)
        break
      }
    }
    if (afterSemicolon && !(token.kind === 'punct' && token.text === ';')) multiStatement = true
    if (token.kind === 'punct' && token.text === ';') afterSemicolon = true
    tokens.push(token)
  }
  return {
    keyword,
    format: trailingFormat(tokens),
    multiStatement: keyword !== 'INSERT' && multiStatement,
    readsTables,
  }
}

/** `... FORMAT name` at depth 0, followed only by nothing, `;` or a SETTINGS clause. */
function trailingFormat(tokens: Token[]): string | undefined {
  let depth = 0
  let found: string | undefined
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    if (t.kind === 'punct' && t.text === '(') depth++
    else if (t.kind === 'punct' && t.text === ')') depth--
    else if (depth === 0 && t.kind === 'word' && t.text.toUpperCase() === 'FORMAT') {
      const name = tokens[i + 1]
      const after = tokens[i + 2]
      const ends =
        after === undefined ||
        (after.kind === 'punct' && after.text === ';') ||
        (after.kind === 'word' && after.text.toUpperCase() === 'SETTINGS')
      if (name !== undefined && name.kind === 'word' && ends) found = name.text
    }
  }
  return found
}

function* lex(sql: string): Generator<Token> {
  const n = sql.length
  let i = 0
  while (i < n) {
    const c = sql[i]!
    if (/\s/.test(c)) {
      i++
    } else if (
      (c === '-' && sql[i + 1] === '-') ||
      (c === '#' && (sql[i + 1] === ' ' || sql[i + 1] === '!'))
    ) {
      const end = sql.indexOf('\n', i)
      i = end < 0 ? n : end + 1
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2)
      i = end < 0 ? n : end + 2
    } else if (c === "'" || c === '"' || c === '`') {
      i = skipQuoted(sql, i, c)
      yield { kind: c === "'" ? 'other' : 'word', text: c === "'" ? 'string' : 'identifier' }
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++
      yield { kind: 'word', text: sql.slice(i, j) }
      i = j
    } else if (/[0-9]/.test(c)) {
      let j = i + 1
      while (j < n && /[0-9A-Za-z_.]/.test(sql[j]!)) j++
      yield { kind: 'other', text: sql.slice(i, j) }
      i = j
    } else {
      yield { kind: 'punct', text: c }
      i++
    }
  }
}

/** Index just past a quoted token; backslash escapes and doubled quotes both stay inside it. */
function skipQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1
  while (i < sql.length) {
    const c = sql[i]
    if (c === '\\') i += 2
    else if (c === quote && sql[i + 1] === quote) i += 2
    else if (c === quote) return i + 1
    else i++
  }
  return sql.length
}
