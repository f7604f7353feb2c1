/* global document, window, fetch, location, URLSearchParams, uPlot, setInterval, clearInterval, console, ResizeObserver */
// tidewatch's built-in dashboard: plain ES module, no build step, no framework. Each page asks the
// server for its plan (tier, bucket, SQL per panel), then runs every panel's SQL itself through the
// store's read-only ClickHouse HTTP endpoint (POST /, query parameters as param_*), and draws time
// series with uPlot (served from this package, so the page works offline).

const PAGES = ['fleet', 'host', 'queues', 'alerts']
const COLORS = [
  '#4ea1ff',
  '#f5b942',
  '#57c785',
  '#ff6b6b',
  '#b48cff',
  '#4fd1c5',
  '#ff8fab',
  '#a3be8c',
  '#d08770',
  '#88c0d0',
  '#ebcb8b',
  '#bf616a',
]

const state = { page: 'fleet', vars: {}, timer: undefined, generation: 0, plots: [] }
const main = document.getElementById('main')
const rangeSelect = document.getElementById('range')
const refreshSelect = document.getElementById('refresh')
const tierBadge = document.getElementById('tier')
const varsBox = document.getElementById('vars')

function readHash() {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?')
  const params = new URLSearchParams(query ?? '')
  state.page = PAGES.includes(path) ? path : 'fleet'
  state.vars = {}
  for (const [k, v] of params) {
    if (k === 'range') rangeSelect.value = v
    else if (k === 'refresh') refreshSelect.value = v
    else state.vars[k] = v
  }
}

function writeHash() {
  const params = new URLSearchParams({
    ...state.vars,
    range: rangeSelect.value,
    refresh: refreshSelect.value,
  })
  const next = `#/${state.page}?${params}`
  if (location.hash !== next) window.history.replaceState(null, '', next)
}

/** Runs one read-only query; returns { meta, data } (ClickHouse's JSONCompact). */
async function query(sql, params) {
  const search = new URLSearchParams({ default_format: 'JSONCompact' })
  for (const [k, v] of Object.entries(params)) search.set(`param_${k}`, v)
  const res = await fetch(`/?${search}`, { method: 'POST', body: sql })
  const text = await res.text()
  if (!res.ok) throw new Error(text.trim() || `HTTP ${res.status}`)
  return JSON.parse(text)
}

const parseTime = (s) => Date.parse(s.replace(' ', 'T') + 'Z') / 1000

function formatValue(unit, v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–'
  const abs = Math.abs(v)
  if (unit === 'bytes' || unit === 'bytes/s') {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
    let i = 0
    let x = abs
    while (x >= 1024 && i < units.length - 1) {
      x /= 1024
      i++
    }
    return `${v < 0 ? '-' : ''}${x.toFixed(x < 10 && i > 0 ? 1 : 0)} ${units[i]}${unit === 'bytes/s' ? '/s' : ''}`
  }
  if (unit === 'percent') return `${v.toFixed(abs < 10 ? 1 : 0)}%`
  if (abs >= 1e9) return `${(v / 1e9).toFixed(1)}G`
  if (abs >= 1e6) return `${(v / 1e6).toFixed(1)}M`
  if (abs >= 1e4) return `${(v / 1e3).toFixed(0)}k`
  return abs >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(2)
}

function panelBox(title, note, wide) {
  const el = document.createElement('section')
  el.className = wide ? 'panel wide' : 'panel'
  el.dataset.state = 'loading'
  const h = document.createElement('h2')
  h.textContent = title
  if (note) {
    const small = document.createElement('small')
    small.textContent = note
    h.append(small)
  }
  const body = document.createElement('div')
  body.className = 'body'
  body.innerHTML = '<div class="msg">loading…</div>'
  el.append(h, body)
  main.append(el)
  return { el, body }
}

function done(box, rows) {
  box.el.dataset.state = 'done'
  box.el.dataset.rows = String(rows)
}

function fail(box, error) {
  box.el.dataset.state = 'error'
  box.body.innerHTML = ''
  const pre = document.createElement('div')
  pre.className = 'err'
  pre.textContent = String(error.message ?? error)
  box.body.append(pre)
  console.error(`panel ${box.el.dataset.panel}: ${error.message ?? error}`)
}

/** Rows (t, series, value) into uPlot's aligned columns. */
function pivot(rows) {
  const names = []
  const index = new Map()
  const times = new Set()
  for (const [t, name] of rows) {
    times.add(t)
    if (!index.has(name)) {
      index.set(name, names.length)
      names.push(name)
    }
  }
  const xs = [...times].sort()
  const at = new Map(xs.map((t, i) => [t, i]))
  const columns = names.map(() => new Array(xs.length).fill(null))
  for (const [t, name, value] of rows) columns[index.get(name)][at.get(t)] = value
  return { names, data: [xs.map(parseTime), ...columns] }
}

