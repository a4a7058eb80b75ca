-- name: security_group_changes
-- description: Security groups created, deleted and their rules changed; rules open to 0.0.0.0/0 or ::/0 flagged.
-- parameters: start:date end:date
SELECT event_time, account, aws_region, actor, event_name,
       split_part(split_part(request_parameters, '"groupId":"', 2), '"', 1) AS group_id,
       (request_parameters LIKE '%"0.0.0.0/0"%' OR request_parameters LIKE '%"::/0"%') AS open_to_world,
       error_code
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_source = 'ec2.amazonaws.com'
  AND event_name IN ('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupIngress',
                     'RevokeSecurityGroupEgress', 'ModifySecurityGroupRules', 'CreateSecurityGroup', 'DeleteSecurityGroup')
ORDER BY event_time
