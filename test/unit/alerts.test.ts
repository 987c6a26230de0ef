/** Alert text is Slack's to format: a sender's event name in a summary must not become a mention or a link. */
import { describe, expect, it } from "vitest";
import { slackEscape } from "../../src/observability/alerts";

describe("alert text", () => {
  it("escapes Slack's control characters, so <!channel> and <url|label> arrive as text", () => {
    expect(slackEscape("volume.anomaly: <!channel> <https://evil.example|Pay here> & more")).toBe(
      "volume.anomaly: &lt;!channel&gt; &lt;https://evil.example|Pay here&gt; &amp; more",
    );
  });
});
