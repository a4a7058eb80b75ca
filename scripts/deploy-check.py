#!/usr/bin/env python3
"""Deploys infra/template.yaml to a moto server (IAT_TEST_MOTO_ENDPOINT) and checks the stack
comes up and works with the project's tools: the SAM transform runs locally (as CloudFormation
would), the stack is created, its outputs are read by scripts/stack.py, and `iat status` reads
the deployed tables. moto builds what it supports of each resource; this proves the template's
references and transform, not AWS's acceptance of every property (cfn-lint checks those).

  scripts/with-moto.sh .tools/deploy/bin/python scripts/deploy-check.py [IAT_BINARY]
"""

import io
import json
import os
import subprocess
import sys
import time
import zipfile

import boto3
from samtranslator.public.translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
endpoint = os.environ.get("IAT_TEST_MOTO_ENDPOINT")
if not endpoint:
    sys.exit("IAT_TEST_MOTO_ENDPOINT is not set: run through scripts/with-moto.sh")
os.environ["AWS_ENDPOINT_URL"] = endpoint
iat = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target", "debug", "iat")

with open(os.path.join(root, "infra", "template.yaml")) as f:
    template = yaml_parse(f.read())
s3 = boto3.client("s3")
s3.create_bucket(Bucket="iat-deploy-check-code")
for r in template["Resources"].values():
    if r["Type"] == "AWS::Serverless::Function":
        # What `sam deploy` does with a local CodeUri: zip it and upload it.
        name = r["Properties"]["CodeUri"].strip("/").split("/")[-1]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
        s3.put_object(Bucket="iat-deploy-check-code", Key=f"{name}.zip", Body=package.getvalue())
        r["Properties"]["CodeUri"] = f"s3://iat-deploy-check-code/{name}.zip"
transformed = transform(template, {}, ManagedPolicyLoader(boto3.client("iam")))

