// sluice web UI: plain JavaScript, no framework, nothing fetched from
// outside the gateway. Endpoints the gateway does not serve (an older or
// smaller build) show "not available" instead of failing: the plain-text
// index at / lists the routes, so the UI asks that first and never requests
// a route that is not there.
'use strict';

const S = {
  routes: null,          // Set of "GET /prefix" lines from the index
  describe: null,
  timers: [],
  charts: {},
  history: [],           // history points, oldest first
  lastTime: 0,
  live: null,            // EventSource or poll timer
  tap: null,             // AbortController of a running tap
  tablePage: { name: null, page: 1, size: 20 },
};
const HISTORY_SECONDS = 15 * 60;

// ------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmt(n, digits) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (typeof n !== 'number') return String(n);
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return n.toLocaleString('en');
  const d = digits === undefined ? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 1 ? 1 : 3) : digits;
  return n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: 0 });
}
function fmtSeconds(s) {
  if (typeof s !== 'number') return '–';
  if (s < 1e-3) return fmt(s * 1e6, 0) + ' µs';
  if (s < 1) return fmt(s * 1e3, 1) + ' ms';
  return fmt(s, 2) + ' s';
}
function fmtBytes(b) {
  if (typeof b !== 'number') return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return fmt(b, i ? 1 : 0) + ' ' + u[i];
}
function rate(o) { return o && typeof o === 'object' ? o.rate_1s ?? o.rate_1m : undefined; }

function token() { return sessionStorage.getItem('sluice-token') || ''; }
function authHeaders() { const t = token(); return t ? { Authorization: 'Bearer ' + t } : {}; }

function message(text, ok) { return el('div', { class: 'msg ' + (ok ? 'ok' : 'err') }, text); }
function notAvailable(what) {
  return el('p', { class: 'muted' }, `${what}: not available in this gateway.`);
}

// Which routes the gateway serves: the plain-text index lists them.
async function loadRoutes() {
  if (S.routes) return S.routes;
  const routes = new Set();
  try {
    const r = await fetch('/', { headers: { Accept: 'text/plain' }, cache: 'no-store' });
    const text = await r.text();
    for (const line of text.split('\n')) {
      const m = /^([A-Z]+) +(\/\S*)/.exec(line);
      if (m && m[2] !== '/') routes.add(m[1] + ' ' + m[2].replace(/\/$/, ''));  // '/' is the index itself
    }
  } catch (e) { /* offline: nothing available */ }
  S.routes = routes;
  return routes;
}
function has(method, path) {
  // A route serves its prefix and everything below it.
  const p = path.split('?')[0].replace(/\/$/, '');
  for (const r of S.routes || []) {
    const [m, prefix] = r.split(' ');
    if (m === method && (p === prefix || p.startsWith(prefix + '/'))) return true;
  }
  return false;
}

// GET/PUT/DELETE as JSON. Answers {ok, status, data, text}; a route the
// gateway does not have answers {missing: true} without a request.
async function api(path, opts = {}) {
  const method = opts.method || 'GET';
  if (!has(method, path)) return { ok: false, missing: true, status: 404 };
  const headers = Object.assign({ Accept: 'application/json' }, opts.auth ? authHeaders() : {}, opts.headers || {});
  try {
    const r = await fetch(path, { method, headers, body: opts.body, cache: 'no-store' });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    return { ok: r.ok, status: r.status, data, text };
  } catch (e) {
    return { ok: false, status: 0, text: String(e) };
  }
}

function every(ms, fn) {
  fn();
  S.timers.push(setInterval(fn, ms));
}
function stopTimers() { S.timers.forEach(clearInterval); S.timers = []; }

// ------------------------------------------------------------ overview

async function loadDescribe() {
  if (S.describe) return S.describe;
  const r = await api('/api/describe');
  S.describe = r.ok && r.data ? r.data : { pipelines: [] , missing: !r.ok };
  return S.describe;
}

function componentRate(stats, pipeline, kind, id) {
  const p = stats && stats.pipelines && stats.pipelines[pipeline];
  if (!p) return undefined;
  if (kind === 'source') return rate(p.sources && p.sources[id] && p.sources[id].events);
  if (kind === 'stage') return rate(p.stages && p.stages[id] && p.stages[id].out);
  return rate(p.sinks && p.sinks[id] && p.sinks[id].sent);
}

