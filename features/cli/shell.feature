Feature: The cynork shell
  `cynork shell` runs the same commands interactively, with history that never keeps
  secrets; `cynork shell -c` runs one command and exits with its code.

  Background:
    Given I am logged in

  Scenario: One command with -c, exit code passed through
    When I run "cynork shell -c 'task create --command true --name from-shell'"
    Then the exit code is 0
    And stdout mentions "task_name=from-shell"
    When I run "cynork shell -c 'task get not-there'"
    Then the exit code is 4

  Scenario: Lines from stdin run in order; secrets stay out of the history
    When I run "cynork shell" with stdin "version\ntask get eyJhbGciOiJIUzI1NiJ9.secret.token\ntask list -l 1\nexit"
    Then stdout mentions "version=0.1.0"
    And the shell history contains "version"
    And the shell history contains "task list -l 1"
    And the shell history does not contain "eyJ"

  Scenario Outline: Completion scripts for each shell
    When I run "cynork completion <shell>"
    Then the exit code is 0
    And stdout mentions "task"

    Examples:
      | shell |
      | bash  |
      | zsh   |
      | fish  |
