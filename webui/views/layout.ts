/** The page frame: header with the navigation and the language switch, main, footer. */
import { csrfField, html, type Html, type ViewContext } from "./html.ts";

type NavItem = { href: string; label: string };

function nav(v: ViewContext): Html {
  const t = v.t.nav;
  const items: NavItem[] = [
    { href: "/", label: t.dashboard },
    { href: "/alerts", label: t.alerts },
    { href: "/events", label: t.events },
    { href: "/devices", label: t.devices },
    { href: "/dns", label: t.dns },
    { href: "/policy", label: t.policy },
    { href: "/system", label: t.system },
  ];
  const current = (href: string): boolean => (href === "/" ? v.path === "/" : v.path === href || v.path.startsWith(`${href}/`));
  return html`<nav class="site-nav" aria-label="${t.label}">
  <ul>${items.map((i) => current(i.href)
    ? html`<li><a href="${i.href}" aria-current="page">${i.label}</a></li>`
    : html`<li><a href="${i.href}">${i.label}</a></li>`)}
    <li><span class="soon" aria-disabled="true">${t.qr} <small>(${t.comingSoon})</small></span></li>
    <li><span class="soon" aria-disabled="true">${t.report} <small>(${t.comingSoon})</small></span></li>
  </ul>
</nav>`;
}

function tools(v: ViewContext): Html {
  const t = v.t.nav;
  const other = v.lang === "ja" ? "en" : "ja";
  return html`<div class="tools">
  <form method="post" action="/lang">${csrfField(v)}<input type="hidden" name="lang" value="${other}"><input type="hidden" name="back" value="${v.path}"><button type="submit" class="secondary outline" lang="${other}" aria-label="${t.switchLanguageLabel}">${t.switchLanguage}</button></form>
  ${v.loggedIn ? html`<a href="/password">${t.password}</a>
  <form method="post" action="/logout">${csrfField(v)}<button type="submit" class="secondary outline">${t.logout}</button></form>` : html``}
</div>`;
}

/** A whole page. `title` is the page's own heading. */
export function layout(v: ViewContext, title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="${v.t.htmlLang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true}'>
<title>${title} | ${v.t.product}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/pico.min.css">
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/htmx.min.js" defer></script>
</head>
<body>
<header class="container site-header">
  <a href="/" class="brand"><strong>${v.t.product}</strong> <small>${v.t.productSub}</small></a>
  ${tools(v)}
  ${v.loggedIn ? nav(v) : html``}
</header>
<main class="container">
<h1>${title}</h1>
${body}
</main>
<footer class="container"><small>${v.t.common.timesInJst}</small></footer>
</body>
</html>`;
}
