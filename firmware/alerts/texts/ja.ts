/**
 * 日本語の文言（すべてのアラート文言はここにある）。読み手はIT担当者のいない会社の事務の方：
 * 専門用語はできるだけ避け、使うときは言い換えを添え、「何をすればよいか」は具体的な手順で書く。
 * The Japanese catalogue: every alert word is here. Readers are office staff with no IT
 * person; plain words, and concrete steps under 何をすればよいか.
 */
import type { Catalogue, TextParams } from "../texts.ts";
import { zonedParts } from "../texts.ts";

/** Built once: constructing a formatter costs more than using it. */
const NUMBER = new Intl.NumberFormat("ja-JP");

/** 「（ポート 445、139）」 when ports are known. */
const portsPart = (p: TextParams): string => (p.ports ? `（ポート ${p.ports}）` : "");

const ISOLATE_AND_SCAN =
  "1. この機器をLANケーブル・Wi-Fiから外してください（電源は切らずにそのままで構いません）。" +
  "2. ウイルス対策ソフトでフルスキャンしてください。" +
  "3. 提供事業者に連絡し、この通知の内容（機器のIPアドレス・MACアドレスを含む）を伝えてください。";

const WHICH_DEVICE =
  "どの機器か分からないときは、管理画面の「機器一覧」でIPアドレスやMACアドレスから探すか、そのまま提供事業者に伝えてください。" +
  "社員の私物のスマートフォンなどが原因のこともあります。";

