-- name: denied_regions_new
-- description: Regions with denied calls in this period and none in the period before: a region newly in use, or people trying where a policy keeps them out.
-- parameters: start:date end:date previous_start:date previous_end:date
WITH cur AS (
  SELECT aws_region, count(*) AS calls, count(DISTINCT event_source || ':' || event_name) AS actions,
         count(DISTINCT actor) AS callers, count(DISTINCT account) AS accounts, min(event_time) AS first_seen
  FROM events
  WHERE dt BETWEEN '{start}' AND '{end}' AND denied
  GROUP BY aws_region
), prev AS (
  SELECT DISTINCT aws_region
  FROM events
  WHERE dt BETWEEN '{previous_start}' AND '{previous_end}' AND denied
)
SELECT cur.aws_region, cur.calls, cur.actions, cur.callers, cur.accounts, cur.first_seen
FROM cur
LEFT JOIN prev ON cur.aws_region = prev.aws_region
WHERE prev.aws_region IS NULL
ORDER BY cur.calls DESC, cur.aws_region
