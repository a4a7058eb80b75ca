#!/usr/bin/env python3
"""Operating a deployed IAM Activity Tracker stack (the Makefile's deploy, init, status,
test-alerts targets call this; it runs in the deploy tools' venv, which has boto3).

  stack.py params TEMPLATE [--env-file F] [--set Key=Value ...]
                                                   sam deploy parameter overrides from the env
  stack.py outputs STACK                           the stack's outputs, KEY=VALUE per line
  stack.py index-step STACK [--env-file F]         the LookupIndexes value to deploy first when
                                                   the update would add or remove two indexes
  stack.py init STACK                              first backfill (the trail's past files queued for
                                                   the ingester, BACKFILL_DAYS; Event history), then
                                                   the first export
  stack.py status STACK                            stack, functions, alarms, dead letters
  stack.py deploy-members STACK [--ous ..] [--regions ..]
                                                   the member accounts' reader role (and event
                                                   forwarding) as a service-managed StackSet
  stack.py test-alerts STACK                       one synthetic event through the alerter
  stack.py self-test                               this script's own checks (no AWS)
"""

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
import uuid


def env_name(parameter):
    """AlertsEmailAddress -> ALERTS_EMAIL_ADDRESS (the variable make deploy reads)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", parameter).upper()


def template_parameters(path):
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !Sub, ...) are not needed to read the parameters.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with open(path) as f:
        return yaml.load(f, Loader=Loader)["Parameters"]


def quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parameter_overrides(parameters, environ, forced):
    """`Key="value"` for each parameter whose variable is set (set but empty counts: it clears
    the value), and each forced one. Unset variables leave the template's default."""
    out = []
    for name in parameters:
        if name in forced:
            out.append(f"{name}={quote(forced[name])}")
        elif env_name(name) in environ:
            out.append(f"{name}={quote(environ[env_name(name)])}")
    unknown = set(forced) - set(parameters)
    if unknown:
        raise SystemExit(f"unknown parameters: {', '.join(sorted(unknown))}")
    return out


def read_env_file(path):
    """KEY=VALUE lines (comments, blank lines and `export ` allowed; quotes around values
    dropped), as defaults the environment overrides."""
    values = {}
    if not path or not os.path.exists(path):
        return values
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            line = line.removeprefix("export ").strip()
            if "=" not in line:
                raise SystemExit(f"{path}:{n}: expected KEY=VALUE, found {line!r}")
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


INDEX_COUNT = {"none": 0, "actor": 1, "both": 2}


def index_step(current, wanted):
    """The LookupIndexes value to deploy before `wanted`, or None. DynamoDB adds or removes one
    global secondary index per table update, so none <-> both goes through actor."""
    if current not in INDEX_COUNT or wanted not in INDEX_COUNT:
        return None
    return "actor" if abs(INDEX_COUNT[current] - INDEX_COUNT[wanted]) > 1 else None


def deployed_parameters(stack):
    """The deployed stack's parameter values, or None when there is no such stack."""
    cfn = session().client("cloudformation")
    try:
        s = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as e:  # noqa: BLE001 - sam deploy reports other failures itself
        if "does not exist" in str(e):
            return None
        raise
    return {p["ParameterKey"]: p.get("ParameterValue") for p in s.get("Parameters", [])}


def cmd_index_step(args):
    deployed = deployed_parameters(args.stack)
    if deployed is None:
        return
    # Stacks from before the parameter have both indexes; an unset variable keeps the deployed
    # value (sam deploy reuses it), or takes the template default on such an older stack.
    current = deployed.get("LookupIndexes", "both")
    environ = {**read_env_file(args.env_file), **os.environ}
    wanted = environ.get("LOOKUP_INDEXES") or deployed.get("LookupIndexes", "none")
    step = index_step(current, wanted)
    if step:
        print(step)


def session():
    import boto3

    return boto3.session.Session()


def outputs(stack):
    cfn = session().client("cloudformation")
    try:
        s = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as e:  # noqa: BLE001 - one line for the operator
        raise SystemExit(f"stack {stack}: {e} (deploy it with make deploy STACK={stack})")
    return s, {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}


def lambda_client():
    from botocore.config import Config

    # A synchronous invocation lasts up to the function's 15 minutes.
    return session().client(
        "lambda", config=Config(read_timeout=960, connect_timeout=10, retries={"max_attempts": 0})
    )


