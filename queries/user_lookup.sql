-- name: user_lookup
-- description: Everything one actor did (name, role/session or ARN; % matches any text), newest first.
-- parameters: start:date end:date actor:text=%
SELECT event_time, account, aws_region, event_source, event_name, actor, source_ip, error_code, denial_layer
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND (actor LIKE '{actor}' OR principal_arn LIKE '{actor}')
ORDER BY event_time DESC
LIMIT 1000
