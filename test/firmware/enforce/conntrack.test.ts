import { describe, expect, it } from "vitest";
import { flowsToCut, parseConntrackList } from "../../../firmware/enforce/conntrack.ts";

// As conntrack v1.4.7 prints them (captured in a lab namespace).
const LISTING = `tcp      6 431999 ESTABLISHED src=192.0.2.10 dst=203.0.113.99 sport=41234 dport=443 src=203.0.113.99 dst=192.0.2.10 sport=443 dport=41234 [ASSURED] mark=0 use=1
udp      17 25 src=192.0.2.11 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.11 sport=53 dport=5353 mark=0 use=1
tcp      6 86399 ESTABLISHED src=203.0.113.66 dst=192.0.2.10 sport=50000 dport=8080 src=192.0.2.10 dst=203.0.113.66 sport=8080 dport=50000 [ASSURED] mark=0 use=1
tcp      6 431999 ESTABLISHED src=2001:db8:2::10 dst=2001:db8:100::99 sport=40000 dport=443 src=2001:db8:100::99 dst=2001:db8:2::10 sport=443 dport=40000 [ASSURED] mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.`;

describe("cutting flows of newly blocked addresses", () => {
  it("reads the original direction of each flow", () => {
    expect(parseConntrackList(LISTING)).toEqual([
      { proto: "tcp", src: "192.0.2.10", dst: "203.0.113.99" },
      { proto: "udp", src: "192.0.2.11", dst: "198.51.100.53" },
      { proto: "tcp", src: "203.0.113.66", dst: "192.0.2.10" },
      { proto: "tcp", src: "2001:db8:2::10", dst: "2001:db8:100::99" },
    ]);
  });

  it("cuts by destination for outbound lists and by source for inbound lists, hosts and prefixes", () => {
    const flows = parseConntrackList(LISTING);
    expect(flowsToCut(flows, { dst: ["203.0.113.99", "2001:db8:100::/48"], src: ["203.0.113.64/27"] }))
      .toEqual({ dst: ["2001:db8:100::99", "203.0.113.99"], src: ["203.0.113.66"] });
    // An inbound-only list never cuts a LAN host's own outbound connection to that address.
    expect(flowsToCut(flows, { dst: [], src: ["203.0.113.99"] })).toEqual({ dst: [], src: [] });
    expect(flowsToCut(flows, { dst: [], src: [] })).toEqual({ dst: [], src: [] });
  });
});
