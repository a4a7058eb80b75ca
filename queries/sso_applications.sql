-- name: sso_applications
-- description: Identity Center applications created, changed and deleted.
-- parameters: start:date end:date
SELECT event_time, actor, event_name,
       split_part(split_part(request_parameters, '"name":"', 2), '"', 1) AS application,
       error_code
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
  AND event_source = 'sso.amazonaws.com'
  AND event_name IN ('CreateApplication', 'UpdateApplication', 'DeleteApplication', 'PutApplicationAssignmentConfiguration', 'CreateApplicationAssignment', 'DeleteApplicationAssignment')
ORDER BY event_time
