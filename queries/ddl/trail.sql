-- The Athena table over the organisation trail's own files (CloudTrail JSON, read in place).
-- The deploy replaces ${database}, ${table}, ${location} (s3://<bucket>/[<prefix>/]AWSLogs/<org id>/),
-- ${account_projection}, ${regions} and ${start_day}; ${account}, ${region} and ${day} in the
-- location template are Athena's, filled from each query's partition values.
-- Partition projection computes every account/region/day location, so there is no crawler and
-- no MSCK REPAIR TABLE; a query that names a day range reads only those days' files. Without
-- one it reads the whole bucket, which is why every catalogue query names its days.
-- Column names are CloudTrail's, lowercase (the JSON SerDe matches keys case-insensitively);
-- requestparameters, responseelements, additionaleventdata and serviceeventdetails hold their
-- JSON text.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.${table} (
  eventversion string,
  useridentity struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,accesskeyid:string,username:string,onbehalfof:struct<userid:string,identitystorearn:string>,sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>,ec2roledelivery:string,sourceidentity:string>>,
  eventtime string,
  eventsource string,
  eventname string,
  awsregion string,
  sourceipaddress string,
  useragent string,
  errorcode string,
  errormessage string,
  requestparameters string,
  responseelements string,
  additionaleventdata string,
  requestid string,
  eventid string,
  readonly string,
  resources array<struct<arn:string,accountid:string,type:string>>,
  eventtype string,
  apiversion string,
  managementevent string,
  recipientaccountid string,
  serviceeventdetails string,
  sharedeventid string,
  vpcendpointid string,
  eventcategory string,
  sessioncredentialfromconsole string
)
PARTITIONED BY (account string, region string, day string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${location}'
TBLPROPERTIES (
  'classification' = 'cloudtrail',
  'projection.enabled' = 'true',
${account_projection}
  'projection.region.type' = 'enum',
  'projection.region.values' = '${regions}',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '${start_day},NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = '${location}${account}/CloudTrail/${region}/${day}/'
)
