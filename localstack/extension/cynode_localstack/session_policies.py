"""Enforces the policies of STS session credentials, which LocalStack's community
edition does not (IAM enforcement is a Pro feature).

CyNode's edge nodes hold nothing but such credentials: the gateway assumes the node
queue role for them with a session policy naming the queues the node serves. For the
tests to show what those credentials cannot do, a request signed with an assumed-role
session key is allowed only when both the role's own policies and the session policy
allow its action on its resource, evaluated with moto's IAM policy engine. That holds
for presigned (query-string) requests too: a URL signed with such a key is checked like
a request that carries the signature in its headers. Requests signed with any other key
(the `test` keys of the gateway and the tests) pass as before.

This is an emulation of IAM's evaluation for the actions CyNode's nodes use (SQS,
DynamoDB and S3 resources are derived from the request); real AWS evaluates more
(conditions on request context, permission boundaries, SCPs).
"""

import json
import re

from localstack.aws.api import CommonServiceException
from localstack.aws.handlers import serve_custom_service_request_handlers
from localstack.runtime import hooks

CREDENTIAL = re.compile(r"Credential=([A-Za-z0-9]+)/")


def _access_key(request):
    """The access key a request is signed with: in its Authorization header, or in its
    query string when it is presigned (SigV4 `X-Amz-Credential`, SigV2
    `AWSAccessKeyId`)."""
    match = CREDENTIAL.search(request.headers.get("Authorization", ""))
    if match:
        return match.group(1)
    args = request.args
    credential = args.get("X-Amz-Credential") or args.get("x-amz-credential")
    if credential:
        return credential.split("/", 1)[0]
    return args.get("AWSAccessKeyId")


def _assumed_role(access_key):
    from moto.sts.models import sts_backends

    for _account, backends in sts_backends.items():
        for backend in backends.values():
            role = backend.get_assumed_role_from_access_key(access_key)
            if role is not None:
                return role
    return None


def _role_policies(role_arn):
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4]
    for backend in iam_backends[account].values():
        try:
            role = backend.get_role_by_arn(role_arn)
        except Exception:  # noqa: BLE001 - moto raises its own NotFound types
            continue
        return [p if isinstance(p, str) else json.dumps(p) for p in role.policies.values()]
    return []


def _resource(context):
    service = context.service.service_name
    params = context.service_request or {}
    region, account = context.region, context.account_id
    if service == "sqs" and params.get("QueueUrl"):
        parts = params["QueueUrl"].rstrip("/").split("/")
        return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"
    if service == "dynamodb" and params.get("TableName"):
        return f"arn:aws:dynamodb:{region}:{account}:table/{params['TableName']}"
    if service == "s3" and params.get("Bucket"):
        key = params.get("Key")
        return f"arn:aws:s3:::{params['Bucket']}" + (f"/{key}" if key else "")
    return "*"


def _permitted(policy_text, action, resource):
    from moto.iam.access_control import IAMPolicy, PermissionResult

    return IAMPolicy(policy_text).is_action_permitted(action, resource) == \
        PermissionResult.PERMITTED


def enforce_session_policies(_chain, context, _response):
    if context.service is None or context.operation is None:
        return
    access_key = _access_key(context.request)
    if not access_key:
        return
    session = _assumed_role(access_key)
    if session is None:
        return
    action = f"{context.service.service_name}:{context.operation.name}"
    resource = _resource(context)
    role_policies = _role_policies(session.role_arn)
    by_role = any(_permitted(p, action, resource) for p in role_policies)
    by_session = session.policy is None or _permitted(session.policy, action, resource)
    if not (by_role and by_session):
        raise CommonServiceException(
            code="AccessDenied",
            message=f"User: {session.role_arn}/{session.session_name} is not authorized to "
                    f"perform: {action} on resource: {resource}",
            status_code=403,
            sender_fault=True,
        )


@hooks.on_infra_start()
def _enforce_session_policies():
    serve_custom_service_request_handlers.append(enforce_session_policies)