// One pipeline as a left-to-right graph: sources → stages (in order) → sinks.
function drawPipeline(p, stats) {
  const cols = [
    (p.sources || []).map((c) => ({ ...c, kind: 'source' })),
    ...(p.stages || []).map((c) => [{ ...c, kind: 'stage' }]),
    (p.sinks || []).map((c) => ({ ...c, kind: 'sink' })),
  ].filter((c) => c.length);
  const W = 150, H = 44, GX = 90, GY = 22, PAD = 10;
  const rows = Math.max(1, ...cols.map((c) => c.length));
  const height = PAD * 2 + rows * H + (rows - 1) * GY;
  const width = PAD * 2 + cols.length * W + (cols.length - 1) * GX;
  const g = svg('svg', { class: 'graph', width, height, viewBox: `0 0 ${width} ${height}`, 'data-pipeline': p.name });
  const pos = cols.map((col, ci) => col.map((c, ri) => {
    const x = PAD + ci * (W + GX);
    const y = PAD + (height - PAD * 2 - (col.length * H + (col.length - 1) * GY)) / 2 + ri * (H + GY);
    return { c, x, y };
  }));
  for (let ci = 0; ci + 1 < pos.length; ci++) {
    for (const a of pos[ci]) {
      const r = componentRate(stats, p.name, a.c.kind, a.c.id);
      for (const b of pos[ci + 1]) {
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
        g.append(svg('path', { d: `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}` }));
        const label = r === undefined ? (stats ? '' : '') : fmt(r) + '/s';
        g.append(svg('text', { class: 'rate', x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle' }, label));
      }
    }
  }
  for (const col of pos) {
    for (const { c, x, y } of col) {
      g.append(svg('rect', { class: c.kind, x, y, width: W, height: H, rx: 6 }));
      g.append(svg('text', { x: x + 8, y: y + 18 }, c.id));
      let sub = `${c.kind} · ${c.type}`;
      const ps = stats && stats.pipelines && stats.pipelines[p.name];
      if (c.kind === 'sink' && ps && ps.sinks && ps.sinks[c.id]) {
        sub += ` · lag ${fmt(ps.sinks[c.id].lag_rows)}`;
      }
      if (c.kind === 'sink' || c.kind === 'source') {
        const one = ps && (c.kind === 'sink' ? ps.sinks : ps.sources);
        if (one && one[c.id] && one[c.id].up === false) sub += ' · DOWN';
      }
      g.append(svg('text', { class: 'type', x: x + 8, y: y + 35 }, sub));
    }
  }
  return g;
}

async function showOverview() {
  await loadDescribe();
  const render = async () => {
    const st = await api('/stats/');
    const stats = st.ok ? st.data : null;
    const summary = document.getElementById('summary');
    summary.replaceChildren();
    if (stats) {
      document.getElementById('version').textContent = `${stats.version || ''} · up ${fmt(stats.uptime_seconds, 0)} s`;
      const card = (label, value) => el('div', { class: 'card' }, label, el('b', {}, value));
      summary.append(
        card('events/s', fmt(rate(stats.events))),
        card('records/s', fmt(rate(stats.records))),
        card('records total', fmt(stats.records && stats.records.total)),
        card('dead letters', fmt(stats.dead_letters && stats.dead_letters.total)),
        card('buffer', `${fmt(stats.buffer && stats.buffer.rows)} rows · ${fmt((stats.buffer && stats.buffer.fill || 0) * 100, 1)} %`),
        card('latency p99', fmtSeconds(stats.latency && stats.latency.end_to_end && stats.latency.end_to_end.p99)),
      );
    } else {
      summary.append(notAvailable('Live figures (/stats/)'));
    }
    const box = document.getElementById('pipelines');
    box.replaceChildren();
    if (S.describe.missing) box.append(notAvailable('The pipeline graph (/api/describe)'));
    for (const p of S.describe.pipelines || []) {
      box.append(el('div', { class: 'pipeline' }, el('h2', {}, 'pipeline ', p.name), drawPipeline(p, stats)));
    }
  };
  every(2000, render);
}

// ------------------------------------------------------------ graphs

const COLORS = ['#1f6feb', '#e36209', '#2e7d32', '#8250df'];

function makeChart(id, datasets, yFormat) {
  const ctx = document.getElementById(id);
  const chart = new Chart(ctx, {
    type: 'line',
    data: { datasets: datasets.map((d, i) => ({ label: d, data: [], borderColor: COLORS[i], backgroundColor: COLORS[i], borderWidth: 1.5, pointRadius: 0, tension: 0.2 })) },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', ticks: { maxTicksLimit: 8, callback: (v) => new Date(v * 1000).toLocaleTimeString('en-GB') } },
        y: { beginAtZero: true, ticks: { callback: yFormat || ((v) => fmt(v)) } },
      },
      plugins: { legend: { display: datasets.length > 1 }, decimation: { enabled: false } },
    },
  });
  return chart;
}

function ensureCharts() {
  if (S.charts.rates || typeof Chart === 'undefined') return;
  S.charts.rates = makeChart('chart-rates', ['events/s', 'records/s']);
  S.charts.lag = makeChart('chart-lag', ['lag rows']);
  S.charts.fill = makeChart('chart-fill', ['buffer fill %']);
  S.charts.latency = makeChart('chart-latency', ['p99 ms']);
}

const SERIES = [
  ['rates', 0, (p) => p.events_rate],
  ['rates', 1, (p) => p.records_rate],
  ['lag', 0, (p) => p.lag_rows],
  ['fill', 0, (p) => (typeof p.buffer_fill === 'number' ? p.buffer_fill * 100 : null)],
  ['latency', 0, (p) => (typeof p.latency_p99 === 'number' ? p.latency_p99 * 1000 : null)],
];

// History points arrive from /stats/history and then one a second from the
// stream; the charts keep the last 15 minutes.
function addPoints(points) {
  let added = false;
  for (const p of points) {
    if (!p || typeof p.time !== 'number' || p.time <= S.lastTime) continue;
    S.lastTime = p.time;
    S.history.push(p);
    added = true;
  }
  if (!added) return;
  const cut = S.lastTime - HISTORY_SECONDS;
  while (S.history.length && S.history[0].time < cut) S.history.shift();
  if (!S.charts.rates) return;
  for (const [name, i, f] of SERIES) {
    const ds = S.charts[name].data.datasets[i];
    ds.data = S.history.map((p) => ({ x: p.time, y: f(p) ?? null }));
  }
  if (!document.getElementById('page-graphs').hidden) {
    for (const c of Object.values(S.charts)) c.update('none');
  }
}

async function startLive() {
  if (S.live) return;
  const status = document.getElementById('graphs-status');
  const h = await api('/stats/history');
  if (!h.ok || !h.data) {
    status.textContent = 'Live graphs: not available in this gateway (/stats/history).';
    S.live = 'none';
    return;
  }
  addPoints(h.data.points || []);
  const poll = () => {
    status.textContent = 'Following /stats/history (polling every second).';
    S.live = setInterval(async () => {
      const r = await api('/stats/history?since=' + S.lastTime);
      if (r.ok && r.data) addPoints(r.data.points || []);
    }, 1000);
  };
  if (!has('GET', '/stats/stream') || typeof EventSource === 'undefined') { poll(); return; }
  const es = new EventSource('/stats/stream');
  S.live = es;
  status.textContent = 'Following /stats/stream.';
  es.onmessage = (ev) => { try { addPoints([JSON.parse(ev.data)]); } catch (e) { /* skip a bad event */ } };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) { S.live = null; poll(); }
  };
}

