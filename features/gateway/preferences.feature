Feature: Preferences: what a user tunes about how their work runs
  A preference key (the default model, the agent's step limit, a task's timeout, a
  worker's test command) can be set for everyone (admins), for a user, for one of their
  projects or for one of their tasks. The narrowest scope that sets a key wins, and the
  node receives the effective values with each job it claims.

  Background:
    Given a user "alice" who is logged in

  Scenario: The narrowest scope wins, and the claimed job carries what applies
    Given a fresh deployment
    And a user "root" who is an admin
    And a user "alice" who is logged in
    And a registered test node
    When "root" puts to "/v1/preferences/agent.max_steps" the body {"scope": "system", "value": 12}
    Then the response status is 200
    And the response field "scope" is "system"
    When "root" puts to "/v1/preferences/task.timeout_seconds" the body {"scope": "system", "value": 600}
    And "alice" puts to "/v1/preferences/agent.max_steps" the body {"scope": "user", "value": 5}
    Then the response status is 200
    When "alice" creates a task with the prompt "What is 2+2?"
    And "alice" puts to "/v1/preferences/agent.max_steps" the body {"scope": "task", "scope_id": "{task}", "value": 2}
    Then the response status is 200
    And the response field "scope_id" is the task's id
    When "alice" gets "/v1/preferences/effective?task={task}"
    Then the response status is 200
    And the effective "agent.max_steps" is 2 from "task"
    And the effective "task.timeout_seconds" is 600 from "system"
    And the effective "task.default_model" is null from "default"
    When the test node claims the task's job
    Then the claim's spec field "agent_max_steps" is 2
    And the claim's spec field "timeout_secs" is 600
    When "alice" sends DELETE to "/v1/preferences/agent.max_steps?scope=task&scope_id={task}"
    Then the response status is 204
    When "alice" gets "/v1/preferences/effective?task={task}"
    Then the effective "agent.max_steps" is 5 from "user"
    When "alice" gets "/v1/preferences/agent.max_steps?scope=system"
    Then the response status is 200
    And the response field "value" is 12

  Scenario: A project's value applies to its tasks, and lists show each scope's own values
    When "alice" posts to "/v1/projects" the body {"name": "prefs-repo", "repo_url": "https://example.com/alice/prefs-repo.git"}
    Then the response status is 201
    When "alice" puts to "/v1/preferences/worker.test_command" the body {"scope": "project", "scope_id": "prefs-repo", "value": "  make check "}
    Then the response status is 200
    And the response field "value" is "make check"
    When "alice" gets "/v1/preferences?scope=project&scope_id=prefs-repo"
    Then the response status is 200
    And the list holds only "worker.test_command"
    When "alice" gets "/v1/preferences/effective?project=prefs-repo"
    Then the effective "worker.test_command" is "make check" from "project"
    When "alice" gets "/v1/preferences"
    Then the list holds nothing

  Scenario: Nobody reaches another user's task or project, and only admins set the system's
    Given a user "bob" who is logged in
    When "alice" creates a task with commands "true"
    And "bob" puts to "/v1/preferences/agent.max_steps" the body {"scope": "task", "scope_id": "{task}", "value": 3}
    Then the response status is 404
    And the error code is "task_not_found"
    When "bob" gets "/v1/preferences/effective?task={task}"
    Then the response status is 404
    When "bob" puts to "/v1/preferences/agent.max_steps" the body {"scope": "system", "value": 3}
    Then the response status is 403
    And the error code is "admin_required"

  Scenario Outline: Bad keys, scopes and values get clear errors
    When "alice" <request>
    Then the response status is <status>
    And the error code is "<code>"

    Examples:
      | request                                                                                   | status | code                |
      | puts to "/v1/preferences/agent.max_steps" the body {"scope": "user", "value": 0}          | 400    | invalid_preference  |
      | puts to "/v1/preferences/agent.max_steps" the body {"scope": "user", "value": "8"}        | 400    | invalid_preference  |
      | puts to "/v1/preferences/task.default_model" the body {"scope": "user", "value": "a b"}   | 400    | invalid_preference  |
      | puts to "/v1/preferences/no.such.key" the body {"scope": "user", "value": 1}              | 404    | unknown_preference  |
      | puts to "/v1/preferences/agent.max_steps" the body {"scope": "galaxy", "value": 1}        | 400    | invalid_body        |
      | puts to "/v1/preferences/agent.max_steps" the body {"scope": "task", "value": 1}          | 400    | invalid_scope       |
      | gets "/v1/preferences?scope=galaxy"                                                       | 400    | invalid_scope       |
      | gets "/v1/preferences/task.default_model"                                                 | 404    | preference_not_set  |
      | sends DELETE to "/v1/preferences/task.default_model?scope=user"                           | 404    | preference_not_set  |
      | gets "/v1/preferences/effective?task=x&project=y"                                         | 400    | invalid_query       |