def invoke(client, function, payload, wait=30, attempts=20):
    """(response payload, error type or None). Waits while Lambda throttles the call."""
    for attempt in range(attempts):
        try:
            r = client.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
            break
        except client.exceptions.TooManyRequestsException:
            if attempt == attempts - 1:
                raise SystemExit(f"{function}: Lambda kept throttling the invocation")
            print(f"{function}: throttled (the account's concurrency is in use); retrying in {wait} s", flush=True)
            time.sleep(wait)
    body = json.loads(r["Payload"].read() or b"null")
    if r.get("FunctionError"):
        return body, (body or {}).get("errorType", "Unhandled")
    return body, None


# Errors that another invocation cannot fix.
FATAL = {"ConfigError", "SetupError", "RunError", "Unhandled"}


# Between runs while accounts far behind backfill in invocations of their own (ACCOUNTS).
HANDED_OFF_WAIT_S = 60


def backfill(invoke_tracker, say, max_runs=200, wait=time.sleep):
    """Invokes the tracker until every stream is caught up and no account is backfilling in an
    invocation of its own. Returns the last summary. `invoke_tracker()` returns (payload,
    error type)."""
    stalled = 0
    for run in range(1, max_runs + 1):
        body, error = invoke_tracker()
        if error in FATAL:
            raise SystemExit(f"tracker run {run} failed ({error}): {body.get('errorMessage', body)}")
        if error:
            # Some streams failed (say, a region the account cannot read); the others progressed.
            say(f"run {run}: {error}: {body.get('errorMessage', body)}")
            stalled += 1
            if stalled >= 3:
                raise SystemExit("the same streams keep failing; see make status and make logs")
            continue
        stalled = 0
        say(
            f"run {run}: {body['inserted']:,} new events, {body['caught_up']}/{body['streams']} "
            f"streams caught up, complete up to {body.get('oldest_complete_up_to') or '-'}"
        )
        elsewhere = body.get("handed_off", 0) + body.get("left_to_running", 0)
        if elsewhere:
            say(f"  {elsewhere} accounts backfilling in invocations of their own (the backfill queue)")
            wait(HANDED_OFF_WAIT_S)
            continue
        if body["caught_up"] == body["streams"]:
            return body
    raise SystemExit(f"not caught up after {max_runs} runs; run make init again to go on")


def export_ranges(today, days, chunk=7):
    """[(from, to)] covering the `days` days before today, oldest first, `chunk` days each."""
    first = today - dt.timedelta(days=days)
    last = today - dt.timedelta(days=1)
    out = []
    while first <= last:
        end = min(first + dt.timedelta(days=chunk - 1), last)
        out.append((first.isoformat(), end.isoformat()))
        first = end + dt.timedelta(days=1)
    return out


# Trail files named in one queue message (CloudTrail's own notification shape): a message whose
# file fails is delivered again whole, so keep it small.
KEYS_PER_MESSAGE = 10


