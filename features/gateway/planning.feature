Feature: Planned work
  A planned task is a feature request for a project. A planner job proposes subtasks with
  dependencies; the gateway checks them against the plan schema and the dependency graph,
  retries the planner on invalid output and gives up as planning_failed. Subtasks then
  move through their state machine: ready or blocked by a dependency, in progress under a
  worker job, completed with a pushed branch and a pull request, merged. Here the test
  plays the node over the real protocol; features/edge/planning.feature runs real agents.

  Background:
    Given a user "alice" who is logged in
    And "alice" has a project "widgets" with the credential "tok-gateway-secret"

  Scenario: A dependency chain unblocks in order and the task completes when all are merged
    When "alice" plans "Add a greeting module" in the project "widgets"
    And a node reports the plan:
      """
      {"subtasks": [
        {"title": "Add greet()", "spec": "A function greet(name).", "acceptance": "tests pass", "depends_on": []},
        {"title": "Use greet() in main", "spec": "Call greet.", "acceptance": "prints hello", "depends_on": [1]},
        {"title": "Document it", "spec": "README section.", "acceptance": "README mentions greet", "depends_on": [1, 2]}
      ]}
      """
    Then the task's status is "running"
    And the subtask states are "ready, blocked_dependency, blocked_dependency"
    When "alice" starts subtask 2
    Then the response status is 409
    And the error code is "subtask_blocked"
    When "alice" starts subtask 1
    Then the response status is 200
    And the response field "state" is "in_progress"
    When a node completes subtask 1's worker with a pull request
    Then the subtask states are "completed, blocked_dependency, blocked_dependency"
    And subtask 1 records the pushed branch and its pull request
    When "alice" marks subtask 1 merged
    Then the subtask states are "merged, ready, blocked_dependency"
    When "alice" starts subtask 2
    And a node completes subtask 2's worker with a pull request
    And "alice" marks subtask 2 merged
    Then the subtask states are "merged, merged, ready"
    When "alice" starts subtask 3
    And a node completes subtask 3's worker with a pull request
    And "alice" marks subtask 3 merged
    Then the task's status is "completed"
    And the task has 4 runs: a planner and 3 workers, each completed

  Scenario: A plan with a cycle is refused with the reason, retried, and planning fails; retry-planning starts again
    When "alice" plans "Add a greeting module" in the project "widgets"
    And a node reports the plan:
      """
      {"subtasks": [
        {"title": "A", "spec": "a", "acceptance": "", "depends_on": [2]},
        {"title": "B", "spec": "b", "acceptance": "", "depends_on": [1]}
      ]}
      """
    Then the task's status is "queued"
    And the task's planner error is "the dependencies form a cycle: 1 → 2 → 1"
    When a node reports the plan:
      """
      {"subtasks": [{"title": "A", "spec": "a", "acceptance": "", "depends_on": [3]}]}
      """
    Then the task's planner error is "subtask 1 depends on subtask 3, which is not in the plan (it has 1)"
    When a node reports the plan:
      """
      I think you should add a module.
      """
    Then the task's status is "planning_failed"
    And the task's planner error is "the plan is not a JSON object"
    When "alice" posts to "/v1/tasks/{task}/retry-planning" the body {}
    Then the response status is 200
    And the response field "status" is "queued"
    When a node reports the plan:
      """
      {"subtasks": [{"title": "A", "spec": "a", "acceptance": "", "depends_on": []}]}
      """
    Then the task's status is "running"
    And the subtask states are "ready"

  Scenario: A failing worker is retried with backoff, then blocks; retry starts it again
    When "alice" plans "Add a greeting module" in the project "widgets"
    And a node reports the plan:
      """
      {"subtasks": [{"title": "A", "spec": "a", "acceptance": "", "depends_on": []}]}
      """
    And "alice" starts subtask 1
    And a node fails subtask 1's worker: "the tests failed (exit 1): make test"
    Then the subtask states are "in_progress"
    And subtask 1's reason is "attempt 1 failed: the tests failed (exit 1): make test"
    When a node fails subtask 1's worker: "the tests failed (exit 1): make test"
    And a node fails subtask 1's worker: "the tests failed (exit 1): make test"
    Then the subtask states are "blocked_failure"
    And subtask 1's reason is "3 attempts failed; the last: the tests failed (exit 1): make test"
    And 3 worker runs are recorded, each failed
    When "alice" posts to "/v1/tasks/{task}/subtasks/1/retry" the body {}
    Then the response status is 200
    And the response field "state" is "in_progress"
    And the response field "attempts" is 1

  Scenario: Only the owner sees planned work; the credential reaches only the node's claim
    When "alice" plans "Add a greeting module" in the project "widgets"
    And a node reports the plan:
      """
      {"subtasks": [{"title": "A", "spec": "a", "acceptance": "", "depends_on": []}]}
      """
    And "alice" starts subtask 1
    Then the worker's claim carries the credential "tok-gateway-secret" and the subtask's branch
    When "alice" gets "/v1/tasks/{task}/subtasks"
    Then the response body does not contain "tok-gateway-secret"
    When "alice" gets "/v1/tasks/{task}/runs"
    Then the response body does not contain "tok-gateway-secret"
    Given a user "mallory" who is logged in
    When "mallory" gets "/v1/tasks/{task}/subtasks"
    Then the response status is 404
    When "mallory" posts to "/v1/tasks/{task}/subtasks/1/mark-merged" the body {}
    Then the response status is 404
    When "alice" posts to "/v1/tasks" the body {"prompt": "plan me", "plan": true}
    Then the response status is 400
    And the error code is "invalid_plan"

  Scenario: The task's event stream shows planning, subtask states and agent runs live, and ends with the task
    When "alice" plans "Add a greeting module" in the project "widgets"
    And "alice" follows the task's events
    And a node reports the plan:
      """
      {"subtasks": [{"title": "A", "spec": "a", "acceptance": "", "depends_on": []}]}
      """
    And "alice" starts subtask 1
    And "alice" cancels the task
    Then the event stream showed "agent:finished", "subtask:state" with state "in_progress", "task:status" with status "canceled", and ended
