// server/web/app.js — the page's behaviour: search as you type (debounced,
// stale answers dropped), Ask with the answer streamed from /v1/query as
// server-sent events and its [n] citations opening the cited passage, and the
// document list with upload and delete.
//
// Every text that comes from the knowledge base is put on the page with
// textContent (never parsed as markup), so a document holding HTML or a script
// shows as text.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY_STORE = 'ragdb_api_key';

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  const key = localStorage.getItem(KEY_STORE);
  if (key) h['Authorization'] = 'Bearer ' + key;
  return h;
}

// fetch with the API key; a 401 shows the key bar. Resolves to the Response.
async function api(path, opts = {}) {
  const r = await fetch(path, opts);
  if (r.status === 401) $('keybar').hidden = false;
  return r;
}

async function errorText(r) {
  try {
    const j = await r.json();
    if (j && j.error && j.error.message) return j.error.message;
  } catch (e) { /* not JSON */ }
  return 'HTTP ' + r.status;
}

function humanBytes(n) {
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

// ---------------------------------------------------------------- passage

function openPassage(title, meta, text) {
  $('passage-title').textContent = title;
  $('passage-meta').textContent = meta;
  $('passage-text').textContent = text;
  const d = $('passage');
  if (!d.open) d.showModal();
}

// ---------------------------------------------------------------- tabs

function showTab(btn) {
  for (const t of document.querySelectorAll('[role=tab]')) {
    const on = t === btn;
    t.setAttribute('aria-selected', on ? 'true' : 'false');
    $(t.dataset.panel).hidden = !on;
  }
  if (btn.id === 'tab-docs') loadDocs(true);
  if (btn.id === 'tab-ask') $('question').focus();
  if (btn.id === 'tab-search') $('q').focus();
}

// ---------------------------------------------------------------- search

let searchSeq = 0;
let searchTimer = null;
let searchAbort = null;

function renderResults(data) {
  const ol = $('results');
  ol.replaceChildren();
  for (const h of data.results) {
    const li = el('li', 'result');
    li.tabIndex = 0;
    const head = el('div', 'result-head');
    head.append(el('span', 'result-id', h.id));
    const label = h.heading || h.title;
    if (label) head.append(el('span', 'result-heading', ' — ' + label));
    head.append(el('span', 'score', h.score.toFixed(3)));
    li.append(head);
    const snip = h.text.length > 300 ? h.text.slice(0, 300) + '…' : h.text;
    li.append(el('p', 'snippet', snip));
    const open = () => openPassage(h.id + (label ? ' — ' + label : ''),
      'chunk ' + h.chunk + ', bytes ' + h.start + '–' + h.end + ' of ' + h.source, h.text);
    li.addEventListener('click', open);
    li.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    ol.append(li);
  }
  $('search-status').textContent = data.results.length
    ? data.results.length + ' results in ' + data.took_ms.toFixed(1) + ' ms'
    : 'no results';
}

async function runSearch(query) {
  const seq = ++searchSeq;
  if (searchAbort) searchAbort.abort();
  searchAbort = new AbortController();
  if (!query.trim()) {
    $('results').replaceChildren();
    $('search-status').textContent = '';
    return;
  }
  try {
    const r = await api('/v1/search', {
      method: 'POST', headers: headers(true), signal: searchAbort.signal,
      body: JSON.stringify({ query: query, k: 10 }),
    });
    if (seq !== searchSeq) return; // a newer query was typed meanwhile
    if (!r.ok) { $('search-status').textContent = await errorText(r); return; }
    const data = await r.json();
    if (seq === searchSeq) renderResults(data);
  } catch (e) {
    if (e.name !== 'AbortError') $('search-status').textContent = 'search failed: ' + e.message;
  }
}

// ---------------------------------------------------------------- ask

let askSources = [];

// The answer text with [n] markers made into buttons that open source n.
function renderAnswer(text) {
  const div = $('answer');
  div.replaceChildren();
  const re = /\[(\d+)\]/g;
  let last = 0, m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) div.append(document.createTextNode(text.slice(last, m.index)));
    const n = parseInt(m[1], 10);
    const b = el('button', 'cite', '[' + n + ']');
    b.type = 'button';
    b.dataset.n = String(n);
    b.addEventListener('click', () => openSource(n));
    div.append(b);
    last = re.lastIndex;
  }
  if (last < text.length) div.append(document.createTextNode(text.slice(last)));
}

function openSource(n) {
  const s = askSources.find((x) => x.n === n);
  if (!s) return;
  const label = s.heading || s.title;
  openPassage('[' + n + '] ' + s.id + (label ? ' — ' + label : ''),
    'bytes ' + s.start + '–' + s.end + ' of ' + s.source + ', score ' + s.score.toFixed(3), s.text);
}

