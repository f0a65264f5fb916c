#!/usr/bin/env python3
"""Deploy infra/template.yaml to a LocalStack endpoint (or delete it again).

The same template an AWS deployment uses, with DeployFunctions=false: the tables, queues,
bucket, generated secrets and the node queue role, but no Lambda functions (locally the
handlers run as our own processes). Idempotent: an existing stack is updated, an unchanged one left alone. On success the stack outputs
are written as KEY=VALUE lines (CYNODE_* variables) to --env-out, or printed.

Works against host-mode LocalStack started by localstack/up and against the official
LocalStack container alike: all it needs is the endpoint.
"""

import argparse
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "infra", "template.yaml")

# Stack output -> environment variable the functions, the gateway and the tests read.
OUTPUT_ENV = {
    "Prefix": "CYNODE_PREFIX",
    "BlobBucket": "CYNODE_BLOB_BUCKET",
    "JobsQueueUrl": "CYNODE_JOBS_QUEUE_URL",
    "JobsDeadLetterQueueUrl": "CYNODE_JOBS_DLQ_URL",
    "InferenceQueueUrl": "CYNODE_INFERENCE_QUEUE_URL",
    "NodeQueueRoleArn": "CYNODE_NODE_ROLE_ARN",
    "CredentialsKeyArn": "CYNODE_CREDENTIALS_KEY_ID",
    # Where the secrets are, never what they are: processes fetch the values themselves.
    "JwtKeySecretArn": "CYNODE_JWT_SECRET_ID",
    "NodeKeySecretArn": "CYNODE_NODE_KEY_SECRET_ID",
    "NodePskSecretArn": "CYNODE_NODE_PSK_SECRET_ID",
    "AdminPasswordSecretArn": "CYNODE_ADMIN_PASSWORD_SECRET_ID",
}

DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"}
FAILED = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED",
          "DELETE_FAILED"}


def client(endpoint, service="cloudformation"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )


def stack_status(cfn, name):
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        raise


def wait(cfn, name, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = stack_status(cfn, name)
        if status is None or status.endswith("_COMPLETE") or status in FAILED:
            return status
        time.sleep(0.5)
    sys.exit(f"provision: stack {name} did not settle within {timeout}s")


def failure_reasons(cfn, name):
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
            for e in events if e["ResourceStatus"].endswith("FAILED")]


# Conditions that hold only when DeployFunctions is true.
FUNCTION_CONDITIONS = {"Condition: WithFunctions", "Condition: WithDomain"}


def without_functions(text):
    """The template with every resource and output under a condition of
    FUNCTION_CONDITIONS left out. CloudFormation itself skips them when DeployFunctions is false; LocalStack's
    engine refuses references between such resources, so they are removed before it sees
    them (a block is a two-space-indented key and the lines below it)."""
    out, block = [], []

    def flush():
        if not any(line.strip() in FUNCTION_CONDITIONS for line in block[1:]):
            out.extend(block)
        block.clear()

    section = None
    for line in text.splitlines(keepends=True):
        if line[:1].isalpha():
            flush()
            section = line.split(":")[0]
            out.append(line)
        elif section in ("Resources", "Outputs") and line.startswith("  ") \
                and line[2:3].isalpha():
            flush()
            block.append(line)
        elif block:
            block.append(line)
        else:
            out.append(line)
    flush()
    return "".join(out)


def deploy(cfn, name, params, timeout):
    body = open(TEMPLATE).read()
    if params.get("DeployFunctions") == "false":
        body = without_functions(body)
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()]
    status = stack_status(cfn, name)
    if status in FAILED:
        # A stack that failed to create cannot be updated; start over.
        cfn.delete_stack(StackName=name)
        wait(cfn, name, timeout)
        status = None
    if status is None:
        cfn.create_stack(StackName=name, TemplateBody=body, Parameters=parameters,
                         Capabilities=["CAPABILITY_NAMED_IAM"])
    else:
        try:
            cfn.update_stack(StackName=name, TemplateBody=body, Parameters=parameters,
                             Capabilities=["CAPABILITY_NAMED_IAM"])
        except ClientError as err:
            if "No updates are to be performed" not in str(err):
                raise
    status = wait(cfn, name, timeout)
    if status not in DONE or status == "UPDATE_ROLLBACK_COMPLETE":
        reasons = "\n  ".join(failure_reasons(cfn, name)) or "(no reason reported)"
        sys.exit(f"provision: stack {name} ended {status}:\n  {reasons}")
    outputs = cfn.describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


SECRET_VALUES = {
    "AdminPasswordSecretArn": "CYNODE_ADMIN_PASSWORD",
    "NodePskSecretArn": "CYNODE_NODE_PSK",
    "JwtKeySecretArn": "CYNODE_JWT_SECRET",
    "NodeKeySecretArn": "CYNODE_NODE_KEY_SECRET",
}


def write_secrets(args, outputs):
    """Reads secret values from the secret store (never from the template, which holds
    none) into a 0600 file."""
    manager = client(args.endpoint, "secretsmanager")
    wanted = list(SECRET_VALUES.items())
    if not args.all_secrets:
        wanted = wanted[:2]
    lines = []
    for output, env in wanted:
        value = manager.get_secret_value(SecretId=outputs[output])["SecretString"]
        lines.append(f"{env}={value}")
    fd = os.open(args.secrets_out + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(args.secrets_out + ".tmp", args.secrets_out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL",
                                                             "http://localhost:4566"))
    parser.add_argument("--prefix", default="cynode",
                        help="resource name prefix; the stack is named after it")
    parser.add_argument("--visibility-timeout", type=int, default=60,
                        help="job queue visibility timeout in seconds")
    parser.add_argument("--max-receive-count", type=int, default=5,
                        help="deliveries before a job message goes to the dead-letter queue")
    parser.add_argument("--env-out", help="write the CYNODE_* variables to this file")
    parser.add_argument("--secrets-out",
                        help="write what a person needs to use the deployment (the admin "
                             "password and the node pre-shared key) to this file, mode 0600")
    parser.add_argument("--all-secrets", action="store_true",
                        help="with --secrets-out: every secret (for tests that mint tokens)")
    parser.add_argument("--delete", action="store_true", help="delete the stack instead")
    parser.add_argument("--timeout", type=int, default=120)
    args = parser.parse_args()

    cfn = client(args.endpoint)
    name = f"{args.prefix}-stack"
    if args.delete:
        if stack_status(cfn, name) is not None:
            cfn.delete_stack(StackName=name)
            wait(cfn, name, args.timeout)
        return

    outputs = deploy(cfn, name, {
        "Prefix": args.prefix,
        "DeployFunctions": "false",
        "JobVisibilityTimeoutSeconds": str(args.visibility_timeout),
        "JobMaxReceiveCount": str(args.max_receive_count),
    }, args.timeout)
    lines = [f"{env}={outputs[key]}" for key, env in OUTPUT_ENV.items() if key in outputs]
    missing = [key for key in OUTPUT_ENV if key not in outputs]
    if missing:
        sys.exit(f"provision: stack {name} lacks outputs {missing}")
    text = "\n".join(lines) + "\n"
    if args.secrets_out:
        write_secrets(args, outputs)
    if args.env_out:
        tmp = args.env_out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.env_out)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
