-- wrk script: POST getWeather's input as JSON.
wrk.method = "POST"
wrk.body = '{"question":"Will it rain in Bonn tomorrow?","interactionMode":"text"}'
wrk.headers["Content-Type"] = "application/json"