def s3_folders(s3, bucket, prefix):
    """Folder names directly under `prefix` (one delimited listing, paged)."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        out += [p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return sorted(out)


def s3_keys(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def trail_backfill(s3, send, bucket, prefix, org, days, today, done, say):
    """Queues the trail files of the `days` days ending `today`, newest day first, for the
    ingester: per day, one listing per account and region folder (found once, by delimited
    listings), never the whole bucket. `send(bodies)` sends up to ten message bodies; `done`
    maps the days already queued to their file counts (skipped; each day is added once its
    files are queued, so a stopped backfill resumes at the next day). Returns the files queued."""
    base = f"{prefix.strip('/')}/AWSLogs/" if prefix.strip("/") else "AWSLogs/"
    orgs = [org] if org else [f for f in s3_folders(s3, bucket, base) if f.startswith("o-")] or [""]
    owners = []
    for o in orgs:
        root = f"{base}{o}/" if o else base
        for account in s3_folders(s3, bucket, root):
            if re.fullmatch(r"[0-9]{12}", account):
                owners.append((root, account, s3_folders(s3, bucket, f"{root}{account}/CloudTrail/")))
    say(f"{len(owners)} accounts under s3://{bucket}/{base}, {sum(len(r) for _, _, r in owners)} account-regions")
    queued = 0
    for n in range(days):
        day = today - dt.timedelta(days=n)
        if day.isoformat() in done:
            continue
        keys = []
        for root, account, regions in owners:
            for region in regions:
                keys += [k for k in s3_keys(s3, bucket, f"{root}{account}/CloudTrail/{region}/{day:%Y/%m/%d}/")
                         if k.endswith((".json.gz", ".json"))]
        bodies = [json.dumps({"s3Bucket": bucket, "s3ObjectKey": keys[i:i + KEYS_PER_MESSAGE]})
                  for i in range(0, len(keys), KEYS_PER_MESSAGE)]
        for i in range(0, len(bodies), 10):
            send(bodies[i:i + 10])
        queued += len(keys)
        done[day.isoformat()] = len(keys)
        say(f"{day}: {len(keys):,} files queued in {len(bodies):,} messages")
    return queued


def queue_url(sqs, arn):
    _, _, _, _, account, name = arn.split(":", 5)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def send_batch(sqs, url, bodies):
    r = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
    if r.get("Failed"):
        raise SystemExit(f"the queue refused {len(r['Failed'])} messages: {r['Failed'][0]}; run make init again to go on")


def backfill_state_path(stack):
    return f".iat-trail-backfill-{stack}.json"


def cmd_trail_backfill(stack, s, out, days, say):
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in s.get("Parameters", [])}
    bucket = params.get("TrailBucket", "")
    path = backfill_state_path(stack)
    state = json.load(open(path)) if os.path.exists(path) else {}
    done = state.get("queued", {}) if state.get("bucket") == bucket else {}
    sess = session()
    sqs = sess.client("sqs")
    url = queue_url(sqs, out["TrailFilesQueueArn"])

    def save():
        with open(path, "w") as f:
            json.dump({"bucket": bucket, "days": days, "queued": done}, f, indent=1, sort_keys=True)

    def progress(m):
        say(m)
        save()

    say(f"queueing the last {days} days of s3://{bucket} for {out['IngesterFunctionName']} "
        f"({len(done)} days already queued; progress in {path}, make status shows the queue)")
    try:
        queued = trail_backfill(sess.client("s3"), lambda bodies: send_batch(sqs, url, bodies), bucket,
                                params.get("TrailPrefix", ""), params.get("OrganizationId", ""), days,
                                dt.date.today(), done, progress)
    except Exception as e:  # noqa: BLE001 - one line for the operator
        save()
        raise SystemExit(f"trail backfill stopped: {e} (listing the trail bucket needs s3:ListBucket for "
                         f"your credentials; run make init again to go on)")
    save()
    say(f"{queued:,} trail files queued; the ingester stores them as it drains the queue")


def cmd_init(args):
    s, out = outputs(args.stack)
    client = lambda_client()
    say = lambda m: print(m, flush=True)  # noqa: E731
    if "TrailFilesQueueArn" in out:
        if not 1 <= args.backfill_days <= 3650:
            raise SystemExit(f"BACKFILL_DAYS={args.backfill_days}: expected 1 to 3650 days")
        cmd_trail_backfill(args.stack, s, out, args.backfill_days, say)
    say(f"backfilling with {out['TrackerFunctionName']} (each run stops before 15 minutes)")
    backfill(lambda: invoke(client, out["TrackerFunctionName"], {}), say, args.max_runs)
    total = 0
    for first, last in export_ranges(dt.date.today(), args.days):
        body, error = invoke(client, out["ExporterFunctionName"], {"from": first, "to": last})
        if error:
            raise SystemExit(f"export {first}..{last} failed ({error}): {body.get('errorMessage')}")
        total += body["events"]
        say(f"exported {first}..{last}: {body['events']:,} events")
    say(f"done: {total:,} events in the lake; query them with make run-query ATHENA=1 Q=daily_summary")


def cmd_status(args):
    stack, out = outputs(args.stack)
    s = session()
    print(f"stack {args.stack}: {stack['StackStatus']} (updated {stack.get('LastUpdatedTime', stack['CreationTime'])})")
    cw = s.client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc)
    for key in ["TrackerFunctionName", "AlerterFunctionName", "ExporterFunctionName", "ReportFunctionName",
                "IngesterFunctionName"]:
        if key not in out:
            continue
        name = out[key]
        figures = {}
        for metric in ["Invocations", "Errors", "Throttles"]:
            points = cw.get_metric_statistics(
                Namespace="AWS/Lambda", MetricName=metric,
                Dimensions=[{"Name": "FunctionName", "Value": name}],
                StartTime=now - dt.timedelta(days=1), EndTime=now, Period=86400, Statistics=["Sum"],
            )["Datapoints"]
            figures[metric] = int(sum(p["Sum"] for p in points))
        print(f"  {name}: last 24 h {figures['Invocations']} runs, {figures['Errors']} errors, {figures['Throttles']} throttled")
    if "TrailFilesQueueArn" in out:
        sqs = s.client("sqs")
        attrs = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        q = sqs.get_queue_attributes(QueueUrl=queue_url(sqs, out["TrailFilesQueueArn"]),
                                     AttributeNames=attrs)["Attributes"]
        print(f"  trail files queue: {q.get(attrs[0], '?')} messages waiting, {q.get(attrs[1], '?')} being read")
        path = backfill_state_path(args.stack)
        if os.path.exists(path):
            b = json.load(open(path))
            left = "" if len(b["queued"]) >= b["days"] else "; make init queues the rest"
            print(f"  trail backfill: {len(b['queued'])} of {b['days']} days queued "
                  f"({sum(b['queued'].values()):,} files){left}")
    alarms = cw.describe_alarms(AlarmNamePrefix=f"{args.stack}-", StateValue="ALARM")["MetricAlarms"]
    if alarms:
        for a in alarms:
            print(f"  ALARM {a['AlarmName']}: {a['AlarmDescription']}")
    else:
        print("  no alarm firing")


MEMBER_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "infra", "member.yaml")


def member_parameters(stack_params, out, org_id):
    """infra/member.yaml's parameters from the central stack: the role it trusts, the
    organisation, the role's name and external id, and the bus to forward to if it has one."""
    values = {
        "TrackerRoleArn": out["TrackerRoleArn"],
        "OrganizationId": org_id,
        "RoleName": stack_params.get("MemberRoleName") or "iat-member-reader",
        "ExternalId": stack_params.get("MemberExternalId", ""),
        "CentralEventBusArn": out.get("OrgEventBusArn", ""),
    }
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def member_regions(regions, stack_region):
    """The stack set's regions: those asked for, or us-east-1 (IAM's, where the role is made)
    and the central stack's own; us-east-1 always, first."""
    wanted = [r.strip() for r in (regions or "").split(",") if r.strip()] or [stack_region]
    return ["us-east-1"] + [r for r in dict.fromkeys(wanted) if r != "us-east-1"]


