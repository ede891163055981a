/**
 * The block page: what a person sees when the DNS filter sent their browser to the box
 * instead of a dangerous site. Japanese first, English below; it says which site, why (the
 * category and the list), and how to ask for an exception. The site name comes from the
 * request's Host header: attacker-controlled text, escaped on output. It is served by the
 * box's web listener (firmware/admin/server.ts) for every name that is not the box's own.
 */
import type { DnsFilter, NameExplanation } from "./filter.ts";
import { explainName } from "./filter.ts";

const CATEGORY_JA: Record<string, string> = {
  malware: "マルウェア配布", phishing: "フィッシング(詐欺)", c2: "不正プログラムの指令サーバ", adult: "アダルト",
  gambling: "ギャンブル", "online-storage": "オンラインストレージ", social: "SNS", ads: "広告", tracking: "追跡",
  doh: "DNS迂回サービス", piracy: "違法コピー", scam: "詐欺", other: "その他",
};

/** HTML-escapes text for element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Renders the page (pure). `reason` is what the filter says about the site, if anything. */
export function renderBlockPage(site: string, reason: { category?: string; list?: string } | undefined): string {
  const s = escapeHtml(site || "(不明)");
  const cat = reason?.category;
  const catJa = escapeHtml(cat ? (CATEGORY_JA[cat] ?? cat) : "危険と判定されたサイト");
  const catEn = escapeHtml(cat ?? "a site judged dangerous");
  const list = reason?.list ? escapeHtml(reason.list) : "";
  return `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>このサイトはブロックされました / Site blocked</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.7;color:#222}
h1{font-size:1.4rem;color:#b00020}code{background:#f3f3f3;padding:.1rem .3rem;word-break:break-all}hr{margin:2rem 0}</style></head>
<body>
<h1>このサイトはブロックされました</h1>
<p>関所(Sekisho)が <code>${s}</code> への接続を止めました。</p>
<p><strong>理由:</strong> ${catJa}${list ? `(リスト: <code>${list}</code>)` : ""}</p>
<p>このサイトにアクセスすると、ウイルス感染や情報の盗み取りの危険があります。心当たりがなければ、このページを閉じてください。</p>
<p><strong>仕事でどうしても必要な場合:</strong> 社内の管理担当者か、サービス提供事業者に連絡し、このページのサイト名を伝えて「許可」を依頼してください。</p>
<hr>
<h2 lang="en">This site was blocked</h2>
<p lang="en">Sekisho stopped the connection to <code>${s}</code>. Reason: ${catEn}${list ? ` (list <code>${list}</code>)` : ""}.
If you need it for work, ask your administrator or provider to allow it, quoting the site name above.</p>
</body></html>
`;
}

/**
 * The block page's response for a request naming `site` (any path, any method): the
 * filter's current decision for the site explains why (`filter` undefined: the filter is
 * not running, and the page says only that the site was judged dangerous).
 */
export function blockPageResponse(site: string, filter: DnsFilter | undefined): Response {
  return blockPageFor(site, site && filter ? explainName(filter, site) : undefined);
}

/**
 * The same from the filter's explanation of the site (the firmware asks the filter's worker
 * for it: the compiled filter lives there). Undefined: the page says only that the site was
 * judged dangerous.
 */
export function blockPageFor(site: string, explanation: NameExplanation | undefined): Response {
  const r = explanation && explanation.ok ? explanation.reason : undefined;
  const reason = r && r.action === "block"
    ? { ...(r.source.category ? { category: r.source.category } : {}), list: r.source.id }
    : undefined;
  return new Response(renderBlockPage(site, reason), {
    status: 403,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}
