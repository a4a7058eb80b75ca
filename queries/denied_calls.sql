-- name: denied_calls
-- description: Denied calls by event source and name, with counts, callers, accounts, regions and the layers that denied them: the weekly report's core.
-- parameters: start:date end:date
SELECT event_source, event_name, count(*) AS calls, count(DISTINCT actor) AS callers,
       count(DISTINCT account) AS accounts, count(DISTINCT aws_region) AS regions,
       min(denial_layer) AS a_layer, count(DISTINCT denial_layer) AS layers,
       max(event_time) AS last_seen
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND denied
GROUP BY event_source, event_name
ORDER BY calls DESC, event_source, event_name
