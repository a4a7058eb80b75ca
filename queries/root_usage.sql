-- name: root_usage
-- description: Every call made as the root user, sign-ins included.
-- parameters: start:date end:date
SELECT event_time, account, aws_region, event_source, event_name, source_ip, console_login, mfa_used, error_code
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND principal_type = 'Root'
ORDER BY event_time
