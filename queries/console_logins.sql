-- name: console_logins
-- description: Console sign-ins per actor and address: successes, failures, and how many without MFA.
-- parameters: start:date end:date
SELECT actor, principal_type, source_ip,
       sum(CASE WHEN console_login = 'Success' THEN 1 ELSE 0 END) AS successes,
       sum(CASE WHEN console_login = 'Failure' THEN 1 ELSE 0 END) AS failures,
       sum(CASE WHEN console_login = 'Success' AND NOT mfa_used THEN 1 ELSE 0 END) AS without_mfa,
       max(event_time) AS last_seen
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_name = 'ConsoleLogin'
GROUP BY actor, principal_type, source_ip
ORDER BY failures DESC, successes DESC
