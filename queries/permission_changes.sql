-- name: permission_changes
-- description: Successful IAM changes to users, groups, roles, policies, keys and MFA.
-- parameters: start:date end:date
SELECT event_time, account, actor, event_name, request_parameters
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_source = 'iam.amazonaws.com'
  AND error_code IS NULL
  AND (event_name LIKE 'Create%' OR event_name LIKE 'Delete%' OR event_name LIKE 'Attach%'
       OR event_name LIKE 'Detach%' OR event_name LIKE 'Put%' OR event_name LIKE 'Update%'
       OR event_name LIKE 'Add%' OR event_name LIKE 'Remove%' OR event_name LIKE 'Set%'
       OR event_name LIKE 'Deactivate%' OR event_name LIKE 'Enable%')
ORDER BY event_time
