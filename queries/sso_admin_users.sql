-- name: sso_admin_users
-- description: People working through administrator permission sets (AWSReservedSSO_*Admin* roles): calls and changes per person and account.
-- parameters: start:date end:date
SELECT actor, role_name, account, count(*) AS calls,
       sum(CASE WHEN read_only THEN 0 ELSE 1 END) AS changes,
       min(event_time) AS first_call, max(event_time) AS last_call
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND role_name LIKE 'AWSReservedSSO%'
  AND lower(role_name) LIKE '%admin%'
GROUP BY actor, role_name, account
ORDER BY changes DESC, calls DESC
