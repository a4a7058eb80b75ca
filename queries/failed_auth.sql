-- name: failed_auth
-- description: Failed console sign-ins and denied calls, by actor, address and what failed.
-- parameters: start:date end:date
SELECT actor, source_ip, event_source, event_name,
       CASE WHEN console_login = 'Failure' THEN 'failed sign-in' ELSE 'denied' END AS failure,
       count(*) AS attempts, min(event_time) AS first_seen, max(event_time) AS last_seen
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND (console_login = 'Failure' OR denied)
GROUP BY actor, source_ip, event_source, event_name, CASE WHEN console_login = 'Failure' THEN 'failed sign-in' ELSE 'denied' END
ORDER BY attempts DESC, actor