async function showGraphs() {
  ensureCharts();
  if (!S.charts.rates) {
    document.getElementById('graphs-status').textContent = 'Charts: not available (chart.min.js did not load).';
    return;
  }
  await startLive();
  addPoints([]);
  for (const c of Object.values(S.charts)) c.update('none');
}

// ------------------------------------------------------------ stats tables

function table(columns, rows) {
  return el('table', {},
    el('tr', {}, columns.map((c) => el('th', {}, c[0]))),
    rows.map((r) => el('tr', {}, columns.map((c) => {
      const v = c[1](r);
      return el('td', { class: typeof v === 'number' ? 'num' : '' }, v instanceof Node ? v : typeof v === 'number' ? fmt(v) : v ?? '–');
    }))));
}

async function showTopics() {
  every(2000, async () => {
    const box = document.getElementById('topics');
    const r = await api('/stats/topic/');
    if (!r.ok || !r.data) { box.replaceChildren(notAvailable('Per-topic stats (/stats/topic/)')); return; }
    const rows = (r.data.topics || []).slice().sort((a, b) => (rate(b.events) || 0) - (rate(a.events) || 0));
    if (r.data.other) rows.push({ topic: '(other)', ...r.data.other });
    box.replaceChildren(table([
      ['topic', (t) => t.topic], ['pipeline', (t) => t.pipeline],
      ['events/s', (t) => rate(t.events)], ['events/s (1 min)', (t) => t.events && t.events.rate_1m],
      ['events total', (t) => t.events && t.events.total], ['bytes', (t) => fmtBytes(t.bytes)],
      ['dead letters', (t) => t.dead_letters],
      ['last seen', (t) => (t.last_seen ? new Date(t.last_seen * 1000).toLocaleTimeString('en-GB') : '–')],
    ], rows));
  });
}

