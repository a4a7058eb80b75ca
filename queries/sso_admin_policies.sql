-- name: sso_admin_policies
-- description: Administrator policies attached to Identity Center permission sets (managed or inline wildcards).
-- parameters: start:date end:date
SELECT event_time, actor, event_name,
       split_part(split_part(request_parameters, '"permissionSetArn":"', 2), '"', 1) AS permission_set,
       split_part(split_part(request_parameters, '"managedPolicyArn":"', 2), '"', 1) AS policy
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_source = 'sso.amazonaws.com'
  AND error_code IS NULL
  AND ((event_name = 'AttachManagedPolicyToPermissionSet'
        AND (request_parameters LIKE '%:policy/AdministratorAccess"%' OR request_parameters LIKE '%:policy/IAMFullAccess"%'))
    OR (event_name = 'PutInlinePolicyToPermissionSet' AND strpos(request_parameters, 'Action\":\"*\"') > 0))
ORDER BY event_time
