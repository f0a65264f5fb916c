Feature: cynork planned work
  A planned task splits a feature request for a project into subtasks. Here the project's
  repository does not exist, so every planner attempt fails to clone it: planning fails
  with that reason, and retry-planning starts again (features/edge/planning.feature runs
  the whole flow against a real repository).

  Background:
    Given I am logged in

  Scenario: Plan, watch planning fail with its reason, retry planning, list runs; bad references are refused
    When I run "cynork project create widgets --repo file:///nonexistent/widgets.git --test-command 'make test' --forge-url https://api.github.com --forge-repo acme/widgets"
    Then the exit code is 0
    And stdout mentions "test_command=make test"
    And stdout mentions "forge_repo=acme/widgets"
    When I run "cynork task create --project widgets --plan -p 'Add a README' --name plan-demo"
    Then the exit code is 0
    And stdout mentions "planner_attempts=1"
    When I run "cynork task watch plan-demo --no-clear -n 1"
    Then the exit code is 0
    And stdout mentions "status=planning_failed"
    When I run "cynork task get plan-demo"
    Then stdout mentions "planner_attempts=3"
    And stdout mentions "cloning file:///nonexistent/widgets.git: /nonexistent/widgets.git does not exist on this node"
    When I run "cynork task runs plan-demo"
    Then stdout mentions "role=planner"
    And stdout mentions "status=failed"
    And I remember the first run it listed
    When I run "cynork run logs plan-demo {run} -f"
    Then the exit code is 0
    When I run "cynork task retry-planning plan-demo"
    Then the exit code is 0
    And stdout mentions "status=queued"
    And stdout mentions "planner_attempts=1"
    When I run "cynork task subtasks plan-demo -o json"
    Then stdout is exactly one JSON value with "plan.subtasks" = 0
    When I run "cynork subtask start plan-demo 9"
    Then the exit code is 4
    When I run "cynork run logs plan-demo job_nope"
    Then the exit code is 4
    When I run "cynork task create --plan -p 'no project'"
    Then the exit code is 2
    When I run "cynork task watch plan-demo --no-clear -n 1"
    Then stdout mentions "status=planning_failed"
    When I run "cynork task cancel plan-demo -y"
    Then the exit code is 5
    And stderr mentions "already ended with status planning_failed"
