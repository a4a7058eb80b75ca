-- name: sso_permission_sets
-- description: Identity Center permission sets created, changed or deleted, with who and what.
-- parameters: start:date end:date
SELECT event_time, account, actor, event_name, error_code, request_parameters
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_source = 'sso.amazonaws.com'
  AND event_name LIKE '%PermissionSet%'
  AND event_name NOT LIKE 'Describe%' AND event_name NOT LIKE 'List%' AND event_name NOT LIKE 'Get%'
ORDER BY event_time
