Feature: Edge nodes and their signed callbacks
  Nodes register with the pre-shared key and sign every later request. The gateway is
  ready once a node that acknowledged the configuration in force serves a model. Job callbacks are signed
  with a per-claim job token, replay-protected, idempotent, and refuse stale attempts.

  Scenario: Readiness follows registration and acknowledgement
    Given a fresh deployment
    When I get "/readyz"
    Then the response status is 503
    And the response field "reason" is "no edge node has registered yet"
    When a test node registers with the right pre-shared key
    And I get "/readyz"
    Then the response status is 503
    And the response field "reason" is "no edge node has acknowledged its configuration yet"
    When the test node acknowledges its configuration
    And I get "/readyz"
    Then the response status is 503
    And the response field "reason" is "no edge node has an inference endpoint configured"
    When the test node reports the model "smollm2:135m"
    And I get "/readyz"
    Then the response status is 200
    When I get "/healthz"
    Then the response status is 200

  Scenario: A wrong pre-shared key is refused
    When a test node registers with the pre-shared key "guess"
    Then the response status is 401
    And the error code is "invalid_pre_shared_key"

  Scenario: A second machine with a live node's name is refused; the node itself re-registers under a new key
    Given a registered test node
    When another machine registers the test node's name without-its-secret
    Then the response status is 409
    And the error code is "node_name_in_use"
    When another machine registers the test node's name with-its-secret
    Then the response status is 200
    And the test node's old key no longer signs

  Scenario Outline: Badly signed node requests are refused
    Given a registered test node
    When the test node fetches its configuration <how>
    Then the response status is 401
    And the error code is "<code>"

    Examples:
      | how                               | code             |
      | without signing                   | unknown_node     |
      | signed with the wrong key         | bad_signature    |
      | signed 10 minutes ago             | stale_signature  |
      | signed at the lowest i64 time     | stale_signature  |
      | twice with the same signature     | replayed_request |

  Scenario: The same result twice is stored once
    Given a user "alice" who is logged in
    And a registered test node
    When "alice" creates a task with commands "echo once"
    And the test node claims the task's job
    And the test node reports the job completed with stdout "once\n" and stderr ""
    Then the response field "duplicate" is false
    When the test node reports the job completed with stdout "once\n" and stderr ""
    Then the response status is 200
    And the response field "duplicate" is true
    When "alice" gets the result of the task
    Then the result has 1 job with attempt 1

  Scenario: A result from a superseded attempt is refused
    Given a user "alice" who is logged in
    And a registered test node
    When "alice" creates a task with commands "echo twice"
    And the test node claims the task's job
    And the test node restarts and claims the task's job again
    Then the claim is attempt 2
    When the test node reports attempt 1 of the job completed
    Then the response status is 409
    And the error code is "stale_attempt"
    When the test node reports the job completed with stdout "second\n" and stderr ""
    Then the response status is 200
    When "alice" gets the result of the task
    Then the result has 1 job with attempt 2
    And the response field "stdout" is "second\n"

  Scenario: A duplicate delivery while the job runs is told to retry
    Given a user "alice" who is logged in
    And a registered test node
    When "alice" creates a task with commands "sleep 10"
    And the test node claims the task's job
    And the test node claims the task's job again without restarting
    Then the claim decision is "retry"

  Scenario: A heartbeat tells the node its job was canceled
    Given a user "alice" who is logged in
    And a registered test node
    When "alice" creates a task with commands "sleep 300"
    And the test node claims the task's job
    And the test node sends a heartbeat
    Then the response field "canceled" is false
    When "alice" cancels the task
    And the test node sends a heartbeat
    Then the response field "canceled" is true

  Scenario: A result callback over the size limit is refused
    Given a user "alice" who is logged in
    And a registered test node
    When "alice" creates a task with commands "true"
    And the test node claims the task's job
    And the test node posts a result of 4194305 bytes
    Then the response status is 413
