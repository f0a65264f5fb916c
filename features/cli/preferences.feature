Feature: cynork prefs: preferences at each scope, and what applies
  `cynork prefs set|get|unset|list` work on your own values, or with --project, --task or
  --system (admins) on those; `cynork prefs effective` shows every key as it applies and
  where its value came from.

  Scenario: Set a value for me, narrow it for one task, and see what applies
    Given I am logged in
    When I run "cynork prefs set agent.max_steps 5"
    Then the exit code is 0
    And stdout mentions "key=agent.max_steps value=5 scope=user"
    When I run "cynork task create --command 'true' --name prefs-task"
    Then the exit code is 0
    When I run "cynork prefs set agent.max_steps 2 --task prefs-task"
    Then the exit code is 0
    And stdout mentions "scope=task"
    When I run "cynork prefs effective --task prefs-task"
    Then the exit code is 0
    And stdout mentions "key=agent.max_steps value=2 source=task"
    And stdout mentions "key=task.default_model value=- source=default"
    When I run "cynork prefs unset agent.max_steps --task prefs-task"
    Then the exit code is 0
    And stdout mentions "unset=true"
    When I run "cynork -o json prefs effective --task prefs-task"
    Then stdout is exactly one JSON value with a "preferences" list
    When I run "cynork prefs effective --task prefs-task"
    Then stdout mentions "key=agent.max_steps value=5 source=user"
    When I run "cynork prefs get agent.max_steps"
    Then the exit code is 0
    And stdout mentions "value=5"
    When I run "cynork prefs list"
    Then stdout mentions "key=agent.max_steps"

  Scenario: Bad keys and values exit with the documented codes
    Given I am logged in
    When I run "cynork prefs set agent.max_steps 0"
    Then the exit code is 6
    And stderr mentions "agent.max_steps must be an integer from 1 to 64"
    When I run "cynork prefs set no.such.key 1"
    Then the exit code is 4
    When I run "cynork prefs get task.default_model"
    Then the exit code is 4
    And stderr mentions "not set"
    When I run "cynork prefs set agent.max_steps 3 --system"
    Then the exit code is 3
    When I run "cynork prefs set agent.max_steps 3 --system --task x"
    Then the exit code is 2
