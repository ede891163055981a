/**
 * The English catalogue: every alert word is here. Readers are office staff with no IT
 * person: plain words, jargon explained when it cannot be avoided, and concrete steps under
 * "What to do".
 */
import type { Catalogue, TextParams } from "../texts.ts";
import { zonedParts } from "../texts.ts";

/** Built once: constructing a formatter costs more than using it. */
const NUMBER = new Intl.NumberFormat("en-US");

/** " (port 445, 139)" when ports are known. */
const portsPart = (p: TextParams): string => (p.ports ? ` (port ${p.ports})` : "");
const times = (count: string): string => (count === "1" ? "once" : `${count} times`);
/** Sentences may start with a device label ("the device at …"). */
const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

const ISOLATE_AND_SCAN =
  "1. Unplug this device's network cable and turn off its Wi-Fi (you can leave it switched on). " +
  "2. Run a full scan with your antivirus software. " +
  "3. Contact your provider and tell them what this notice says, including the device's IP and MAC address. ";

const WHICH_DEVICE =
  "If you do not know which device this is, look up its IP or MAC address in the device list on the admin page, " +
  "or just give them to your provider. A staff member's own smartphone on the office Wi-Fi can be the cause.";

export const EN: Catalogue = {
  lang: "en",
  kinds: {
    "c2-contact": {
      title: (p) => `Possible virus infection: ${p.device} tried to contact a malicious server`,
      what: (p) =>
        cap(`${p.device} tried to connect ${times(p.count)} to an address known as a virus command server (C&C server) or botnet` +
        `${p.remotes ? ` (${p.remotes}${p.ports ? `; port ${p.ports}` : ""})` : portsPart(p)}. The box blocked every attempt.`),
      danger: () =>
        "Danger: high (act now). This device is probably infected and may be controlled by an attacker. " +
        "The box stops the traffic, but while the infection remains, data can be stolen and the virus can spread to other PCs in the office.",
      action: () => `${ISOLATE_AND_SCAN}${WHICH_DEVICE}`,
    },
    "outbound-port": {
      title: (p) =>
        p.severity === "high"
          ? `Possible virus infection: ${p.device} is sending a flood of suspicious connections`
          : `Suspicious traffic: ${p.device} keeps trying connections that are not normally used`,
      what: (p) =>
        cap(`${p.device} tried ${times(p.count)} to make a kind of connection to the internet that office work does not use${portsPart(p)}, `) +
        `and the box blocked it.${p.ruleTitle ? ` Rule: ${p.ruleTitle}.` : ""}`,
      danger: (p) =>
        p.severity === "high"
          ? "Danger: high (act now). It is trying a very large number of connections in a short time. " +
            "A virus (a worm) may be trying to spread to other computers."
          : "Danger: medium (check this week). A virus, or software nobody meant to install (adware and the like), may be trying to talk to the internet. " +
            "Sometimes the settings of a business application are the cause.",
      action: (p) =>
        p.severity === "high"
          ? `${ISOLATE_AND_SCAN}${WHICH_DEVICE}`
          : "Ask the person who uses this device whether they installed new software recently, and run a full scan with your antivirus software. " +
            "If nobody knows why, or this notice keeps coming, ask your provider for advice. " + WHICH_DEVICE,
    },
    "exposed-host": {
      title: (p) => `Attacks from the internet: ${p.device} is being targeted again and again`,
      what: (p) =>
        cap(`${p.sources || "sources"} on the internet tried to connect to`) + ` ${p.device} ${times(p.count)}${portsPart(p)}. ` +
        "The box blocked every attempt.",
      danger: () =>
        "Danger: medium (check this week). This device may be directly reachable from the internet " +
        "(it has a global IP address, or a port is opened for it on the router). " +
        "Attackers come back again and again looking for a weakness; with old software or a weak password it could be taken over.",
      action: () =>
        "Check whether anyone needs to use this device from the internet. " +
        "If not, ask whoever set up your router (or your provider) to remove the port forwarding or the global IP address for it. " +
        "If it is needed, update the device's software and change its password to a long one that is hard to guess.",
    },
    "brute-force": {
      title: (p) => `Password attack: someone is trying to log in to ${p.device}`,
      what: (p) =>
        cap(`${p.sources || "sources"} on the internet tried ${times(p.count)} to log in to`) + ` ${p.device}${portsPart(p)} ` +
        "by guessing passwords one after another (a brute-force attack). The box blocked them." +
        `${p.ruleTitle ? ` (${p.ruleTitle})` : ""}`,
      danger: () =>
        "Danger: medium (check this week). If the password is short or easy to guess, the device could be taken over.",
      action: () =>
        "Change this device's password to a long one that is hard to guess. " +
        "If nobody needs to use it from the internet, ask whoever set up your router (or your provider) to stop publishing it (port forwarding). " +
        "If you cannot log in any more, or settings changed without anyone doing it, contact your provider at once.",
    },
    "port-scan": {
      title: (p) => `Port scan: ${p.remote || "a source on the internet"} probed the office network (blocked)`,
      what: (p) =>
        `${p.remote || "A source on the internet"} probed the office network for weak spots (a port scan), ${times(p.count)}` +
        `${p.targets ? `, targeting ${p.targets}` : ""}${portsPart(p)}. The box blocked the source for a while.`,
      danger: () =>
        "Danger: low (nothing to do). Every company gets port scans almost every day, and the box stops them. " +
        "The weekly report will show how many there were.",
      action: () =>
        "Nothing needs doing. Keep the software on your PCs and devices up to date " +
        "(old software with known weaknesses is what the next attack looks for).",
    },
    "new-device": {
      title: (p) => `New device: ${p.device} joined the office network`,
      what: (p) =>
        cap(`${p.device} joined the office network; the box had never seen it before.`) +
        `${p.vendor ? ` Maker: ${p.vendor}.` : ""}`,
      danger: () =>
        "Danger: low. A PC or printer you have just set up is fine. " +
        "But a staff member's own smartphone, or an old PC that got connected without anyone noticing, can let a virus in.",
      action: () =>
        "Find out which device this is. If it does not belong to the company (a personal smartphone, for example), " +
        "ask its owner not to connect it to the office network. If you cannot tell, give this notice's IP and MAC address to your provider.",
    },
    "endpoint-syslog": {
      title: (p) => `Warning from a device: ${p.device} reports a serious error`,
      what: (p) =>
        cap(`${p.device}${p.app ? ` (${p.app})` : ""} sent a serious error or warning message ${times(p.count)}.` +
        `${p.message ? ` Latest message: "${p.message}"` : ""}`),
      danger: () =>
        "Danger: medium (check this week). It may mean the device is failing, or a security problem such as attempts to log in without permission.",
      action: () =>
        "Look up what the message means in the device's admin page or manual. " +
        "If you cannot tell, or the same notice keeps coming, pass this notice on to your provider.",
    },
    "admin-login": {
      title: (p) => `Attempt to get into the admin page: wrong passwords from ${p.device}`,
      what: (p) =>
        cap(`${p.device} kept trying to log in to the box's admin page with a wrong password, so the box stopped accepting logins from it for a while (${times(p.count)}).`),
      danger: () =>
        "Danger: medium (check today). If the person at that device only forgot the password, there is no problem. " +
        "If nobody did, the device may be infected, or someone may be trying to change the box's settings.",
      action: () =>
        "Ask the person who uses that device whether they tried to log in to the admin page. " +
        "If not, change the admin page's password, block the device from the Devices page, and contact your provider.",
    },
  },
  sections: {
    what: "What happened",
    danger: "How serious is it",
    action: "What to do",
    device: "Device",
    evidence: "What the box recorded",
  },
  labels: {
    name: "Name",
    ip: "IP address",
    mac: "MAC address",
    vendor: "Maker",
    severity: "Danger",
    state: "Status",
    category: "Category",
    firstSeen: "First seen",
    lastSeen: "Last seen",
    count: "Count",
    remotes: "Internet side",
    ports: "Ports",
    targets: "Devices probed",
    rules: "Rules",
    message: "Message",
    app: "Sending software",
    incidents: "Related records (incident numbers)",
    reopened: "Times it came back",
  },
  severity: { high: "high", medium: "medium", low: "low" },
  state: { open: "open", acknowledged: "acknowledged", resolved: "resolved" },
  category: {
    inbound: "① Attacks from the internet",
    c2: "② Malware calling out",
    web: "③ Dangerous sites",
    malware: "④ Malware downloads",
    endpoint: "⑤ Endpoints",
  },
  deviceLabel: ({ name, ip, mac }) => {
    const addr = ip || mac;
    if (name && addr) return `"${name}" (${addr})`;
    if (name) return `"${name}"`;
    if (ip) return `the device at ${ip}`;
    if (mac) return `the device with MAC address ${mac}`;
    return "a device on the office network (not identified)";
  },
  list: (items, more) => `${items.join(", ")}${more ? " and more" : ""}`,
  sources: (n, more) => (n === 0 ? "" : more ? `${n} or more sources` : n === 1 ? "one source" : `${n} sources`),
  number: (n) => NUMBER.format(n),
  time: (ms, timeZone) => {
    const t = zonedParts(ms, timeZone);
    return `${t.y}-${t.mo}-${t.d} ${t.h}:${t.mi}:${t.s} (${timeZone})`;
  },
  rule: (id, title) => (title ? `${id} (${title})` : id),
  heading: (section) => `== ${section}`,
  row: (label, value) => `  ${label}: ${value}`,
  summary: (severity, state, category) => `Danger: ${severity} / Status: ${state} / Category: ${category}`,
};
