import type { ComponentResult, StatusResult } from './envelope.js';

// The page for people (a request with Accept: text/html): one table of components with their
// state, check latency and reason, an unhealthy row in red. It refreshes itself: a small inline
// script asks the same URL for JSON every 2 s (keeping ?key= and ?scope=) and redraws the table;
// without scripts a <noscript> meta refresh reloads the page. No external assets.

export const PAGE_REFRESH_MS = 2000;

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]!);
}

export function formatLatency(seconds: number): string {
  const ms = seconds * 1000;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function row(name: string, c: ComponentResult): string {
  const state = c.status === 'healthy' ? 'healthy' : c.optional ? 'unhealthy (optional)' : 'unhealthy';
  return (
    `<tr class="${c.status}" data-component="${escapeHtml(name)}" data-status="${c.status}">` +
    `<td>${escapeHtml(name)}</td><td>${escapeHtml(state)}</td>` +
    `<td class="num">${escapeHtml(formatLatency(c.latency_seconds))}</td>` +
    `<td>${escapeHtml(c.reason ?? '')}</td></tr>`
  );
}

/** The rows of the table, sorted by component name (also what the script redraws). */
export function renderRows(detail: Record<string, ComponentResult>): string {
  return Object.keys(detail)
    .sort()
    .map((k) => row(k, detail[k]!))
    .join('\n');
}

// The same row layout as row() above, in the browser.
const SCRIPT = `
(function () {
  var esc = function (s) { return String(s).replace(/[&<>"']/g, function (c) {
    return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]; }); };
  var lat = function (s) { var ms = s * 1000; return ms < 10 ? ms.toFixed(1) + ' ms' : Math.round(ms) + ' ms'; };
  function draw(data) {
    var d = data.detail || {};
    var rows = Object.keys(d).sort().map(function (k) {
      var c = d[k], st = c.status === 'healthy' ? 'healthy' : (c.optional ? 'unhealthy (optional)' : 'unhealthy');
      return '<tr class="' + esc(c.status) + '" data-component="' + esc(k) + '" data-status="' + esc(c.status) + '">' +
        '<td>' + esc(k) + '</td><td>' + esc(st) + '</td><td class="num">' + esc(lat(c.latency_seconds || 0)) +
        '</td><td>' + esc(c.reason || '') + '</td></tr>';
    });
    document.getElementById('rows').innerHTML = rows.join('');
    var o = document.getElementById('overall');
    o.textContent = data.status; o.className = data.status;
    document.getElementById('updated').textContent = new Date().toLocaleTimeString();
  }
  function tick() {
    fetch(location.href, { headers: { accept: 'application/json' }, cache: 'no-store' })
      .then(function (r) { if (r.status === 401) throw new Error('unauthorized'); return r.json(); })
      .then(function (b) { draw(b.data); document.getElementById('error').textContent = ''; })
      .catch(function (e) { document.getElementById('error').textContent = 'refresh failed: ' + e.message; })
      .then(function () { setTimeout(tick, ${PAGE_REFRESH_MS}); });
  }
  setTimeout(tick, ${PAGE_REFRESH_MS});
})();
`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; }
table { border-collapse: collapse; min-width: 40em; }
th, td { text-align: left; padding: .4em .8em; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.healthy td { background: #e8f6e8; }
tr.unhealthy td { background: #d9302c; color: #fff; }
#overall.healthy { color: #1a7f1a; }
#overall.unhealthy { color: #d9302c; }
.meta { color: #666; margin-top: 1em; }
#error { color: #d9302c; }
`;

export interface PageOptions {
  version: string;
  /** 'cluster' or 'host <id>' (shown in the title). */
  scope: string;
}

export function renderPage(result: Pick<StatusResult, 'healthy' | 'detail'>, opts: PageOptions): string {
  const overall = result.healthy ? 'healthy' : 'unhealthy';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flynn status: ${overall}</title>
<noscript><meta http-equiv="refresh" content="${PAGE_REFRESH_MS / 1000}"></noscript>
<style>${STYLE}</style>
</head>
<body>
<h1>Flynn status (${escapeHtml(opts.scope)}): <span id="overall" class="${overall}">${overall}</span></h1>
<table>
<thead><tr><th>component</th><th>state</th><th>latency</th><th>reason</th></tr></thead>
<tbody id="rows">
${renderRows(result.detail)}
</tbody>
</table>
<p class="meta">version ${escapeHtml(opts.version || 'dev')} · updated <span id="updated">${new Date().toISOString()}</span> · refreshes every ${PAGE_REFRESH_MS / 1000} s <span id="error"></span></p>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** Whether the client prefers the page: Accept names text/html (browsers do; curl does not). */
export function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept
    .split(',')
    .map((p) => p.trim().split(';')[0]!.trim().toLowerCase())
    .some((t) => t === 'text/html' || t === 'application/xhtml+xml');
}