function drawTimeseries(box, panel, rows) {
  box.body.innerHTML = ''
  if (rows.length === 0) {
    box.body.innerHTML = '<div class="msg">no data in this range</div>'
    return
  }
  const { names, data } = pivot(rows)
  const width = Math.max(300, box.body.clientWidth)
  const opts = {
    width,
    height: 220,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    legend: { live: true },
    series: [
      {},
      ...names.map((name, i) => ({
        label: name,
        stroke: COLORS[i % COLORS.length],
        width: 1.5,
        points: { show: false },
        value: (_u, v) => formatValue(panel.unit, v),
      })),
    ],
    axes: [
      { stroke: '#8b98a5', grid: { stroke: '#26313c' }, ticks: { stroke: '#26313c' } },
      {
        stroke: '#8b98a5',
        grid: { stroke: '#26313c' },
        ticks: { stroke: '#26313c' },
        size: 70,
        values: (_u, vals) => vals.map((v) => formatValue(panel.unit, v)),
      },
    ],
  }
  const plot = new uPlot(opts, data, box.body)
  state.plots.push({ plot, body: box.body })
}

function drawTable(box, result, unit) {
  box.body.innerHTML = ''
  if (result.data.length === 0) {
    box.body.innerHTML = '<div class="msg">no rows</div>'
    return
  }
  const table = document.createElement('table')
  const numeric = result.meta.map((m) => /Int|Float|Decimal/.test(m.type))
  const head = table.createTHead().insertRow()
  result.meta.forEach((m, i) => {
    const th = document.createElement('th')
    th.textContent = m.name.replace(/_/g, ' ')
    if (numeric[i]) th.className = 'num'
    head.append(th)
  })
  const tbody = table.createTBody()
  for (const row of result.data) {
    const tr = tbody.insertRow()
    row.forEach((v, i) => {
      const td = tr.insertCell()
      td.textContent = numeric[i] ? formatValue(unit, Number(v)) : String(v)
      if (numeric[i]) td.className = 'num'
    })
  }
  box.body.append(table)
}

function drawStat(box, result, unit) {
  box.body.innerHTML = ''
  const row = result.data[0] ?? []
  const wrap = document.createElement('div')
  wrap.className = 'stats'
  result.meta.forEach((m, i) => {
    const div = document.createElement('div')
    div.className = 'stat'
    const b = document.createElement('b')
    b.textContent = formatValue(unit, Number(row[i]))
    const span = document.createElement('span')
    span.textContent = m.name.replace(/_/g, ' ')
    div.append(b, span)
    wrap.append(div)
  })
  box.body.append(wrap)
}

async function renderVariables(plan, generation) {
  varsBox.innerHTML = ''
  for (const v of plan.variables) {
    const label = document.createElement('label')
    label.textContent = `${v.label} `
    const select = document.createElement('select')
    select.id = `var-${v.name}`
    label.append(select)
    varsBox.append(label)
    const result = await query(v.sql, {})
    if (generation !== state.generation) return false
    for (const [value] of result.data) {
      const option = document.createElement('option')
      option.value = option.textContent = value
      select.append(option)
    }
    if (!state.vars[v.name] && result.data.length > 0) {
      state.vars[v.name] = result.data[0][0]
      return true // plan again with the variable set
    }
    select.value = state.vars[v.name] ?? ''
    select.addEventListener('change', () => {
      state.vars[v.name] = select.value
      load()
    })
  }
  return false
}

function planUrl(page) {
  const to = Date.now()
  const from = to - Number(rangeSelect.value)
  const search = new URLSearchParams({ page, from: String(from), to: String(to) })
  for (const [k, v] of Object.entries(state.vars)) search.set(`var_${k}`, v)
  return `api/page?${search}`
}

async function loadMetricsPage(generation) {
  let plan = await (await fetch(planUrl(state.page))).json()
  if (generation !== state.generation) return
  if (await renderVariables(plan, generation)) {
    plan = await (await fetch(planUrl(state.page))).json()
    if (generation !== state.generation) return
    await renderVariables(plan, generation)
  }
  writeHash()
  tierBadge.textContent = `tier ${plan.tier} · ${plan.step} s buckets`
  document.body.dataset.tier = plan.tier
  main.innerHTML = ''
  state.plots = []
  await Promise.all(
    plan.panels.map(async (panel) => {
      const box = panelBox(panel.title, '', panel.kind !== 'timeseries')
      box.el.dataset.panel = panel.id
      box.el.dataset.kind = panel.kind
      try {
        const result = await query(panel.sql, plan.params)
        if (generation !== state.generation) return
        if (panel.kind === 'timeseries') drawTimeseries(box, panel, result.data)
        else if (panel.kind === 'table') drawTable(box, result, panel.unit)
        else drawStat(box, result, panel.unit)
        done(box, result.data.length)
      } catch (error) {
        fail(box, error)
      }
    }),
  )
}

