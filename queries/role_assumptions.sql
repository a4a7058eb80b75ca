-- name: role_assumptions
-- description: AssumeRole calls by who assumed which role (from requestParameters), with counts.
-- parameters: start:date end:date
SELECT actor, principal_type,
       split_part(split_part(request_parameters, '"roleArn":"', 2), '"', 1) AS role_arn,
       count(*) AS assumptions, count(DISTINCT aws_region) AS regions,
       sum(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS failed,
       max(event_time) AS last_seen
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_source = 'sts.amazonaws.com'
  AND event_name LIKE 'AssumeRole%'
GROUP BY actor, principal_type, split_part(split_part(request_parameters, '"roleArn":"', 2), '"', 1)
ORDER BY assumptions DESC