def wait_operation(cfn, name, operation, call_as, say, timeout=3600):
    """Waits for a stack set operation; returns its final status."""
    start = time.time()
    while True:
        op = cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation,
                                              CallAs=call_as)["StackSetOperation"]
        if op["Status"] not in ("RUNNING", "QUEUED", "STOPPING"):
            return op["Status"]
        if time.time() - start > timeout:
            raise SystemExit(f"stack set {name}: operation {operation} still {op['Status']} after {timeout} s")
        say(f"stack set {name}: {op['Action'].lower()} {op['Status'].lower()}...")
        time.sleep(15)


def cmd_deploy_members(args, say=print):
    stack, out = outputs(args.stack)
    if "TrackerRoleArn" not in out:
        raise SystemExit(f"stack {args.stack} has no TrackerRoleArn output: update it (make deploy)")
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    s = session()
    org = s.client("organizations")
    try:
        organisation = org.describe_organization()["Organization"]
    except Exception as e:  # noqa: BLE001 - one line for the operator
        raise SystemExit(f"cannot read the organisation ({e}): run this in the management account or a "
                         "delegated administrator for CloudFormation StackSets")
    me = s.client("sts").get_caller_identity()["Account"]
    call_as = "SELF" if organisation["MasterAccountId"] == me else "DELEGATED_ADMIN"
    org_id = params.get("OrganizationId") or organisation["Id"]
    ous = [o.strip() for o in (args.ous or "").split(",") if o.strip()] or [org.list_roots()["Roots"][0]["Id"]]
    regions = member_regions(args.regions, s.region_name or "us-east-1")
    name = f"{args.stack}-members"
    cfn = s.client("cloudformation")
    with open(MEMBER_TEMPLATE) as f:
        body = f.read()
    common = dict(StackSetName=name, TemplateBody=body, CallAs=call_as,
                  Parameters=member_parameters(params, out, org_id), Capabilities=["CAPABILITY_NAMED_IAM"])
    preferences = {"FailureTolerancePercentage": 10, "MaxConcurrentPercentage": 25,
                   "RegionConcurrencyType": "PARALLEL"}
    targets = {"OrganizationalUnitIds": ous}
    try:
        cfn.describe_stack_set(StackSetName=name, CallAs=call_as)
        exists = True
    except cfn.exceptions.StackSetNotFoundException:
        exists = False
    if exists:
        say(f"stack set {name}: updating its instances in {', '.join(ous)} ({', '.join(regions)})")
        op = cfn.update_stack_set(**common, DeploymentTargets=targets, Regions=regions,
                                  OperationPreferences=preferences)["OperationId"]
        wait_operation(cfn, name, op, call_as, say)
    else:
        say(f"stack set {name}: creating (service-managed, automatic deployment to accounts that join)")
        cfn.create_stack_set(**common, PermissionModel="SERVICE_MANAGED",
                             AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
                             ManagedExecution={"Active": True})
    # New OUs or regions get instances; existing ones are left as they are.
    have = {(i.get("OrganizationalUnitId"), i["Region"])
            for page in cfn.get_paginator("list_stack_instances").paginate(StackSetName=name, CallAs=call_as)
            for i in page["Summaries"]}
    missing = [r for r in regions if any((ou, r) not in have for ou in ous)]
    if missing:
        op = cfn.create_stack_instances(StackSetName=name, CallAs=call_as, DeploymentTargets=targets,
                                        Regions=missing, OperationPreferences=preferences)["OperationId"]
        wait_operation(cfn, name, op, call_as, say)
    instances = [i for page in cfn.get_paginator("list_stack_instances").paginate(StackSetName=name, CallAs=call_as)
                 for i in page["Summaries"]]
    failed = [i for i in instances if i.get("StackInstanceStatus", {}).get("DetailedStatus") == "FAILED"]
    accounts = {i["Account"] for i in instances}
    say(f"stack set {name}: {len(instances)} instances in {len(accounts)} accounts, {len(failed)} failed"
        + ("" if out.get("OrgEventBusArn") else "; no real-time forwarding (the stack has no organisation bus:"
           " REAL_TIME_ALERTS=true, ACCOUNTS and ORGANIZATION_ID set it up)"))
    for i in failed:
        say(f"  FAILED {i['Account']} {i['Region']}: {i.get('StatusReason', '')}")
    if organisation["MasterAccountId"] != me:
        say(f"the management account {organisation['MasterAccountId']} gets no stack set instance: deploy "
            f"infra/member.yaml there as a stack (same parameters) for the tracker to read it")
    if failed:
        raise SystemExit(1)
    return instances


