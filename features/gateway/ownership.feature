Feature: A task is visible only to its owner
  Another user gets "not found" for every single-task route, by id or by name, and never
  any of the task's data.

  Background:
    Given a user "alice" who is logged in
    And a user "bob" who is logged in
    And "alice" has a task named "secret-plan"

  Scenario Outline: Bob cannot reach Alice's task
    When "bob" <action> alice's task by <reference>
    Then the response status is 404
    And the error code is "task_not_found"
    And the response holds nothing but the error

    Examples:
      | action                | reference |
      | gets                  | id        |
      | gets                  | name      |
      | gets the result of    | id        |
      | gets the logs of      | id        |
      | cancels               | id        |
      | cancels               | name      |

  Scenario: Bob's cancel leaves Alice's task alone, and his list does not show it
    When "bob" cancels alice's task by id
    And "alice" gets the task "secret-plan"
    Then the response field "status" is "queued"
    When "bob" lists his tasks
    Then the list does not contain alice's task