async function showComponents() {
  every(2000, async () => {
    const box = document.getElementById('components');
    const r = await api('/stats/');
    if (!r.ok || !r.data) { box.replaceChildren(notAvailable('Per-component stats (/stats/)')); return; }
    const rows = [];
    for (const [pn, p] of Object.entries(r.data.pipelines || {})) {
      for (const [id, c] of Object.entries(p.sources || {})) rows.push({ pn, id, kind: 'source', ...c, inr: undefined, outr: rate(c.events) });
      for (const [id, c] of Object.entries(p.stages || {})) rows.push({ pn, id, kind: 'stage', ...c, inr: rate(c.in), outr: rate(c.out) });
      for (const [id, c] of Object.entries(p.sinks || {})) rows.push({ pn, id, kind: 'sink', ...c, inr: undefined, outr: rate(c.sent) });
    }
    const up = (c) => (c.up === undefined ? '' : el('span', { class: c.up ? 'up' : 'down' }, c.up ? 'up' : 'down'));
    box.replaceChildren(table([
      ['pipeline', (c) => c.pn], ['component', (c) => c.id], ['kind', (c) => c.kind], ['type', (c) => c.type],
      ['state', up], ['in/s', (c) => c.inr], ['out/s', (c) => c.outr], ['errors', (c) => c.errors],
      ['lag rows', (c) => c.lag_rows], ['lag', (c) => (c.lag_seconds === undefined ? undefined : fmtSeconds(c.lag_seconds))],
      ['send p99', (c) => (c.send_latency ? fmtSeconds(c.send_latency.p99) : undefined)],
      ['last error', (c) => c.last_error],
    ], rows));
  });
}

// ------------------------------------------------------------ tables