stack = "iat-deploy-check"
cfn = boto3.client("cloudformation")
cfn.create_stack(
    StackName=stack,
    TemplateBody=json.dumps(transformed),
    Capabilities=["CAPABILITY_IAM"],
    Parameters=[
        {"ParameterKey": "AlertsEmailAddress", "ParameterValue": "security@example.com"},
        {"ParameterKey": "RealTimeAlerts", "ParameterValue": "true"},
        {"ParameterKey": "LakeRetentionDays", "ParameterValue": "730"},
        {"ParameterKey": "TrailBucket", "ParameterValue": "org-trail-logs"},
        {"ParameterKey": "TrailPrefix", "ParameterValue": "logs"},
        {"ParameterKey": "OrganizationId", "ParameterValue": "o-a1b2c3d4e5"},
        {"ParameterKey": "Accounts", "ParameterValue": "organization"},
        {"ParameterKey": "TrackerShards", "ParameterValue": "3"},
        {"ParameterKey": "LookupIndexes", "ParameterValue": "actor"},
        {"ParameterKey": "MemberExternalId", "ParameterValue": "iat-check-external-id"},
        {"ParameterKey": "TrailKmsKeyArn",
         "ParameterValue": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
    ],
)
for _ in range(120):
    s = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    if not s["StackStatus"].endswith("IN_PROGRESS"):
        break
    time.sleep(0.5)
failed = [
    f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
    for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
    if "FAILED" in e.get("ResourceStatus", "")
]
assert s["StackStatus"] == "CREATE_COMPLETE", (s["StackStatus"], failed)
print(f"stack {stack}: {s['StackStatus']}, {len(transformed['Resources'])} resources after the SAM transform")

out = subprocess.run(
    [sys.executable, os.path.join(root, "scripts", "stack.py"), "outputs", stack],
    check=True, capture_output=True, text=True,
).stdout
outputs = dict(line.split("=", 1) for line in out.splitlines())
for key in ["EventsTableName", "ControlTableName", "AlertLedgerTableName", "LakeBucketName",
            "AlertTopicArn", "TrackerFunctionName", "AlerterFunctionName", "IngesterFunctionName",
            "TrailFilesQueueArn", "IngesterRoleArn", "TrailTable", "ReportRoleArn", "TrackerRoleArn",
            "OrgEventBusArn"]:
    assert outputs.get(key), f"output {key} missing: {outputs}"

# The hourly schedule invokes the tracker once per shard of the accounts.
events_api = boto3.client("events")
schedule = [r for r in events_api.list_rules()["Rules"] if r.get("ScheduleExpression") == "rate(1 hour)"]
inputs = sorted((json.loads(t["Input"])["shard"], json.loads(t["Input"])["shards"]) for r in schedule
                for t in events_api.list_targets_by_rule(Rule=r["Name"])["Targets"])
assert inputs == [(0, 3), (1, 3), (2, 3)], inputs
# The organisation bus takes events from the organisation only, and feeds the alerter.
# (moto keeps no bus policy; the template test checks it names the organisation.)
bus = events_api.describe_event_bus(Name=outputs["OrgEventBusArn"].split("/")[-1])
org_rules = events_api.list_rules(EventBusName=bus["Name"])["Rules"]
assert len(org_rules) == 1, org_rules
targets = events_api.list_targets_by_rule(Rule=org_rules[0]["Name"], EventBusName=bus["Name"])["Targets"]
assert [t["Arn"].split(":")[-1] for t in targets] == [outputs["AlerterFunctionName"]], targets
print(f"schedule with {len(inputs)} shard rules; organisation bus {bus['Name']} feeding the alerter")

ddb = boto3.client("dynamodb")
events = ddb.describe_table(TableName=outputs["EventsTableName"])["Table"]
assert events["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE", events
# LookupIndexes=actor: the one index, and only its key among the attribute definitions.
assert [i["IndexName"] for i in events["GlobalSecondaryIndexes"]] == ["by_actor"], events
assert sorted(a["AttributeName"] for a in events["AttributeDefinitions"]) == ["ak", "pk", "sk"], events
mappings = boto3.client("lambda").list_event_source_mappings(
    FunctionName=outputs["AlerterFunctionName"])["EventSourceMappings"]
assert len(mappings) == 1 and mappings[0]["EventSourceArn"] == events["LatestStreamArn"], mappings
# The ingester reads the trail-files queue, reporting partial batch failures.
mappings = boto3.client("lambda").list_event_source_mappings(
    FunctionName=outputs["IngesterFunctionName"])["EventSourceMappings"]
assert len(mappings) == 1 and mappings[0]["EventSourceArn"] == outputs["TrailFilesQueueArn"], mappings
assert mappings[0].get("FunctionResponseTypes") == ["ReportBatchItemFailures"], mappings

status = subprocess.run(
    [iat, "status", "--store",
     f"dynamodb:{outputs['EventsTableName']},{outputs['ControlTableName']}", "--format", "json"],
    check=True, capture_output=True, text=True,
)
state = json.loads(status.stdout)
assert state["events"] == 0 and state["checkpoints"] == [], state
print(f"iat status reads the deployed tables {outputs['EventsTableName']}, {outputs['ControlTableName']}")

# Every alarm's action is the alarm function, and the topic is encrypted with the AWS-managed
# SNS key (free; CloudWatch reaches the topic through the function).
# (moto's CloudFormation builds no alarms, so they are read from the transformed template.)
alarms = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
assert len(alarms) >= 7, len(alarms)
for a in alarms:
    assert a["Properties"]["AlarmActions"] == [{"Fn::GetAtt": ["AlarmFunction", "Arn"]}], a
function = boto3.client("lambda").get_function(FunctionName=f"{stack}-alarm")["Configuration"]
assert function["Environment"]["Variables"]["ALERT_TOPIC_ARN"] == outputs["AlertTopicArn"], function
topic = boto3.client("sns").get_topic_attributes(TopicArn=outputs["AlertTopicArn"])["Attributes"]
assert topic.get("KmsMasterKeyId") == "alias/aws/sns", topic
print(f"{len(alarms)} alarms act through {stack}-alarm; the topic uses alias/aws/sns")

# The event `make test-alerts` sends raises an alert.
sys.path.insert(0, os.path.join(root, "scripts"))
import stack as ops  # noqa: E402

event = ops.test_alert_event("111122223333", "2026-03-02T10:00:00Z", "iat-test-check")
path = os.path.join(root, "target", "test-alert-event.jsonl")
with open(path, "w") as f:
    f.write(json.dumps(event["detail"]) + "\n")
fired = subprocess.run([iat, "rules", "test", path, "--format", "jsonl"],
                       check=True, capture_output=True, text=True).stdout
rules = json.loads(fired.splitlines()[0])["rules"]
assert rules, f"the test-alerts event raised nothing: {fired}"
print(f"the make test-alerts event raises {rules}")
# make init with a trail: the trail's past files are queued for the ingester, day by day,
# resumably, and make status shows the queue and the backfill's progress.
import contextlib  # noqa: E402
import datetime as dt  # noqa: E402
import tempfile  # noqa: E402

s3.create_bucket(Bucket="org-trail-logs")
today = dt.date.today()
trail_keys = []
for account in ["111122223333", "444455556666"]:
    for region in ["us-east-1", "eu-west-1"]:
        for back in [0, 1, 5]:
            day = today - dt.timedelta(days=back)
            key = (f"logs/AWSLogs/o-a1b2c3d4e5/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"
                   f"{account}_CloudTrail_{region}_{day:%Y%m%d}T0000Z_{back}.json.gz")
            s3.put_object(Bucket="org-trail-logs", Key=key, Body=b"x")
            trail_keys.append((back, key))
cwd = os.getcwd()
with tempfile.TemporaryDirectory() as state_dir:
    os.chdir(state_dir)
    try:
        desc, outs = ops.outputs(stack)
        said = []
        ops.cmd_trail_backfill(stack, desc, outs, 3, said.append)
        state = json.load(open(ops.backfill_state_path(stack)))
        assert len(state["queued"]) == 3 and sum(state["queued"].values()) == 8, state
        # Again: every day is done, nothing is queued twice.
        ops.cmd_trail_backfill(stack, desc, outs, 3, said.append)
        assert said[-1].startswith("0 trail files queued"), said
        status = io.StringIO()
        import argparse  # noqa: E402
        with contextlib.redirect_stdout(status):
            ops.cmd_status(argparse.Namespace(stack=stack))
        assert "trail backfill: 3 of 3 days queued (8 files)" in status.getvalue(), status.getvalue()
        assert "trail files queue:" in status.getvalue(), status.getvalue()
    finally:
        os.chdir(cwd)
sqs = boto3.client("sqs")
url = ops.queue_url(sqs, outputs["TrailFilesQueueArn"])
queued = []
for _ in range(10):
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    if not got:
        break
    for m in got:
        body = json.loads(m["Body"])
        assert body["s3Bucket"] == "org-trail-logs", body
        queued += body["s3ObjectKey"]
assert sorted(queued) == sorted(k for back, k in trail_keys if back < 3), queued
print(f"make init queued the trail's last 3 days ({len(queued)} files) for the ingester, once")


# make deploy-members: the member template as a service-managed stack set over the
# organisation; each member account gets the reader role (trusting the tracker role inside the
# organisation) and a rule forwarding the real-time pattern to the organisation bus.
org = boto3.client("organizations")
org.create_organization(FeatureSet="ALL")
members = [org.create_account(Email=f"m{i}@example.com", AccountName=f"m{i}")["CreateAccountStatus"]["AccountId"]
           for i in range(2)]
said = []
instances = ops.cmd_deploy_members(argparse.Namespace(stack=stack, ous="", regions="eu-west-1"), said.append)
by_account = {}
for i in instances:
    by_account.setdefault(i["Account"], set()).add(i["Region"])
assert all(by_account.get(m) == {"us-east-1", "eu-west-1"} for m in members), (by_account, said)
again = ops.cmd_deploy_members(argparse.Namespace(stack=stack, ous="", regions="eu-west-1"), said.append)
assert len(again) == len(instances), (len(again), len(instances), said)
assert any("updating" in line for line in said), said
sts = boto3.client("sts")
creds = sts.assume_role(RoleArn=f"arn:aws:iam::{members[0]}:role/OrganizationAccountAccessRole",
                        RoleSessionName="check")["Credentials"]
member = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"], region_name="us-east-1")
reader = member.client("iam").get_role(RoleName="iat-member-reader")["Role"]
trust = reader["AssumeRolePolicyDocument"]
trust = json.loads(trust) if isinstance(trust, str) else trust
condition = trust["Statement"][0]["Condition"]
assert condition["StringEquals"]["aws:PrincipalOrgID"] == "o-a1b2c3d4e5", trust
assert condition["StringEquals"]["sts:ExternalId"] == "iat-check-external-id", trust
assert condition["ArnEquals"]["aws:PrincipalArn"] == outputs["TrackerRoleArn"], trust
forwarding = []
for region in ["us-east-1", "eu-west-1"]:
    ev = member.client("events", region_name=region)
    for r in ev.list_rules()["Rules"]:
        forwarding += [t["Arn"] for t in ev.list_targets_by_rule(Rule=r["Name"])["Targets"]]
assert forwarding == [outputs["OrgEventBusArn"]] * 2, forwarding
print(f"make deploy-members: {len(instances)} stack instances over {len(by_account)} accounts; member "
      f"{members[0]} has the reader role (organisation and external id in its trust) and forwards to the bus")

cfn.delete_stack(StackName=stack)
