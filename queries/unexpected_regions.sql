-- name: unexpected_regions
-- description: Activity outside the allowed regions (global services' us-east-1 calls aside), by region, source and actor.
-- parameters: start:date end:date allowed_regions:list=us-east-1,eu-west-1
SELECT aws_region, event_source, actor, count(*) AS calls,
       sum(CASE WHEN denied THEN 1 ELSE 0 END) AS denied, max(event_time) AS last_seen
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND aws_region NOT IN ('{allowed_regions}')
  AND event_type <> 'AwsServiceEvent'
  AND principal_type <> 'AWSService'
GROUP BY aws_region, event_source, actor
ORDER BY calls DESC