function valueText(v) {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

async function showTables() {
  const box = document.getElementById('tables');
  const name = S.tablePage.name;
  document.getElementById('table-name').textContent = name || '';
  if (!name) {
    const r = await api('/api/table/');
    if (!r.ok || !r.data) { box.replaceChildren(notAvailable('Tables (/api/table/)')); return; }
    const names = r.data.results || [];
    box.replaceChildren(names.length ? table([['table', (n) => el('a', { href: '#tables/' + encodeURIComponent(n) }, n)]], names)
      : el('p', {}, 'No public tables.'));
    return;
  }
  const { page, size } = S.tablePage;
  const r = await api(`/api/table/${encodeURIComponent(name)}/?page=${page}&page_size=${size}`);
  if (!r.ok || !r.data) { box.replaceChildren(message(`Cannot read table ${name}: ${r.status}`)); return; }
  const d = r.data;
  const cols = [];
  for (const item of d.results) for (const k of Object.keys(item.value || {})) if (!cols.includes(k)) cols.push(k);
  const status = el('div', { id: 'table-status' });
  const rows = d.results.map((item) => el('tr', { 'data-key': item.key },
    el('td', {}, item.key),
    cols.map((c) => {
      const v = item.value ? item.value[c] : undefined;
      return el('td', { class: typeof v === 'number' ? 'num' : '' }, valueText(v));
    }),
    el('td', {},
      el('button', { type: 'button', class: 'edit', onclick: () => editForm(name, item.key, item.value, cols) }, 'Edit'), ' ',
      el('button', { type: 'button', class: 'delete', onclick: () => deleteKey(name, item.key) }, 'Delete'))));
  const pager = el('div', { class: 'pager' },
    el('button', { type: 'button', id: 'prev-page', onclick: () => { S.tablePage.page--; showTables(); } }, '« previous'),
    el('span', { id: 'page-info' }, `page ${d.page} of ${d.pages} · ${d.count} keys`),
    el('button', { type: 'button', id: 'next-page', onclick: () => { S.tablePage.page++; showTables(); } }, 'next »'));
  pager.querySelector('#prev-page').disabled = page <= 1;
  pager.querySelector('#next-page').disabled = page >= d.pages;
  box.replaceChildren(
    el('p', {}, el('a', { href: '#tables' }, '« all tables'), ' · ',
      el('button', { type: 'button', id: 'new-key', onclick: () => editForm(name, '', {}, cols) }, 'New key')),
    status, el('div', { id: 'edit-box' }), pager,
    el('table', { id: 'table-data' }, el('tr', {}, el('th', {}, 'key'), cols.map((c) => el('th', {}, c)), el('th', {}, '')), rows));
}

function editForm(name, key, value, cols) {
  const fields = cols.length ? cols : Object.keys(value || {});
  const keyInput = el('input', { name: 'key', value: key });
  if (key) keyInput.readOnly = true;
  const inputs = fields.map((c) => el('label', {}, c + ' ', el('input', { name: c, 'data-member': c, value: valueText(value && value[c]) })));
  const form = el('form', { id: 'edit-form' },
    el('fieldset', {}, el('legend', {}, key ? `Edit ${key}` : 'New key'),
      el('label', {}, 'key ', keyInput), inputs,
      el('button', { type: 'submit', id: 'save' }, 'Save'), ' ',
      el('button', { type: 'button', onclick: () => form.remove() }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const k = keyInput.value.trim();
    if (!k) return;
    const obj = {};
    for (const inp of form.querySelectorAll('input[data-member]')) {
      const t = inp.value.trim();
      if (t === '') continue;
      let v = t;
      if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) v = Number(t);
      else if (t === 'true' || t === 'false') v = t === 'true';
      obj[inp.dataset.member] = v;
    }
    await writeKey(name, k, 'PUT', JSON.stringify(obj));
  });
  document.getElementById('edit-box').replaceChildren(form);
}

async function writeKey(name, key, method, body) {
  const status = document.getElementById('table-status');
  if (!token()) { status.replaceChildren(message('Paste the API token at the top first: writes need it.')); return; }
  const r = await api(`/api/table/${encodeURIComponent(name)}/${encodeURIComponent(key)}/`, {
    method, body, auth: true, headers: body ? { 'Content-Type': 'application/json' } : {},
  });
  if (r.ok) {
    await showTables();
    document.getElementById('table-status').replaceChildren(message(`${method === 'DELETE' ? 'Deleted' : 'Saved'} ${key}.`, true));
  } else {
    const why = r.status === 401 ? 'wrong or missing token' : r.status === 403 ? 'writes are disabled (no token configured)' :
      (r.data && r.data.error) || r.text || r.status;
    status.replaceChildren(message(`Not saved: ${why}`));
  }
}

function deleteKey(name, key) {
  if (!window.confirm(`Delete ${key} from ${name}?`)) return;
  writeKey(name, key, 'DELETE');
}

// ------------------------------------------------------------ dead letters and tap

async function fillPipelines(selectId) {
  await loadDescribe();
  const sel = document.getElementById(selectId);
  if (sel.options.length) return;
  for (const p of S.describe.pipelines || []) sel.append(el('option', { value: p.name }, p.name));
}

async function showDeadLetters() {
  await fillPipelines('dl-pipeline');
  const box = document.getElementById('dead-letters');
  if (!has('GET', '/api/dead-letters')) { box.replaceChildren(notAvailable('Dead letters (/api/dead-letters)')); }
}

async function loadDeadLetters(ev) {
  ev.preventDefault();
  const box = document.getElementById('dead-letters');
  if (!token()) { box.replaceChildren(message('Dead letters reveal record contents: paste the API token first.')); return; }
  const p = document.getElementById('dl-pipeline').value;
  const n = document.getElementById('dl-limit').value;
  const r = await api(`/api/dead-letters?pipeline=${encodeURIComponent(p)}&limit=${encodeURIComponent(n)}`, { auth: true });
  if (r.missing) { box.replaceChildren(notAvailable('Dead letters (/api/dead-letters)')); return; }
  if (!r.ok || !r.data) { box.replaceChildren(message(`Cannot read dead letters: ${r.status} ${(r.data && r.data.error) || ''}`)); return; }
  const items = r.data.dead_letters || [];
  box.replaceChildren(el('p', { class: 'muted' }, `${r.data.total ?? items.length} dead letter(s) in ${p}; latest ${items.length}:`),
    table([
      ['time', (d) => (d.time ? new Date(d.time * 1000).toLocaleString('en-GB') : '–')], ['origin', (d) => d.origin],
      ['reason', (d) => d.reason], ['payload', (d) => el('code', {}, d.payload ?? '')],
    ], items));
}

async function showTap() {
  await fillPipelines('tap-pipeline');
  const comp = document.getElementById('tap-component');
  const fillComponents = () => {
    const p = (S.describe.pipelines || []).find((x) => x.name === document.getElementById('tap-pipeline').value);
    comp.replaceChildren(el('option', { value: '' }, 'all'));
    if (p) for (const c of [...(p.sources || []), ...(p.stages || []), ...(p.sinks || [])]) comp.append(el('option', { value: c.id }, c.id));
  };
  document.getElementById('tap-pipeline').onchange = fillComponents;
  if (comp.options.length <= 1) fillComponents();
  if (!has('GET', '/api/tap')) document.getElementById('tap-status').textContent = 'Tap (/api/tap): not available in this gateway.';
}

function stopTap() {
  if (S.tap) { S.tap.abort(); S.tap = null; }
  document.getElementById('tap-start').disabled = false;
  document.getElementById('tap-stop').disabled = true;
}

// EventSource cannot send the Authorization header, so the tap reads the
// SSE body of a fetch() as a stream.
async function startTap(ev) {
  ev.preventDefault();
  const status = document.getElementById('tap-status');
  if (!has('GET', '/api/tap')) { status.textContent = 'Tap (/api/tap): not available in this gateway.'; return; }
  if (!token()) { status.textContent = 'The tap shows record contents: paste the API token first.'; return; }
  stopTap();
  const q = new URLSearchParams({ pipeline: document.getElementById('tap-pipeline').value, limit: document.getElementById('tap-limit').value });
  const c = document.getElementById('tap-component').value;
  if (c) q.set('component', c);
  const ctl = new AbortController();
  S.tap = ctl;
  document.getElementById('tap-start').disabled = true;
  document.getElementById('tap-stop').disabled = false;
  const out = document.getElementById('tap');
  const list = el('table', {}, el('tr', {}, el('th', {}, 'component'), el('th', {}, 'point'), el('th', {}, 'record')));
  out.replaceChildren(list);
  let count = 0, dropped = 0;
  try {
    const r = await fetch('/api/tap?' + q, { headers: Object.assign({ Accept: 'text/event-stream' }, authHeaders()), signal: ctl.signal, cache: 'no-store' });
    if (!r.ok) { status.textContent = `Tap refused: ${r.status}${r.status === 401 ? ' (wrong or missing token)' : ''}`; stopTap(); return; }
    status.textContent = 'Tapping…';
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let event = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += (data ? '\n' : '') + line.slice(5).replace(/^ /, '');
        }
        if (!data) continue;
        let obj = null;
        try { obj = JSON.parse(data); } catch (e) { obj = null; }
        if (event === 'dropped') { dropped += (obj && obj.dropped) || 0; }
        else {
          count++;
          const rec = Object.assign({}, obj);
          delete rec._component; delete rec._point;
          list.append(el('tr', {}, el('td', {}, (obj && obj._component) || ''), el('td', {}, (obj && obj._point) || ''),
            el('td', {}, el('code', {}, JSON.stringify(rec)))));
          while (list.rows.length > 501) list.deleteRow(1);
        }
        status.textContent = `${count} record(s)${dropped ? `, ${dropped} dropped (the tap is bounded)` : ''}`;
      }
    }
    status.textContent += ' — ended.';
  } catch (e) {
    if (e.name !== 'AbortError') status.textContent = 'Tap ended: ' + e.message;
  }
  stopTap();
}

