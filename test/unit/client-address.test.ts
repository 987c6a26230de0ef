import { describe, expect, it } from "vitest";
import { clientAddressOf } from "../../src/routes/client-address";

const request = (headers: Record<string, string>) => ({
  header: (name: string) => headers[name.toLowerCase()],
});

describe("the client's address", () => {
  it("is CF-Connecting-IP by default, as on Cloudflare", () => {
    expect(clientAddressOf(request({ "cf-connecting-ip": "198.51.100.7" }), {})).toBe("198.51.100.7");
    expect(clientAddressOf(request({}), {})).toBeNull();
  });

  it("behind a trusted proxy is the last entry of the header it sets, whatever CF-Connecting-IP the client sent", () => {
    const env = { CLIENT_ADDRESS_HEADER: "X-Forwarded-For" };
    const spoofed = request({ "cf-connecting-ip": "10.9.9.9", "x-forwarded-for": "10.9.9.9, 203.0.113.9" });
    expect(clientAddressOf(spoofed, env)).toBe("203.0.113.9");
    expect(clientAddressOf(request({ "x-real-ip": " 203.0.113.10 " }), { CLIENT_ADDRESS_HEADER: "X-Real-IP" })).toBe(
      "203.0.113.10",
    );
    // Without the proxy's header the request has no address, rather than one the client chose.
    expect(clientAddressOf(request({ "cf-connecting-ip": "10.9.9.9" }), env)).toBeNull();
  });
});
