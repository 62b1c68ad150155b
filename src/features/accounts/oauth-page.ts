// The small page amoCRM's popup lands on after the owner answers.

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function oauthResultPage(result: { ok: boolean; message: string }): string {
  const payload = JSON.stringify({ type: 'amocrm:connect', ok: result.ok, message: result.message }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>amoCRM ${result.ok ? 'connected' : 'not connected'}</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3rem; text-align: center">
<h1>${result.ok ? 'amoCRM is connected' : 'amoCRM is not connected'}</h1>
<p>${escapeHtml(result.message)}</p>
<p>You can close this window.</p>
<script>
  // Tell the quiz admin that opened this popup, then close it.
  if (window.opener) window.opener.postMessage(${payload}, '*');
  setTimeout(function () { window.close(); }, ${result.ok ? 500 : 5000});
</script>
</body></html>`;
}
