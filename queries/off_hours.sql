-- name: off_hours
-- description: Calls by people (IAM users, root, Identity Center sessions) outside working hours or at weekends, by actor; hours are UTC plus utc_offset.
-- parameters: start:date end:date work_start:int=7 work_end:int=19 utc_offset:int=0
SELECT actor, account, count(*) AS calls, count(DISTINCT event_name) AS actions,
       min(event_time) AS first_call, max(event_time) AS last_call
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND (principal_type IN ('IAMUser', 'Root', 'IdentityCenterUser') OR role_name LIKE 'AWSReservedSSO%')
  AND event_type <> 'AwsServiceEvent'
  AND (
    ((extract(hour FROM event_time) + {utc_offset} + 24) % 24) < {work_start}
    OR ((extract(hour FROM event_time) + {utc_offset} + 24) % 24) >= {work_end}
    -- Weekend: Saturday is 6 in both engines; Sunday is 0 in DataFusion and 7 in Trino.
    OR extract(dow FROM event_time) IN (0, 6, 7)
  )
GROUP BY actor, account
ORDER BY calls DESC
