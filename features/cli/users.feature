Feature: cynork user: your password, and users for admins
  Everyone changes their own password with `cynork user passwd` (every other session ends;
  cynork keeps the new one). Admins list, create, disable, enable, promote and reset users.
  Passwords come from the terminal without echo, or from stdin with --password-stdin.

  Scenario: An admin creates, lists, disables, enables, promotes and resets a user
    Given I am logged in as a new admin
    When I run "cynork user create {other} --password-stdin" with stdin "first-password-1"
    Then the exit code is 0
    And stdout mentions "handle={other}"
    And stdout mentions "is_admin=false"
    When I run "cynork user list -l 200"
    Then the exit code is 0
    And stdout mentions "handle={other}"
    When I run "cynork user disable {other}"
    Then the exit code is 0
    And stdout mentions "disabled=true"
    When I run "cynork user grant-admin {other}"
    Then the exit code is 0
    And stdout mentions "is_admin=true"
    When I run "cynork user drop-admin {other}"
    Then stdout mentions "is_admin=false"
    When I run "cynork user reset-password {other} --password-stdin" with stdin "second-password-2"
    Then the exit code is 0
    And stdout mentions "password_reset=true"
    When I run "cynork user disable no-such-user-here"
    Then the exit code is 4
    When I run "cynork auth login -u {other} --password-stdin" with stdin "second-password-2"
    Then the exit code is 3
    And stderr mentions "disabled"
    When I run "cynork user enable {other}"
    Then the exit code is 0
    And stdout mentions "disabled=false"
    When I run "cynork auth login -u {other} --password-stdin" with stdin "second-password-2"
    Then the exit code is 0

  Scenario: Changing my password keeps me signed in and ends my other sessions
    Given I am logged in
    And I remember my access token
    When I run "cynork user passwd --password-stdin" with stdin "{password}\nmy-new-password-1"
    Then the exit code is 0
    And stdout mentions "password_changed=true"
    When I run "cynork auth whoami"
    Then the exit code is 0
    When I run "cynork auth whoami" with my remembered token in CYNORK_TOKEN
    Then the exit code is 3
    When I run "cynork auth login -u {handle} --password-stdin" with stdin "my-new-password-1"
    Then the exit code is 0

  Scenario: A wrong current password exits 3 and changes nothing
    Given I am logged in
    When I run "cynork user passwd --password-stdin" with stdin "not-my-password\nmy-new-password-1"
    Then the exit code is 3
    And stderr mentions "current password"
    When I run "cynork auth login -u {handle} --password-stdin" with stdin "{password}"
    Then the exit code is 0

  Scenario: Only admins administer users, and bad input exits 2 before any request
    Given I am logged in
    When I run "cynork user list"
    Then the exit code is 3
    When I run "cynork user disable {handle}"
    Then the exit code is 3
    When I run "cynork user create someone-new"
    Then the exit code is 2
    And stderr mentions "--password-stdin"
    When I run "cynork user passwd"
    Then the exit code is 2
    When I run "cynork user list -l 0"
    Then the exit code is 2
    When I run "cynork user passwd --password-stdin" with stdin "{password}\nshort"
    Then the exit code is 6
    And stderr mentions "password"

  Scenario: The audit trail shows my sign-ins and my keys, and admins see everyone's
    Given I am logged in
    When I run "cynork apikey create audited --scope all"
    Then the exit code is 0
    When I run "cynork audit list"
    Then the exit code is 0
    And stdout mentions "action=api_key.create outcome=success actor=user:{handle}"
    And stdout mentions "action=auth.login outcome=success"
    When I run "cynork audit list --action auth --outcome failure"
    Then the exit code is 0
    When I run "cynork audit list --user admin"
    Then the exit code is 3
    When I run "cynork -o json audit list --action api_key"
    Then stdout is exactly one JSON value with a "events" list
    Given I am logged in as a new admin
    When I run "cynork audit list --action user.create -l 200"
    Then the exit code is 0
    And stdout mentions "action=user.create outcome=success"
