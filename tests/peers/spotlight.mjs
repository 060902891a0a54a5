// Sentry's Spotlight sidecar as a local Sentry: accepts envelopes on
// POST /api/<project>/envelope/ and appends each (decompressed, UTF-8) as
// one JSON string line to the file given as argument. Port 0: the OS picks
// a free one, printed on stdout as {"port": N}. The `spotlight` CLI is not
// used: its own telemetry tries to reach the internet.
import { appendFileSync } from "node:fs";
import { setupSpotlight } from "@spotlightjs/spotlight";

const out = process.argv[2];
const server = await setupSpotlight({
  port: 0,
  isStandalone: true,
  incomingPayload: (body) =>
    appendFileSync(out, JSON.stringify(Buffer.from(body, "binary").toString("utf8")) + "\n"),
});
console.log(JSON.stringify({ port: server.address().port }));