// ------------------------------------------------------------ replay

async function showReplay() {
  await fillPipelines('replay-pipeline');
  const sinks = document.getElementById('replay-sink');
  const fillSinks = () => {
    const p = (S.describe.pipelines || []).find((x) => x.name === document.getElementById('replay-pipeline').value);
    sinks.replaceChildren();
    if (p) for (const c of p.sinks || []) sinks.append(el('option', { value: c.id }, c.id));
  };
  document.getElementById('replay-pipeline').onchange = fillSinks;
  if (!sinks.options.length) fillSinks();
  if (!has('POST', '/api/buffer/replay')) {
    document.getElementById('replay-status').replaceChildren(notAvailable('Replay (/api/buffer/replay)'));
  }
}

async function startReplay(ev) {
  ev.preventDefault();
  const status = document.getElementById('replay-status');
  if (!token()) { status.replaceChildren(message('A replay is a write: paste the API token at the top first.')); return; }
  const p = document.getElementById('replay-pipeline').value;
  const sink = document.getElementById('replay-sink').value;
  const from = document.getElementById('replay-from').value.trim();
  if (!window.confirm(`Deliver the records of ${p} from ${from} on to ${sink} again?`)) return;
  status.replaceChildren(message('Asked; waiting for the sink to move its cursor…', true));
  const r = await api(`/api/buffer/replay?pipeline=${encodeURIComponent(p)}&sink=${encodeURIComponent(sink)}` +
    `&from=${encodeURIComponent(from)}`, { method: 'POST', auth: true });
  if (r.missing) { status.replaceChildren(notAvailable('Replay (/api/buffer/replay)')); return; }
  if (r.ok && r.data) {
    const d = r.data;
    status.replaceChildren(message(`${sink} delivers ${fmt(d.records)} records again, from record ${d.from_id}` +
      (d.from_time ? ` (${new Date(d.from_time).toLocaleString('en-GB')})` : '') + '.', true));
    if (d.note) status.append(message(d.note, true));
  } else {
    const why = r.status === 401 ? 'wrong or missing token' : r.status === 403 ? 'writes are disabled (no token configured)' :
      (r.data && r.data.error) || r.text || r.status;
    status.replaceChildren(message(`No replay: ${why}`));
  }
}

