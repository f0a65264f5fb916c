Feature: Live logs
  A node ships what a running job prints in numbered chunks, at most half a second apart; the
  task's owner reads them from a cursor while the job runs (`GET /v1/tasks/{task}/logs?
  cursor=`, or as server-sent events from `/logs/stream` resumed with `Last-Event-ID`),
  each chunk once, and the task's logs show the log so far until the result replaces it. A chunk of an attempt that is over is refused.

  Background:
    Given a user "alice" who is logged in
    And a registered test node

  Scenario: Chunks are read from a cursor as they arrive, each once, and the logs show them while the job runs
    When "alice" creates a task with commands "echo hi"
    And the test node claims the task's job
    And the test node ships log chunk 0: "line 1\n" on "stdout" and "step 1\n" on "stderr"
    And "alice" reads the live log from where she left off
    Then the live log lines are "stdout:line 1\n|stderr:step 1\n"
    And the live log's task is "running"
    When "alice" reads the live log from where she left off
    Then the live log lines are ""
    When the test node ships log chunk 1: "line 2\n" on "stdout" and "" on "stderr"
    And the test node ships log chunk 1: "line 2\n" on "stdout" and "" on "stderr"
    And "alice" reads the live log from where she left off
    Then the live log lines are "stdout:line 2\n"
    When "alice" gets "/v1/tasks/{task}/logs"
    Then the response field "stdout" is "line 1\nline 2\n"
    And the response field "stderr" is "step 1\n"
    When the test node reports the job completed with stdout "all of it\n" and stderr ""
    And "alice" gets "/v1/tasks/{task}/logs"
    Then the response field "stdout" is "all of it\n"
    When "alice" reads the live log from the start
    Then the live log lines are "stdout:line 1\n|stderr:step 1\n|stdout:line 2\n"
    And the live log's task is "completed"
    When "alice" streams the live log from the start
    Then the stream's log lines are "stdout:line 1\n|stderr:step 1\n|stdout:line 2\n", then "end"
    When "alice" streams the live log again after the first event id it saw
    Then the stream's log lines are "stdout:line 2\n", then "end"

  Scenario: A chunk of an attempt that is over is refused, another user's log is not found, a bad cursor is a 400
    Given a user "bob" who is logged in
    When "alice" creates a task with commands "echo hi"
    And the test node claims the task's job
    And the test node reports the job completed with stdout "done\n" and stderr ""
    And the test node ships log chunk 0: "late\n" on "stdout" and "" on "stderr"
    Then the response status is 409
    And the error code is "stale_attempt"
    When "bob" gets "/v1/tasks/{task}/logs?cursor="
    Then the response status is 404
    When "alice" gets "/v1/tasks/{task}/logs?cursor=not-a-cursor"
    Then the response status is 400
    And the error code is "invalid_cursor"
