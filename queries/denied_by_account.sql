-- name: denied_by_account
-- description: Denied calls by account: how many, of how many actions, by how many callers, and how many an organisation policy (SCP or RCP) denied; who is blocked where across an organisation.
-- parameters: start:date end:date
SELECT account, count(*) AS calls, count(DISTINCT event_source || ':' || event_name) AS actions,
       count(DISTINCT actor) AS callers, count(DISTINCT aws_region) AS regions,
       count(CASE WHEN denial_layer IN ('service_control_policy', 'resource_control_policy') THEN 1 END) AS org_policy_calls,
       max(event_time) AS last_seen
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND denied
GROUP BY account
ORDER BY calls DESC, account
