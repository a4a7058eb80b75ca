-- name: active_users
-- description: Who was active: calls, actions, accounts, regions and last activity per actor.
-- parameters: start:date end:date
SELECT actor, principal_type, count(*) AS calls, count(DISTINCT event_name) AS actions,
       count(DISTINCT account) AS accounts, count(DISTINCT aws_region) AS regions,
       max(event_time) AS last_seen
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
GROUP BY actor, principal_type
ORDER BY calls DESC
LIMIT 500
