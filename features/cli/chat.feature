Feature: cynork chat and models, against a node with the real model
  A prompt task prints the model's answer; chat streams answers as they come; the models
  are the agent's and those nodes serve. Wording is the model's; only structure is checked.

  Scenario: A prompt task prints the model's answer
    Given I am logged in
    When I run "cynork task create -p 'What is 2+2?' --result"
    Then the exit code is 0
    And stdout mentions "status=completed exit_code=0"
    And the line starting "stdout=" has an answer

  Scenario: The models are the agent and what nodes serve
    Given I am logged in
    When I run "cynork models list"
    Then the exit code is 0
    And stdout mentions "model=cynodeai.pm"
    And stdout mentions "model=smollm2:135m"
    When I run "cynork -o json models list"
    Then stdout is exactly one JSON value with a "models" list

  Scenario: One message, answered
    Given I am logged in
    When I run "cynork chat -m 'Say hi.' --model smollm2:135m"
    Then the exit code is 0
    And stdout is not empty
    When I run "cynork -o json chat -m 'Say hi.' --model smollm2:135m"
    Then stdout is exactly one JSON value with "model" = "smollm2:135m"

  Scenario: A chat session takes commands and ends at /exit or end of input
    Given I am logged in
    When I run "cynork chat --plain" with stdin "/models\n/model smollm2:135m\nSay hi.\n/thread new\n/exit\nnever sent\n"
    Then the exit code is 0
    And stdout mentions "cynodeai.pm"
    And stderr mentions "talking to smollm2:135m"
    When I run "cynork chat" with stdin ""
    Then the exit code is 0

  Scenario: Chat without a login is an auth failure
    Given a user exists
    When I run "cynork chat -m hi"
    Then the exit code is 3
    And stderr mentions "not logged in"

  Scenario: Refreshing rotates the saved tokens
    Given I am logged in
    And I remember my refresh token
    When I run "cynork auth refresh"
    Then the exit code is 0
    And stdout mentions "refreshed=true"
    And the saved refresh token has rotated
    When I run "cynork auth whoami"
    Then the exit code is 0