const ago = (nowMs, ms) => {
  if (!ms) return '–'
  const s = Math.max(0, Math.round((nowMs - ms) / 1000))
  if (s < 120) return `${s} s ago`
  if (s < 7200) return `${Math.round(s / 60)} min ago`
  if (s < 172800) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86400)} d ago`
}

function alertsTable(box, columns, rows) {
  box.body.innerHTML = ''
  if (rows.length === 0) {
    box.body.innerHTML = '<div class="msg">none</div>'
    return
  }
  const table = document.createElement('table')
  const head = table.createTHead().insertRow()
  for (const c of columns) {
    const th = document.createElement('th')
    th.textContent = c.title
    head.append(th)
  }
  const tbody = table.createTBody()
  for (const row of rows) {
    const tr = tbody.insertRow()
    for (const c of columns) {
      const td = tr.insertCell()
      c.cell(td, row)
    }
  }
  box.body.append(table)
}

function labelsCell(td, labels) {
  td.className = 'labels'
  for (const [k, v] of Object.entries(labels)) {
    if (k === 'alertname') continue
    const code = document.createElement('code')
    code.textContent = `${k}=${v}`
    td.append(code)
  }
}

async function loadAlertsPage(generation) {
  varsBox.innerHTML = ''
  tierBadge.textContent = 'alerter state (JetStream KV)'
  document.body.dataset.tier = ''
  writeHash()
  const snapshot = await (await fetch('api/alerts')).json()
  if (generation !== state.generation) return
  main.innerHTML = ''
  const now = snapshot.nowMs
  const text = (f) => (td, row) => (td.textContent = f(row))
  const alertColumns = [
    { title: 'alert', cell: text((a) => a.labels.alertname ?? a.rule) },
    { title: 'state', cell: (td, a) => ((td.textContent = a.state), (td.className = `state-${a.state}`)) },
    { title: 'labels', cell: (td, a) => labelsCell(td, a.labels) },
    { title: 'value', cell: text((a) => (a.value === null ? '–' : formatValue('', a.value))) },
    { title: 'since', cell: text((a) => ago(now, a.firedAtMs ?? a.activeSinceMs)) },
    { title: 'summary', cell: text((a) => a.summary) },
  ]
  const sections = [
    ['firing', 'Firing', snapshot.alerts.filter((a) => a.state === 'firing' && !a.silenced), alertColumns],
    ['pending', 'Pending', snapshot.alerts.filter((a) => a.state === 'pending' && !a.silenced), alertColumns],
    ['silenced', 'Silenced', snapshot.alerts.filter((a) => a.silenced), alertColumns],
    [
      'silences',
      'Silences',
      snapshot.silences.filter((s) => s.status !== 'expired'),
      [
        { title: 'matchers', cell: text((s) => s.matchers) },
        { title: 'status', cell: text((s) => s.status) },
        {
          title: 'ends',
          cell: text((s) => new Date(s.endsAtMs).toISOString().replace('T', ' ').slice(0, 16) + ' UTC'),
        },
        { title: 'by', cell: text((s) => s.createdBy) },
        { title: 'comment', cell: text((s) => s.comment) },
      ],
    ],
    [
      'notifications',
      'Recent notifications',
      snapshot.notifications,
      [
        { title: 'receiver', cell: text((n) => n.receiver) },
        { title: 'group', cell: text((n) => n.groupKey) },
        { title: 'firing', cell: text((n) => String(n.firing)) },
        { title: 'sent', cell: text((n) => ago(now, n.lastSentMs)) },
      ],
    ],
  ]
  for (const [id, title, rows, columns] of sections) {
    const box = panelBox(title, snapshot.available ? `${rows.length}` : '', true)
    box.el.dataset.panel = id
    if (!snapshot.available) box.body.innerHTML = `<div class="msg"></div>`
    if (!snapshot.available) box.body.firstChild.textContent = snapshot.reason ?? 'unavailable'
    else alertsTable(box, columns, rows)
    done(box, rows.length)
  }
}

async function load() {
  const generation = ++state.generation
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle('active', a.dataset.nav === state.page)
  document.body.dataset.page = state.page
  document.body.dataset.loaded = 'false'
  try {
    if (state.page === 'alerts') await loadAlertsPage(generation)
    else await loadMetricsPage(generation)
  } catch (error) {
    console.error(`page ${state.page}: ${error.message ?? error}`)
  }
  if (generation === state.generation) document.body.dataset.loaded = 'true'
}

function schedule() {
  if (state.timer !== undefined) clearInterval(state.timer)
  const every = Number(refreshSelect.value)
  state.timer = every > 0 ? setInterval(load, every) : undefined
}

window.addEventListener('hashchange', () => {
  const before = state.page
  readHash()
  if (before !== state.page) load()
})
rangeSelect.addEventListener('change', load)
refreshSelect.addEventListener('change', () => {
  schedule()
  writeHash()
})
new ResizeObserver(() => {
  for (const { plot, body } of state.plots)
    plot.setSize({ width: Math.max(300, body.clientWidth), height: 220 })
}).observe(main)

readHash()
schedule()
load()
