-- name: sso_activity_summary
-- description: Identity Center events by name: portal sign-ins, credentials handed out, administration.
-- parameters: start:date end:date
SELECT event_name, event_type, count(*) AS events, count(DISTINCT actor) AS actors,
       sum(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS failed
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_source IN ('sso.amazonaws.com', 'identitystore.amazonaws.com', 'sso-directory.amazonaws.com', 'signin.amazonaws.com')
  AND (event_source <> 'signin.amazonaws.com' OR principal_type = 'IdentityCenterUser')
GROUP BY event_name, event_type
ORDER BY events DESC
