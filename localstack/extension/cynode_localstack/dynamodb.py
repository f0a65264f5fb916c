"""DynamoDB served by moto's in-memory backend.

LocalStack's own DynamoDB provider downloads DynamoDB Local (a Java jar) on first use,
which fails on machines without general internet access. Moto implements the parts we
rely on: conditional writes, transactions, GSIs, TTL attributes and paging. Selected with
PROVIDER_OVERRIDE_DYNAMODB=moto.
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamodbProvider(DynamodbApi):
    """Implements nothing itself: every operation falls through to moto."""


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(
        MotoDynamodbProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )
