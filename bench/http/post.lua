-- wrk script: POST with an empty JSON body (invokeaction of an action without input).
wrk.method = "POST"
wrk.body = ""
wrk.headers["Content-Type"] = "application/json"
