Feature: System settings: what operators change while the deployment runs
  Admins read and change a user's quotas, the stale-node window, task retention and planned
  work's attempt limits at run time; each change is a new version that every function reads within its cache
  time, and is on the audit trail. `null` restores the deployment's value.

  Background:
    Given a fresh deployment
    And a user "root" who is an admin
    And a user "alice" who is logged in

  Scenario: Lowering a user's task quota takes effect for the next task, and null restores it
    When "root" gets "/v1/settings"
    Then the response status is 200
    And the setting "tasks.max_unfinished_per_user" is 100 from "deployment"
    When "root" puts to "/v1/settings/tasks.max_unfinished_per_user" the body {"value": 1}
    Then the response status is 200
    And the setting "tasks.max_unfinished_per_user" is 1 from "setting"
    When "alice" posts to "/v1/tasks" the body {"commands": ["true"]}
    Then the response status is 201
    When "alice" posts to "/v1/tasks" the body {"commands": ["true"]}
    Then the response status is 429
    And the error code is "too_many_unfinished_tasks"
    When "root" puts to "/v1/settings/tasks.max_unfinished_per_user" the body {"value": null}
    Then the setting "tasks.max_unfinished_per_user" is 100 from "deployment"
    When "alice" posts to "/v1/tasks" the body {"commands": ["true"]}
    Then the response status is 201
    When "root" gets "/v1/audit?action=settings.set"
    Then the trail holds "settings.set" with outcome "success"

  Scenario: Lowering the worker attempt limit blocks a failing subtask at its first failure
    Given "alice" has a project "widgets" with the credential "tok-settings"
    When "root" puts to "/v1/settings/plans.worker_max_attempts" the body {"value": 1}
    Then the response status is 200
    And the setting "plans.worker_max_attempts" is 1 from "setting"
    When "alice" plans "Add a greeting module" in the project "widgets"
    And a node reports the plan:
      """
      {"subtasks": [{"title": "A", "spec": "a", "acceptance": "", "depends_on": []}]}
      """
    And "alice" starts subtask 1
    And a node fails subtask 1's worker: "the tests failed (exit 1): make test"
    Then the subtask states are "blocked_failure"
    And subtask 1's reason is "the only attempt failed: the tests failed (exit 1): make test"

  Scenario: Only admins see settings; bad values, unknown keys and stale versions are refused
    When "alice" gets "/v1/settings"
    Then the response status is 403
    And the error code is "admin_required"
    When "alice" puts to "/v1/settings/nodes.stale_secs" the body {"value": 60}
    Then the response status is 403
    When "root" puts to "/v1/settings/nodes.stale_secs" the body {"value": 5}
    Then the response status is 400
    And the error code is "invalid_setting"
    When "root" puts to "/v1/settings/no.such.setting" the body {"value": 5}
    Then the response status is 404
    And the error code is "unknown_setting"
    When "root" puts to "/v1/settings/nodes.stale_secs" the body {"value": 60, "version": "01JD0000000000000000000000"}
    Then the response status is 409
    And the error code is "concurrent_update"
    When "root" gets "/v1/settings/nodes.stale_secs"
    Then the response status is 200
    And the response field "value" is 120