export const JA: Catalogue = {
  lang: "ja",
  kinds: {
    "c2-contact": {
      title: (p) => `ウイルス感染の疑い：${p.device}が不正なサーバーと通信しようとしました`,
      what: (p) =>
        `${p.device}が、ウイルスの指令サーバー（C&Cサーバー）やボットネットとして知られている通信先` +
        `${p.remotes ? `（${p.remotes}）` : ""}に${p.count}回接続しようとしました${portsPart(p)}。本機はこの通信をすべて遮断しました。`,
      danger: () =>
        "危険度：高（すぐに対応してください）。この機器はウイルスに感染し、外部の攻撃者に操られているおそれがあります。" +
        "通信は本機が止めていますが、感染したままにしておくと、情報を盗まれたり、社内のほかのパソコンに感染が広がったりする危険があります。",
      action: () => `${ISOLATE_AND_SCAN}${WHICH_DEVICE}`,
    },
    "outbound-port": {
      title: (p) =>
        p.severity === "high"
          ? `ウイルス感染の疑い：${p.device}が大量の不審な通信を送っています`
          : `不審な通信：${p.device}が、通常使わない宛先への通信を繰り返しています`,
      what: (p) =>
        `${p.device}が、普段の業務では使わない種類の通信${portsPart(p)}を外部に向けて${p.count}回試み、本機が遮断しました。` +
        `${p.ruleTitle ? `遮断したルール：${p.ruleTitle}。` : ""}`,
      danger: (p) =>
        p.severity === "high"
          ? "危険度：高（すぐに対応してください）。短い時間に非常に多くの通信を試みています。" +
            "ウイルス（ワーム）が、ほかのコンピューターに感染を広げようとしているおそれがあります。"
          : "危険度：中（今週中に確認してください）。ウイルスや、入れた覚えのないソフト（迷惑ソフトなど）が外部と通信しようとしている可能性があります。" +
            "業務で使っているソフトの設定が原因のこともあります。",
      action: (p) =>
        p.severity === "high"
          ? `${ISOLATE_AND_SCAN}${WHICH_DEVICE}`
          : "この機器を使っている人に、最近新しいソフトを入れなかったか確認し、ウイルス対策ソフトでフルスキャンしてください。" +
            "心当たりがない場合や、この通知が続く場合は、提供事業者に相談してください。" + WHICH_DEVICE,
    },
    "exposed-host": {
      title: (p) => `外部からの攻撃：${p.device}がインターネットから繰り返し狙われています`,
      what: (p) =>
        `インターネット上の${p.sources ? `${p.sources}の` : ""}送信元から、${p.device}への接続の試みが${p.count}回ありました${portsPart(p)}。本機がすべて遮断しました。`,
      danger: () =>
        "危険度：中（今週中に確認してください）。この機器は、インターネットから直接見える状態になっている可能性があります" +
        "（機器にグローバルIPアドレスが付いている、ルーターで「ポート開放」をしている、など）。" +
        "攻撃者は弱点を探して繰り返し攻撃してくるため、古いソフトや弱いパスワードのままだと乗っ取られるおそれがあります。",
      action: () =>
        "この機器をインターネット側から使う必要があるか確認してください。" +
        "必要がなければ、ルーターのポート開放（ポートフォワード）やグローバルIPアドレスの設定をやめるよう、設定した業者か提供事業者に依頼してください。" +
        "必要な場合は、機器のソフトウェアを最新にし、パスワードを長く推測されにくいものに変えてください。",
    },
    "brute-force": {
      title: (p) => `パスワード攻撃：${p.device}へのログインが狙われています`,
      what: (p) =>
        `インターネット上の${p.sources ? `${p.sources}の` : ""}送信元から、${p.device}${portsPart(p)}に、パスワードを次々に試してログインしようとする攻撃（総当たり攻撃）が${p.count}回ありました。` +
        `本機が送信元を遮断しました。${p.ruleTitle ? `（${p.ruleTitle}）` : ""}`,
      danger: () =>
        "危険度：中（今週中に確認してください）。パスワードが短かったり推測しやすかったりすると、機器を乗っ取られるおそれがあります。",
      action: () =>
        "この機器のパスワードを、長く推測されにくいものに変えてください。" +
        "インターネット側から使う必要がなければ、ルーターでの公開（ポート開放）をやめるよう、設定した業者か提供事業者に依頼してください。" +
        "ログインできない、設定が勝手に変わっているなど心当たりがあれば、すぐに提供事業者に連絡してください。",
    },
    "port-scan": {
      title: (p) => `ポートスキャン：${p.remote || "インターネット上の送信元"}から社内の機器が調べられました（遮断済み）`,
      what: (p) => {
        const details = [p.targets ? `対象：${p.targets}` : "", p.ports ? `ポート ${p.ports}` : ""].filter((d) => d !== "").join("、");
        return `インターネット上の${p.remote || "送信元"}から、社内の機器の弱点を探す調査（ポートスキャン）が${p.count}回ありました` +
          `${details ? `（${details}）` : ""}。本機は送信元を一時的に遮断しました。`;
      },
      danger: () =>
        "危険度：低（対応は不要です）。ポートスキャンは、どの会社にも毎日のように届いているもので、本機が防いでいます。件数は週次レポートでお知らせします。",
      action: () =>
        "特に対応は必要ありません。パソコンや機器のソフトウェアを最新の状態に保ってください" +
        "（スキャンで見つかった古いソフトの弱点が、次の攻撃で狙われるためです）。",
    },
    "new-device": {
      title: (p) => `新しい機器：${p.device}が社内のネットワークにつながりました`,
      what: (p) =>
        `これまで見たことのない${p.device}が、社内のネットワークにつながりました。` +
        `${p.vendor ? `メーカー：${p.vendor}。` : ""}`,
      danger: () =>
        "危険度：低。新しく用意したパソコンやプリンターなら問題ありません。" +
        "ただし、社員の私物のスマートフォンや、知らないうちにつながった古いパソコンが、ウイルス感染の入り口になることがあります。",
      action: () =>
        "どの機器か確認してください。会社の機器でない場合（私物のスマートフォンなど）は、社内のネットワークにつながないよう、使っている人にお願いしてください。" +
        "分からない場合は、この通知のIPアドレスとMACアドレスを提供事業者に伝えてください。",
    },
    "endpoint-syslog": {
      title: (p) => `機器からの警告：${p.device}が重大なエラーを知らせています`,
      what: (p) =>
        `${p.device}${p.app ? `（${p.app}）` : ""}が、重大なエラーや警告のメッセージを${p.count}回送ってきました。` +
        `${p.message ? `最新のメッセージ：「${p.message}」` : ""}`,
      danger: () =>
        "危険度：中（今週中に確認してください）。機器の故障や、不正なログインの試みなど、セキュリティ上の問題を示している場合があります。",
      action: () =>
        "この機器の管理画面や取扱説明書で、メッセージの意味を確認してください。" +
        "分からない場合や、同じ通知が続く場合は、この通知の内容を提供事業者に伝えてください。",
    },
    "admin-login": {
      title: (p) => `管理画面への不正ログインの試み：${p.device}からパスワードが何度も間違えられました`,
      what: (p) =>
        `${p.device}から、関所の管理画面に間違ったパスワードでのログインが続いたため、本機がこの機器からのログインを一時的に止めました（${p.count}回）。`,
      danger: () =>
        "危険度：中（今日中に確認してください）。その機器を使っている人がパスワードを忘れただけなら問題ありません。" +
        "心当たりがない場合は、その機器がウイルスに感染しているか、誰かが本機の設定を勝手に変えようとしているおそれがあります。",
      action: () =>
        "その機器を使っている人に、管理画面にログインしようとしたか確認してください。" +
        "心当たりがなければ、管理画面のパスワードを変更し、その機器を「端末」の画面からネットワークから切り離して（ブロック）、提供事業者に連絡してください。",
    },
  },
  sections: {
    what: "何が起きたか",
    danger: "どのくらい危険か",
    action: "何をすればよいか",
    device: "対象の機器",
    evidence: "検知の記録",
  },
  labels: {
    name: "機器名",
    ip: "IPアドレス",
    mac: "MACアドレス",
    vendor: "メーカー",
    severity: "危険度",
    state: "状態",
    category: "種別",
    firstSeen: "最初の検知",
    lastSeen: "最後の検知",
    count: "回数",
    remotes: "インターネット側の相手",
    ports: "ポート",
    targets: "調べられた機器",
    rules: "ルール",
    message: "メッセージ",
    app: "送信元のソフト",
    incidents: "関連する記録（インシデント番号）",
    reopened: "再発した回数",
  },
  severity: { high: "高", medium: "中", low: "低" },
  state: { open: "未対応", acknowledged: "確認済み", resolved: "解決済み" },
  // The pilot report's own names of the five categories (DESIGN.md); the admin page uses these too.
  category: {
    inbound: "① 外部からの不正アクセス",
    c2: "② 内部不正プログラム通信",
    web: "③ 不正サイトへのアクセス",
    malware: "④ マルウェアの検知",
    endpoint: "⑤ エンドポイント",
  },
  deviceLabel: ({ name, ip, mac }) => {
    const addr = ip || mac;
    if (name && addr) return `「${name}」（${addr}）`;
    if (name) return `「${name}」`;
    if (ip) return `IPアドレス ${ip} の機器`;
    if (mac) return `MACアドレス ${mac} の機器`;
    return "社内の機器（特定できません）";
  },
  list: (items, more) => `${items.join("、")}${more ? " ほか" : ""}`,
  sources: (n, more) => (n === 0 ? "" : more ? `${n}か所以上` : `${n}か所`),
  number: (n) => NUMBER.format(n),
  time: (ms, timeZone) => {
    const t = zonedParts(ms, timeZone);
    return `${t.y}年${t.mo}月${t.d}日 ${t.h}:${t.mi}:${t.s}`;
  },
  rule: (id, title) => (title ? `${id}（${title}）` : id),
  heading: (section) => `■ ${section}`,
  row: (label, value) => `  ${label}：${value}`,
  summary: (severity, state, category) => `危険度：${severity}　状態：${state}　種別：${category}`,
};
