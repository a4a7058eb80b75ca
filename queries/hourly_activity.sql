-- name: hourly_activity
-- description: Events per hour of the day (UTC) and event source, to see when the estate works.
-- parameters: start:date end:date
SELECT extract(hour FROM event_time) AS hour_utc, event_source, count(*) AS events,
       count(DISTINCT actor) AS actors
FROM events
WHERE dt BETWEEN '{start}' AND '{end}'
GROUP BY extract(hour FROM event_time), event_source
ORDER BY hour_utc, events DESC
