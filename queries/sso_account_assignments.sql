-- name: sso_account_assignments
-- description: Identity Center account assignments created and deleted: who got which permission set where.
-- parameters: start:date end:date
SELECT event_time, actor, event_name,
       split_part(split_part(request_parameters, '"targetId":"', 2), '"', 1) AS target_account,
       split_part(split_part(request_parameters, '"principalType":"', 2), '"', 1) AS principal_type,
       split_part(split_part(request_parameters, '"principalId":"', 2), '"', 1) AS principal_id,
       split_part(split_part(request_parameters, '"permissionSetArn":"', 2), '"', 1) AS permission_set,
       error_code
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_source = 'sso.amazonaws.com'
  AND event_name IN ('CreateAccountAssignment', 'DeleteAccountAssignment')
ORDER BY event_time
