Feature: Model usage by day and model
  Every job that called a model reports its tokens with its result. They are added to
  the owner's usage for the day and the model in the same write that stores the result,
  so a retried result counts once. `GET /v1/usage` reads them back.

  Background:
    Given a user "alice" who is logged in
    And a registered test node
    And the test node reports the model "test-model"

  Scenario: A result's tokens count once in its owner's usage, and nobody else's
    When "alice" creates a task with commands "true" and the model "test-model"
    And the test node claims the task's job
    And the test node reports the job completed having used 11 prompt and 5 completion tokens in 2 calls
    And the test node reports the job completed having used 11 prompt and 5 completion tokens in 2 calls
    Then the response field "duplicate" is true
    When "alice" gets "/v1/usage?days=1"
    Then the response status is 200
    And today's usage of "test-model" is 2 calls, 11 prompt and 5 completion tokens
    And the usage totals are 2 calls, 11 prompt and 5 completion tokens
    When "bob" gets "/v1/usage"
    Then the response status is 200
    And the usage totals are 0 calls, 0 prompt and 0 completion tokens
    When "bob" gets "/v1/usage?days=0"
    Then the response status is 400
    And the error code is "invalid_days"
