Feature: Planned work with real agents
  A feature request for a project is planned by the agent in a sandbox (the repository
  checked out read-only at /repo, the real model answering through the pod's proxy, on
  the node or, for a hosted model, through the gateway's egress); each
  started subtask is built by the agent on its own branch in a writable checkout, the
  project's test command must pass, the change is committed, and the node, never the
  sandbox, pushes the branch to the project's remote (a local bare repository) and opens
  the pull request (at a local server that checks GitHub's documented contract).

  The test model (SmolLM2-135M) plans within the schema but seldom edits files usefully,
  so the test repositories' check script writes the file their subtask is about: the
  agent's skill is the model's; everything around it is what is tested here.

  Background:
    Given an edge node is running
    And a user "alice" who is logged in

  Scenario: A feature request becomes a plan; a started subtask is pushed and proposed as a pull request
    # The owner prefers a hosted model: the planner and the worker think through the
    # egress (the stand-in provider) while their commands run in their sandboxes.
    Given a bare repository whose check script writes NOTES.md
    And a forge that takes pull requests for "acme/widgets"
    And "alice" has a project for the repository with the stored credential "tok-edge-secret-7f3a"
    And "alice" has the key "sk-standin-plan-3c9a" attached to the stand-in provider "standin"
    And "alice" prefers "task.default_model" to be "standin/smollm2:135m"
    When "alice" plans "Add a NOTES.md file that says hello" in the project
    Then the task is planned into subtasks that depend only on earlier ones
    And its routing is "egress" because "task.default_model (user) names hosted standin/smollm2:135m"
    When "alice" starts the first ready subtask
    Then while its worker runs, nothing in the sandbox contains the credential
    And while its worker runs, its run shows the agent's current step
    And the subtask is "completed" within 240 seconds
    And the remote has the subtask's branch, one commit ahead of main, adding NOTES.md
    And the forge received one valid pull request from the branch into main, recorded on the subtask
    And the task's runs list a planner and a worker with tokens
    And the edge node's log does not contain the credential
    And the audit trail records each handing of the credential to the node, for the task, without it
    And the stand-in provider answered the agent's calls with the key "sk-standin-plan-3c9a"
    And no node's log or state directory, nor the gateway's log, contains the key "sk-standin-plan-3c9a"

  Scenario: A failing subtask backs off and blocks; retry starts it over
    Given a bare repository whose check script fails
    And "alice" has a project for the repository with the credential "tok-edge-secret-9c1d"
    When "alice" plans "Add a NOTES.md file that says hello" in the project
    Then the task is planned into subtasks that depend only on earlier ones
    When "alice" starts the first ready subtask
    Then the subtask is "blocked_failure" within 400 seconds
    And its reason says "3 attempts failed" and "the tests failed"
    And its 3 worker runs started at least 2 seconds after the previous one ended
    When "alice" retries the subtask
    Then the subtask is "in_progress" within 5 seconds

  Scenario: A worker run orphaned by a killed node runs again and completes
    Given a bare repository whose slow check script writes NOTES.md
    And "alice" has a project for the repository with the credential "tok-edge-secret-2b8e"
    When "alice" plans "Add a NOTES.md file that says hello" in the project
    Then the task is planned into subtasks that depend only on earlier ones
    When "alice" starts the first ready subtask
    And the subtask's worker is running
    And the edge node is killed with SIGKILL
    And the edge node is started again
    Then the subtask is "completed" within 300 seconds
    And its worker run was delivered at least twice
