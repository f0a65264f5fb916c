Feature: Bad input gets a clear error with a stable code
  Every error has the same shape, {"error": {"code", "message", "request_id"}}.

  Background:
    Given a user "alice" who is logged in

  Scenario Outline: Task creation refuses bad bodies
    When "alice" posts to "/v1/tasks" the body <body>
    Then the response status is <status>
    And the error code is "<code>"
    And the error has a message and a request id

    Examples:
      | body                                            | status | code             |
      | {"prompt": ""}                                  | 400    | empty_prompt     |
      | {"prompt": "   "}                               | 400    | empty_prompt     |
      | {"mode": "shell", "prompt": "x"}                | 400    | unknown_mode     |
      | {"prompt": "x", "commands": ["ls"]}             | 400    | multiple_inputs  |
      | {}                                              | 400    | missing_input    |
      | {"commands": []}                                | 400    | empty_commands   |
      | {"mode": "script", "prompt": "x"}               | 400    | mode_mismatch    |
      | {"prompt": "x", "task_name": "!!!"}             | 400    | invalid_task_name |
      | {"prompt": "x", "surprise": 1}                  | 400    | invalid_body     |
      | {"prompt": 5}                                   | 400    | invalid_body     |
      | {not json                                       | 400    | malformed_json   |

  Scenario: An oversized body is refused
    When "alice" posts to "/v1/tasks" a body of 3145729 bytes
    Then the response status is 413
    And the error code is "body_too_large"

  Scenario Outline: Listing refuses bad parameters
    When "alice" gets "<path>"
    Then the response status is 400
    And the error code is "<code>"

    Examples:
      | path                          | code           |
      | /v1/tasks?limit=0             | invalid_limit  |
      | /v1/tasks?limit=201           | invalid_limit  |
      | /v1/tasks?limit=ten           | invalid_limit  |
      | /v1/tasks?cursor=garbage      | invalid_cursor |
      | /v1/tasks?status=pending      | invalid_status |

  Scenario: Limits at the edges are accepted
    When "alice" gets "/v1/tasks?limit=1"
    Then the response status is 200
    When "alice" gets "/v1/tasks?limit=200"
    Then the response status is 200

  Scenario: Unknown routes and wrong methods
    When "alice" gets "/v1/nothing-here"
    Then the response status is 404
    And the error code is "route_not_found"
    When "alice" sends DELETE to "/v1/tasks"
    Then the response status is 405
    And the error code is "method_not_allowed"

  Scenario: A bad log stream is refused
    When "alice" creates a task with commands "true"
    And "alice" gets the task's logs of stream "both"
    Then the response status is 400
    And the error code is "invalid_stream"
