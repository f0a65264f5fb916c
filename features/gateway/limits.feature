Feature: No one user uses up what everyone shares
  Streams hold a function invocation each and tasks hold queue slots and node time, so
  each user has quotas: here (the deployment's settings for this feature) 3 queued or
  running tasks and 2 open streams, each refused past that with 429 and Retry-After.
  Streams end before the serving function's time runs out (here after 8 seconds) with a
  `reconnect`, and a stream whose session logs out ends at its next check (here every 2
  seconds; at most every 30 in any deployment).

  Scenario: A user has at most 3 unfinished tasks; others are not held back
    Given "bob" has 3 queued tasks
    When "bob" creates a commands task
    Then the response status is 429
    And the error code is "too_many_unfinished_tasks"
    And the response has a Retry-After header
    When "carol" creates a commands task
    Then the response status is 201
    When "bob" cancels his first task
    And "bob" creates a commands task
    Then the response status is 201

  Scenario: A user holds at most 2 streams, and a closed one frees its place
    Given "bob" has 1 queued tasks
    When "bob" opens 2 event streams of his task
    And "bob" opens an event stream of his task
    Then the response status is 429
    And the error code is "too_many_streams"
    And the response has a Retry-After header
    When "bob" starts a streamed completion
    Then the response status is 429
    And "bob" still has 1 task
    When "bob" closes one of his streams
    And "bob" opens an event stream of his task
    Then the response status is 200

  Scenario: A stream ends before its time limit with a reconnect
    Given "bob" has 1 queued tasks
    When "bob" opens an event stream of his task
    Then the stream ends with the event "reconnect" within 20 seconds

  Scenario: Logging out ends the session's streams
    Given "bob" has 1 queued tasks
    When "bob" opens an event stream of his task
    And "bob" logs out
    Then the stream ends with the event "error" within 6 seconds
    And that event's code is "token_revoked"
