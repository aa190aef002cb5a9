/**
 * The page served at `/` while the dashboard is not built: sign in with a key, see the system's
 * health. Kept as strings so the build needs no copy step; the script is a separate file because
 * the Content-Security-Policy allows no inline script.
 */
export const SIGN_IN_SCRIPT_PATH = '/sign-in.js';

export const SIGN_IN_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TradingSystem</title>
<script src="${SIGN_IN_SCRIPT_PATH}" defer></script>
</head>
<body>
<h1>TradingSystem</h1>
<p>The dashboard is not built on this installation; this page signs in and shows the health of
the system. The API is described at <a href="/docs">/docs</a>.</p>
<form id="sign-in" hidden>
  <label for="key">API key</label>
  <input id="key" name="key" type="password" autocomplete="off" placeholder="tsk_..." required>
  <button type="submit">Sign in</button>
</form>
<section id="session" hidden>
  <p>Signed in as <strong id="who"></strong> (<span id="role"></span>) until <span id="until"></span>.
  <button id="sign-out" type="button">Sign out</button></p>
  <h2>System health: <span id="status"></span></h2>
  <pre id="health"></pre>
</section>
<p id="error" role="alert"></p>
</body>
</html>
`;

export const SIGN_IN_SCRIPT = `'use strict';
const $ = (id) => document.getElementById(id);
let csrfToken = '';

async function api(method, url, body) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  return { status: res.status, data };
}

function showError(message) {
  $('error').textContent = message;
}

async function refresh() {
  const session = await api('GET', '/api/v1/session');
  const signedIn = session.status === 200;
  $('sign-in').hidden = signedIn;
  $('session').hidden = !signedIn;
  if (!signedIn) {
    csrfToken = '';
    return;
  }
  csrfToken = session.data.csrfToken || '';
  $('who').textContent = session.data.key.name;
  $('role').textContent = session.data.key.role;
  $('until').textContent = new Date(session.data.expiresAt).toLocaleString();
  const health = await api('GET', '/api/v1/health');
  $('status').textContent = health.data && health.data.status ? health.data.status : 'HTTP ' + health.status;
  $('health').textContent = JSON.stringify(health.data, null, 2);
}

$('sign-in').addEventListener('submit', async (event) => {
  event.preventDefault();
  showError('');
  const res = await api('POST', '/api/v1/session', { key: $('key').value });
  $('key').value = '';
  if (res.status !== 200) {
    showError((res.data && res.data.error && res.data.error.message) || 'sign-in failed (HTTP ' + res.status + ')');
    return;
  }
  await refresh();
});

$('sign-out').addEventListener('click', async () => {
  await api('DELETE', '/api/v1/session');
  await refresh();
});

refresh().catch((err) => showError(String(err)));
`;