// ------------------------------------------------------------ routing

const PAGES = {
  overview: showOverview, graphs: showGraphs, topics: showTopics, components: showComponents,
  tables: showTables, 'dead-letters': showDeadLetters, tap: showTap, replay: showReplay,
};

async function route() {
  stopTimers();
  const hash = decodeURIComponent(location.hash.slice(1) || 'overview');
  const [page, ...rest] = hash.split('/');
  const name = PAGES[page] ? page : 'overview';
  if (name === 'tables') {
    const t = rest.join('/') || null;
    if (t !== S.tablePage.name) S.tablePage = { name: t, page: 1, size: 20 };
  }
  for (const s of document.querySelectorAll('.page')) s.hidden = s.id !== 'page-' + name;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === '#' + name);
  await loadRoutes();
  // The graphs keep collecting in the background once opened, so going back
  // to them shows the whole window.
  await PAGES[name]();
}

function init() {
  const input = document.getElementById('token');
  input.value = token();
  document.getElementById('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem('sluice-token', input.value.trim());
  });
  input.addEventListener('change', () => sessionStorage.setItem('sluice-token', input.value.trim()));
  document.getElementById('token-clear').addEventListener('click', () => { sessionStorage.removeItem('sluice-token'); input.value = ''; });
  document.getElementById('dl-form').addEventListener('submit', loadDeadLetters);
  document.getElementById('tap-form').addEventListener('submit', startTap);
  document.getElementById('tap-stop').addEventListener('click', stopTap);
  document.getElementById('replay-form').addEventListener('submit', startReplay);
  window.addEventListener('hashchange', route);
  route();
}

window.sluiceUi = S;  // for the browser test and the curious
init();