def test_alert_event(account, now, event_id):
    """An EventBridge "AWS API Call via CloudTrail" event: AdministratorAccess attached to a user
    named for the test. The alerter raises its admin-policy alert; nothing happened in IAM."""
    detail = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser", "principalId": "AIDATESTALERTS", "accountId": account,
            "arn": f"arn:aws:iam::{account}:user/iat-test-alerts", "userName": "iat-test-alerts",
        },
        "eventTime": now, "eventSource": "iam.amazonaws.com", "eventName": "AttachUserPolicy",
        "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "userAgent": "make test-alerts",
        "requestParameters": {
            "userName": "iat-test-alerts (a test alert from make test-alerts; nothing happened)",
            "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
        },
        "responseElements": None, "requestID": str(uuid.uuid4()), "eventID": event_id,
        "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": account, "eventCategory": "Management",
    }
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.iam", "account": account, "time": now, "region": "us-east-1",
            "resources": [], "detail": detail}


def cmd_test_alerts(args):
    _, out = outputs(args.stack)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    account = session().client("sts").get_caller_identity()["Account"]
    event_id = f"iat-test-{uuid.uuid4()}"
    body, error = invoke(lambda_client(), out["AlerterFunctionName"], test_alert_event(account, now, event_id))
    if error:
        raise SystemExit(f"the alerter failed ({error}): {body.get('errorMessage')}")
    print(f"event {event_id}: {body}")
    if body.get("alerts_sent", 0) < 1:
        raise SystemExit("no alert was sent: is admin_policy_attached disabled (DISABLED_RULES)?")
    print(f"an alert (admin policy attached) is on its way to {out['AlertTopicArn']}")


