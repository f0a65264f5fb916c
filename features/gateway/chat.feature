Feature: Completions and chat through the gateway
  A completion is a task on the inference queue. A node streams its answer back in
  signed chunk callbacks, which the gateway relays to the client as server-sent events in
  order, each once. The OpenAI routes answer in OpenAI's shapes. Here the test plays the
  node over the real queue and callbacks; features/edge/chat.feature uses the real model.

  Background:
    Given a user "alice" who is logged in
    And a registered test node
    And the test node reports the model "test-model"

  Scenario: A streamed completion relays the node's chunks in order, each once
    When "alice" starts a streamed completion with the model "test-model"
    And the test node claims the task's job
    And the test node streams the chunks "Hel", "lo, " and "world"
    And the test node sends the chunk "lo, " again as chunk 1
    And the test node reports the job completed with stdout "Hello, world" and stderr ""
    Then the stream carries "Hello, world" in 3 deltas, then the finish reason "stop" and [DONE]

  Scenario: A streamed Responses API answer relays the same chunks as typed events
    When "alice" starts a streamed response with the model "test-model"
    And the test node claims the task's job
    And the test node streams the chunks "Hel", "lo, " and "world"
    And the test node reports the job completed with stdout "Hello, world" and stderr ""
    Then the Responses stream carries "Hello, world" in 3 deltas between created and completed, with usage

  Scenario: Responses requests that need stored state get OpenAI-shaped 400s naming the field
    When "alice" posts to "/v1/responses" the body {"model": "test-model", "input": "hi", "store": true}
    Then the response status is 400
    And the OpenAI error has type "invalid_request_error" and code "unsupported_parameter"
    And the OpenAI error names the param "store"

  Scenario: Only the current claim may stream
    When "alice" starts a streamed completion with the model "test-model"
    And the test node claims the task's job
    And the test node restarts and claims the task's job again
    And the test node streams a chunk under attempt 1
    Then the response status is 409
    And the error code is "stale_attempt"

  Scenario: The current claim may not write under another attempt's number
    When "alice" starts a streamed completion with the model "test-model"
    And the test node claims the task's job
    And the test node restarts and claims the task's job again
    And the test node streams a chunk naming attempt 1 under its current claim
    Then the response status is 409
    And the error code is "stale_attempt"
    When the test node asks to upload raw output naming attempt 1 under its current claim
    Then the response status is 409
    And the error code is "stale_attempt"

  Scenario: The models are the agent and those nodes serve
    When "alice" gets "/v1/models"
    Then the response status is 200
    And the model list holds "cynodeai.pm" and "test-model"

  Scenario Outline: The OpenAI routes answer errors in OpenAI's shape
    When "<who>" posts to "/v1/chat/completions" the body <body>
    Then the response status is <status>
    And the OpenAI error has type "<type>" and code "<code>"

    Examples:
      | who     | body                                                                  | status | type                  | code            |
      | nobody  | {"model": "test-model", "messages": [{"role": "user", "content": "x"}]} | 401    | authentication_error  | missing_token   |
      | alice   | {"model": "test-model", "messages": []}                               | 400    | invalid_request_error | invalid_body    |
      | alice   | {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]} | 404 | not_found_error       | model_not_found |
      | alice   | {"model": "test-model", "messages": "hi"}                             | 400    | invalid_request_error | invalid_body    |
