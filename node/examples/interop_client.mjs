// Calls WeatherAgents found in a Thing Description Directory, one job per agent and protocol.
//
//   node node/examples/interop_client.mjs '[{"url": "http://127.0.0.1:8081/things/urn:uuid:...",
//                                           "protocol": "ws", "question": "Berlin"}]'
//
// Each job's `url` is where the directory serves the agent's TD; the client consumes it from
// there, preferring the job's `protocol` (`http` or `ws`), invokes `getWeather` and reads
// `modelConfiguration`. One JSON line per job on stdout: `answer` and `model`, or `error`.
// The interop matrix (tests/interop/matrix.py) runs this client against every language's agent.

import { consume } from "lmos";

const jobs = JSON.parse(process.argv[2] ?? "[]");
for (const job of jobs) {
  const result = { url: job.url, protocol: job.protocol };
  try {
    const thing = await consume(job.url, { protocols: [job.protocol] });
    result.answer = await thing.invokeAction("getWeather", { question: job.question, interactionMode: "text" });
    result.model = (await thing.readProperty("modelConfiguration")).modelName;
  } catch (error) {
    result.error = `${error.name}: ${error.message}`;
  }
  console.log(JSON.stringify(result));
}
