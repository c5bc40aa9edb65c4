// Compiled (never run) by types.test.mjs: the same declarations through require().
import lmos = require("lmos");

const builder: lmos.ThingBuilder = lmos.agent("Cjs");
const servient: lmos.Servient = new lmos.Servient({ httpPort: 0 });
servient.expose(builder.action("ping", { output: { type: "string" } }).build()).onAction("ping", async () => "pong");
const error: lmos.LmosError = new lmos.NotFound("gone");
const same: typeof lmos.Servient = lmos.default.Servient;
void [error.code, same];
