Feature: The web console in a real browser
  Headless Chromium, driven over WebDriver by chromedriver, against the real local stack:
  LocalStack, the gateway serving the console under / on its own port, and a real edge
  node running jobs in Podman with the real model server. Every page a scenario visits
  is saved as a screenshot under target/cynode-tests/console-screenshots/.

  Background:
    Given an edge node is running
    And a user "ann" with the password "ann-long-password"

  Scenario: Signing in from the keyboard on a phone-sized screen; a wrong password is said in words
    Given a browser the size of a phone
    When "ann" signs in with the password "not-her-password"
    Then the page says "wrong handle or password"
    When "ann" signs in from the keyboard alone with the password "ann-long-password"
    Then the page shows the heading "Tasks"
    And no part of the page is wider than the screen
    When the page is reloaded
    Then the page shows the heading "Tasks"
    And the browser's storage holds no access token

  Scenario: A task's log lines appear while it runs, then its result
    Given a browser
    And "ann" is signed in
    When she starts a commands task from the console:
      | for i in 1 2 3 4 5 6 7 8; do echo "tick $i"; sleep 1; done |
    Then the live log shows "tick 2" while the task is still running
    And the page shows "The log is complete." within 60 seconds
    And the result shows "tick 8"

  Scenario: A chat answer is shown as the model writes it, and its thread is kept
    Given a browser
    And "ann" is signed in
    When she asks the model "smollm2:135m" in the chat "Count from one to forty in words."
    Then the answer grows on the page before it is complete
    And the thread is listed with the answer kept

  Scenario: A planned task's board shows a subtask move when it is started
    Given a bare repository whose check script writes NOTES.md
    And "ann" has a project for the repository
    And a browser
    And "ann" is signed in
    When she plans "Add a NOTES.md file that says hello" in the project from the console
    Then the board shows a subtask in the "Ready" column within 240 seconds
    When she starts that subtask from the board
    Then the subtask's card leaves the "Ready" column for "In progress" or later

  Scenario: An admin drains a node from the console
    Given a browser
    And the admin is signed in
    When the admin drains the edge node from the nodes page
    Then the node's row says "draining"
    And the gateway lists the node as "draining"
