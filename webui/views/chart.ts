/** A small stacked bar chart in server-rendered SVG (no script, no inline style: classes only). */
import { CATEGORIES, type Bucket } from "../queries.ts";
import { formatDay, formatNumber, type Lang } from "../i18n/index.ts";
import { html, type Html } from "./html.ts";

const W = 720;
const H = 160;

/** Bars per bucket, stacked by category; a day label under every `labelEvery`-th bar. */
export function barChart(buckets: readonly Bucket[], title: string, totalText: (n: string) => string, lang: Lang, labelEvery: number): Html {
  const totals = buckets.map((b) => CATEGORIES.reduce((s, c) => s + b.counts[c], 0));
  const max = Math.max(1, ...totals);
  const total = totals.reduce((a, b) => a + b, 0);
  const bw = W / Math.max(1, buckets.length);
  const plot = H;
  const bars: Html[] = [];
  buckets.forEach((b, i) => {
    let y = plot;
    for (const c of CATEGORIES) {
      const n = b.counts[c];
      if (n === 0) continue;
      const h = Math.max(1, (n / max) * (plot - 4));
      y -= h;
      bars.push(html`<rect class="c-${c}" x="${(i * bw).toFixed(2)}" y="${y.toFixed(2)}" width="${Math.max(0.5, bw - 0.5).toFixed(2)}" height="${h.toFixed(2)}"></rect>`);
    }
  });
  // Day labels are HTML under the SVG, one equal-width cell per `labelEvery` bars: inside an
  // SVG stretched to the page's width (preserveAspectRatio none) text would stretch too.
  const labels: Html[] = [];
  for (let i = 0; i < buckets.length; i += labelEvery) labels.push(html`<span>${formatDay(buckets[i]!.start)}</span>`);
  return html`<figure class="chart">
<svg viewBox="0 0 ${W} ${plot}" role="img" aria-labelledby="chart-title" preserveAspectRatio="none">
<title id="chart-title">${title}: ${totalText(formatNumber(total, lang))}</title>
<line x1="0" y1="${plot}" x2="${W}" y2="${plot}" class="axis-line"></line>
${bars}
</svg>
<div class="chart-axis" aria-hidden="true">${labels}</div>
<figcaption>${title} — ${totalText(formatNumber(total, lang))}</figcaption>
</figure>`;
}
