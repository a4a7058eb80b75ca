-- name: denied_new
-- description: Services and actions denied in this period that were not denied in the previous one (new needs, renamed actions, new tooling).
-- parameters: start:date end:date previous_start:date previous_end:date
WITH cur AS (
  SELECT event_source, event_name, count(*) AS calls, count(DISTINCT actor) AS callers,
         min(denial_layer) AS a_layer, min(event_time) AS first_seen
  FROM events
  WHERE dt BETWEEN '{start}' AND '{end}' AND denied
  GROUP BY event_source, event_name
), prev AS (
  SELECT DISTINCT event_source, event_name
  FROM events
  WHERE dt BETWEEN '{previous_start}' AND '{previous_end}' AND denied
)
SELECT cur.event_source, cur.event_name, cur.calls, cur.callers, cur.a_layer, cur.first_seen
FROM cur
LEFT JOIN prev ON cur.event_source = prev.event_source AND cur.event_name = prev.event_name
WHERE prev.event_name IS NULL
ORDER BY cur.calls DESC, cur.event_source, cur.event_name
