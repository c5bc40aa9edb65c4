// The hand-written baseline of bench/node/run: getWeather on node:http, reading the JSON body,
// checking the two required members and answering the same JSON string. Prints its URL first.
import http from "node:http";

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    let input;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      input = null;
    }
    if (request.method !== "POST" || !input || typeof input.question !== "string" || !["text", "voice"].includes(input.interactionMode)) {
      response.writeHead(400, { "content-type": "application/problem+json" });
      response.end('{"title":"invalid input"}');
      return;
    }
    const answer = `Weather for "${input.question}": sunny, 21 °C, light wind (answered in ${input.interactionMode} mode).`;
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify(answer));
  });
});
server.listen(0, "127.0.0.1", () => {
  console.log(`http://127.0.0.1:${server.address().port}/weatheragent/actions/getWeather`);
});
