"""DynamoDB served by moto's in-memory backend.

LocalStack's own DynamoDB provider downloads DynamoDB Local (a Java jar) on first use,
which fails on machines without general internet access. Moto implements the parts we
rely on: conditional writes, transactions, GSIs, TTL attributes and paging. Selected with
PROVIDER_OVERRIDE_DYNAMODB=moto.

One fix on top: moto backs up each table a transaction touches with a deep copy of the
whole table, which makes every TransactWriteItems cost time proportional to the table's
size (hundreds of milliseconds after a few thousand items). Here a transaction backs up
only the items it touches, and restores exactly those if it is canceled.
"""

import copy

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamodbProvider(DynamodbApi):
    """Implements nothing itself: every operation falls through to moto."""


def _item_key(table, op_type, op):
    if op_type == "Put":
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def _transact_write_items(self, transact_items):
    """moto's DynamoDBBackend.transact_write_items, backing up touched items only."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.comparisons import get_filter_expression

    if len(transact_items) > 100:
        raise TooManyTransactionsException()

    backups = []  # (table_name, key, item attributes before, or None)

    def rollback():
        for table_name, key, before in reversed(backups):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before)

    target_items = set()
    errors = []
    for item in transact_items:
        original_item = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            key = _item_key(self.get_table(table_name), op_type, op)

            unique = (str(table_name), str(key))
            if unique in target_items:
                raise MultipleTransactionsException()
            target_items.add(unique)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition = get_filter_expression(condition_expression, names, values)
                if not condition.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                before = copy.deepcopy(current.to_json()["Attributes"]) if current else None
                backups.append((table_name, key, before))
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - reported per item, like DynamoDB
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        rollback()
        raise TransactionCanceledException(errors)


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    from localstack.services.moto import MotoFallbackDispatcher
    from moto.dynamodb.models import DynamoDBBackend

    DynamoDBBackend.transact_write_items = _transact_write_items
    return Service.for_provider(
        MotoDynamodbProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )
