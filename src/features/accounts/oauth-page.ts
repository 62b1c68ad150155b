// The small page amoCRM's popup lands on after the owner answers.

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

/**
 * The result goes to the popup's opener only if it is a page of this page's own origin (the
 * gateway's, where the admin page opens it from, framed or not) or of `openerOrigins` (PUBLIC_URL's,
 * and the embedders allowed to open it themselves). The message names the amoCRM account: a page of
 * any other origin that opened the popup gets nothing, as the browser drops a message whose target
 * origin is not the opener's.
 */
export function oauthResultPage(result: { ok: boolean; message: string }, openerOrigins: readonly string[]): string {
  const payload = scriptJson({ type: 'amocrm:connect', ok: result.ok, message: result.message });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>amoCRM ${result.ok ? 'connected' : 'not connected'}</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3rem; text-align: center">
<h1>${result.ok ? 'amoCRM is connected' : 'amoCRM is not connected'}</h1>
<p>${escapeHtml(result.message)}</p>
<p>You can close this window.</p>
<script>
  // Tell the quiz admin that opened this popup (if it is one of ours), then close it.
  var origins = [location.origin].concat(${scriptJson(openerOrigins)});
  // each origin once: the opener matches at most one, and hears the result once
  if (window.opener) origins.forEach(function (origin, i) {
    if (origins.indexOf(origin) !== i) return;
    try { window.opener.postMessage(${payload}, origin); } catch (e) { /* an opener gone meanwhile */ }
  });
  setTimeout(function () { window.close(); }, ${result.ok ? 500 : 5000});
</script>
</body></html>`;
}
