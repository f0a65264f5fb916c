Feature: cynork projects
  A project binds a git repository to its owner. The credential is read from stdin and
  never printed; tasks can name a project.

  Background:
    Given I am logged in

  Scenario: Create, list, update and delete a project; its credential is never printed
    When I run "cynork project create 'Widgets App' --repo https://github.com/acme/widgets.git --credential-stdin" with stdin "ghp_never_printed"
    Then the exit code is 0
    And stdout mentions "name=widgets-app"
    And stdout mentions "credential=stored"
    And stdout does not mention "ghp_never_printed"
    When I run "cynork project list -o json"
    Then the exit code is 0
    And stdout is exactly one JSON value with a "projects" list
    And stdout does not mention "ghp_never_printed"
    When I run "cynork project update widgets-app --branch develop --remove-credential"
    Then stdout mentions "branch=develop"
    And stdout mentions "credential=none"
    When I run "cynork task create --command 'echo in-project' --project widgets-app --result"
    Then the exit code is 0
    And stdout mentions "stdout=in-project"
    When I run "cynork project delete widgets-app -y"
    Then the exit code is 0
    When I run "cynork project get widgets-app"
    Then the exit code is 4

  Scenario: Bad input is refused
    When I run "cynork project create x --repo 'https://me:pw@github.com/acme/x.git'"
    Then the exit code is 6
    When I run "cynork task create --command true --project no-such-project"
    Then the exit code is 4
