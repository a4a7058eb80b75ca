-- name: denied_by_layer
-- description: Denied calls by the policy layer that denied them (service control policy, resource control policy, permissions boundary, session, identity, resource or VPC endpoint policy) and explicit or implicit deny.
-- parameters: start:date end:date
SELECT denial_layer, deny_kind, count(*) AS calls, count(DISTINCT event_name) AS actions,
       count(DISTINCT actor) AS callers, count(DISTINCT account) AS accounts
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND denied
GROUP BY denial_layer, deny_kind
ORDER BY calls DESC, denial_layer
