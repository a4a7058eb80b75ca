-- name: access_keys
-- description: Access keys created, deactivated, reactivated and deleted, with whose key and who did it.
-- parameters: start:date end:date
SELECT event_time, account, actor, event_name,
       split_part(split_part(request_parameters, '"userName":"', 2), '"', 1) AS key_user,
       coalesce(nullif(split_part(split_part(request_parameters, '"accessKeyId":"', 2), '"', 1), ''),
                split_part(split_part(response_elements, '"accessKeyId":"', 2), '"', 1)) AS access_key,
       split_part(split_part(request_parameters, '"status":"', 2), '"', 1) AS status
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_source = 'iam.amazonaws.com'
  AND event_name IN ('CreateAccessKey', 'UpdateAccessKey', 'DeleteAccessKey')
  AND error_code IS NULL
ORDER BY event_time
