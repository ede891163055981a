/** Login, change password, and the error pages (403, 404, 400). */
import { MIN_PASSWORD_LENGTH } from "../auth/password.ts";
import { csrfField, html, notice, type Html, type ViewContext } from "./html.ts";

export function loginBody(v: ViewContext, flash: { ok?: string; error?: string }): Html {
  const t = v.t.login;
  return html`${notice("ok", flash.ok)}${notice("error", flash.error)}
<article class="login"><p>${t.intro}</p>
<form method="post" action="/login">${csrfField(v)}
<input type="text" name="username" value="admin" autocomplete="username" hidden>
<label>${t.password}<input type="password" name="password" required autocomplete="current-password" maxlength="256" autofocus></label>
<button type="submit">${t.submit}</button>
</form></article>`;
}

export function passwordBody(v: ViewContext, flash: { ok?: string; error?: string }): Html {
  const t = v.t.password;
  return html`${notice("ok", flash.ok)}${notice("error", flash.error)}
<p>${t.intro}</p>
<form method="post" action="/password">${csrfField(v)}
<input type="text" name="username" value="admin" autocomplete="username" hidden>
<label>${t.current}<input type="password" name="current" required autocomplete="current-password" maxlength="256"></label>
<label>${t.next}<input type="password" name="next" required minlength="${MIN_PASSWORD_LENGTH}" maxlength="256" autocomplete="new-password" aria-describedby="pw-hint"></label>
<label>${t.again}<input type="password" name="again" required minlength="${MIN_PASSWORD_LENGTH}" maxlength="256" autocomplete="new-password"></label>
<small id="pw-hint">${t.hint(MIN_PASSWORD_LENGTH)}</small>
<button type="submit">${t.submit}</button>
</form>`;
}

export function messageBody(text: string, extra?: Html): Html {
  return html`<p>${text}</p>${extra ?? html``}`;
}

/** The 404 page: the path is shown as text (escaped), never as markup or a link. */
export function notFoundBody(v: ViewContext, path: string): Html {
  const t = v.t.notFound;
  return html`<p>${t.body}</p><p><small>${t.path}: <code>${path.slice(0, 300)}</code></small></p><p><a href="/">${v.t.nav.dashboard}</a></p>`;
}
