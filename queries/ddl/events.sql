-- The Athena table over the exported lake. Replace ${database} and ${location} (the deploy
-- does): location is s3://<bucket>/<prefix>/events/.
-- Partition projection computes the dt partitions from the range below, so there is no
-- crawler and no MSCK REPAIR TABLE, and a query that filters on dt reads only those days.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.events (
  event_id string,
  event_time timestamp,
  event_source string,
  event_name string,
  event_type string,
  event_category string,
  aws_region string,
  account string,
  principal_type string,
  principal_arn string,
  principal_id string,
  principal_account string,
  actor string,
  session_issuer_arn string,
  role_name string,
  access_key_id string,
  mfa_authenticated boolean,
  invoked_by string,
  identity_store_user_id string,
  source_ip string,
  user_agent string,
  read_only boolean,
  management_event boolean,
  error_code string,
  error_message string,
  denied boolean,
  denial_layer string,
  deny_kind string,
  console_login string,
  mfa_used boolean,
  vpc_endpoint_id string,
  request_id string,
  request_parameters string,
  response_elements string,
  additional_event_data string,
  resources string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION '${location}'
TBLPROPERTIES (
  'parquet.compression' = 'SNAPPY',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${location}dt=${dt}/'
)