def trail_policy(role_arn, bucket, prefix, key_arn, queue_arn, topic_arn, partition="aws", reader_arn=""):
    """What the trail's account must allow, as text to paste: the bucket-policy statements, the
    key-policy statement (SSE-KMS trails), and the bucket's notification to the queue (unless
    the queue subscribes to the trail's own SNS topic). `reader_arn` is the report function's
    role, which reads the trail through Athena (it lists the day folders as well)."""
    keys = f"{prefix.strip('/')}/AWSLogs/" if prefix.strip("/") else "AWSLogs/"
    readers = [role_arn, reader_arn] if reader_arn else role_arn
    out = []
    bucket_statement = {
        "Sid": "IamActivityTrackerReadTrail",
        "Effect": "Allow",
        "Principal": {"AWS": readers},
        "Action": "s3:GetObject",
        "Resource": f"arn:{partition}:s3:::{bucket}/{keys}*",
    }
    out.append(f"# 1. Add to the bucket policy of {bucket} (in the account that owns it):")
    if reader_arn:
        list_statement = {
            "Sid": "IamActivityTrackerListTrail",
            "Effect": "Allow",
            "Principal": {"AWS": reader_arn},
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": f"arn:{partition}:s3:::{bucket}",
        }
        out.append(json.dumps([bucket_statement, list_statement], indent=2)[2:-2])
    else:
        out.append(json.dumps(bucket_statement, indent=2))
    if key_arn:
        key_statement = {
            "Sid": "IamActivityTrackerDecryptTrail",
            "Effect": "Allow",
            "Principal": {"AWS": readers},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
        out.append(f"# 2. Add to the key policy of {key_arn} (the trail's SSE-KMS key):")
        out.append(json.dumps(key_statement, indent=2))
    if topic_arn:
        out.append(f"# 3. Nothing more: the queue subscribes to {topic_arn}; its policy must allow")
        out.append("#    this account to subscribe (sns:Subscribe) if the topic is in another account.")
    else:
        notification = {"QueueConfigurations": [{
            "Id": "iam-activity-tracker",
            "QueueArn": queue_arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": keys}]}},
        }]}
        out.append(f"# 3. Send the bucket's new-object notifications to the queue. This call REPLACES the")
        out.append("#    bucket's notification configuration: merge with what get-bucket-notification-configuration shows.")
        out.append(f"aws s3api put-bucket-notification-configuration --bucket {bucket} \\")
        out.append(f"  --notification-configuration '{json.dumps(notification)}'")
    return "\n".join(out)


def cmd_trail_policy(args):
    s, out = outputs(args.stack)
    if "IngesterRoleArn" not in out:
        raise SystemExit(f"stack {args.stack} has no ingester: deploy it with TRAIL_BUCKET set")
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in s.get("Parameters", [])}
    partition = out["IngesterRoleArn"].split(":")[1]
    print(trail_policy(out["IngesterRoleArn"], params.get("TrailBucket", ""), params.get("TrailPrefix", ""),
                       params.get("TrailKmsKeyArn", ""), out.get("TrailFilesQueueArn", ""),
                       params.get("TrailTopicArn", ""), partition, out.get("ReportRoleArn", "")))