function renderSources(sources) {
  askSources = sources;
  const ol = $('sources');
  ol.replaceChildren();
  $('sources-title').hidden = sources.length === 0;
  for (const s of sources) {
    const li = el('li', 'source');
    li.value = s.n;
    const a = el('button', 'source-link', s.id);
    a.type = 'button';
    a.addEventListener('click', () => openSource(s.n));
    li.append(a);
    const label = s.heading || s.title;
    if (label) li.append(el('span', 'muted', ' — ' + label));
    ol.append(li);
  }
}

// Read a text/event-stream body, calling onEvent(name, data) per event.
async function readSSE(response, onEvent) {
  const reader = response.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trimStart();
      }
      onEvent(name, data);
    }
  }
}

async function ask(question) {
  let text = '';
  $('answer').replaceChildren();
  renderSources([]);
  $('ask-status').textContent = 'asking…';
  $('ask').disabled = true;
  try {
    const r = await api('/v1/query', {
      method: 'POST', headers: headers(true),
      body: JSON.stringify({ question: question, stream: true }),
    });
    if (!r.ok) { $('ask-status').textContent = await errorText(r); return; }
    await readSSE(r, (name, data) => {
      const j = data ? JSON.parse(data) : {};
      if (name === 'delta') {
        text += j.text;
        renderAnswer(text);
      } else if (name === 'sources') {
        renderSources(j.sources || []);
        renderAnswer(j.answer || text);
        $('ask-status').textContent = 'answered by ' + j.model + ' in ' + j.took_ms.toFixed(1) + ' ms';
      } else if (name === 'error') {
        $('ask-status').textContent = j.error ? j.error.message : 'the answer failed';
      }
    });
  } catch (e) {
    $('ask-status').textContent = 'ask failed: ' + e.message;
  } finally {
    $('ask').disabled = false;
  }
}

// ---------------------------------------------------------------- documents

let docsNext = null;

function docRow(d) {
  const tr = el('tr');
  tr.dataset.id = d.id;
  tr.append(el('td', 'doc-id', d.id), el('td', null, d.title), el('td', 'num', d.chunks),
    el('td', 'num', humanBytes(d.size)));
  const td = el('td');
  const del = el('button', 'delete', 'Delete');
  del.type = 'button';
  del.addEventListener('click', () => deleteDoc(d.id, tr));
  td.append(del);
  tr.append(td);
  return tr;
}

async function loadDocs(reset) {
  const tbody = $('docs').tBodies[0];
  if (reset) { tbody.replaceChildren(); docsNext = null; }
  let url = '/v1/documents?limit=100';
  if (!reset && docsNext) url += '&after=' + encodeURIComponent(docsNext);
  const r = await api(url, { headers: headers(false) });
  if (!r.ok) { $('upload-status').textContent = await errorText(r); return; }
  const j = await r.json();
  for (const d of j.documents) tbody.append(docRow(d));
  docsNext = j.next;
  $('more-docs').hidden = !docsNext;
  loadInfo();
}

async function deleteDoc(id, tr) {
  if (!confirm('Delete ' + id + ' from the knowledge base?')) return;
  const r = await api('/v1/documents/' + encodeURIComponent(id), {
    method: 'DELETE', headers: headers(false),
  });
  if (r.ok) { tr.remove(); $('upload-status').textContent = 'deleted ' + id; loadInfo(); }
  else $('upload-status').textContent = await errorText(r);
}

async function upload(files) {
  if (!files.length) { $('upload-status').textContent = 'choose a file first'; return; }
  const fd = new FormData();
  for (const f of files) fd.append('file', f, f.name);
  $('upload-status').textContent = 'uploading…';
  const r = await api('/v1/documents', { method: 'POST', headers: headers(false), body: fd });
  if (!r.ok) { $('upload-status').textContent = await errorText(r); return; }
  const j = await r.json();
  $('upload-status').textContent = j.documents.map((d) => d.id + ': ' + d.action).join(', ');
  $('file').value = '';
  loadDocs(true);
}

async function loadInfo() {
  try {
    const r = await fetch('/ready');
    if (!r.ok) return;
    const j = await r.json();
    $('kb-info').textContent = j.documents + ' documents, ' + j.chunks + ' chunks';
  } catch (e) { /* the header line is optional */ }
}

// ---------------------------------------------------------------- wiring

document.addEventListener('DOMContentLoaded', () => {
  for (const t of document.querySelectorAll('[role=tab]'))
    t.addEventListener('click', () => showTab(t));
  $('q').addEventListener('input', () => {
    clearTimeout(searchTimer);
    const v = $('q').value;
    searchTimer = setTimeout(() => runSearch(v), 200);
  });
  $('ask-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('question').value.trim();
    if (q) ask(q);
  });
  $('upload-form').addEventListener('submit', (e) => {
    e.preventDefault();
    upload($('file').files);
  });
  $('more-docs').addEventListener('click', () => loadDocs(false));
  $('savekey').addEventListener('click', () => {
    localStorage.setItem(KEY_STORE, $('apikey').value.trim());
    $('apikey').value = '';
    $('keybar').hidden = true;
    loadInfo();
  });
  loadInfo();
});
