-- name: daily_summary
-- description: Per day: events, actors, denied calls, failed sign-ins, root calls.
-- parameters: start:date end:date
SELECT dt, count(*) AS events, count(DISTINCT actor) AS actors,
       sum(CASE WHEN denied THEN 1 ELSE 0 END) AS denied,
       sum(CASE WHEN console_login = 'Failure' THEN 1 ELSE 0 END) AS failed_sign_ins,
       sum(CASE WHEN principal_type = 'Root' THEN 1 ELSE 0 END) AS root_calls
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
GROUP BY dt
ORDER BY dt
