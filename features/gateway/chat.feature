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

  Scenario: A stream ends at the chunk that says how the answer ended, without waiting for the node's result
    When "alice" starts a streamed completion with the model "test-model", with usage
    And the test node claims the task's job
    And the test node streams the chunks "Hel", "lo, " and "world"
    And the test node ends the answer with the finish reason "length" after 12 prompt and 3 completion tokens
    Then the stream carries "Hello, world" in 3 deltas, then the finish reason "length", usage of 12 prompt and 3 completion tokens, and [DONE]
    And a chunk ending the answer with the finish reason "tool_calls" is refused with 400

  Scenario: A chat message sent with stream: true relays the chunks as thread events, and its thread keeps the exchange
    When "alice" sends the chat message "Say hello." to the model "test-model", streamed
    And the test node claims the task's job
    And the test node streams the chunks "Hel", "lo, " and "world"
    And the test node reports the job completed with stdout "Hello, world" and stderr ""
    Then the chat stream names its thread first, carries "Hello, world" in 3 deltas, then done
    And "alice"'s thread holds "Say hello." and the answer "Hello, world"

  Scenario: A streamed Responses API answer relays the same chunks as typed events
    When "alice" starts a streamed response with the model "test-model"
    And the test node claims the task's job
    And the test node streams the chunks "Hel", "lo, " and "world"
    And the test node reports the job completed with stdout "Hello, world" and stderr ""
    Then the Responses stream carries "Hello, world" in 3 deltas between created and completed, with usage

  Scenario: A streamed legacy completion asks the node for the prompt as it is and relays text_completion chunks
    When "alice" starts a streamed legacy completion of "1, 2, 3," with the model "test-model"
    And the test node claims the task's job
    Then the claim asks for a legacy completion of "1, 2, 3," in at most 8 tokens
    When the test node streams the chunks " 4", ", 5" and ", 6"
    And the test node reports the job completed with stdout " 4, 5, 6" and stderr ""
    Then the text completion stream carries " 4, 5, 6" in 3 chunks, then the finish reason "stop", usage and [DONE]

  Scenario Outline: Embeddings are a job of the node's, its exact f32s returned as numbers or base64
    When "alice" asks for the "<encoding>" embeddings of "cat" and "dog" with the model "test-model"
    And the test node claims the task's job
    Then the claim asks for the embeddings of "cat" and "dog"
    When the test node reports the vectors [0.5, -1.5] and [0.25, 3.0]
    Then the embeddings answer holds the vectors [0.5, -1.5] and [0.25, 3.0] as "<encoding>"

    Examples:
      | encoding |
      | float    |
      | base64   |

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
    When "<who>" posts to "<path>" the body <body>
    Then the response status is <status>
    And the OpenAI error has type "<type>" and code "<code>"

    Examples:
      | who    | path                 | body                                                                        | status | type                  | code                  |
      | nobody | /v1/chat/completions | {"model": "test-model", "messages": [{"role": "user", "content": "x"}]}     | 401    | authentication_error  | missing_token         |
      | alice  | /v1/chat/completions | {"model": "test-model", "messages": []}                                     | 400    | invalid_request_error | invalid_body          |
      | alice  | /v1/chat/completions | {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}  | 404    | not_found_error       | model_not_found       |
      | alice  | /v1/chat/completions | {"model": "test-model", "messages": "hi"}                                   | 400    | invalid_request_error | invalid_body          |
      | nobody | /v1/completions      | {"model": "test-model", "prompt": "x"}                                      | 401    | authentication_error  | missing_token         |
      | alice  | /v1/completions      | {"model": "test-model", "prompt": "x", "echo": true}                        | 400    | invalid_request_error | unsupported_parameter |
      | alice  | /v1/completions      | {"model": "test-model", "prompt": ["a", "b"]}                               | 400    | invalid_request_error | unsupported_value     |
      | alice  | /v1/completions      | {"model": "no-such-model", "prompt": "x"}                                   | 404    | not_found_error       | model_not_found       |
      | alice  | /v1/embeddings       | {"model": "test-model", "input": "x", "dimensions": 8}                      | 400    | invalid_request_error | unsupported_parameter |
      | alice  | /v1/embeddings       | {"model": "cynodeai.pm", "input": "x"}                                      | 400    | invalid_request_error | unsupported_value     |
      | alice  | /v1/embeddings       | {"model": "no-such-model", "input": "x"}                                    | 404    | not_found_error       | model_not_found       |
      | alice  | /v1/embeddings       | {"model": "test-model", "input": [[1, 2]]}                                  | 400    | invalid_request_error | unsupported_parameter |
      | alice  | /v1/embeddings       | {"model": "test-model", "input": "x", "encoding_format": "hex"}             | 400    | invalid_request_error | invalid_body          |

  Scenario Outline: Ollama's routes answer errors in Ollama's shape
    When "alice" posts to "<path>" the body <body>
    Then the response status is <status>
    And the Ollama error says "<words>"

    Examples:
      | path           | body                                                       | status | words                  |
      | /api/generate  | {"model": "test-model", "prompt": "x", "images": ["aGk="]} | 400    | images is not supported |
      | /api/generate  | {"model": "no-such-model", "prompt": "x"}                  | 404    | not found              |
      | /api/generate  | {"model": "no-such-model"}                                 | 404    | not found              |
      | /api/embed     | {"model": "test-model", "input": []}                       | 400    | 1-128 texts            |
      | /api/embed     | {"model": "test-model"}                                    | 400    | input is required      |
      | /api/pull      | {"model": "test-model"}                                    | 403    | refused                |
