Feature: Skills: instructions the agent follows
  A skill is a named markdown document. A user's own skill reaches an agent job when one
  of its trigger words is in the prompt (or always, without triggers); a skill attached to
  a project reaches every agent job of that project's tasks. Loading a skill of the same
  name replaces it.

  Background:
    Given a user "alice" who is logged in

  Scenario: Load, replace, list, read and delete a skill; a triggered one reaches the claim
    Given a registered test node
    When "alice" posts to "/v1/skills" the body {"name": "House Style", "body": "Answer briefly.", "triggers": ["Arithmetic"]}
    Then the response status is 201
    And the response field "name" is "house-style"
    When "alice" posts to "/v1/skills" the body {"name": "house style", "body": "Answer in one line.", "triggers": ["arithmetic"]}
    Then the response status is 200
    When "alice" gets "/v1/skills"
    Then the response status is 200
    And the skill list holds "house-style" without its body
    When "alice" gets "/v1/skills/house-style"
    Then the response field "body" is "Answer in one line."
    When "alice" creates a task with the prompt "Some arithmetic: what is 2+2?"
    And the test node claims the task's job
    Then the claim carries the skills "house-style"
    When "alice" creates a task with the prompt "Tell me about the weather"
    And the test node claims the task's job
    Then the claim carries no skills
    When "alice" sends DELETE to "/v1/skills/house-style"
    Then the response status is 204
    When "alice" gets "/v1/skills/house-style"
    Then the response status is 404
    And the error code is "skill_not_found"

  Scenario: A project's skill reaches every agent job of its tasks, and no other user's
    Given a registered test node
    And a user "bob" who is logged in
    When "alice" posts to "/v1/projects" the body {"name": "skilled", "repo_url": "https://example.com/alice/skilled.git"}
    And "alice" posts to "/v1/skills" the body {"name": "repo-rules", "body": "Run make check before you answer.", "project": "skilled"}
    Then the response status is 201
    When "alice" creates a task with the prompt "Tell me about the weather" in the project "skilled"
    And the test node claims the task's job
    Then the claim carries the skills "repo-rules"
    When "bob" gets "/v1/skills/repo-rules"
    Then the response status is 404
    When "bob" posts to "/v1/skills" the body {"name": "x", "body": "y", "project": "skilled"}
    Then the response status is 404
    And the error code is "project_not_found"

  Scenario Outline: Bad skills are refused with a clear reason
    When "alice" posts to "/v1/skills" the body <body>
    Then the response status is 400
    And the error code is "<code>"

    Examples:
      | body                                                         | code          |
      | {"name": "!!!", "body": "x"}                                 | invalid_skill |
      | {"name": "ok", "body": "   "}                                | invalid_skill |
      | {"name": "ok", "body": "x", "triggers": ["two words"]}       | invalid_skill |
      | {"name": "ok"}                                               | invalid_body  |