def self_test():
    """Checks that need no AWS: parameter names, quoting as the SAM CLI reads it, the backfill
    loop and the export ranges."""
    here = os.path.dirname(os.path.abspath(__file__))
    params = template_parameters(os.path.join(here, "..", "infra", "template.yaml"))
    assert env_name("AlertsEmailAddress") == "ALERTS_EMAIL_ADDRESS"
    assert env_name("SsoRegion") == "SSO_REGION"
    names = [env_name(p) for p in params]
    assert len(set(names)) == len(names), names

    environ = {"FILTERED_ROLES": "PrismaCloud*, Wiz*", "WORKING_HOURS": '08:00-18:00 "local"',
               "REGIONS": "", "UNRELATED": "x"}
    overrides = parameter_overrides(params, environ, {"Architecture": "arm64"})
    from samcli.cli.types import CfnParameterOverridesType

    parsed = CfnParameterOverridesType().convert(tuple(overrides), None, None)
    assert parsed == {"FilteredRoles": "PrismaCloud*, Wiz*", "WorkingHours": '08:00-18:00 "local"',
                      "Regions": "", "Architecture": "arm64"}, parsed

    assert index_step("both", "none") == "actor" and index_step("none", "both") == "actor"
    assert [index_step(a, b) for a, b in [("both", "actor"), ("actor", "none"), ("none", "none"),
                                         ("none", "actor"), ("both", "both")]] == [None] * 5
    assert index_step("both", "all") is None  # CloudFormation refuses the value itself

    say = []
    runs = iter([
        ({"inserted": 5000, "caught_up": 3, "streams": 20, "oldest_complete_up_to": None}, None),
        ({"errorMessage": "1 of 20 streams failed"}, "StreamsFailed"),
        ({"inserted": 10, "caught_up": 20, "streams": 20, "oldest_complete_up_to": "2026-03-01T00:00:00Z"}, None),
    ])
    last = backfill(lambda: next(runs), say.append)
    assert last["caught_up"] == 20 and len(say) == 3, say
    # An organisation: the accounts handed off, then left to their running backfills, are
    # waited for; the run after them, which reads them caught up, ends it.
    say, waits = [], []
    runs = iter([
        ({"inserted": 30, "caught_up": 3, "streams": 3, "handed_off": 7, "oldest_complete_up_to": None}, None),
        ({"inserted": 0, "caught_up": 3, "streams": 3, "left_to_running": 2, "oldest_complete_up_to": None}, None),
        ({"inserted": 0, "caught_up": 24, "streams": 24, "oldest_complete_up_to": "2026-03-01T00:00:00Z"}, None),
    ])
    last = backfill(lambda: next(runs), say.append, wait=waits.append)
    assert last["streams"] == 24 and waits == [HANDED_OFF_WAIT_S] * 2, (say, waits)
    assert "7 accounts backfilling" in say[1], say
    try:
        backfill(lambda: ({"errorMessage": "EVENTS_TABLE must be set"}, "ConfigError"), say.append)
        raise AssertionError("a configuration error must stop the backfill")
    except SystemExit as e:
        assert "ConfigError" in str(e)
    try:
        backfill(lambda: ({"errorMessage": "AccessDenied"}, "StreamsFailed"), say.append)
        raise AssertionError("streams failing every run must stop the backfill")
    except SystemExit as e:
        assert "keep failing" in str(e)

    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as f:
        f.write("# defaults\nexport TIME_ZONE='Europe/Berlin'\nEXPECTED_NETWORKS=203.0.113.0/24, 2001:db8::/32\n")
    assert read_env_file(f.name) == {"TIME_ZONE": "Europe/Berlin", "EXPECTED_NETWORKS": "203.0.113.0/24, 2001:db8::/32"}
    os.unlink(f.name)

    role = "arn:aws:iam::444455556666:role/iat-IngesterRole-ABC"
    text = trail_policy(role, "org-trail", "logs/", "arn:aws:kms:us-east-1:111122223333:key/k-1",
                        "arn:aws:sqs:us-east-1:444455556666:q", "")
    statement = json.loads(text.split("\n# 2.")[0].split(":\n", 1)[1])
    assert statement["Resource"] == "arn:aws:s3:::org-trail/logs/AWSLogs/*", statement
    assert statement["Principal"] == {"AWS": role} and "kms:Decrypt" in text, text
    assert '"Value": "logs/AWSLogs/"' in text and "REPLACES" in text, text
    plain = trail_policy(role, "org-trail", "", "", "q", "arn:aws:sns:us-east-1:111122223333:t")
    assert "kms:Decrypt" not in plain and "put-bucket-notification" not in plain, plain
    assert "org-trail/AWSLogs/*" in plain, plain

    reader = "arn:aws:iam::444455556666:role/iat-ReportRole-DEF"
    both = trail_policy(role, "org-trail", "", "arn:aws:kms:us-east-1:111122223333:key/k-1", "q", "",
                        reader_arn=reader)
    statements = json.loads("[" + both.split("\n# 2.")[0].split(":\n", 1)[1] + "]")
    assert statements[0]["Principal"] == {"AWS": [role, reader]}, statements
    assert statements[1]["Action"] == ["s3:ListBucket", "s3:GetBucketLocation"], statements
    assert statements[1]["Resource"] == "arn:aws:s3:::org-trail", statements
    key = json.loads(both.split("\n# 2.")[1].split(":\n", 1)[1].split("\n# 3.")[0])
    assert key["Principal"] == {"AWS": [role, reader]}, key

    class FakeS3:
        """list_objects_v2 over a set of keys, with Delimiter, as S3 answers it."""
        def __init__(self, keys):
            self.keys, self.calls = sorted(keys), []

        def get_paginator(self, _):
            return self

        def paginate(self, Bucket, Prefix, Delimiter=None):
            self.calls.append((Prefix, Delimiter))
            under = [k for k in self.keys if k.startswith(Prefix)]
            if Delimiter:
                folders = sorted({Prefix + k[len(Prefix):].split("/")[0] + "/" for k in under if "/" in k[len(Prefix):]})
                return [{"CommonPrefixes": [{"Prefix": f} for f in folders]}]
            return [{"Contents": [{"Key": k} for k in under]}]

    keys = [f"logs/AWSLogs/o-abc123/{a}/CloudTrail/{r}/2026/03/{d:02d}/{a}_CloudTrail_{r}_x{i}.json.gz"
            for a in ["111122223333", "444455556666"] for r in ["us-east-1", "eu-west-1"]
            for d in [1, 2, 3] for i in range(12)]
    keys.append("logs/AWSLogs/o-abc123/111122223333/CloudTrail-Digest/us-east-1/2026/03/02/d.json.gz")
    fake, sent, done = FakeS3(keys), [], {"2026-03-03": 48}
    n = trail_backfill(fake, sent.append, "org-trail", "logs", "", 3, dt.date(2026, 3, 3), done, lambda m: None)
    assert n == 96 and done == {"2026-03-03": 48, "2026-03-02": 48, "2026-03-01": 48}, (n, done)
    bodies = [json.loads(b) for batch in sent for b in batch]
    assert all(len(b["s3ObjectKey"]) <= KEYS_PER_MESSAGE and b["s3Bucket"] == "org-trail" for b in bodies)
    queued = [k for b in bodies for k in b["s3ObjectKey"]]
    assert sorted(queued) == sorted(k for k in keys if "/2026/03/0" in k and "/03/03/" not in k and "Digest" not in k)
    assert all(len(batch) <= 10 for batch in sent)
    # Only day folders are listed whole; the rest are delimited folder listings.
    assert all(d == "/" or p.endswith(("/2026/03/01/", "/2026/03/02/")) for p, d in fake.calls), fake.calls

    assert member_regions("", "eu-west-1") == ["us-east-1", "eu-west-1"]
    assert member_regions("eu-central-1, us-east-1,eu-central-1", "eu-west-1") == ["us-east-1", "eu-central-1"]
    assert member_regions("", "us-east-1") == ["us-east-1"]
    mp = {p["ParameterKey"]: p["ParameterValue"] for p in member_parameters(
        {"MemberRoleName": "", "MemberExternalId": "x-1"}, {"TrackerRoleArn": role}, "o-abc1234567")}
    assert mp == {"TrackerRoleArn": role, "OrganizationId": "o-abc1234567", "RoleName": "iat-member-reader",
                  "ExternalId": "x-1", "CentralEventBusArn": ""}, mp
    member = template_parameters(MEMBER_TEMPLATE)
    assert set(mp) <= set(member), set(mp) - set(member)

    ranges = export_ranges(dt.date(2026, 3, 31), 10, chunk=7)
    assert ranges == [("2026-03-21", "2026-03-27"), ("2026-03-28", "2026-03-30")], ranges
    print(f"stack.py self-test: {len(params)} parameters, overrides, backfill, trail backfill and export ranges ok")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    pp = sub.add_parser("params")
    pp.add_argument("template")
    pp.add_argument("--set", action="append", default=[], metavar="Key=Value")
    pp.add_argument("--env-file", help="KEY=VALUE defaults, e.g. deploy.env")
    po = sub.add_parser("outputs")
    po.add_argument("stack")
    pi = sub.add_parser("init")
    pi.add_argument("stack")
    pi.add_argument("--max-runs", type=int, default=200)
    pi.add_argument("--days", type=int, default=90, help="days exported after the backfill")
    pi.add_argument("--backfill-days", type=int, default=int(os.environ.get("BACKFILL_DAYS") or 90),
                    help="days of the organisation trail's files queued for the ingester (BACKFILL_DAYS)")
    px = sub.add_parser("index-step")
    px.add_argument("stack")
    px.add_argument("--env-file", help="KEY=VALUE defaults, e.g. deploy.env")
    for name in ["status", "test-alerts", "trail-policy"]:
        sub.add_parser(name).add_argument("stack")
    pm = sub.add_parser("deploy-members")
    pm.add_argument("stack")
    pm.add_argument("--ous", default=os.environ.get("MEMBER_OUS", ""),
                    help="organisational units, comma-separated (MEMBER_OUS); default: the whole organisation")
    pm.add_argument("--regions", default=os.environ.get("MEMBER_REGIONS", ""),
                    help="regions for the stack set (MEMBER_REGIONS); us-east-1 always; default: us-east-1 "
                         "and this stack's region")
    sub.add_parser("self-test")
    args = p.parse_args()

    if args.command == "params":
        forced = dict(kv.split("=", 1) for kv in args.set)
        environ = {**read_env_file(args.env_file), **os.environ}
        print("\n".join(parameter_overrides(template_parameters(args.template), environ, forced)))
    elif args.command == "outputs":
        for k, v in outputs(args.stack)[1].items():
            print(f"{k}={v}")
    elif args.command == "index-step":
        cmd_index_step(args)
    elif args.command == "init":
        cmd_init(args)
    elif args.command == "trail-policy":
        cmd_trail_policy(args)
    elif args.command == "status":
        cmd_status(args)
    elif args.command == "test-alerts":
        cmd_test_alerts(args)
    elif args.command == "deploy-members":
        cmd_deploy_members(args)
    else:
        self_test()


if __name__ == "__main__":
    main()
