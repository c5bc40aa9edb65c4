-- wrk script: invokeaction of getWeather with a fixed question.
wrk.method = "POST"
wrk.body = '{"question":"Is it raining in Bonn?","interactionMode":"text"}'
wrk.headers["Content-Type"] = "application/json"
